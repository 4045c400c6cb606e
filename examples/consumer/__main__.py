"""A Pulumi program of its own that imports amlplatform's components (its settings: Pulumi.dev.yaml)."""

import pulumi

from amlplatform import MLPlatform, WorkspaceAccess, WorkspaceStorage, generate_names

config = pulumi.Config()
location, stack = config.require("location"), pulumi.get_stack()
scientists = config.require("scientists")  # object id of the data scientists' Entra group

# Private (a VNet holds the private endpoints) yet usable: pip and conda reach their package sources.
platform = MLPlatform("vision", {
    "location": location, "naming": {"workload": "vision", "environment": stack},
    "network": {"vnet": {"address_space": ["10.90.0.0/24"], "private_endpoints_subnet": "10.90.0.0/25"},
                "outbound": {"package_sources": ["pypi", "conda"]}},
    "workspace": {"managed_network": "AllowOnlyApprovedOutbound", "image_build_compute": "cpu"},
    "registry": {"mode": "create", "zone_redundancy": True}, "storage": {"sku": "Standard_GZRS"},
    "clusters": [{"name": "cpu", "vm_size": "Standard_D4ds_v5", "max_nodes": 4}],
    "access": {"data_scientists": [{"principal_id": scientists, "description": "data scientists"}]},
})

# Each part also works on its own: a second account for raw data, as private as the first.
raw = WorkspaceStorage("raw-data", {
    "resource_group_name": platform.resource_group_name, "location": location, "sku": "Standard_GZRS",
    "account_name": generate_names("visionraw", stack).storage_account, "public_network_access": "Disabled",
    "private_endpoints": {"subnet_id": platform.network.private_endpoints_subnet_id,
                          "dns_zone_ids": platform.network.zone_id_inputs, "groups": ["blob", "file"]}})
WorkspaceAccess("raw-data-access", {"scope": raw.id, "assignments": [{
    "principal_id": scientists, "principal_type": "Group", "role_name": "Storage Blob Data Contributor"}]})

pulumi.export("workspace_id", platform.workspace_id)
pulumi.export("registry", platform.registry_login_server)
