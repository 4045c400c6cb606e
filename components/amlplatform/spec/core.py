"""Typed settings for the workspace and what it depends on.

These models are what a stack file may say (``stacks/Pulumi.<stack>.yaml``, keys under the
``amlplatform:`` namespace). Defaults are the secure ones; a stack that wants something else
says so explicitly, and the policy pack re-checks the result.

Declares no resources; the defaults are the components' own (amlplatform.iac._base.defaults).
The leaf components never see these models: MLPlatform maps them to plain component arguments.
"""

import re
import uuid
from typing import Annotated, Dict, List, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from amlplatform.azure import naming
from amlplatform.azure.isolation import dependency_network
from amlplatform.azure.roles import ROLES
from amlplatform.errors import Problems
# the components' own defaults, written once beside their Args (amlplatform.iac._base.defaults): a stack
# that leaves a setting out gets exactly what a bare component gets
from amlplatform.iac.workspace.keyvault import DEFAULTS as KEY_VAULT
from amlplatform.iac.workspace.monitoring import DEFAULTS as MONITORING
from amlplatform.iac.workspace.registry import DEFAULTS as REGISTRY
from amlplatform.iac.workspace.storage import DEFAULTS as STORAGE
from amlplatform.iac.workspace.workspace import DEFAULTS as WORKSPACE


class Model(BaseModel):
    """Base for every settings model: unknown keys are errors (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# ---------------------------------------------------------------------------- value types

_ARM_ID = re.compile(
    r"/subscriptions/(?P<sub>[0-9a-fA-F-]{36})/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/(?P<provider>[^/]+)/(?P<rest>.+)"
)


def arm_id(expected_type: str):
    """A validator for the ARM id of an existing resource of ``expected_type``.

    ``expected_type`` is ``Microsoft.Storage/storageAccounts``; casing is ignored because the
    service itself returns ids with other casing (``Microsoft.Keyvault``).
    """

    def check(value: str) -> str:
        m = _ARM_ID.fullmatch(value or "")
        if not m:
            raise ValueError(
                "must be an ARM resource id like /subscriptions/<guid>/resourceGroups/<rg>/providers/"
                f"{expected_type}/<name>"
            )
        parts = m.group("rest").split("/")
        namespace, types = m.group("provider"), expected_type.split("/")
        got_types = [namespace] + parts[0::2]
        if len(parts) % 2 or [t.lower() for t in got_types] != [t.lower() for t in types]:
            raise ValueError(f"must be the id of a {expected_type} resource")
        return value

    return AfterValidator(check)


def _uuid(value: str) -> str:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise ValueError("must be a GUID like 00000000-0000-0000-0000-000000000000") from None
    return value.lower()


Guid = Annotated[str, AfterValidator(_uuid)]


def _location(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9]{2,39}", value):
        raise ValueError("must be an Azure region name in lowercase without spaces, like 'westeurope'")
    return value


Location = Annotated[str, AfterValidator(_location)]

_TAG_KEY_FORBIDDEN = set('<>%&\\?/')


def _tags(value: Dict[str, str]) -> Dict[str, str]:
    problems = []
    if len(value) > 50:
        problems.append(f"at most 50 tags, has {len(value)}")
    for key, val in value.items():
        if not 1 <= len(key) <= 512 or set(key) & _TAG_KEY_FORBIDDEN:
            problems.append(f"tag name {key!r} must be 1-512 characters without < > % & \\ ? /")
        if len(val) > 256:
            problems.append(f"tag {key!r} value must be at most 256 characters")
    if problems:
        raise Problems(problems)
    return value


Tags = Annotated[Dict[str, str], AfterValidator(_tags)]

NetworkAccess = Literal["Enabled", "Disabled"]
DefaultAction = Literal["Allow", "Deny"]


# ---------------------------------------------------------------------------- models

class NameOverrides(Model):
    """Physical names chosen by hand; each is checked against Azure's rule for its kind."""

    resource_group: Optional[str] = Field(None, description="1-90: letters, digits, _ - . ( ); not ending in .")
    storage_account: Optional[str] = Field(None, description="3-24 lowercase letters and digits; globally unique")
    key_vault: Optional[str] = Field(None, description="3-24 letters, digits, hyphens; starts with a letter; no --")
    container_registry: Optional[str] = Field(None, description="5-50 letters and digits; globally unique")
    workspace: Optional[str] = Field(None, description="3-33 letters, digits, _ and -")
    log_analytics: Optional[str] = Field(None, description="4-63 letters, digits and hyphens")
    app_insights: Optional[str] = Field(None, description="1-260 characters without % & \\ ? / < >")
    aks: Optional[str] = Field(None, description="1-63 letters, digits, _ and -")

    @model_validator(mode="after")
    def _check(self) -> "NameOverrides":
        problems = []
        for kind, name in self.model_dump(exclude_none=True).items():
            for problem in naming.check(kind, name):
                problems.append(f"{kind} {name!r} {problem}")
        if problems:
            raise Problems(problems)
        return self


