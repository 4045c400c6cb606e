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

import difflib
import json
import math
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Tuple, Union, get_args, get_origin

from pydantic import AfterValidator, PrivateAttr, TypeAdapter, Field, ValidationError, ValidationInfo, field_validator, model_validator
from typing_extensions import Annotated

from amlplatform.errors import Problems, UserError, closest, redact_problem, validation_problems
from amlplatform.settings.access import STORAGE_DATA_ROLE_GUIDS, AccessSettings
from amlplatform.settings.pulumi_yaml import SECRET_STAND_IN, parse, program_config, read_stack_config
from amlplatform.settings.compute import (
    ClusterSettings, EnvironmentSettings, InstancesSettings, KubernetesSettings, repeated_compute_names,
)
from amlplatform.settings.network import NetworkSettings, stack_problems as network_problems
from amlplatform.settings.datastores import DatastoreSettings, datastores_problems
from amlplatform.settings.endpoints import BatchEndpointSettings, OnlineEndpointSettings, serving_problems
from amlplatform.settings.core import (
    DiagnosticsSettings, Guid, KeyVaultSettings, Location, Model, MonitoringSettings, NamingSettings,
    PolicyException, RegistrySettings, ResourceGroupSettings, RoleAssignmentSettings,
    StorageSettings, Tags, WorkspaceSettings,
)
from amlplatform.settings.protection import EncryptionSettings, LocksSettings

NAMESPACE = "amlplatform"
SECRET_PLACEHOLDER = SECRET_STAND_IN


