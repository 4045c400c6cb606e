"""The workspace's default storage account: where datastores, code snapshots and outputs live."""

from typing import Mapping, Optional, Sequence, TypedDict

import pulumi
from pulumi_azure_native import storage
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.iac._base import check_args, child, defaults, token, waits_for
from amlplatform.azure.isolation import firewall_default
from amlplatform.iac.network.privatelink import PrivateEndpointsSpec, declare_private_endpoints, has_private_path
from amlplatform.iac.options.encryption import CustomerManagedKeySpec
from amlplatform.iac.options.diagnostics import STORAGE_SERVICE_METRICS, send_to_log_analytics
from amlplatform.iac.options.locks import LockSpec, apply_lock

# Azure ML writes these CORS rules onto its storage account so the studio can read blobs.
# Declaring them keeps a redeploy from deleting them (a known drift: see architecture.md).
STUDIO_CORS_RULES = [{
    "allowed_origins": [
        "https://mlworkspace.azure.ai", "https://ml.azure.com", "https://*.ml.azure.com",
        "https://ai.azure.com", "https://*.ai.azure.com",
    ],
    "allowed_methods": ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"],
    "allowed_headers": ["*"],
    "exposed_headers": ["*"],
    "max_age_in_seconds": 1800,
}]


class WorkspaceStorageArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group that holds the account."""
    location: Required[pulumi.Input[str]]
    """Azure region."""
    account_name: Required[str]
    """Physical name: 3-24 lowercase letters and digits, globally unique."""
    sku: str
    """Replication."""
    allow_shared_key_access: bool
    """Account keys and SAS signed with them; off means identity-based access only."""
    network_default_action: str
    """Firewall default action, Allow or Deny (AzureServices always bypass); default Deny when
    private_endpoints are given, else Allow (a firewall that denies everyone and has no private path
    makes the data unreachable). MLWorkspace derives it from the workspace's network."""
    public_network_access: str
    """Enabled or Disabled (with Enabled, the firewall decides)."""
    blob_soft_delete_days: int
    """Days a deleted blob can be restored."""
    container_soft_delete_days: int
    """Days a deleted container can be restored."""
    versioning: bool
    """Blob versioning."""
    protect: bool
    """Protect the account from deletion by Pulumi."""
    tags: Mapping[str, str]
    """Tags for the account."""
    private_endpoints: PrivateEndpointsSpec
    """Private endpoints (subnet, DNS zone ids, groups) - amlplatform.iac.network.privatelink."""
    # --- customer-managed key, lock, diagnostics (amlplatform.iac.workspace.encryption, .locks, .diagnostics)
    customer_managed_key: CustomerManagedKeySpec
    """{'key_name', 'key_vault_uri', 'identity_id'}: encrypt with this key (no key version: the account
    follows the key's rotation). Create the account only after the identity can use the key."""
    depends_on: Sequence[pulumi.Input[str]]
    """Outputs (e.g. ids) of what the account must wait for (the key role assignment, with a
    customer-managed key): it waits for the resources that produce them."""
    lock: LockSpec
    """A management lock (CanNotDelete) on the account (in addition to protect)."""
    log_analytics_workspace_id: pulumi.Input[str]
    """When given, the blob service's resource logs and transaction metrics go there."""


# every default of WorkspaceStorageArgs, written once (amlplatform.iac._base.defaults)
DEFAULTS = defaults(WorkspaceStorageArgs, sku="Standard_ZRS", allow_shared_key_access=False,
                    public_network_access="Enabled", blob_soft_delete_days=7, container_soft_delete_days=7,
                    versioning=False)