def _rule(rule: naming.NameRule):
    def check(value: str) -> str:
        problems = rule.problems(value)
        if problems:
            raise Problems(problems)
        return value
    return AfterValidator(check)


class NamingSettings(Model):
    """How physical names are made: ``<prefix>-<workload>-<environment>[-<hash>]``."""

    workload: Annotated[str, _rule(naming.WORKLOAD_RULE)] = Field(
        description="Short workload name: 2-12 lowercase letters/digits, starting with a letter")
    environment: Annotated[str, _rule(naming.ENVIRONMENT_RULE)] = Field(
        description="Environment: 1-8 lowercase letters/digits, starting with a letter (dev, stg, prod)")
    seed: str = Field(
        "", description="Feeds the hash of globally unique names (storage, key vault, registry). "
        "Changing it renames, and so recreates, those resources.")
    overrides: NameOverrides = Field(NameOverrides(), description="Explicit physical names that replace the generated ones (each checked against its Azure naming rule)")

    def scope(self) -> str:
        """What tells this stack's resources apart from other stacks': ``workload/environment``."""
        return f"{self.workload}/{self.environment}"

    def names(self) -> naming.NameSet:
        return naming.generate(self.workload, self.environment, seed=self.seed,
                               overrides=self.overrides.model_dump(exclude_none=True))


class ResourceGroupSettings(Model):
    """The resource group that holds the platform."""

    existing: bool = Field(False, description="Use a resource group that already exists instead of creating it")
    name: Optional[str] = Field(None, description="Its name; defaults to rg-<workload>-<environment>")

    @model_validator(mode="after")
    def _check(self) -> "ResourceGroupSettings":
        if self.name is not None:
            problems = naming.check("resource_group", self.name)
            if problems:
                raise ValueError(f"name {self.name!r}: " + "; ".join(problems))
        if self.existing and not self.name:
            raise ValueError("name is required when existing is true")
        return self


class StorageSettings(Model):
    """The workspace's default storage account (StorageV2, HTTPS only, TLS 1.2 - always)."""

    existing_id: Annotated[Optional[str], arm_id("Microsoft.Storage/storageAccounts")] = Field(
        None, description="Bring an existing storage account instead of creating one")
    sku: Literal["Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS",
                 "Standard_GZRS", "Standard_RAGZRS"] = Field(STORAGE["sku"], description="Replication")
    allow_shared_key_access: bool = Field(
        STORAGE["allow_shared_key_access"], description="Account keys and SAS signed with them; off means "
        "identity-based access only")
    network_default_action: Optional[DefaultAction] = Field(
        None, description="Firewall default; Deny (with AzureServices bypass) unless the workspace has no "
        "managed network, where computes reach storage over public endpoints")
    public_network_access: Optional[NetworkAccess] = Field(
        None, description="Defaults to the workspace's public_network_access")
    blob_soft_delete_days: int = Field(STORAGE["blob_soft_delete_days"], ge=1, le=365,
                                       description="Days a deleted blob can be restored")
    container_soft_delete_days: int = Field(STORAGE["container_soft_delete_days"], ge=1, le=365,
                                            description="Days a deleted container can be restored")
    versioning: bool = Field(STORAGE["versioning"], description="Blob versioning")


