"""``MLWorkspace``: a workspace together with everything it depends on.

Resource graph (only true data dependencies; an extra ``depends_on`` would serialise minutes of
cloud work)::

    Log Analytics -> Application Insights
    storage, key vault, Application Insights, [registry] -> workspace -> role assignments
    with a customer-managed key: key vault -> key, identity -> key role -> storage, workspace
    (both must not exist before their identity can use the key)
"""

from typing import Any, Dict, List, Mapping, Optional, TypedDict

import pulumi
from typing_extensions import Required

from amlplatform.iac._base import ComponentArgsError, check_args, child, defaults, inherit_defaults, token
from amlplatform.azure.roles import ROLES
from amlplatform.iac.access.access import IdentityAccess, RoleAssignmentSpec, WorkspaceAccess
from amlplatform.iac.options.encryption import CustomerManagedKeySpec
from amlplatform.iac.options.locks import LockSpec
from amlplatform.azure.isolation import DEFAULT_MANAGED_NETWORK, dependency_network, public_access_default
from amlplatform.iac.workspace import encryption, keyvault, monitoring, registry, storage, workspace
from amlplatform.iac.workspace.encryption import CustomerManagedKey
from amlplatform.iac.workspace.keyvault import WorkspaceKeyVault
from amlplatform.iac.workspace.monitoring import WorkspaceMonitoring
from amlplatform.iac.workspace.registry import ContainerRegistry, registry_needed
from amlplatform.iac.workspace.storage import WorkspaceStorage
from amlplatform.iac.workspace.workspace import OutboundRuleSpec, Workspace


# storage sub-resources a PrivateEndpoint outbound rule to the default storage may name (the ones Azure
# does not add itself: how-to-managed-network, "batch endpoints ... queue and table")
STORAGE_OUTBOUND_TARGETS = ("queue", "table")


class Names(TypedDict, total=False):
    """Physical names of the resources MLWorkspace creates (amlplatform.azure.naming.generate)."""
    storage_account: Required[str]
    """Storage account: 3-24 lowercase letters and digits, globally unique."""
    key_vault: Required[str]
    """Key vault: 3-24 letters, digits, hyphens; globally unique."""
    container_registry: Required[str]
    """Container registry: 5-50 letters and digits, globally unique."""
    workspace: Required[str]
    """Workspace: 3-33 letters, digits, '_' and '-'."""
    log_analytics: Required[str]
    """Log Analytics workspace."""
    app_insights: Required[str]
    """Application Insights component."""
    resource_group: str
    """Not used by MLWorkspace (the group is given by resource_group_name); accepted so that
    ``vars(naming.generate(...))`` can be passed as it is."""
    aks: str
    """Not used by MLWorkspace (Kubernetes targets take their own names); accepted like resource_group."""


class StorageSpec(TypedDict, total=False):
    """The workspace's storage account: WorkspaceStorageArgs settings (MLWorkspace gives the name,
    location, tags, protection, private endpoints, key, lock and diagnostics), or ``existing_id``."""
    existing_id: pulumi.Input[str]
    """Use this existing account (ARM id) instead of creating one; nothing else may be given then."""
    sku: str
    """Replication."""
    allow_shared_key_access: bool
    """Account keys and SAS signed with them; off means identity-based access only."""
    network_default_action: str
    """Firewall default action, Allow or Deny (AzureServices always bypass); by default Deny when the
    workspace has a managed network (its private endpoints reach the account), else Allow."""
    public_network_access: str
    """Enabled or Disabled; by default the workspace's public network access."""
    blob_soft_delete_days: int
    """Days a deleted blob can be restored."""
    container_soft_delete_days: int
    """Days a deleted container can be restored."""
    versioning: bool
    """Blob versioning."""
    lock: LockSpec
    """A management lock (CanNotDelete) on the account."""


# its defaults are its component's (amlplatform.iac._base.defaults)
inherit_defaults(StorageSpec, storage.WorkspaceStorageArgs, derived=("public_network_access",))


