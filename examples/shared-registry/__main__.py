"""Two teams' workspaces that share one container registry and one Log Analytics workspace.

A Pulumi program of its own: it reads its own config (``sharedml:`` keys, not the amlplatform
stack settings) and composes amlplatform's components differently from the amlplatform program:

- one Premium registry, linked to every workspace (``registry_mode: existing``), so images
  built once are pulled by every team;
- one Log Analytics workspace (from a shared WorkspaceMonitoring); each team's workspace gets
  its own Application Insights that stores into it;
- per team: a workspace with its own storage account and key vault (data stays apart), the
  team's data scientists with the data roles on that storage only (shared keys are off), and a
  CPU cluster that builds the team's environment images (the registry is private);
- one VNet with the private endpoints of everything (public access is off) and the private DNS
  zones; each managed network allows only approved outbound, PyPI and conda included;
- private monitoring: one Azure Monitor Private Link Scope (PrivateOnly) over the shared Log
  Analytics and every team's Application Insights, with its private endpoint; queries only through
  it, and Application Insights keeps public ingestion for the managed networks' computes and
  deployments with local auth off (Entra ID only).

``amlplatform scan`` finds it usable (no deployability finding). Plan, scan and draw it offline:
``amlplatform plan -s dev --project-dir examples/shared-registry``.
"""

import pulumi
from pulumi_azure_native import authorization, monitor, resources

from amlplatform import ComputeCluster, ContainerRegistry, MLWorkspace, WorkspaceMonitoring
from amlplatform.iac.access.access import IdentityAccess, WorkspaceAccess
from amlplatform.azure.naming import generate
from amlplatform.iac.network.network import PlatformNetwork
from amlplatform.settings.access import ROLE_GUIDS
from amlplatform.settings.network import GROUP_ZONES, PACKAGE_SOURCES, package_rule_name

config = pulumi.Config()
location = config.require("location")
teams = config.require_object("teams")  # team -> object id of its data scientists' Entra group
retention_days = config.get_int("retention_days") or 30
stack = pulumi.get_stack()

shared = generate("shared", stack)
client = authorization.get_client_config_output()
group = resources.ResourceGroup("rg", resource_group_name=shared.resource_group, location=location)
common = {"resource_group_name": group.name, "location": location}

GROUPS = {"workspace": ["amlworkspace"], "storage": ["blob", "file"], "key_vault": ["vault"]}
network = PlatformNetwork("shared-network", {
    **common,
    "vnet": {"name": f"vnet-shared-{stack}", "address_space": ["10.80.0.0/23"],
             "private_endpoints_subnet": {"name": "snet-private-endpoints", "prefix": "10.80.0.0/24",
                                          "nsg_name": f"nsg-shared-{stack}-pe"}},
    "zones": sorted({z for g in ["registry", "azuremonitor", *sum(GROUPS.values(), [])] for z in GROUP_ZONES[g]}),
})
endpoints = {"subnet_id": network.private_endpoints_subnet_id, "dns_zone_ids": network.zone_id_inputs}

# private and zone redundant: Premium (the default SKU)
registry = ContainerRegistry("shared-registry", {
    **common, "registry_name": shared.container_registry,
    "public_network_access": "Disabled", "zone_redundancy": True,
    "private_endpoints": {**endpoints, "groups": ["registry"]},
})
# pip and conda reach their package sources through the managed networks' firewalls
PACKAGE_RULES = {package_rule_name(source, fqdn): {"type": "FQDN", "category": "UserDefined", "destination": fqdn}
                 for source in ("pypi", "conda") for fqdn in PACKAGE_SOURCES[source]}


def role(name: str, principal_id: str, principal_type: str, description: str) -> dict:
    return {"principal_id": principal_id, "principal_type": principal_type, "role_definition_guid": ROLE_GUIDS[name],
            "role_name": name, "description": description}
monitoring = WorkspaceMonitoring("shared-monitoring", {
    **common, "log_analytics_name": shared.log_analytics, "app_insights_name": shared.app_insights,
    "retention_days": retention_days,
    "public_ingestion": "Disabled", "public_query": "Disabled",
    "private_link_scope": {"scope_name": f"ampls-shared-{stack}",
                           "private_endpoints": {**endpoints, "groups": ["azuremonitor"]}},
})

workspaces = {}
for team, scientists in teams.items():
    names = generate(team, stack)
    workspaces[team] = ws = MLWorkspace(team, {
        **common,
        "tenant_id": client.tenant_id,
        "subscription_id": client.subscription_id,
        "names": vars(names),
        "registry_mode": "existing",
        "registry": {"existing_id": registry.id},
        "monitoring": {"existing_log_analytics_id": monitoring.log_analytics_id, "public_query": "Disabled"},
        "workspace": {"public_network_access": "Disabled", "managed_network": "AllowOnlyApprovedOutbound",
                      "outbound_rules": PACKAGE_RULES, "image_build_compute": "cpu"},
        "storage": {"sku": "Standard_GZRS", "public_network_access": "Disabled"},
        "key_vault": {"public_network_access": "Disabled"},
        "private_endpoints": {**endpoints, "groups": GROUPS},
        "tags": {"team": team},
    })
    # the team's Application Insights joins the shared scope (queried through its private endpoint)
    monitor.PrivateLinkScopedResource(f"{team}-insights-scoped", name=f"scoped-{team}-insights",
                                      scope_name=monitoring.private_link_scope_name,
                                      resource_group_name=group.name, linked_resource_id=ws.app_insights_id)
    # shared keys are off: the team reaches its data with its Entra identities
    WorkspaceAccess(f"{team}-data-access", {"scope": ws.storage_account_id, "subscription_id": client.subscription_id,
                                            "assignments": [
        role("Storage Blob Data Contributor", scientists, "Group", f"{team} data scientists upload code and data"),
        role("Storage File Data Privileged Contributor", scientists, "Group", f"{team} notebooks on the file share"),
    ]})
    cluster = ComputeCluster(f"{team}-cpu", {
        **common, "workspace_name": ws.workspace_name, "compute_name": "cpu", "vm_size": "Standard_D4ds_v5",
        "max_nodes": 4})
    IdentityAccess(f"{team}-cpu-access", {"subscription_id": client.subscription_id, "principal_id": cluster.principal_id,
                                          "grants": [
        {"scope": ws.storage_account_id, "scope_label": "storage",
         "roles": [role("Storage Blob Data Contributor", "", "ServicePrincipal", "jobs read and write the team's data")]},
        {"scope": registry.id, "scope_label": "registry",
         "roles": [role("AcrPull", "", "ServicePrincipal", "jobs pull the shared environment images")]},
    ]})

pulumi.export("registry_login_server", registry.login_server)
pulumi.export("log_analytics_id", monitoring.log_analytics_id)
pulumi.export("workspace_ids", {team: ws.workspace_id for team, ws in workspaces.items()})
