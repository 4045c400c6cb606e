"""The Azure Machine Learning workspace resource and its diagnostic settings."""

from typing import Any, Dict, Mapping, Optional, Sequence, TypedDict

import pulumi
from pulumi_azure_native import machinelearningservices as ml
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.iac._base import ComponentArgsError, check_args, child, defaults, token, waits_for
from amlplatform.azure.isolation import DEFAULT_MANAGED_NETWORK, public_access_default
from amlplatform.iac.options.encryption import CustomerManagedKeySpec, missing_for
from amlplatform.iac.options.diagnostics import send_to_log_analytics
from amlplatform.iac.options.locks import LockSpec, apply_lock
from amlplatform.iac.network.privatelink import PrivateEndpointsSpec, declare_private_endpoints, has_private_path

# Properties the service will not change after creation: a change means a new workspace.
CREATE_ONLY = ("storageAccount", "keyVault", "hbiWorkspace", "kind", "identity.type", "workspaceName")
ISOLATION_MODES = ("Disabled", "AllowInternetOutbound", "AllowOnlyApprovedOutbound")
RULE_TYPES = ("FQDN", "ServiceTag", "PrivateEndpoint")


def managed_network_settings(mode: str, outbound_rules: Optional[Mapping[str, Mapping[str, Any]]] = None,
                             firewall_sku: Optional[str] = None) -> Dict[str, Any]:
    """The workspace's ``managedNetwork`` (learn.microsoft.com/azure/machine-learning/how-to-managed-network).

    Under AllowOnlyApprovedOutbound Azure adds the required rules itself (service tags, private
    endpoints to the workspace's storage, key vault and registry); ``outbound_rules`` are the
    user-defined ones. FQDN rules exist only under AllowOnlyApprovedOutbound and are carried out by
    an Azure Firewall the managed network deploys (``firewall_sku``, Standard by default).
    """
    if mode not in ISOLATION_MODES:
        raise ValueError(f"managed network isolation mode must be one of {', '.join(ISOLATION_MODES)}, got {mode!r}")
    rules = dict(outbound_rules or {})
    bad = sorted(n for n, r in rules.items() if r.get("type") not in RULE_TYPES)
    if bad:
        raise ValueError(f"outbound rules {', '.join(bad)}: type must be one of {', '.join(RULE_TYPES)}")
    fqdn = [n for n, r in rules.items() if r["type"] == "FQDN"]
    if rules and mode == "Disabled":
        raise ValueError("outbound rules need a managed network (isolation mode is Disabled)")
    if fqdn and mode != "AllowOnlyApprovedOutbound":
        raise ValueError(f"FQDN outbound rules ({', '.join(sorted(fqdn))}) exist only under AllowOnlyApprovedOutbound")
    out: Dict[str, Any] = {"isolation_mode": mode}
    if rules:
        out["outbound_rules"] = {n: dict(r) for n, r in rules.items()}
    if fqdn:
        out["firewall_sku"] = firewall_sku or DEFAULTS["firewall_sku"]
    return out


# Declared as replace_on_changes, so `pulumi preview` (and `plan --diff`) show a replacement instead
# of an update the service rejects. Encryption: "the customer-managed key ... can only be updated
# to another key in the original key vault" and cannot be turned on or off after creation
# (learn.microsoft.com/azure/machine-learning/concept-customer-managed-keys, limitations).
REPLACE_ON_CHANGES = ["storageAccount", "keyVault", "hbiWorkspace", "kind", "identity.type",
                      "encryption.status", "encryption.keyVaultProperties.keyVaultArmId"]


class OutboundRuleSpec(TypedDict, total=False):
    """A user-defined managed network outbound rule (azure-native ``outboundRules`` entry;
    learn.microsoft.com/azure/machine-learning/how-to-managed-network)."""
    type: Required[str]
    """FQDN, ServiceTag or PrivateEndpoint."""
    category: str
    """UserDefined."""
    destination: Required[Any]
    """FQDN rules: the host name (text). ServiceTag rules: {service_tag, protocol, port_ranges, action}.
    PrivateEndpoint rules: {service_resource_id, subresource_target, spark_enabled}. Its shape depends
    on ``type`` (a union in the ARM API), hence Any; keys in snake_case."""


class WorkspaceArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group that holds the workspace."""
    location: Required[pulumi.Input[str]]
    """Azure region."""
    workspace_name: Required[str]
    """Physical name: 3-33 letters, digits, '_' and '-'."""
    storage_account_id: Required[pulumi.Input[str]]
    """Default storage account (create-only)."""
    key_vault_id: Required[pulumi.Input[str]]
    """Key vault (create-only)."""
    app_insights_id: Required[pulumi.Input[str]]
    """Application Insights component."""
    container_registry_id: pulumi.Input[str]
    """Container registry; leave out for none (or for registry_mode 'service')."""
    registry_mode: str
    """'service' lets Azure ML attach a registry itself, so later previews ignore the property."""
    identity: str
    """SystemAssigned or UserAssigned."""
    user_assigned_identity_id: pulumi.Input[str]
    """With identity UserAssigned: the identity (primary user-assigned identity)."""
    public_network_access: str
    """Enabled or Disabled; default Disabled when private_endpoints are given, else Enabled (a private
    workspace without a private endpoint is unreachable)."""
    managed_network: str
    """Disabled, AllowInternetOutbound or AllowOnlyApprovedOutbound."""
    outbound_rules: Mapping[str, OutboundRuleSpec]
    """User-defined managed network outbound rules by name: {type: FQDN, category: UserDefined,
    destination: host} | {type: ServiceTag, destination: {service_tag, protocol, port_ranges, action}} |
    {type: PrivateEndpoint, destination: {service_resource_id, subresource_target, spark_enabled}}."""
    firewall_sku: str
    """Standard or Basic: the managed Azure Firewall FQDN rules need."""
    provision_network_now: bool
    """Provision the managed network with the workspace instead of on the first compute (which
    would otherwise wait ~30 min for it); used only with a managed network."""
    private_endpoints: PrivateEndpointsSpec
    """Private endpoint(s) of the workspace (group amlworkspace) - amlplatform.iac.network.privatelink."""
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
    log_analytics_workspace_id: pulumi.Input[str]
    """When given, the workspace's resource logs go there."""
    protect: bool
    """Protect the workspace from deletion by Pulumi."""
    tags: Mapping[str, str]
    """Tags for the workspace."""
    # --- customer-managed key and lock (amlplatform.iac.workspace.encryption, amlplatform.iac.options.locks)
    customer_managed_key: CustomerManagedKeySpec
    """{'key_vault_id', 'key_identifier', 'identity_id', 'identity_client_id'}: encrypt the workspace's
    data with this key, through this user-assigned identity (create-only)."""
    depends_on: Sequence[pulumi.Input[str]]
    """Outputs (e.g. ids) of what the workspace must wait for (the key role assignment, with a
    customer-managed key): it waits for the resources that produce them."""
    lock: LockSpec
    """A management lock (CanNotDelete) on the workspace (it also refuses deleting its computes)."""


# every default of WorkspaceArgs, written once (amlplatform.iac._base.defaults)
DEFAULTS = defaults(WorkspaceArgs, identity="SystemAssigned", registry_mode="auto",
                    managed_network=DEFAULT_MANAGED_NETWORK, provision_network_now=True, hbi_workspace=False,
                    firewall_sku="Standard", system_datastores_auth_mode="identity")


