"""Stack settings: typed models validated before any resource is declared (no Pulumi imports)."""

from amlplatform.settings.core import *  # noqa: F401,F403
from amlplatform.settings.compute import *  # noqa: F401,F403
from amlplatform.settings.stack import (  # noqa: F401
    NAMESPACE, StackSettings, json_schema, load_stack_settings, read_stack_file,
    settings_from_config, settings_from_pulumi,
)