class KeyVaultSettings(Model):
    """The workspace's key vault (RBAC authorization and soft delete - always)."""

    existing_id: Annotated[Optional[str], arm_id("Microsoft.KeyVault/vaults")] = Field(
        None, description="Bring an existing key vault instead of creating one")
    sku: Literal["standard", "premium"] = Field(KEY_VAULT["sku"], description="premium for HSM-backed keys")
    purge_protection: bool = Field(
        KEY_VAULT["purge_protection"], description="Required for customer-managed keys; keeps a deleted vault's name taken for "
        "the retention period. Turn off only for throwaway stacks.")
    soft_delete_retention_days: int = Field(
        KEY_VAULT["soft_delete_retention_days"], ge=7, le=90, description="Days a deleted vault (and its name) is kept")
    network_default_action: Optional[DefaultAction] = Field(
        None, description="Firewall default; derived like storage's")
    public_network_access: Optional[NetworkAccess] = Field(
        None, description="Defaults to the workspace's public_network_access")
    create_mode: Literal["default", "recover"] = Field(
        KEY_VAULT["create_mode"], description="recover: the next `pulumi up` recovers the soft-deleted vault of the same name "
        "(with its keys and secrets) instead of failing on the name; set it back to default afterwards")

    @model_validator(mode="after")
    def _check(self) -> "KeyVaultSettings":
        if self.create_mode == "recover" and self.existing_id:
            raise ValueError("create_mode recover applies to the vault this stack creates, not to existing_id")
        return self


class MonitoringSettings(Model):
    """Log Analytics and workspace-based Application Insights."""

    existing_log_analytics_id: Annotated[
        Optional[str], arm_id("Microsoft.OperationalInsights/workspaces")] = Field(
        None, description="Link to an existing Log Analytics workspace instead of creating one")
    existing_app_insights_id: Annotated[Optional[str], arm_id("Microsoft.Insights/components")] = Field(
        None, description="Bring an existing Application Insights component (then no monitoring is created)")
    retention_days: int = Field(
        MONITORING["retention_days"], ge=30, le=730, description="Log Analytics retention in days (30-730); it also governs the "
        "workspace-based Application Insights, which is sent no retention of its own")
    daily_quota_gb: Optional[float] = Field(None, gt=0, description="Daily ingestion cap of Log Analytics")
    app_insights_local_auth: bool = Field(
        MONITORING["app_insights_local_auth"], description="Instrumentation-key ingestion; off means Entra ID only")
    public_ingestion: NetworkAccess = Field(MONITORING["public_ingestion"], description="Ingestion over public networks")
    public_query: NetworkAccess = Field(MONITORING["public_query"], description="Queries over public networks")


RegistryMode = Literal["auto", "service", "create", "existing"]


class RegistrySettings(Model):
    """The container registry for environment images.

    ``auto`` creates it only when the stack declares something that needs images (custom
    environments, Kubernetes inference); ``service`` leaves it to Azure ML (created on the first
    image build, outside IaC); ``create`` always creates it; ``existing`` links ``existing_id``.
    """

    mode: RegistryMode = Field(WORKSPACE["registry_mode"], description="auto, service, create or existing (see above)")
    existing_id: Annotated[
        Optional[str], arm_id("Microsoft.ContainerRegistry/registries")] = Field(
        None, description="The registry to link, with mode existing")
    sku: Literal["Basic", "Standard", "Premium"] = Field(
        REGISTRY["sku"], description="Premium is needed for private access, retention and zone redundancy")
    public_network_access: Optional[NetworkAccess] = Field(
        None, description="Defaults to the workspace's public_network_access")
    zone_redundancy: bool = Field(
        REGISTRY["zone_redundancy"], description="Premium only. Create-only: changing it on an existing registry needs a new "
        "registry (and its images pushed again)")
    untagged_retention_days: int = Field(REGISTRY["untagged_retention_days"], ge=0, le=365, description="Premium only")

    @model_validator(mode="after")
    def _check(self) -> "RegistrySettings":
        if self.mode == "existing" and not self.existing_id:
            raise ValueError("existing_id is required when mode is 'existing'")
        if self.mode != "existing" and self.existing_id:
            raise ValueError(f"existing_id is only used when mode is 'existing' (mode is {self.mode!r})")
        return self


