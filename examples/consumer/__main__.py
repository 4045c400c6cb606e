"""A Pulumi program of its own that imports amlplatform's components (no stack settings needed)."""

import pulumi
from pulumi_azure_native import authorization, resources

from amlplatform import MLWorkspace, WorkspaceStorage
from amlplatform.naming import generate

location = "northeurope"
names = generate("vision", pulumi.get_stack())  # rule-checked, deterministic physical names
client = authorization.get_client_config_output()
group = resources.ResourceGroup("rg", resource_group_name=names.resource_group, location=location)

platform = MLWorkspace("vision", {
    "resource_group_name": group.name,
    "location": location,
    "tenant_id": client.tenant_id,
    "subscription_id": client.subscription_id,
    "names": vars(names),
    "registry_mode": "create",  # this team builds its own images
    "workspace": {"managed_network": "AllowOnlyApprovedOutbound"},
})

# Each part also works on its own: a second, secure-by-default account for raw data.
raw = WorkspaceStorage("raw-data", {
    "resource_group_name": group.name,
    "location": location,
    "account_name": generate("visionraw", pulumi.get_stack()).storage_account,
})

pulumi.export("workspace_id", platform.workspace_id)
pulumi.export("registry", platform.registry_login_server)
pulumi.export("raw_data_account", raw.name)