class WorkspaceStorage(pulumi.ComponentResource):
    """StorageV2, HTTPS only, TLS 1.2, no public blob access, no cross-tenant replication,
    infrastructure encryption, blob and container soft delete."""

    id: pulumi.Output[str]
    """ARM id of the storage account."""
    name: pulumi.Output[str]
    """Name of the storage account."""

    def __init__(self, name: str, args: WorkspaceStorageArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("WorkspaceStorage", args, WorkspaceStorageArgs)
        super().__init__(token("WorkspaceStorage"), name, None, opts)
        account_name = naming.ensure("storage_account", args["account_name"])
        shared_key = args.get("allow_shared_key_access", DEFAULTS["allow_shared_key_access"])
        services = {k: {"enabled": True, "key_type": "Account"} for k in ("blob", "file", "queue", "table")}
        encryption: dict = {"key_source": "Microsoft.Storage", "require_infrastructure_encryption": True,
                            "services": services}
        identity = None
        cmk = args.get("customer_managed_key")
        if cmk:
            # Storage "customer-managed keys for a new account": a user-assigned identity reads the key
            encryption.update({
                "key_source": "Microsoft.Keyvault",
                "key_vault_properties": {"key_name": cmk["key_name"], "key_vault_uri": cmk["key_vault_uri"]},
                "encryption_identity": {"encryption_user_assigned_identity": cmk["identity_id"]},
            })
            identity = {"type": "UserAssigned", "user_assigned_identities": [cmk["identity_id"]]}
        account = storage.StorageAccount(
            f"{name}-account",
            account_name=account_name,
            resource_group_name=args["resource_group_name"],
            location=args["location"],
            kind="StorageV2",
            sku={"name": args.get("sku", DEFAULTS["sku"])},
            access_tier="Hot",
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            allow_blob_public_access=False,
            allow_cross_tenant_replication=False,
            allow_shared_key_access=shared_key,
            default_to_o_auth_authentication=not shared_key,
            public_network_access=args.get("public_network_access", DEFAULTS["public_network_access"]),
            network_rule_set={
                "default_action": args.get("network_default_action",
                                           firewall_default(has_private_path(args.get("private_endpoints")))),
                "bypass": "AzureServices",
            },
            encryption=encryption,
            identity=identity,
            tags=dict(args.get("tags") or {}),
            opts=child(self, protect=args.get("protect", False), depends_on=waits_for(args.get("depends_on")),
                       # infrastructure encryption is create-only (Storage "infrastructure encryption")
                       replace_on_changes=["encryption.requireInfrastructureEncryption"]),
        )
        blob = storage.BlobServiceProperties(
            f"{name}-blob",
            account_name=account.name,
            resource_group_name=args["resource_group_name"],
            blob_services_name="default",
            delete_retention_policy={"enabled": True, "days": args.get("blob_soft_delete_days", DEFAULTS["blob_soft_delete_days"])},
            container_delete_retention_policy={
                "enabled": True, "days": args.get("container_soft_delete_days", DEFAULTS["container_soft_delete_days"])},
            is_versioning_enabled=args.get("versioning", DEFAULTS["versioning"]),
            cors={"cors_rules": STUDIO_CORS_RULES},
            opts=child(self),
        )
        # --- private endpoints (blob, file; queue/table opt-in): amlplatform.iac.network.privatelink
        self.private_links = declare_private_endpoints(
            self, name, resource_id=account.id, resource_name=account_name, spec=args.get("private_endpoints"),
            resource_group_name=args["resource_group_name"], location=args["location"], tags=args.get("tags"))
        # --- lock and diagnostics
        apply_lock(self, f"{name}-lock", args.get("lock"), kind="storage", resource_id=account.id)
        if args.get("log_analytics_workspace_id") is not None:
            # resource logs live on the blob service, not on the account
            send_to_log_analytics(self, f"{name}-blob-diagnostics", resource_id=blob.id,
                                  log_analytics_workspace_id=args["log_analytics_workspace_id"],
                                  metric_categories=STORAGE_SERVICE_METRICS)
        self.id = account.id
        self.name = account.name
        self.register_outputs({"id": self.id, "name": self.name})
