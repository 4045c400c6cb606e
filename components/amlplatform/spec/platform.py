"""The platform's shape: everything one platform (one stack) declares, as one validated model.

Every field is a key of the stack file after ``amlplatform:`` and an argument of the
``MLPlatform`` component; the component validates its arguments with this model, so a stack file
and a consumer program get the same field-naming errors. Declares no resources; the defaults are the components' own (amlplatform.iac._base.defaults).
"""

from typing import Any, Dict, List, Optional, Tuple

from pydantic import AfterValidator, Field, PrivateAttr, ValidationInfo, field_validator, model_validator
from typing_extensions import Annotated

from amlplatform.errors import Problems
from amlplatform.spec.access import STORAGE_DATA_ROLE_GUIDS, AccessSettings
from amlplatform.spec.compute import (
    ClusterSettings, EnvironmentSettings, InstancesSettings, KubernetesSettings, repeated_compute_names,
)
from amlplatform.spec.network import NetworkSettings, stack_problems as network_problems
from amlplatform.spec.assets import AssetsSettings
from amlplatform.spec.datastores import DataAssetSettings, DatastoreSettings, data_assets_problems, datastores_problems
from amlplatform.spec.endpoints import BatchEndpointSettings, OnlineEndpointSettings, serving_problems
from amlplatform.spec.core import (
    DiagnosticsSettings, Guid, KeyVaultSettings, Location, Model, MonitoringSettings, NamingSettings,
    PolicyException, RegistrySettings, ResourceGroupSettings, RoleAssignmentSettings,
    StorageSettings, Tags, WorkspaceSettings,
)
from amlplatform.spec.protection import EncryptionSettings, LocksSettings


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
    data_assets: List[DataAssetSettings] = Field(
        default_factory=list, description="Data assets (one version per entry, as az ml data create takes them): "
        "a datastore path or a project file/folder the stack uploads")
    # the models, code and components the deployments use (settings/assets.py)
    assets: AssetsSettings = Field(
        AssetsSettings(), description="Model, code and component versions the deployments use: uploaded from the "
        "project and registered by the stack, or acknowledged as existing")
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

    @field_validator("data_assets")
    @classmethod
    def _data_assets_across(cls, value: List[DataAssetSettings], info: ValidationInfo) -> List[DataAssetSettings]:
        if "datastores" not in info.data:
            return value
        problems = data_assets_problems(value, [d.name for d in info.data["datastores"]])
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
        from amlplatform.spec.core import derived_network

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
        from amlplatform.spec.access import ROLE_GUIDS

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
        if not self.access.notebooks and instance_users and self.access.instance_users and shared_keys_off:
            problems.append(
                "access.notebooks: false, but the stack declares compute instances, whose users need Storage File "
                "Data Privileged Contributor to mount the notebooks' file share with shared keys off "
                "(how-to-disable-local-auth-storage): keep access.notebooks on, or remove instances")
        # A read-only file share datastore on the stack's own account is void for a reader who also holds
        # the account-wide Storage File Data Privileged Contributor (notebooks): role assignments add up, and
        # Azure Files has no role assignment conditions (storage-auth-abac-attributes) - AMLD-040 at scan time
        file_writers = set(scientists) if self.access.notebooks else set()
        if self.access.notebooks and self.access.instance_users and self.instances:
            file_writers |= {u.object_id for u in self.instances.users}
        for i, ds in enumerate(self.datastores):
            if ds.kind != "file_share" or ds.storage_account_id is not None or ds.writable:
                continue
            shadowed = [r.principal_id for r in ds.readers if r.principal_id in file_writers]
            if shadowed:
                problems.append(
                    f"datastores[{i}]: file share {ds.container!r} is read-only, but its readers "
                    f"{', '.join(shadowed)} hold Storage File Data Privileged Contributor on the whole storage "
                    "account (notebooks), which lets them write it, and file shares take no role assignment "
                    "conditions: keep the read-only files in another storage account (storage_account_id), or "
                    "make the datastore writable")
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


__all__ = ["StackSettings"]
