"""The container registry that holds environment images.

Whether one is created at all is decided by :func:`registry_needed` from the registry mode (see
architecture.md, "Container registry, created lazily").
"""

from typing import Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import containerregistry
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.iac._base import check_args, child, defaults, token
from amlplatform.iac.network.privatelink import PrivateEndpointsSpec, declare_private_endpoints

MODES = ("auto", "service", "create", "existing")


def registry_needed(mode: str, needs_images: bool) -> bool:
    """Whether the stack creates a registry: ``create`` always, ``auto`` only when needed."""
    if mode not in MODES:
        raise ValueError(f"registry mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode == "create" or (mode == "auto" and needs_images)


class ContainerRegistryArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group that holds the registry."""
    location: Required[pulumi.Input[str]]
    """Azure region."""
    registry_name: Required[str]
    """Physical name: 5-50 letters and digits, globally unique."""
    sku: str
    """Basic, Standard or Premium (needed for private access, retention, zone redundancy)."""
    public_network_access: str
    """Enabled or Disabled (Premium only)."""
    zone_redundancy: bool
    """Premium only. Create-only: the service cannot change it on an existing
    registry, so changing it later means a new registry (and pushing the images again)."""
    untagged_retention_days: int
    """Premium only: delete untagged manifests after this many days."""
    retain_on_delete: bool
    """Only forget the registry, never delete it (and its images), when it leaves the program."""
    tags: Mapping[str, str]
    """Tags for the registry."""
    private_endpoints: PrivateEndpointsSpec
    """Private endpoints (subnet, DNS zone ids, groups) - amlplatform.iac.network.privatelink."""
    log_analytics_workspace_id: pulumi.Input[str]
    """When given, the registry's resource logs (logins, repository events) and metrics go there."""


# every default of ContainerRegistryArgs, written once (amlplatform.iac._base.defaults)
DEFAULTS = defaults(ContainerRegistryArgs, sku="Premium", public_network_access="Enabled",
                    zone_redundancy=False, untagged_retention_days=7)


class ContainerRegistry(pulumi.ComponentResource):
    """Registry with the admin user and anonymous pull disabled."""

    id: pulumi.Output[str]
    """ARM id of the registry."""
    name: pulumi.Output[str]
    """Name of the registry."""
    login_server: pulumi.Output[str]
    """Login server, e.g. <name>.azurecr.io."""

    def __init__(self, name: str, args: ContainerRegistryArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("ContainerRegistry", args, ContainerRegistryArgs)
        super().__init__(token("ContainerRegistry"), name, None, opts)
        sku = args.get("sku", DEFAULTS["sku"])
        premium = sku == "Premium"
        public = args.get("public_network_access", DEFAULTS["public_network_access"])
        if public == "Disabled" and not premium:
            raise ValueError(f"{name}: public_network_access Disabled needs the Premium sku, got {sku}")
        registry_name = naming.ensure("container_registry", args["registry_name"])
        registry = containerregistry.Registry(
            f"{name}-registry",
            registry_name=registry_name,
            resource_group_name=args["resource_group_name"],
            location=args["location"],
            sku={"name": sku},
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            public_network_access=public,
            network_rule_bypass_options="AzureServices",
            zone_redundancy="Enabled" if premium and args.get("zone_redundancy", DEFAULTS["zone_redundancy"]) else "Disabled",
            policies={
                "retention_policy": {"status": "enabled", "days": args.get("untagged_retention_days", DEFAULTS["untagged_retention_days"])},
            } if premium else None,
            tags=dict(args.get("tags") or {}),
            # zone redundancy is create-only: previews show a replacement, not an update Azure refuses
            # (no delete_before_replace: the images are never deleted first; azure-native refuses to
            # create over the existing registry, so the deploy stops for a deliberate migration)
            opts=child(self, retain_on_delete=args.get("retain_on_delete", False) or None,
                       replace_on_changes=["zoneRedundancy"]),
        )
        # --- private endpoint (registry; Premium only): amlplatform.iac.network.privatelink
        if args.get("private_endpoints") and not premium:
            raise ValueError(f"{name}: private endpoints need the Premium sku, got {sku}")
        self.private_links = declare_private_endpoints(
            self, name, resource_id=registry.id, resource_name=registry_name, spec=args.get("private_endpoints"),
            resource_group_name=args["resource_group_name"], location=args["location"], tags=args.get("tags"))
        if args.get("log_analytics_workspace_id") is not None:
            from amlplatform.iac.options.diagnostics import send_to_log_analytics

            send_to_log_analytics(self, f"{name}-diagnostics", resource_id=registry.id,
                                  log_analytics_workspace_id=args["log_analytics_workspace_id"])
        self.id = registry.id
        self.name = registry.name
        self.login_server = registry.login_server
        self.register_outputs({"id": self.id, "name": self.name, "login_server": self.login_server})
