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
from pydantic import AfterValidator, Field, ValidationError, ValidationInfo, field_validator, model_validator
from typing_extensions import Annotated

from amlplatform.errors import UserError, validation_problems
from amlplatform.settings.compute import (
    ClusterSettings, EnvironmentSettings, InstancesSettings, KubernetesSettings, repeated_compute_names,
)
from amlplatform.settings.datastores import DatastoreSettings, datastores_problems
from amlplatform.settings.endpoints import BatchEndpointSettings, OnlineEndpointSettings, serving_problems
from amlplatform.settings.core import (
    DiagnosticsSettings, KeyVaultSettings, Location, Model, MonitoringSettings, NamingSettings,
    PolicyException, RegistrySettings, ResourceGroupSettings, RoleAssignmentSettings,
    StorageSettings, Tags, WorkspaceSettings,
)

NAMESPACE = "amlplatform"
# libyaml where PyYAML has it: the pure-Python loader is a visible share of an offline plan
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """Parse YAML safely (``yaml.YAMLError`` on bad input)."""
    return yaml.load(text, Loader=_YAML_LOADER)

SECRET_PLACEHOLDER = "[secret]"


def _no_repeats(assignments: List[RoleAssignmentSettings]) -> List[RoleAssignmentSettings]:
    seen = {}
    for i, ra in enumerate(assignments):
        key = (ra.principal_id, ra.role_definition_guid(), ra.scope)
        if key in seen:
            raise ValueError(f"entry {i} repeats entry {seen[key]} (same principal, role and scope)")
        seen[key] = i
    return assignments


def _scope(info: ValidationInfo) -> str:
    """workload/environment of the settings being validated (empty when naming itself is bad)."""
    named = info.data.get("naming")
    return named.scope() if named is not None else ""