class WorkspaceSettings(Model):
    """The Azure Machine Learning workspace."""

    friendly_name: Optional[str] = Field(None, description="Display name in the studio")
    description: Optional[str] = Field(None, description="Description in the studio")
    identity: Literal["SystemAssigned", "UserAssigned"] = Field(
        WORKSPACE["identity"], description="Managed identity type (create-only)")
    user_assigned_identity_id: Annotated[
        Optional[str], arm_id("Microsoft.ManagedIdentity/userAssignedIdentities")] = Field(
        None, description="Required with identity UserAssigned: the identity must already hold its "
        "roles on storage, key vault and registry")
    public_network_access: NetworkAccess = Field(
        "Disabled", description="Reach the workspace over public networks")
    managed_network: Literal["Disabled", "AllowInternetOutbound", "AllowOnlyApprovedOutbound"] = Field(
        WORKSPACE["managed_network"], description="Managed virtual network isolation; one way: cannot go back")
    hbi_workspace: bool = Field(WORKSPACE["hbi_workspace"], description="High business impact: create-only")
    system_datastores_auth_mode: Literal["identity", "accesskey"] = Field(
        WORKSPACE["system_datastores_auth_mode"], description="How the workspace's own datastores authenticate to storage")
    image_build_compute: Optional[str] = Field(
        None, description="Compute cluster that builds images when the registry is private")

    @model_validator(mode="after")
    def _check(self) -> "WorkspaceSettings":
        if self.identity == "UserAssigned" and not self.user_assigned_identity_id:
            raise ValueError("user_assigned_identity_id is required when identity is 'UserAssigned'")
        if self.identity == "SystemAssigned" and self.user_assigned_identity_id:
            raise ValueError("user_assigned_identity_id needs identity 'UserAssigned'")
        return self


# The built-in roles a role_assignments entry may name (their GUIDs: amlplatform.azure.roles)
BUILTIN_ROLES: Dict[str, str] = {name: ROLES[name] for name in (
    "AzureML Data Scientist", "AzureML Compute Operator", "AzureML Metrics Writer (preview)",
    "Azure Machine Learning Workspace Connection Secrets Reader", "Reader", "Contributor", "Owner",
    "Storage Blob Data Reader", "Storage Blob Data Contributor", "Key Vault Secrets User", "AcrPull")}


def _role(value: str) -> str:
    if value in BUILTIN_ROLES:
        return value
    try:
        uuid.UUID(value)
        return value.lower()
    except ValueError:
        raise ValueError(
            "must be a built-in role name (" + ", ".join(sorted(BUILTIN_ROLES)) +
            ") or a role definition GUID") from None


class RoleAssignmentSettings(Model):
    """Share the workspace: give a user, group or service principal a role on it."""

    principal_id: Guid = Field(description="Object id of the user, group or service principal")
    principal_type: Literal["User", "Group", "ServicePrincipal"] = Field("Group", description="Kind of principal")
    role: Annotated[str, AfterValidator(_role)] = Field(
        description="Built-in role name or role definition GUID")
    scope: Literal["workspace", "resource_group"] = Field("workspace", description="Where the role applies")
    description: Optional[str] = Field(None, description="Why the principal has the role")

    def role_definition_guid(self) -> str:
        return BUILTIN_ROLES.get(self.role, self.role)


class DiagnosticsSettings(Model):
    """Resource logs and metrics of the workspace, key vault, storage account's blob service, container
    registry and the AKS clusters the stack creates, sent to the Log Analytics workspace."""

    enabled: bool = Field(True, description="Send the workspace, key vault, blob storage, container registry and "
                          "created AKS cluster logs to Log Analytics (false: none of them)")


class PolicyException(Model):
    """A security rule this stack breaks on purpose, with the reason (shown in scan reports)."""

    rule: str = Field(description="Policy or check id, e.g. CKV_AZURE_35, an Azure Policy GUID, or a "
                      "deployability rule id (AMLD-007)")
    resource: str = Field("*", description="Logical resource name it applies to, or * for all")
    reason: str = Field(min_length=10, description="Why this stack accepts it")


def derived_network(workspace: WorkspaceSettings, explicit: Optional[str], kind: str) -> str:
    """Network defaults of a dependency, derived from the workspace's isolation.

    ``kind`` is ``default_action`` or ``public_access``. With a managed network, the workspace
    reaches its dependencies through private endpoints, so their firewalls can deny by default;
    without one, computes reach them over public endpoints.
    """
    if explicit is not None:
        return explicit
    derived = dependency_network(workspace.managed_network, workspace.public_network_access)
    return derived["network_default_action" if kind == "default_action" else "public_network_access"]


__all__ = [
    "Model", "NamingSettings", "NameOverrides", "ResourceGroupSettings", "StorageSettings",
    "KeyVaultSettings", "MonitoringSettings", "RegistrySettings", "WorkspaceSettings",
    "RoleAssignmentSettings", "DiagnosticsSettings", "PolicyException", "BUILTIN_ROLES",
    "Tags", "Location", "Guid", "arm_id", "derived_network", "List",
]