class KeyVaultSpec(TypedDict, total=False):
    """The workspace's key vault: WorkspaceKeyVaultArgs settings, or ``existing_id``."""
    existing_id: pulumi.Input[str]
    """Use this existing vault (ARM id) instead of creating one; nothing else may be given then."""
    sku: str
    """standard or premium (HSM-backed keys)."""
    purge_protection: bool
    """Required for customer-managed keys; cannot be turned off once on."""
    soft_delete_retention_days: int
    """7-90."""
    create_mode: str
    """`default`, or `recover`: recover the soft-deleted vault of the same name (after a destroy)."""
    network_default_action: str
    """Allow or Deny (AzureServices always bypass); by default derived like the storage account's."""
    public_network_access: str
    """Enabled or Disabled; by default the workspace's public network access."""
    lock: LockSpec
    """A management lock (CanNotDelete) on the vault."""


# its defaults are its component's (amlplatform.iac._base.defaults)
inherit_defaults(KeyVaultSpec, keyvault.WorkspaceKeyVaultArgs, derived=("public_network_access",))


class MonitoringPrivateLinkScope(TypedDict, total=False):
    """PrivateLinkScopeSpec without the endpoint (MLWorkspace gives it from private_endpoints)."""
    scope_name: Required[str]
    """Name of the Azure Monitor Private Link Scope."""
    ingestion_access_mode: str
    """PrivateOnly or Open."""
    query_access_mode: str
    """PrivateOnly or Open."""


# its defaults are its component's (amlplatform.iac._base.defaults)
inherit_defaults(MonitoringPrivateLinkScope, monitoring.PrivateLinkScopeSpec)


class MonitoringSpec(TypedDict, total=False):
    """Log Analytics and Application Insights: WorkspaceMonitoringArgs settings, or existing ones."""
    existing_app_insights_id: pulumi.Input[str]
    """Use this Application Insights component instead of creating monitoring."""
    existing_log_analytics_id: pulumi.Input[str]
    """Link Application Insights to this Log Analytics workspace instead of creating one (also the
    diagnostics target)."""
    retention_days: int
    """Retention of the created Log Analytics workspace, 30-730 days."""
    daily_quota_gb: float
    """Daily ingestion cap of Log Analytics; none by default."""
    app_insights_local_auth: bool
    """Instrumentation-key ingestion; off means Entra ID only."""
    log_analytics_local_auth: bool
    """Workspace-key ingestion and queries on Log Analytics; off means Entra ID only."""
    private_link_scope: MonitoringPrivateLinkScope
    """{'scope_name', 'ingestion_access_mode', 'query_access_mode'}: an Azure Monitor Private Link Scope
    whose endpoint takes private_endpoints (groups.monitoring: ['azuremonitor'])."""
    public_ingestion: str
    """Enabled or Disabled."""
    app_insights_public_ingestion: str
    """Enabled or Disabled: Application Insights' own public ingestion; by default public_ingestion."""
    public_query: str
    """Enabled or Disabled."""
    lock: LockSpec
    """A management lock (CanNotDelete) on the created Log Analytics workspace (the audit trail)."""


# its defaults are its component's (amlplatform.iac._base.defaults)
inherit_defaults(MonitoringSpec, monitoring.WorkspaceMonitoringArgs)


class RegistrySpec(TypedDict, total=False):
    """The container registry: ContainerRegistryArgs settings, or ``existing_id`` (registry_mode existing)."""
    existing_id: pulumi.Input[str]
    """With registry_mode existing: the registry's ARM id; nothing else may be given then."""
    sku: str
    """Basic, Standard or Premium (needed for private access, retention, zone redundancy)."""
    public_network_access: str
    """Enabled or Disabled (Premium only); by default the workspace's public network access."""
    zone_redundancy: bool
    """Premium only; create-only."""
    untagged_retention_days: int
    """Premium only: delete untagged manifests after this many days."""


