"""Two teams' workspaces that share one container registry and one Log Analytics workspace.

A Pulumi program of its own: it reads its own config (``sharedml:`` keys, not the amlplatform
stack settings) and composes amlplatform's components differently from the amlplatform program:

- one Premium registry, linked to every workspace (``registry_mode: existing``), so images
  built once are pulled by every team;
- one Log Analytics workspace (from a shared WorkspaceMonitoring); each team's workspace gets
  its own Application Insights that stores into it;
- per team: a workspace with its own storage account and key vault (data stays apart).

Plan, scan and draw it offline: ``amlplatform plan -s dev --project-dir examples/shared-registry``.
(A shared VNet with private endpoints comes with the network component.)
"""

import pulumi
from pulumi_azure_native import authorization, resources

from amlplatform import ContainerRegistry, MLWorkspace, WorkspaceMonitoring
from amlplatform.naming import generate

config = pulumi.Config()
location = config.require("location")
teams = config.require_object("teams")
retention_days = config.get_int("retention_days") or 30
stack = pulumi.get_stack()

shared = generate("shared", stack)
client = authorization.get_client_config_output()
group = resources.ResourceGroup("rg", resource_group_name=shared.resource_group, location=location)
common = {"resource_group_name": group.name, "location": location}

# private and zone redundant: Premium (the default SKU)
registry = ContainerRegistry("shared-registry", {
    **common, "registry_name": shared.container_registry,
    "public_network_access": "Disabled", "zone_redundancy": True,
})
monitoring = WorkspaceMonitoring("shared-monitoring", {
    **common, "log_analytics_name": shared.log_analytics, "app_insights_name": shared.app_insights,
    "retention_days": retention_days,
})

workspaces = {}
for team in teams:
    names = generate(team, stack)
    workspaces[team] = MLWorkspace(team, {
        **common,
        "tenant_id": client.tenant_id,
        "subscription_id": client.subscription_id,
        "names": vars(names),
        "registry_mode": "existing",
        "registry": {"existing_id": registry.id},
        "monitoring": {"existing_log_analytics_id": monitoring.log_analytics_id},
        "workspace": {"public_network_access": "Disabled", "managed_network": "AllowOnlyApprovedOutbound"},
        "storage": {"sku": "Standard_GZRS", "public_network_access": "Disabled"},
        "key_vault": {"public_network_access": "Disabled"},
        "tags": {"team": team},
    })

pulumi.export("registry_login_server", registry.login_server)
pulumi.export("log_analytics_id", monitoring.log_analytics_id)
pulumi.export("workspace_ids", {team: ws.workspace_id for team, ws in workspaces.items()})
