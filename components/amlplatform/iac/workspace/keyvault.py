"""The workspace's key vault: connection secrets and (optionally) customer-managed keys."""

from typing import Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import keyvault
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.iac._base import check_args, child, defaults, token
from amlplatform.azure.isolation import firewall_default
from amlplatform.iac.network.privatelink import PrivateEndpointsSpec, declare_private_endpoints, has_private_path
from amlplatform.iac.options.diagnostics import send_to_log_analytics
from amlplatform.iac.options.locks import LockSpec, apply_lock


class WorkspaceKeyVaultArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group that holds the vault."""
    location: Required[pulumi.Input[str]]
    """Azure region."""
    vault_name: Required[str]
    """Physical name: 3-24 letters, digits, hyphens; globally unique; stays taken while soft-deleted."""
    tenant_id: Required[pulumi.Input[str]]
    """Entra tenant that authenticates requests to the vault."""
    sku: str
    """standard or premium (HSM-backed keys)."""
    purge_protection: bool
    """Required for customer-managed keys; cannot be turned off once on."""
    soft_delete_retention_days: int
    """7-90."""
    network_default_action: str
    """Allow or Deny; AzureServices always bypass. Default Deny when private_endpoints are given, else
    Allow (nobody could reach a vault that denies everyone without a private path). MLWorkspace
    derives it from the workspace's network."""
    public_network_access: str
    """Enabled or Disabled."""
    log_analytics_workspace_id: pulumi.Input[str]
    """When given, the vault's audit logs go to this Log Analytics workspace."""
    protect: bool
    """Protect the vault from deletion by Pulumi."""
    create_mode: str
    """`default`, or `recover`: recover the soft-deleted vault of the same name (after a destroy)."""
    lock: LockSpec
    """A management lock (CanNotDelete) on the vault (in addition to protect)."""
    tags: Mapping[str, str]
    """Tags for the vault."""
    private_endpoints: PrivateEndpointsSpec
    """Private endpoints (subnet, DNS zone ids, groups) - amlplatform.iac.network.privatelink."""


# every default of WorkspaceKeyVaultArgs, written once (amlplatform.iac._base.defaults)
DEFAULTS = defaults(WorkspaceKeyVaultArgs, sku="standard", purge_protection=True,
                    soft_delete_retention_days=90, create_mode="default", public_network_access="Enabled")


class WorkspaceKeyVault(pulumi.ComponentResource):
    """Key vault with RBAC authorization, soft delete and purge protection."""

    id: pulumi.Output[str]
    """ARM id of the key vault."""
    name: pulumi.Output[str]
    """Name of the key vault."""

    def __init__(self, name: str, args: WorkspaceKeyVaultArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("WorkspaceKeyVault", args, WorkspaceKeyVaultArgs)
        super().__init__(token("WorkspaceKeyVault"), name, None, opts)
        vault_name = naming.ensure("key_vault", args["vault_name"])
        properties = {
            "tenant_id": args["tenant_id"],
            "sku": {"family": "A", "name": args.get("sku", DEFAULTS["sku"])},
            "enable_rbac_authorization": True,
            "enable_soft_delete": True,
            "soft_delete_retention_in_days": args.get("soft_delete_retention_days", DEFAULTS["soft_delete_retention_days"]),
            "enabled_for_deployment": False,
            "enabled_for_disk_encryption": False,
            "enabled_for_template_deployment": False,
            "public_network_access": args.get("public_network_access", DEFAULTS["public_network_access"]),
            "network_acls": {
                "default_action": args.get("network_default_action",
                                           firewall_default(has_private_path(args.get("private_endpoints")))),
                "bypass": "AzureServices",
            },
        }
        if args.get("create_mode", DEFAULTS["create_mode"]) == "recover":
            # Key Vault soft delete: a vault deleted by `pulumi destroy` keeps its name for the retention
            # period; createMode recover brings it back (keys, secrets) instead of failing on the name
            # (learn.microsoft.com/azure/key-vault/general/soft-delete-overview)
            properties["create_mode"] = "recover"
        if args.get("purge_protection", DEFAULTS["purge_protection"]):
            # the service rejects an explicit false; leaving it out is how it stays off
            properties["enable_purge_protection"] = True
        vault = keyvault.Vault(
            f"{name}-vault",
            vault_name=vault_name,
            resource_group_name=args["resource_group_name"],
            location=args["location"],
            properties=properties,
            tags=dict(args.get("tags") or {}),
            opts=child(self, protect=args.get("protect", False)),
        )
        if args.get("log_analytics_workspace_id") is not None:
            send_to_log_analytics(self, f"{name}-diagnostics", resource_id=vault.id,
                                  log_analytics_workspace_id=args["log_analytics_workspace_id"])
        # --- private endpoint (vault): amlplatform.iac.network.privatelink
        self.private_links = declare_private_endpoints(
            self, name, resource_id=vault.id, resource_name=vault_name, spec=args.get("private_endpoints"),
            resource_group_name=args["resource_group_name"], location=args["location"], tags=args.get("tags"))
        apply_lock(self, f"{name}-lock", args.get("lock"), kind="keyvault", resource_id=vault.id)
        self.id = vault.id
        self.name = vault.name
        self.register_outputs({"id": self.id, "name": self.name})