def load_yaml(text: str, source: str = "the YAML") -> Any:
    """Parse YAML the way the Pulumi CLI does (:class:`UserError` on bad input)."""
    return parse(text, source)


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
    tenant_id: Optional[Guid] = Field(
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
    network: NetworkSettings = Field(
        NetworkSettings(), description="VNet (or existing subnets), private DNS zones and the managed "
        "network's outbound rules (settings/network.py)")
    role_assignments: Annotated[List[RoleAssignmentSettings], AfterValidator(_no_repeats)] = Field(
        default_factory=list, description="Roles on the workspace or its resource group")
    diagnostics: DiagnosticsSettings = DiagnosticsSettings()
    # data-plane access, customer-managed keys and locks (settings/access.py, settings/protection.py)
    access: AccessSettings = AccessSettings()
    encryption: EncryptionSettings = EncryptionSettings()
    locks: LocksSettings = LocksSettings()
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
            raise Problems(problems)
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
            raise Problems(problems)
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
            raise Problems(problems)
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
            raise Problems(problems)
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
            raise Problems(problems)
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

    @model_validator(mode="after")
    def _network_paths(self) -> "StackSettings":
        # every private resource has an inbound path, subnets fit, ... (settings/network.py)
        problems = network_problems(self)
        if problems:
            raise Problems(problems)
        return self

    @model_validator(mode="after")
    def _only_what_applies(self) -> "StackSettings":
        """A setting the chosen mode or SKU ignores is an error, not silently dropped."""
        problems: List[str] = []
        reg = self.registry
        given = reg.model_fields_set
        if reg.mode in ("existing", "service"):
            unused = sorted(given & {"sku", "public_network_access", "zone_redundancy", "untagged_retention_days"})
            if unused:
                problems.append(f"registry.{unused[0]}: does not apply with registry.mode {reg.mode!r} "
                                f"(nothing is created); remove {', '.join('registry.' + u for u in unused)}")
        elif reg.sku != "Premium":
            # learn.microsoft.com/azure/container-registry/container-registry-skus: zone redundancy and
            # retention policies are Premium features
            for name in ("zone_redundancy", "untagged_retention_days"):
                if name in given and not (name == "zone_redundancy" and not reg.zone_redundancy):
                    problems.append(f"registry.{name}: is a Premium feature, registry.sku is {reg.sku!r}; "
                                    "set registry.sku: Premium or remove it")
        for block, label in ((self.storage, "storage"), (self.key_vault, "key_vault")):
            if block.existing_id:
                unused = sorted(block.model_fields_set - {"existing_id"})
                if unused:
                    problems.append(f"{label}.{unused[0]}: does not apply with {label}.existing_id (the "
                                    f"existing resource is used as it is); remove "
                                    f"{', '.join(label + '.' + u for u in unused)}")
        mon = self.monitoring
        given = mon.model_fields_set
        if mon.existing_app_insights_id:
            # nothing is created: the existing component (and its Log Analytics) are used as they are
            unused = sorted(given - {"existing_app_insights_id", "existing_log_analytics_id"})
            if unused:
                problems.append(f"monitoring.{unused[0]}: does not apply with monitoring.existing_app_insights_id "
                                f"(no monitoring is created); remove {', '.join('monitoring.' + u for u in unused)}")
        elif mon.existing_log_analytics_id:
            unused = sorted(given & {"retention_days", "daily_quota_gb"})
            if unused:
                problems.append(f"monitoring.{unused[0]}: does not apply with monitoring.existing_log_analytics_id "
                                "(retention and quota belong to the Log Analytics workspace, which exists); remove "
                                f"{', '.join('monitoring.' + u for u in unused)}")
        if problems:
            raise Problems(problems)
        return self

    @model_validator(mode="after")
    def _access_is_coherent(self) -> "StackSettings":
        from amlplatform.settings.access import ROLE_GUIDS

        problems = []
        scientists = {p.principal_id for p in self.access.data_scientists}
        for i, ra in enumerate(self.role_assignments):
            if (ra.scope == "workspace" and ra.principal_id in scientists
                    and ra.role_definition_guid() == ROLE_GUIDS["AzureML Data Scientist"]):
                problems.append(f"role_assignments[{i}] repeats access.data_scientists ({ra.principal_id} gets "
                                "AzureML Data Scientist from there): remove one")
        # Shared keys off: the storage account accepts Entra ID only, and workspace roles carry no data
        # actions. People the stack gives the workspace to must get data roles, or they cannot upload
        # code or read data (learn.microsoft.com/azure/machine-learning/how-to-disable-local-auth-storage).
        shared_keys_off = self.storage.existing_id is None and not self.storage.allow_shared_key_access
        people = [ra for ra in self.role_assignments if ra.principal_type in ("User", "Group")]
        instance_users = bool(self.instances and self.instances.users)
        data_access = (bool(scientists) or (instance_users and self.access.instance_users)
                       or any(ra.role_definition_guid() in STORAGE_DATA_ROLE_GUIDS for ra in self.role_assignments))
        if shared_keys_off and (people or instance_users) and not data_access:
            problems.append(
                "access.data_scientists: storage.allow_shared_key_access is false (Entra ID only) and the stack gives "
                "the workspace to people (role_assignments, instances), but nobody gets data-plane access: list the "
                "data scientists under access.data_scientists (blob and file data roles on the storage account), "
                "or keep access.instance_users on")
        enc = self.encryption
        if enc.customer_managed_key:
            if self.key_vault.existing_id:
                problems.append("encryption.customer_managed_key: the key is created in the stack's own key vault; "
                                "key_vault.existing_id cannot be used with it")
            if self.storage.existing_id:
                problems.append("encryption.customer_managed_key: encrypts the storage account this stack creates; "
                                "storage.existing_id cannot be used with it")
        if problems:
            raise Problems(problems)
        return self

    def needs_images(self) -> bool:
        """True when something declared needs a container registry (registry mode ``auto``):
        an environment Azure ML builds (a conda file on a base image), or any Kubernetes inference
        target (its deployments pull images the workspace builds). Clusters, instances and
        environments that use a ready image do not."""
        return any(e.builds_image for e in self.environments) or bool(self.kubernetes)

    # the texts of the secret config keys these settings were read from (settings_from_strings)
    _secret_texts: Tuple[str, ...] = PrivateAttr(default=())

    def holds_secret(self, value: Any) -> bool:
        """True when ``value`` is the text of a secret config value (the whole key is secret, as
        Pulumi marks it): a name must then not be made of its characters (naming.name_part)."""
        return isinstance(value, str) and value in self._secret_texts

    def all_tags(self) -> Dict[str, str]:
        return {"workload": self.naming.workload, "environment": self.naming.environment,
                "managed-by": "amlplatform", **self.tags}


def _closest(word: str, choices: Iterable[str]) -> str:
    return closest(word, choices)


def _field_kind(annotation: Any) -> str:
    """How Pulumi's config hands a program this field's value: 'str', 'bool', 'int', 'float' (a
    top-level scalar is text the program parses with get_bool/get_int/get_float) or 'object'
    (JSON, read with get_object)."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin is Union:
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return "object"
            annotation = members[0]
        else:
            break
    if get_origin(annotation) is Literal:
        values = get_args(annotation)
        return "str" if all(isinstance(v, str) for v in values) else "object"
    if annotation is str:
        return "str"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    return "object"


def _decode(kind: str, text: str) -> Any:
    """``text`` as pulumi.Config reads it for ``kind`` (sdk/python/lib/pulumi/config.py: _get_bool
    accepts true/True/false/False, _get_int is int(), _get_float float(), _get_object json.loads)."""
    if kind == "str":
        return text
    if kind == "bool":
        if text in ("true", "True"):
            return True
        if text in ("false", "False"):
            return False
        raise ValueError(f"must be true or false, got {text!r}")
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"must be a whole number, got {text!r}") from None
    if kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {text!r}")
        return value
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ValueError("must be a mapping or a list (Pulumi passes structured values as JSON), "
                         f"got {shown!r}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a value")


def _namespace_problem(namespace: str) -> Optional[str]:
    if namespace == NAMESPACE:
        return None
    lowered = namespace.lower().replace("-", "").replace("_", "")
    if lowered == NAMESPACE or difflib.SequenceMatcher(None, lowered, NAMESPACE).ratio() >= 0.8:
        return f"namespace {namespace!r} is not {NAMESPACE!r}: a misspelling?"
    return None


def check_namespaces(config: Mapping[str, Any], *, source: str = "stack config") -> None:
    """Only the namespaces that look like a misspelt ``amlplatform`` (for programs of their own)."""
    problems = []
    for full_key in config:
        namespace, _, key = full_key.partition(":")
        problem = _namespace_problem(namespace)
        if problem:
            problems.append(f"{full_key}: {problem}")
    if problems:
        raise UserError(f"invalid settings in {source}:", problems)


# The one amlplatform key a program of its own may have: the exceptions `amlplatform scan` honours.
PROGRAM_KEYS = ("policy_exceptions",)


def uses_stack_settings(config: Mapping[str, Any]) -> bool:
    """True when the config is for the amlplatform program: it has amlplatform keys other than
    the ones a program of its own may have (:data:`PROGRAM_KEYS`)."""
    prefix = NAMESPACE + ":"
    return any(k.startswith(prefix) and k[len(prefix):] not in PROGRAM_KEYS for k in config)


def policy_exceptions_from_strings(config: Mapping[str, str], *, source: str = "stack config") -> List[PolicyException]:
    """``amlplatform:policy_exceptions`` alone (for a program of its own); :class:`UserError` when bad."""
    text = config.get(f"{NAMESPACE}:policy_exceptions")
    if text is None:
        return []
    try:
        data = _decode("object", text)
    except ValueError as exc:
        raise UserError(f"invalid settings in {source}:", [f"policy_exceptions: {exc}"]) from None
    try:
        return _EXCEPTIONS.validate_python(data, strict=True)
    except ValidationError as exc:
        raise UserError(f"invalid settings in {source}:", validation_problems(exc, prefix="policy_exceptions",
                                                                            model=None)) from None


_KIND_TYPES = {"str": (str,), "bool": (bool,), "int": (int,), "float": (int, float), "object": (dict, list)}
_KIND_WORDS = {"str": "text", "bool": "true or false", "int": "a whole number", "float": "a number",
               "object": "a mapping or a list"}


def typed_problems(values: Mapping[str, Any]) -> List[str]:
    """Top-level values of a stack file whose YAML type does not fit the setting.

    The program cannot tell ``location: true`` from ``location: "true"`` (both reach it as the text
    ``true``), but the stack file can: offline, a top-level value must already have the setting's
    type (quote a text that looks like a number or a boolean)."""
    out: List[str] = []
    fields = StackSettings.model_fields
    for full_key, value in values.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE or key not in fields or value is None:
            continue
        kind = _field_kind(fields[key].annotation)
        ok = isinstance(value, _KIND_TYPES[kind]) and not (kind in ("int", "float") and isinstance(value, bool))
        if not ok:
            out.append(f"{key}: must be {_KIND_WORDS[kind]}, got {value!r} ({_yaml_kind(value)})"
                       + (" - quote it to mean the text" if kind == "str" else ""))
    return out


def _yaml_kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "text", dict: "a mapping",
            list: "a list"}.get(type(value), type(value).__name__)


def settings_from_strings(config: Mapping[str, str], *, source: str = "stack config",
                          secret_paths: Iterable[str] = (), typed: Optional[Mapping[str, Any]] = None,
                          secret_keys: Iterable[str] = (), secrets: Iterable[str] = ()) -> StackSettings:
    """Validate the config as the Pulumi CLI hands it to a program (``PULUMI_CONFIG``: key -> text).

    Keys in the ``amlplatform`` namespace must each be a setting; a namespace that looks like a
    misspelt ``amlplatform`` is an error; every other namespace passes untouched. Each value is
    read the way pulumi.Config reads it for the setting's type (:func:`_decode`), then checked
    strictly (``max_nodes: true`` is not 1). Raises :class:`UserError` listing every bad field.

    Secrets are never printed: a problem of a field inside one of ``secret_keys`` (full keys,
    ``amlplatform:role_assignments``) says ``got [secret]``, and every text of ``secrets`` is
    redacted wherever a message would quote it (errors.redact_problem).
    """
    problems: List[str] = typed_problems(typed) if typed is not None else []
    typed_bad = {p.split(":")[0] for p in problems}
    data: Dict[str, Any] = {}
    fields = StackSettings.model_fields
    dropped: List[str] = []  # settings refused for their spelling: what they would have set is unknown
    for full_key, text in config.items():
        if full_key.partition(":")[0] == NAMESPACE and full_key.partition(":")[2] in typed_bad:
            continue
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            problem = _namespace_problem(namespace)
            if problem:
                problems.append(f"{full_key}: {problem}" + (f" (did you mean '{NAMESPACE}:{key}'?)"
                                                             if key in fields else ""))
                if key in fields:
                    dropped.append(key)
            continue
        if key not in fields:
            hint = _closest(key, fields)
            problems.append(f"{full_key}: is not a known setting{hint}")
            match = re.match(r" \(did you mean '([^']+)'\?\)$", hint)
            if match and match.group(1) in fields:
                dropped.append(match.group(1))
            continue
        if not isinstance(text, str):
            problems.append(f"{key}: the config value must be text, got {type(text).__name__}")
            continue
        try:
            data[key] = _decode(_field_kind(fields[key].annotation), text)
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    if "location" not in data and "location" not in {p.split(":")[0] for p in problems}:
        location = config.get("azure-native:location")
        if isinstance(location, str) and location:
            data["location"] = location
    try:
        settings = StackSettings.model_validate(data, strict=True)
        if not problems:
            settings._secret_texts = tuple(secrets) + tuple(_stand_in_texts(data, secret_keys, secret_paths))
            return settings
    except ValidationError as exc:
        bad_keys = {p.split(":")[0] for p in problems}
        problems += [p + " (amlplatform:location or azure-native:location)" if p == "location: is required"
                     else p for p in validation_problems(exc, model=StackSettings)
                     if not (p.endswith(": is required") and p.split(":")[0] in bad_keys)
                     and not _follows_from(p, dropped)]
    stand_ins = set(secret_paths)
    secret_fields = [k.partition(":")[2] for k in secret_keys if k.partition(":")[0] == NAMESPACE]
    secret_fields += [re.split(r"[.\[]", p, maxsplit=1)[0] for p in stand_ins]
    texts = list(secrets)
    problems = [redact_problem(p, secret_fields, texts)
                + (" (a secret: offline it reads as a stand-in, so only its shape can be checked)"
                   if p.split(":")[0] in stand_ins else "") for p in problems]
    raise UserError(f"invalid settings in {source} ({len(problems)} problem"
                    f"{'s' if len(problems) != 1 else ''}):", problems)


def _stand_in_texts(data: Mapping[str, Any], secret_keys: Iterable[str], secret_paths: Iterable[str]) -> List[str]:
    """Offline, the texts of the secret keys (with their stand-ins): what a real run's program
    finds secret (settings_from_pulumi), so names come out the same."""
    keys = {k.partition(":")[2] for k in secret_keys if k.partition(":")[0] == NAMESPACE}
    keys |= {re.split(r"[.\[]", p, maxsplit=1)[0] for p in secret_paths}
    return secret_texts({k: v for k, v in data.items() if k in keys})


def _follows_from(problem: str, dropped: Iterable[str]) -> bool:
    """True when ``problem`` names a setting that was refused for its spelling: it was checked against
    that setting's default, so it says nothing until the key is spelt right."""
    return any(re.search(rf"(?<![\w.]){re.escape(name)}(?:[.:\[]|$)", problem) for name in dropped)


def settings_from_config(config: Mapping[str, Any], *, source: str = "stack config") -> StackSettings:
    """Validate ``config`` (``namespace:key`` -> value as decoded from a stack file) as stack
    settings: the values are first turned into the text the Pulumi CLI passes to the program,
    so offline and ``pulumi up`` read them the same way. Raises :class:`UserError`."""
    try:
        strings = program_config(dict(config))
    except ValueError as exc:
        raise UserError(f"invalid settings in {source}: {exc}") from None
    return settings_from_strings(strings, source=source, typed=config)


def read_stack_file(path: Path, project: Optional[str] = NAMESPACE) -> Tuple[Dict[str, Any], List[str]]:
    """The ``config:`` map of a ``Pulumi.<stack>.yaml`` file and the keys that are secrets.

    Read as the Pulumi CLI reads it (:mod:`amlplatform.settings.pulumi_yaml`). Secrets
    (``{secure: ...}``) cannot be decrypted without the Pulumi CLI; offline they read as a
    placeholder, and a key with a secret anywhere inside is secret as a whole.
    """
    read = read_stack_config(path, project=project)
    if read.empty_keys:
        raise UserError(f"{path}: no value for {', '.join(read.empty_keys)} (Pulumi reads an empty key as "
                        "the text \"\"): give it a value or remove the line")
    return read.values, read.secret_keys


def load_stack_settings(path: Path, project: Optional[str] = NAMESPACE) -> StackSettings:
    config, _ = read_stack_file(path, project)
    return settings_from_config(config, source=str(path))


def settings_from_pulumi() -> Tuple[StackSettings, List[str]]:
    """The running program's settings and the plain text of its secret values.

    The CLI passes the config as ``PULUMI_CONFIG`` (key -> text) and the secret keys as
    ``PULUMI_CONFIG_SECRET_KEYS``; the Python SDK reads the first but not the second, so the
    program reads both (offline, the mock engine's ``set_all_config`` provides them instead).
    """
    from pulumi.runtime import config as runtime_config

    raw: Dict[str, Any] = {}
    raw.update(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    secrets = secret_texts({k: v for k, v in raw.items() if k in secret_keys})
    settings = settings_from_strings(raw, source="the stack's configuration", secret_keys=sorted(secret_keys),
                                     secrets=secrets)
    return settings, secrets


def secret_texts(secret_config: Mapping[str, Any]) -> List[str]:
    """Every text a secret key holds: the whole value, and each string inside a structured one.
    A resource input containing one of them is marked secret (see program.mark_secrets)."""
    out: List[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and value and value not in out:
            out.append(value)

    for text in secret_config.values():
        walk(text)
        if isinstance(text, str):
            try:
                walk(json.loads(text))
            except ValueError:
                pass
    return out


def config_for_engine(config: Mapping[str, Any]) -> Dict[str, str]:
    """Config values as the Pulumi CLI hands them to a program (see pulumi_yaml.program_config)."""
    return program_config(dict(config))


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
            "encryptionsalt": {"type": "string"},
            "environment": {},
        },
        "additionalProperties": False,
        "$defs": defs,
    }


_EXCEPTIONS = TypeAdapter(List[PolicyException])

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "stack-config.schema.json"


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