class Workspace(pulumi.ComponentResource):
    """An Azure ML workspace with a managed identity, managed network isolation by default and no
    public network access by default."""

    id: pulumi.Output[str]
    """ARM id of the workspace."""
    name: pulumi.Output[str]
    """Name of the workspace."""
    discovery_url: pulumi.Output[str]
    """The workspace's discovery URL."""
    mlflow_tracking_uri: pulumi.Output[str]
    """MLflow tracking URI of the workspace."""
    principal_id: pulumi.Output[Optional[str]]
    """Object id of the workspace's system-assigned identity (none with a user-assigned one)."""

    def __init__(self, name: str, args: WorkspaceArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("Workspace", args, WorkspaceArgs)
        super().__init__(token("Workspace"), name, None, opts)
        identity_type = args.get("identity", DEFAULTS["identity"])
        identity: dict = {"type": identity_type}
        primary_identity = None
        if identity_type == "UserAssigned":
            if args.get("user_assigned_identity_id") is None:
                raise ValueError(f"{name}: user_assigned_identity_id is required with identity UserAssigned")
            primary_identity = args["user_assigned_identity_id"]
            identity["user_assigned_identities"] = [primary_identity]
        # --- customer-managed key: the identity that reads the key joins the workspace's identities
        cmk = args.get("customer_managed_key")
        encryption = None
        if cmk:
            identity["type"] = "SystemAssigned,UserAssigned" if identity_type == "SystemAssigned" else "UserAssigned"
            identity["user_assigned_identities"] = list(identity.get("user_assigned_identities") or []) + [
                cmk["identity_id"]]
            problems = missing_for("Workspace", cmk, "key_uri_with_version")
            if problems:
                raise ComponentArgsError("Workspace: invalid arguments (1 problem):", problems)
            key_vault_properties = {"key_vault_arm_id": cmk["key_vault_id"], "key_identifier": cmk["key_uri_with_version"]}
            if cmk.get("identity_client_id") is not None:
                key_vault_properties["identity_client_id"] = cmk["identity_client_id"]
            encryption = {"status": "Enabled", "key_vault_properties": key_vault_properties,
                          "identity": {"user_assigned_identity": cmk["identity_id"]}}
        registry_mode = args.get("registry_mode", DEFAULTS["registry_mode"])
        mode = args.get("managed_network", DEFAULTS["managed_network"])
        managed_network = managed_network_settings(mode, args.get("outbound_rules"), args.get("firewall_sku"))
        # provisionNetworkNow: "set to trigger the provisioning of the managed VNet ... when creating a
        # Workspace with the managed VNet enabled, or else it does nothing" (REST API 2025-12-01)
        provision_now = args.get("provision_network_now", DEFAULTS["provision_network_now"]) if mode != "Disabled" else None
        workspace = ml.Workspace(
            f"{name}-workspace",
            workspace_name=naming.ensure("workspace", args["workspace_name"]),
            resource_group_name=args["resource_group_name"],
            location=args["location"],
            kind="Default",
            sku={"name": "Basic", "tier": "Basic"},
            identity=identity,
            primary_user_assigned_identity=primary_identity,
            storage_account=args["storage_account_id"],
            key_vault=args["key_vault_id"],
            application_insights=args["app_insights_id"],
            container_registry=args.get("container_registry_id"),
            public_network_access=args.get("public_network_access",
                                           public_access_default(has_private_path(args.get("private_endpoints")))),
            allow_public_access_when_behind_vnet=False,
            managed_network=managed_network,
            provision_network_now=provision_now or None,
            hbi_workspace=args.get("hbi_workspace", DEFAULTS["hbi_workspace"]),
            system_datastores_auth_mode=args.get("system_datastores_auth_mode", DEFAULTS["system_datastores_auth_mode"]),
            image_build_compute=args.get("image_build_compute"),
            friendly_name=args.get("friendly_name"),
            description=args.get("description"),
            v1_legacy_mode=False,
            encryption=encryption,
            tags=dict(args.get("tags") or {}),
            # With 'service' Azure ML sets the registry on the first image build; without this,
            # every later preview would propose removing it.
            opts=child(self, protect=args.get("protect", False),
                       ignore_changes=["containerRegistry"] if registry_mode == "service" else None,
                       depends_on=waits_for(args.get("depends_on")), replace_on_changes=REPLACE_ON_CHANGES),
        )
        apply_lock(self, f"{name}-lock", args.get("lock"), kind="workspace", resource_id=workspace.id)
        if args.get("log_analytics_workspace_id") is not None:
            send_to_log_analytics(self, f"{name}-diagnostics", resource_id=workspace.id,
                                  log_analytics_workspace_id=args["log_analytics_workspace_id"])
        # --- private endpoint (amlworkspace: api + notebooks zones): amlplatform.iac.network.privatelink
        self.private_links = declare_private_endpoints(
            self, name, resource_id=workspace.id, resource_name=args["workspace_name"],
            spec=args.get("private_endpoints"), resource_group_name=args["resource_group_name"],
            location=args["location"], tags=args.get("tags"))
        self.id = workspace.id
        self.name = workspace.name
        self.discovery_url = workspace.discovery_url
        self.mlflow_tracking_uri = workspace.ml_flow_tracking_uri
        self.principal_id = workspace.identity.apply(lambda i: i.principal_id if i else None)
        self.register_outputs({
            "id": self.id, "name": self.name, "discovery_url": self.discovery_url,
            "mlflow_tracking_uri": self.mlflow_tracking_uri, "principal_id": self.principal_id,
        })