# its defaults are its component's (amlplatform.iac._base.defaults)
inherit_defaults(RegistrySpec, registry.ContainerRegistryArgs, derived=("public_network_access",))


class WorkspaceSpec(TypedDict, total=False):
    """The workspace's own settings (WorkspaceArgs without names and the dependencies' ids)."""
    identity: str
    """SystemAssigned or UserAssigned."""
    user_assigned_identity_id: pulumi.Input[str]
    """With identity UserAssigned: the identity (primary user-assigned identity)."""
    public_network_access: str
    """Enabled or Disabled; by default Disabled when the workspace has a private endpoint, else
    Enabled (amlplatform.azure.isolation)."""
    managed_network: str
    """Disabled, AllowInternetOutbound or AllowOnlyApprovedOutbound."""
    outbound_rules: Mapping[str, OutboundRuleSpec]
    """User-defined managed network outbound rules by name."""
    default_storage_outbound: List[str]
    """Sub-resources of the default storage account (queue, table) that get a PrivateEndpoint outbound
    rule of the managed network, named default-storage-<sub-resource>: batch endpoints and
    ParallelRunStep need queue and table (how-to-managed-network); Azure adds blob and file itself."""
    firewall_sku: str
    """Standard or Basic: the managed Azure Firewall FQDN rules need."""
    provision_network_now: bool
    """Provision the managed network with the workspace (with a managed network only)."""
    hbi_workspace: bool
    """High business impact (create-only)."""
    system_datastores_auth_mode: str
    """identity or accesskey."""
    image_build_compute: str
    """Cluster that builds images when the registry is private."""
    friendly_name: str
    """Display name in the studio."""
    description: str
    """Description in the studio."""
    lock: LockSpec
    """A management lock (CanNotDelete) on the workspace (it also refuses deleting its computes: a
    lock covers child resources)."""


# its defaults are its component's (amlplatform.iac._base.defaults)
inherit_defaults(WorkspaceSpec, workspace.WorkspaceArgs, derived=("public_network_access",))


class PrivateEndpointGroups(TypedDict, total=False):
    """Which sub-resources (group ids) of each created resource get a private endpoint."""
    workspace: List[str]
    """The workspace: amlworkspace."""
    storage: List[str]
    """The storage account: blob and file (queue, table opt-in)."""
    key_vault: List[str]
    """The key vault: vault."""
    registry: List[str]
    """The container registry (Premium): registry."""
    monitoring: List[str]
    """The Azure Monitor Private Link Scope over Log Analytics and Application Insights: azuremonitor."""


class PlatformPrivateEndpoints(TypedDict, total=False):
    """Private endpoints of the resources MLWorkspace creates (amlplatform.iac.network.privatelink)."""
    subnet_id: Required[pulumi.Input[str]]
    """Subnet that holds the endpoints."""
    dns_zone_ids: Required[Mapping[str, pulumi.Input[str]]]
    """Private DNS zone name -> zone id, for every zone of the groups."""
    groups: Required[PrivateEndpointGroups]
    """Resource -> its group ids; a resource left out gets no endpoint."""


class PlatformCustomerManagedKey(TypedDict, total=False):
    """CustomerManagedKeyArgs without the vault coordinates (the key lives in the created vault)."""
    key_name: str
    """Name of the key."""
    key_size: int
    """RSA key size: 2048, 3072 or 4096."""
    hsm: bool
    """An HSM-protected key (RSA-HSM); needs a premium vault."""
    identity_name: str
    """Physical name of the user-assigned identity it creates (unless existing_identity_id)."""
    existing_identity_id: str
    """Use this identity; it must already hold Key Vault Crypto Service Encryption User on the key (or its vault)."""


# its defaults are its component's (amlplatform.iac._base.defaults)
inherit_defaults(PlatformCustomerManagedKey, encryption.CustomerManagedKeyArgs)


class MLWorkspaceArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group for every resource."""
    location: Required[pulumi.Input[str]]
    """Azure region."""
    tenant_id: Required[pulumi.Input[str]]
    """Entra tenant of the key vault."""
    subscription_id: Required[pulumi.Input[str]]
    """Subscription (for role definition ids)."""
    names: Required[Names]
    """Physical names (see amlplatform.azure.naming.generate)."""
    tags: Mapping[str, str]
    """Tags on every resource."""
    protect: bool
    """Protect storage, key vault and workspace from deletion by Pulumi."""
    storage: StorageSpec
    """WorkspaceStorageArgs settings, or {'existing_id': ...}."""
    key_vault: KeyVaultSpec
    """WorkspaceKeyVaultArgs settings, or {'existing_id': ...}."""
    monitoring: MonitoringSpec
    """WorkspaceMonitoringArgs without names/location, or {'existing_app_insights_id': ...,
    'existing_log_analytics_id': ...}."""
    registry_mode: str
    """auto, service, create or existing."""
    registry: RegistrySpec
    """ContainerRegistryArgs without names/location, or {'existing_id': ...} for mode existing."""
    needs_images: bool
    """Something in the stack needs images (custom environments, Kubernetes inference)."""
    workspace: WorkspaceSpec
    """WorkspaceArgs settings (identity, public_network_access, managed_network, ...)."""
    role_assignments: List[RoleAssignmentSpec]
    """Roles on the workspace."""
    resource_group_role_assignments: List[RoleAssignmentSpec]
    """Roles on the resource group."""
    resource_group_id: pulumi.Input[str]
    """Needed when resource_group_role_assignments is not empty."""
    diagnostics: bool
    """Send workspace, key vault, storage (blob and file services) and registry logs to Log Analytics."""
    private_endpoints: PlatformPrivateEndpoints
    """{'subnet_id': ..., 'dns_zone_ids': {zone: id}, 'groups': {'workspace': ['amlworkspace'],
    'storage': ['blob', 'file'], 'key_vault': ['vault'], 'registry': ['registry']}}: private
    endpoints of the created resources (amlplatform.iac.network.privatelink); leave out for none."""
    customer_managed_key: PlatformCustomerManagedKey
    """CustomerManagedKeyArgs without the vault coordinates ({'key_name', 'key_size', 'identity_name' or
    'existing_identity_id'}): encrypt the workspace and storage with a key in the created vault."""


# every default of MLWorkspaceArgs, written once (amlplatform.iac._base.defaults)
DEFAULTS = defaults(MLWorkspaceArgs, registry_mode="auto", diagnostics=True)


class MLWorkspace(pulumi.ComponentResource):
    """An Azure ML workspace with its storage, key vault, monitoring and (lazily) its registry.

    Network defaults follow the workspace (amlplatform.azure.isolation), so the defaults alone are
    usable: the workspace is private (public network access Disabled) only when ``private_endpoints``
    reach it, else Enabled; the storage account and key vault take the workspace's public network
    access, and their firewalls deny by default only with a managed network (whose private endpoints
    carry the computes' traffic), else allow; a created registry takes the workspace's public network
    access. Whatever ``storage``, ``key_vault``, ``registry`` or ``workspace`` say explicitly wins."""

    workspace_id: pulumi.Output[str]
    """ARM id of the workspace."""
    workspace_name: pulumi.Output[str]
    """Name of the workspace."""
    discovery_url: pulumi.Output[str]
    """The workspace's discovery URL."""
    mlflow_tracking_uri: pulumi.Output[str]
    """MLflow tracking URI of the workspace."""
    principal_id: pulumi.Output[Optional[str]]
    """Object id of the workspace's system-assigned identity (none with a user-assigned one)."""
    storage_account_id: pulumi.Output[str]
    """ARM id of the default storage account (created or existing)."""
    key_vault_id: pulumi.Output[str]
    """ARM id of the key vault (created or existing)."""
    app_insights_id: pulumi.Output[str]
    """ARM id of Application Insights (created or existing)."""
    log_analytics_id: pulumi.Output[Optional[str]]
    """ARM id of Log Analytics (none when only an existing Application Insights is given)."""
    container_registry_id: pulumi.Output[Optional[str]]
    """ARM id of the container registry (none while there is none)."""
    registry_login_server: pulumi.Output[Optional[str]]
    """Login server of the created registry (none otherwise)."""

    def __init__(self, name: str, args: MLWorkspaceArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("MLWorkspace", args, MLWorkspaceArgs)
        super().__init__(token("MLWorkspace"), name, None, opts)
        rg, location = args["resource_group_name"], args["location"]
        names, tags = args["names"], dict(args.get("tags") or {})
        protect = args.get("protect", False)
        common = {"resource_group_name": rg, "location": location, "tags": tags}
        endpoints = dict(args.get("private_endpoints") or {})

        def endpoints_of(label: str) -> dict:
            groups = list((endpoints.get("groups") or {}).get(label) or [])
            if not groups:
                return {}
            return {"private_endpoints": {"subnet_id": endpoints["subnet_id"],
                                          "dns_zone_ids": endpoints["dns_zone_ids"], "groups": groups}}

        # --- the workspace's isolation decides its dependencies' network defaults (azure/isolation.py):
        # private only where a private endpoint reaches it, firewalls deny when a managed network
        # gives the computes their private path; what args say explicitly wins
        workspace_given = dict(args.get("workspace") or {})
        workspace_public = workspace_given.get("public_network_access") or public_access_default(
            bool(endpoints_of("workspace")))
        dependency_defaults = dependency_network(workspace_given.get("managed_network", DEFAULT_MANAGED_NETWORK),
                                                 workspace_public)

        monitoring = dict(args.get("monitoring") or {})
        log_analytics_id: Optional[pulumi.Input[str]] = monitoring.get("existing_log_analytics_id")
        if monitoring.get("existing_app_insights_id"):
            app_insights_id = pulumi.Output.from_input(monitoring["existing_app_insights_id"])
        else:
            mon_args = {**common, **_without(monitoring, "existing_app_insights_id"),
                        "log_analytics_name": names["log_analytics"], "app_insights_name": names["app_insights"]}
            if monitoring.get("private_link_scope"):
                scope_endpoints = endpoints_of("monitoring")
                if not scope_endpoints:
                    raise ComponentArgsError("MLWorkspace: invalid arguments (1 problem):", [
                        "args.monitoring.private_link_scope: needs private_endpoints with groups.monitoring "
                        "['azuremonitor'] (the scope's private endpoint)"])
                mon_args["private_link_scope"] = {**monitoring["private_link_scope"],
                                                  "private_endpoints": scope_endpoints["private_endpoints"]}
            mon = WorkspaceMonitoring(f"{name}-monitoring", mon_args, opts=child(self))
            app_insights_id, log_analytics_id = mon.app_insights_id, mon.log_analytics_id
        diagnostics_target = log_analytics_id if args.get("diagnostics", DEFAULTS["diagnostics"]) else None

        for part in ("storage", "key_vault", "registry"):
            given = dict(args.get(part) or {})
            if given.get("existing_id") and len(given) > 1:
                raise ComponentArgsError(f"MLWorkspace: args.{part}: with existing_id nothing is created, so "
                                         f"{', '.join(sorted(set(given) - {'existing_id'}))} would be ignored; "
                                         "remove them")
        key_vault = dict(args.get("key_vault") or {})
        vault: Optional[WorkspaceKeyVault] = None
        if key_vault.get("existing_id"):
            key_vault_id = pulumi.Output.from_input(key_vault["existing_id"])
        else:
            kv_args = {**common, **dependency_defaults, **key_vault, "vault_name": names["key_vault"],
                       "tenant_id": args["tenant_id"], "protect": protect, **endpoints_of("key_vault")}
            if diagnostics_target is not None:
                kv_args["log_analytics_workspace_id"] = diagnostics_target
            vault = WorkspaceKeyVault(f"{name}-keyvault", kv_args, opts=child(self))
            key_vault_id = vault.id

        # --- customer-managed key (amlplatform.iac.workspace.encryption): created before storage and workspace
        cmk_args = dict(args.get("customer_managed_key") or {})
        cmk: Optional[CustomerManagedKey] = None
        if cmk_args:
            if vault is None:
                raise ValueError(f"{name}: customer_managed_key needs the key vault this component creates")
            cmk = CustomerManagedKey(f"{name}-cmk", {
                "resource_group_name": rg, "location": location, "vault_name": vault.name,
                "vault_id": vault.id, "subscription_id": args["subscription_id"], "tags": tags, **cmk_args,
            }, opts=child(self))
            # one key shape for storage and workspace (amlplatform.iac.options.encryption)
            key: CustomerManagedKeySpec = {
                "key_vault_id": vault.id, "key_vault_uri": cmk.vault_uri, "key_name": cmk.key_name,
                "key_uri_with_version": cmk.key_uri_with_version, "identity_id": cmk.identity_id,
                "identity_client_id": cmk.identity_client_id}

        storage = dict(args.get("storage") or {})
        storage_links: Dict[str, Any] = {}
        if storage.get("existing_id"):
            storage_id = pulumi.Output.from_input(storage["existing_id"])
        else:
            st_args = {**common, **dependency_defaults, **storage, "account_name": names["storage_account"], "protect": protect,
                       **endpoints_of("storage")}
            if cmk is not None:
                st_args.update(customer_managed_key=key,
                               depends_on=[access.id for access in cmk.depends_on_access])
            if diagnostics_target is not None:
                st_args["log_analytics_workspace_id"] = diagnostics_target
            created_storage = WorkspaceStorage(f"{name}-storage", st_args, opts=child(self))
            storage_id, storage_links = created_storage.id, created_storage.private_links

        mode = args.get("registry_mode", DEFAULTS["registry_mode"])
        registry = dict(args.get("registry") or {})
        registry_id: Optional[pulumi.Input[str]] = None
        login_server: Optional[pulumi.Input[str]] = None
        if mode == "existing":
            if not registry.get("existing_id"):
                raise ValueError(f"{name}: registry existing_id is required with registry_mode 'existing'")
            registry_id = registry["existing_id"]
        elif registry_needed(mode, args.get("needs_images", False)):
            created = ContainerRegistry(f"{name}-registry", {
                **common, "public_network_access": workspace_public, **_without(registry, "existing_id"),
                "registry_name": names["container_registry"],
                # 'auto' creates the registry while something needs images; when the last such
                # thing is removed, Pulumi forgets the registry instead of deleting its images
                # (the preview says delete[retain]). Pin mode 'create' once it exists.
                "retain_on_delete": mode == "auto",
                **endpoints_of("registry"),
                **({"log_analytics_workspace_id": diagnostics_target} if diagnostics_target is not None else {}),
            }, opts=child(self))
            registry_id, login_server = created.id, created.login_server

        storage_outbound = list(workspace_given.pop("default_storage_outbound", None) or [])
        if storage_outbound:
            bad = sorted(set(storage_outbound) - set(STORAGE_OUTBOUND_TARGETS))
            if bad:
                raise ComponentArgsError("MLWorkspace: invalid arguments (1 problem):", [
                    f"args.workspace.default_storage_outbound: {', '.join(bad)} is not one of "
                    f"{', '.join(STORAGE_OUTBOUND_TARGETS)}"])
            rules = dict(workspace_given.get("outbound_rules") or {})
            for target in storage_outbound:
                rules.setdefault(f"default-storage-{target}", {
                    "type": "PrivateEndpoint", "category": "UserDefined",
                    "destination": {"service_resource_id": storage_id, "subresource_target": target,
                                    "spark_enabled": False}})
            workspace_given["outbound_rules"] = rules
        ws_args = {**common, **workspace_given, "public_network_access": workspace_public,
                   "workspace_name": names["workspace"], "storage_account_id": storage_id,
                   "key_vault_id": key_vault_id, "app_insights_id": app_insights_id,
                   "registry_mode": mode, "protect": protect, **endpoints_of("workspace")}
        if registry_id is not None:
            ws_args["container_registry_id"] = registry_id
        if diagnostics_target is not None:
            ws_args["log_analytics_workspace_id"] = diagnostics_target
        if cmk is not None:
            ws_args.update(customer_managed_key=key,
                           depends_on=[access.id for access in cmk.depends_on_access])
        workspace = Workspace(f"{name}-workspace", ws_args, opts=child(self))

        if args.get("role_assignments"):
            WorkspaceAccess(f"{name}-access", {
                "scope": workspace.id, "subscription_id": args["subscription_id"],
                "assignments": args["role_assignments"]}, opts=child(self))
        if args.get("resource_group_role_assignments"):
            WorkspaceAccess(f"{name}-rg-access", {
                "scope": args["resource_group_id"], "subscription_id": args["subscription_id"],
                "assignments": args["resource_group_role_assignments"]}, opts=child(self))

        # studio in a managed network: "the workspace managed identity needs Reader on the storage private
        # endpoints" (how-to-managed-network, "Azure Machine Learning studio"); the endpoints of the storage
        # account this component creates. A user-assigned workspace identity must hold it beforehand.
        managed = workspace_given.get("managed_network", DEFAULT_MANAGED_NETWORK) != "Disabled"
        if managed and storage_links and "SystemAssigned" in str(workspace_given.get("identity", "SystemAssigned")):
            IdentityAccess(f"{name}-studio-access", {
                "subscription_id": args["subscription_id"], "principal_id": workspace.principal_id,
                "grants": [{"scope": link.endpoint_id, "scope_label": f"storage-pe-{group}",
                            "roles": [{"principal_id": "", "principal_type": "ServicePrincipal",
                                       "role_definition_guid": ROLES["Reader"], "role_name": "Reader",
                                       "description": "studio uses the storage through its private endpoint "
                                       "(workspace managed identity, managed network)"}]}
                           for group, link in sorted(storage_links.items())]}, opts=child(self))

        # what reaches the workspace privately: the endpoint and its DNS records (a Kubernetes
        # attach waits for them; see amlplatform.iac.kubernetes.target)
        self.workspace_private_path: List[pulumi.Resource] = [
            r for link in workspace.private_links.values() for r in (link.endpoint, link.zone_group)]
        self.workspace_id = workspace.id
        self.workspace_name = workspace.name
        self.discovery_url = workspace.discovery_url
        self.mlflow_tracking_uri = workspace.mlflow_tracking_uri
        self.principal_id = workspace.principal_id
        self.storage_account_id = storage_id
        self.key_vault_id = key_vault_id
        self.app_insights_id = app_insights_id
        self.log_analytics_id = pulumi.Output.from_input(log_analytics_id)
        self.container_registry_id = pulumi.Output.from_input(registry_id)
        self.registry_login_server = pulumi.Output.from_input(login_server)
        self.register_outputs({
            "workspace_id": self.workspace_id, "workspace_name": self.workspace_name,
            "discovery_url": self.discovery_url, "mlflow_tracking_uri": self.mlflow_tracking_uri,
            "principal_id": self.principal_id, "storage_account_id": self.storage_account_id,
            "key_vault_id": self.key_vault_id, "app_insights_id": self.app_insights_id,
            "log_analytics_id": self.log_analytics_id,
            "container_registry_id": self.container_registry_id,
            "registry_login_server": self.registry_login_server,
        })


def _without(d: dict, *keys: str) -> dict:
    return {k: v for k, v in d.items() if k not in keys}
