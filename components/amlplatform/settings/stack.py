"""The whole of one stack's settings, and where they are read from.

A stack file looks like::

    config:
      amlplatform:location: westeurope
      amlplatform:naming: {workload: fraud, environment: dev}
      amlplatform:workspace: {public_network_access: Enabled}

Every key in the ``amlplatform:`` namespace is a field of :class:`StackSettings`; an unknown
key is an error. Reading and validating happen before any resource is declared, and every bad
field is reported at once.
"""

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml
from pydantic import Field, ValidationError, model_validator

from amlplatform.errors import UserError, validation_problems
from amlplatform.settings.core import (
    DiagnosticsSettings, KeyVaultSettings, Location, Model, MonitoringSettings, NamingSettings,
    PolicyException, RegistrySettings, ResourceGroupSettings, RoleAssignmentSettings,
    StorageSettings, Tags, WorkspaceSettings,
)

NAMESPACE = "amlplatform"
SECRET_PLACEHOLDER = "[secret]"


class StackSettings(Model):
    """Everything a stack can set. Field names are the keys after ``amlplatform:``."""

    location: Optional[Location] = Field(
        None, description="Azure region; defaults to azure-native:location")
    tenant_id: Optional[str] = Field(
        None, description="Entra tenant for the key vault; defaults to the deploying identity's tenant")
    naming: NamingSettings
    resource_group: ResourceGroupSettings = ResourceGroupSettings()
    tags: Tags = Field(default_factory=dict, description="Tags on every resource (plus workload/environment)")
    protect: bool = Field(
        False, description="Protect storage, key vault and workspace so `pulumi destroy` cannot delete them")
    workspace: WorkspaceSettings = WorkspaceSettings()
    storage: StorageSettings = StorageSettings()
    key_vault: KeyVaultSettings = KeyVaultSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    registry: RegistrySettings = RegistrySettings()
    role_assignments: List[RoleAssignmentSettings] = Field(default_factory=list)
    diagnostics: DiagnosticsSettings = DiagnosticsSettings()
    policy_exceptions: List[PolicyException] = Field(
        default_factory=list, description="Security rules this stack breaks on purpose, with reasons")

    @model_validator(mode="after")
    def _check(self) -> "StackSettings":
        if self.location is None:
            raise ValueError("location is required (amlplatform:location or azure-native:location)")
        problems = []
        seen = set()
        for i, ra in enumerate(self.role_assignments):
            key = (ra.principal_id, ra.role_definition_guid(), ra.scope)
            if key in seen:
                problems.append(f"role_assignments[{i}] repeats an earlier assignment")
            seen.add(key)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def needs_images(self) -> bool:
        """True when something declared needs a container registry (registry mode ``auto``)."""
        return False

    def all_tags(self) -> Dict[str, str]:
        return {"workload": self.naming.workload, "environment": self.naming.environment,
                "managed-by": "amlplatform", **self.tags}


def settings_from_config(config: Mapping[str, Any], *, source: str = "stack config") -> StackSettings:
    """Validate ``config`` (``namespace:key`` -> value, values already parsed) as stack settings.

    Raises :class:`UserError` listing every bad field.
    """
    data: Dict[str, Any] = {}
    for full_key, value in config.items():
        namespace, _, key = full_key.partition(":")
        if namespace == NAMESPACE and key:
            data[key] = value
    if "location" not in data and config.get("azure-native:location"):
        data["location"] = config["azure-native:location"]
    try:
        return StackSettings.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc)
        raise UserError(f"invalid settings in {source} ({len(problems)} problem"
                        f"{'s' if len(problems) != 1 else ''}):", problems) from None


def read_stack_file(path: Path) -> Tuple[Dict[str, Any], List[str]]:
    """The ``config:`` map of a ``Pulumi.<stack>.yaml`` file and the keys that are secrets.

    Secrets (``{secure: ...}``) cannot be decrypted without the Pulumi CLI; offline they read as
    a placeholder.
    """
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise UserError(f"no stack file {path}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config", {}), dict):
        raise UserError(f"{path}: expected a mapping with a 'config:' mapping")
    config = dict(doc.get("config") or {})
    secrets = []
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = SECRET_PLACEHOLDER
            secrets.append(key)
    return config, secrets


def load_stack_settings(path: Path) -> StackSettings:
    config, _ = read_stack_file(path)
    return settings_from_config(config, source=str(path))


def settings_from_pulumi() -> StackSettings:
    """Read the running Pulumi program's configuration (the CLI passes it as strings)."""
    from pulumi.runtime import config as runtime_config

    raw: Dict[str, Any] = {}
    raw.update(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    parsed = {}
    for key, value in raw.items():
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass  # a plain string setting
        parsed[key] = value
    return settings_from_config(parsed, source="the stack's configuration")


def config_for_engine(config: Mapping[str, Any]) -> Dict[str, str]:
    """Config values as the Pulumi CLI hands them to a program: strings, objects as JSON."""
    out = {}
    for key, value in config.items():
        if isinstance(value, (dict, list)):
            out[key] = json.dumps(value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def json_schema() -> Dict[str, Any]:
    """JSON Schema of a ``Pulumi.<stack>.yaml`` file, for editors (yaml-language-server)."""
    model = StackSettings.model_json_schema(mode="validation")
    defs = model.pop("$defs", {})
    properties = {f"{NAMESPACE}:{name}": prop for name, prop in model["properties"].items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "amlplatform stack file (stacks/Pulumi.<stack>.yaml)",
        "description": "Generated from amlplatform.settings by `amlplatform schema --write`; do not edit.",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": {
                    **properties,
                    "azure-native:location": {"type": "string"},
                },
                "required": [f"{NAMESPACE}:naming"],
                "patternProperties": {"^(?!amlplatform:).+:.+$": {}},
                "additionalProperties": False,
            },
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "environment": {},
        },
        "$defs": defs,
    }


SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "stack-config.schema.json"


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