class StackSettings(Model):
    """Everything a stack can set. Field names are the keys after ``amlplatform:``."""

    location: Location = Field(description="Azure region; defaults to azure-native:location")
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
    role_assignments: Annotated[List[RoleAssignmentSettings], AfterValidator(_no_repeats)] = Field(
        default_factory=list, description="Roles on the workspace or its resource group")
    diagnostics: DiagnosticsSettings = DiagnosticsSettings()
    policy_exceptions: List[PolicyException] = Field(
        default_factory=list, description="Security rules this stack breaks on purpose, with reasons")
    # compute (settings/compute.py); each later block checks its names against the earlier ones, so
    # one error names every problem
    clusters: List[ClusterSettings] = Field(default_factory=list, description="AmlCompute clusters")
    instances: Optional[InstancesSettings] = Field(
        None, description="Per-user compute instances (one per listed user)")
    kubernetes: List[KubernetesSettings] = Field(
        default_factory=list, description="Kubernetes inference targets: new AKS clusters or attached ones")
    environments: List[EnvironmentSettings] = Field(
        default_factory=list, description="Environments: an image as is, or a conda file on a base image")
    # serving and data (settings/datastores.py, settings/endpoints.py)
    datastores: List[DatastoreSettings] = Field(
        default_factory=list, description="Datastores: blob containers, ADLS Gen2 file systems, file shares")
    online_endpoints: List[OnlineEndpointSettings] = Field(
        default_factory=list, description="Online endpoints (managed or on a kubernetes target) with deployments")
    batch_endpoints: List[BatchEndpointSettings] = Field(
        default_factory=list, validate_default=True, description="Batch endpoints with model and pipeline-component deployments")

    @field_validator("clusters")
    @classmethod
    def _clusters_distinct(cls, value: List[ClusterSettings]) -> List[ClusterSettings]:
        problems = repeated_compute_names({"clusters": [c.name for c in value]})
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("instances")
    @classmethod
    def _instances_distinct(cls, value: Optional[InstancesSettings],
                            info: ValidationInfo) -> Optional[InstancesSettings]:
        if value is None:
            return value
        groups = {"clusters": [c.name for c in info.data.get("clusters") or []]}
        groups["instances.users"] = value.names(_scope(info))
        problems = [p for p in repeated_compute_names(groups) if "of instances" in p]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("kubernetes")
    @classmethod
    def _kubernetes_distinct(cls, value: List[KubernetesSettings],
                             info: ValidationInfo) -> List[KubernetesSettings]:
        instances = info.data.get("instances")
        groups = {"clusters": [c.name for c in info.data.get("clusters") or []],
                  "instances.users": instances.names(_scope(info)) if instances else [],
                  "kubernetes": [k.name for k in value]}
        problems = [p for p in repeated_compute_names(groups) if "of kubernetes" in p]
        created = [i for i, k in enumerate(value) if k.creates_cluster and not k.aks_name]
        if len(created) > 1:
            problems.append(f"kubernetes{created[1:]} need an aks_name: only one created cluster can take "
                            "the default AKS name")
        aks_names = [k.aks_name for k in value if k.aks_name]
        for name in sorted({n for n in aks_names if aks_names.count(n) > 1}):
            problems.append(f"aks_name {name!r} is used by more than one target")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("environments")
    @classmethod
    def _environments_distinct(cls, value: List[EnvironmentSettings]) -> List[EnvironmentSettings]:
        names = [e.name for e in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"environment names repeat: {', '.join(repeated)} (one entry per name; "
                             "a new version is a change of 'version')")
        return value

    @field_validator("datastores")
    @classmethod
    def _datastores_across(cls, value: List[DatastoreSettings], info: ValidationInfo) -> List[DatastoreSettings]:
        if "storage" not in info.data:
            return value  # storage itself is invalid (reported there): nothing to check against
        storage = info.data["storage"]
        problems = datastores_problems(value, shared_key_access=storage.allow_shared_key_access)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("batch_endpoints")
    @classmethod
    def _serving_across(cls, value: List[BatchEndpointSettings], info: ValidationInfo) -> List[BatchEndpointSettings]:
        # a block that is itself invalid (reported there) is not checked against: no second error
        if not {"kubernetes", "clusters"} <= set(info.data):
            return value
        targets = info.data["kubernetes"]
        problems = serving_problems(
            info.data.get("online_endpoints") or [], value,
            clusters=[c.name for c in info.data["clusters"]],
            kubernetes={k.name: [t.name for t in k.instance_types] for k in targets},
            default_instance_types={k.name: k.default_instance_type or (k.instance_types[0].name if k.instance_types
                                                                        else None) for k in targets})
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _registry_can_be_private(self) -> "StackSettings":
        # checked once every field is valid: it needs the workspace, the registry and what needs images
        from amlplatform.settings.core import derived_network

        reg = self.registry
        creates = reg.mode == "create" or (reg.mode == "auto" and self.needs_images())
        public = derived_network(self.workspace, reg.public_network_access, "public_access")
        if creates and reg.sku != "Premium" and public == "Disabled":
            raise ValueError(
                f"registry.sku: a registry without public network access needs Premium, got {reg.sku!r} "
                "(registry.public_network_access follows workspace.public_network_access, Disabled); "
                "set registry.sku: Premium, or registry.public_network_access: Enabled")
        return self

    def needs_images(self) -> bool:
        """True when something declared needs a container registry (registry mode ``auto``):
        an environment Azure ML builds (a conda file on a base image), or any Kubernetes inference
        target (its deployments pull images the workspace builds). Clusters, instances and
        environments that use a ready image do not."""
        return any(e.builds_image for e in self.environments) or bool(self.kubernetes)

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
        problems = [p + " (amlplatform:location or azure-native:location)" if p == "location: is required" else p
                    for p in validation_problems(exc)]
        raise UserError(f"invalid settings in {source} ({len(problems)} problem"
                        f"{'s' if len(problems) != 1 else ''}):", problems) from None


def read_stack_file(path: Path) -> Tuple[Dict[str, Any], List[str]]:
    """The ``config:`` map of a ``Pulumi.<stack>.yaml`` file and the keys that are secrets.

    Secrets (``{secure: ...}``) cannot be decrypted without the Pulumi CLI; offline they read as
    a placeholder.
    """
    try:
        doc = load_yaml(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise UserError(f"no stack file {path}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config", {}), dict):
        raise UserError(f"{path}: expected a mapping with a 'config:' mapping")
    config = dict(doc.get("config") or {})
    secrets = []
    for key, value in config.items():
        masked = _mask_secrets(value)
        if masked is not value:
            # a secret anywhere in a structured value (pulumi config set --path --secret) makes
            # the whole key secret, as the Pulumi CLI does
            config[key] = masked
            secrets.append(key)
    return config, secrets


def _mask_secrets(value: Any) -> Any:
    """``value`` with every ``{secure: ...}`` replaced by the placeholder; ``value`` itself when it
    holds none."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        masked = {k: _mask_secrets(v) for k, v in value.items()}
        return value if all(masked[k] is value[k] for k in value) else masked
    if isinstance(value, list):
        masked_list = [_mask_secrets(v) for v in value]
        return value if all(m is v for m, v in zip(masked_list, value)) else masked_list
    return value


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
