"""A Pulumi program of its own that imports amlplatform's components (its settings: Pulumi.dev.yaml)."""

import pulumi
from pulumi_azure_native import authorization, resources

from amlplatform import ComputeCluster, MLWorkspace, WorkspaceStorage
from amlplatform.access import IdentityAccess, WorkspaceAccess
from amlplatform.naming import generate
from amlplatform.network import PlatformNetwork
from amlplatform.settings.access import ROLE_GUIDS
from amlplatform.settings.network import GROUP_ZONES, PACKAGE_SOURCES, package_rule_name

config = pulumi.Config()
location = config.require("location")
scientists = config.require("scientists")  # object id of the data scientists' Entra group
stack = pulumi.get_stack()
names = generate("vision", stack)  # rule-checked, deterministic physical names
client = authorization.get_client_config_output()
group = resources.ResourceGroup("rg", resource_group_name=names.resource_group, location=location)
common = {"resource_group_name": group.name, "location": location}
private = {"public_network_access": "Disabled"}

# Public access is off everywhere: one VNet holds the private endpoints, with their DNS zones.
GROUPS = {"workspace": ["amlworkspace"], "storage": ["blob", "file"], "key_vault": ["vault"], "registry": ["registry"]}
network = PlatformNetwork("network", {
    **common,
    "vnet": {"name": f"vnet-vision-{stack}", "address_space": ["10.90.0.0/24"],
             "private_endpoints_subnet": {"name": "snet-pe", "prefix": "10.90.0.0/25",
                                          "nsg_name": f"nsg-vision-{stack}-pe"}},
    "zones": sorted({zone for g in sum(GROUPS.values(), []) for zone in GROUP_ZONES[g]}),
})
endpoints = {"subnet_id": network.private_endpoints_subnet_id, "dns_zone_ids": network.zone_id_inputs}
# the managed network allows only approved outbound: pip and conda reach their package sources
PACKAGE_RULES = {package_rule_name(source, fqdn): {"type": "FQDN", "category": "UserDefined", "destination": fqdn}
                 for source in ("pypi", "conda") for fqdn in PACKAGE_SOURCES[source]}

platform = MLWorkspace("vision", {
    **common,
    "tenant_id": client.tenant_id,
    "subscription_id": client.subscription_id,
    "names": vars(names),
    "registry_mode": "create",  # this team builds its own images, on its own cluster (the registry is private)
    "registry": {**private, "zone_redundancy": True},
    "workspace": {**private, "managed_network": "AllowOnlyApprovedOutbound", "outbound_rules": PACKAGE_RULES,
                  "image_build_compute": "cpu"},
    "storage": {**private, "sku": "Standard_GZRS"},
    "key_vault": private,
    "private_endpoints": {**endpoints, "groups": GROUPS},
})
cluster = ComputeCluster("cpu", {**common, "workspace_name": platform.workspace_name, "compute_name": "cpu",
                                 "vm_size": "Standard_D4ds_v5", "max_nodes": 4})

# Each part also works on its own: a second account for raw data, as private as the first.
raw = WorkspaceStorage("raw-data", {
    **common, **private, "sku": "Standard_GZRS",
    "account_name": generate("visionraw", stack).storage_account,
    "private_endpoints": {**endpoints, "groups": ["blob", "file"]},
})


def role(name: str, principal_id: str, principal_type: str, description: str) -> dict:
    return {"principal_id": principal_id, "principal_type": principal_type, "role_definition_guid": ROLE_GUIDS[name],
            "role_name": name, "description": description}


# Shared keys are off: people and jobs reach the data with their Entra identities.
for label, account in {"workspace": platform.storage_account_id, "raw": raw.id}.items():
    WorkspaceAccess(f"{label}-data-access", {"scope": account, "subscription_id": client.subscription_id,
                                             "assignments": [
        role("Storage Blob Data Contributor", scientists, "Group", "data scientists upload code and data")]})
IdentityAccess("cpu-access", {"subscription_id": client.subscription_id, "principal_id": cluster.principal_id,
                              "grants": [
    {"scope": platform.storage_account_id, "scope_label": "storage",
     "roles": [role("Storage Blob Data Contributor", "", "ServicePrincipal", "jobs read and write the data")]},
    {"scope": platform.container_registry_id, "scope_label": "registry",
     "roles": [role("AcrPull", "", "ServicePrincipal", "jobs pull the environment images")]},
]})

pulumi.export("workspace_id", platform.workspace_id)
pulumi.export("registry", platform.registry_login_server)
pulumi.export("raw_data_account", raw.name)
