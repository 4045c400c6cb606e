"""Stack settings: a stack file read into the platform's typed models, validated before any resource
is declared (no Pulumi imports).

The models themselves live in :mod:`amlplatform.spec` (below the components, which validate their
arguments with them); their modules stay importable under their old names here
(``amlplatform.settings.network`` is ``amlplatform.spec.network``).
"""

import sys as _sys

from amlplatform.spec import (  # noqa: F401
    access, cidr, compute, core, datastores, endpoints, environments, kubernetes, network, platform, protection,
    values,
)

for _module in (access, cidr, compute, core, datastores, endpoints, environments, kubernetes, network, protection,
                values):
    _sys.modules[f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}"] = _module
del _module

from amlplatform.spec.core import *  # noqa: F401,F403,E402
from amlplatform.spec.compute import *  # noqa: F401,F403,E402
from amlplatform.settings.stack import (  # noqa: F401,E402
    NAMESPACE, StackSettings, json_schema, load_stack_settings, read_stack_file,
    settings_from_config, settings_from_pulumi,
)
