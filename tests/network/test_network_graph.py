"""The recorded graph of the network: what `plan --stack prod` must show (issue 10), the
hub-and-spoke variant with existing subnets and zones, the deployer's cluster role, the ARM wire
shape of private endpoints and the one-way managed network changes in `plan --diff`."""

import json

import pytest

from amlplatform.azure.roles import ROLES

from amlplatform.offline.engine import OFFLINE_CLIENT, evaluate_stack
from amlplatform.review import arm, diff
from amlplatform.settings.network import GROUP_ZONES

VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
PE = "azure-native:network:PrivateEndpoint"
ZG = "azure-native:network:PrivateDnsZoneGroup"
ZONE = "azure-native:privatedns:PrivateZone"
LINK = "azure-native:privatedns:VirtualNetworkLink"
AKS = "azure-native:containerservice:ManagedCluster"
MLW = "azure-native:machinelearningservices:Workspace"
ROLE = "azure-native:authorization:RoleAssignment"
CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
RA = "azure-native:authorization:RoleAssignment"

HUB = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-spoke/providers/Microsoft.Network"
DNS = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-dns/providers/Microsoft.Network"


def endpoints_by_group(graph):
    out = {}
    for pe in graph.of_type(PE):
        (conn,) = pe.inputs["privateLinkServiceConnections"]
        (group,) = conn["groupIds"]
        out[group] = pe
    return out


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_private_stacks_have_vnet_endpoints_zones_and_links(stack_graph, stack):
    g = stack_graph(stack)
    vnet = g.one(VNET)
    subnets = {s.inputs["subnetName"]: s for s in g.of_type(SUBNET)}
    # AzureFirewallSubnet: the egress firewall of the AKS nodes (tests/network/test_egress_firewall.py)
    assert set(subnets) == {"snet-private-endpoints", "snet-aks", "AzureFirewallSubnet"}
    nsgs = {n.id for n in g.of_type(NSG)}
    for subnet_name, s in subnets.items():
        assert s.inputs["virtualNetworkName"] == vnet.inputs["virtualNetworkName"]
        assert s.inputs["defaultOutboundAccess"] is False
        if subnet_name == "AzureFirewallSubnet":  # Azure Firewall does not support an NSG on its subnet
            assert "networkSecurityGroup" not in s.inputs
            continue
        assert s.inputs["networkSecurityGroup"]["id"] in nsgs  # every subnet guarded by its own NSG
    assert subnets["snet-private-endpoints"].inputs["privateEndpointNetworkPolicies"] == "Enabled"

    by_group = endpoints_by_group(g)
    # azuremonitor: the Azure Monitor Private Link Scope (tests/network/test_private_monitoring.py); prod has a
    # batch endpoint: its storage also gets queue and table endpoints (how-to-managed-network)
    batch = {"queue", "table"} if stack == "prod" else set()
    assert set(by_group) == {"amlworkspace", "blob", "file", "vault", "registry", "azuremonitor"} | batch
    storage_id = g.one("azure-native:storage:StorageAccount").id
    targets = {"amlworkspace": g.one(MLW).id, "blob": storage_id, "file": storage_id, "queue": storage_id,
               "table": storage_id, "vault": g.one("azure-native:keyvault:Vault").id,
               "registry": g.one("azure-native:containerregistry:Registry").id,
               "azuremonitor": g.one("azure-native:monitor:PrivateLinkScope").id}
    zones = {z.inputs["privateZoneName"]: z for z in g.of_type(ZONE)}
    for group, pe in by_group.items():
        assert pe.inputs["subnet"]["id"] == subnets["snet-private-endpoints"].id
        assert pe.inputs["privateLinkServiceConnections"][0]["privateLinkServiceId"] == targets[group]
        (zg,) = [z for z in g.of_type(ZG) if z.inputs["privateEndpointName"] == pe.inputs["privateEndpointName"]]
        assert sorted(c["privateDnsZoneId"] for c in zg.inputs["privateDnsZoneConfigs"]) == sorted(
            zones[z].id for z in GROUP_ZONES[group])
    # the endpoints' zones, the private API server's (a zone of the platform, so the deployer's networks can
    # be linked to it) and the scoring name's domain (its A record to the inference router)
    scoring = "fraud.internal"
    assert set(zones) == {z for gr in by_group for z in GROUP_ZONES[gr]} | {"privatelink.westeurope.azmk8s.io", scoring}
    links = g.of_type(LINK)
    assert sorted(l.inputs["privateZoneName"] for l in links) == sorted(zones)
    for link in links:  # every zone resolves inside the stack's VNet (and does not register VMs)
        assert link.inputs["virtualNetwork"]["id"] == vnet.id and link.inputs["registrationEnabled"] is False

    aks = g.one(AKS).inputs
    for pool in aks["agentPoolProfiles"]:
        assert pool["vnetSubnetID"] == subnets["snet-aks"].id
        assert pool["enableEncryptionAtHost"] is True  # the stack says the feature is registered
    assert aks["networkProfile"]["networkPluginMode"] == "overlay"
    assert aks["apiServerAccessProfile"]["enablePrivateCluster"] is True
    assert aks["aadProfile"]["adminGroupObjectIDs"]  # staging too: real admins

    ws = g.one(MLW).inputs
    assert ws["imageBuildCompute"] == "cpu" and ws["provisionNetworkNow"] is True
    rules = ws["managedNetwork"]["outboundRules"]
    assert {r["destination"] for r in rules.values() if r["type"] == "FQDN"} >= {
        "pypi.org", "*.pythonhosted.org", "*.anaconda.org"}
    assert ws["managedNetwork"]["firewallSku"] in ("Standard", "Basic")
    # a batch endpoint (prod) reaches the default storage's queues and tables through PrivateEndpoint
    # outbound rules (how-to-managed-network); staging has none, so no such rule
    endpoints = {name: r["destination"] for name, r in rules.items() if r["type"] == "PrivateEndpoint"}
    storage_id = g.one("azure-native:storage:StorageAccount").id
    expected = {f"default-storage-{t}": {"serviceResourceId": storage_id, "subresourceTarget": t, "sparkEnabled": False}
                for t in ("queue", "table")} if stack == "prod" else {}
    assert endpoints == expected


def test_dev_stays_public_and_cheap(stack_graph):
    g = stack_graph("dev")
    assert not [r for r in g.resources if r.type.startswith(("azure-native:network:", "azure-native:privatedns:"))]
    ws = g.one(MLW).inputs
    assert "provisionNetworkNow" not in ws and ws["managedNetwork"] == {"isolationMode": "Disabled"}


def test_deployer_gets_namespace_scoped_roles_never_cluster_admin(stack_graph):
    from amlplatform.azure.kubernetes import DEPLOYER_DATA_ACTIONS

    g = stack_graph("prod")
    aks = g.one(AKS)
    roles = {r.name: r.inputs for r in g.of_type(RA) if r.name.startswith("k8s-inference-deployer-")}
    assert not [r for r in g.of_type(RA) if r.inputs["roleDefinitionId"].endswith("/" + CLUSTER_ADMIN)]
    ns = roles["k8s-inference-deployer-namespace-admin"]
    assert ns["scope"] == f"{aks.id}/namespaces/azureml-endpoints"
    assert ns["roleDefinitionId"].endswith("/" + ROLES["Azure Kubernetes Service RBAC Admin"])
    # the cluster-scoped part: a custom role (namespaces, custom resources) limited to InstanceTypes
    definition = g.named("k8s-inference-deployer-role").inputs
    assert definition["assignableScopes"] == [aks.id]
    assert definition["permissions"] == [{"actions": [], "notActions": [], "dataActions": list(DEPLOYER_DATA_ACTIONS),
                                          "notDataActions": []}]
    types = roles["k8s-inference-deployer-instance-types"]
    assert types["scope"] == aks.id and types["conditionVersion"] == "2.0"
    assert types["roleDefinitionId"].endswith("/" + definition["roleDefinitionId"])
    assert "StringEqualsIgnoreCase 'amlarc.azureml.com'" in types["condition"]
    assert "StringEqualsIgnoreCase 'instancetypes'" in types["condition"]
    # reads the router's address in the extension's namespace (RBAC Reader: no secrets, so no TLS key)
    reader = roles["k8s-inference-deployer-router-reader"]
    assert reader["scope"] == f"{aks.id}/namespaces/azureml"
    assert reader["roleDefinitionId"].endswith("/" + ROLES["Azure Kubernetes Service RBAC Reader"])
    for role in roles.values():
        # from authorization.getClientConfig in the program: whoever runs `pulumi up`
        assert role["principalId"] == OFFLINE_CLIENT and role["principalType"] == "ServicePrincipal"


def test_deployer_from_settings(make_stack, project_root):
    import yaml

    config = yaml.safe_load((project_root / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    config["amlplatform:kubernetes"][0]["deployer_object_id"] = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    config["amlplatform:kubernetes"][0]["deployer_principal_type"] = "User"
    g = evaluate_stack("dep", project_dir=make_stack(config, name="dep"))
    for logical in ("k8s-inference-deployer-namespace-admin", "k8s-inference-deployer-instance-types"):
        role = g.named(logical).inputs
        assert role["principalId"] == "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        assert role["principalType"] == "User"


def test_hub_and_spoke_uses_existing_subnets_and_central_zones(make_stack):
    config = {
        "amlplatform:location": "westeurope", "amlplatform:naming": {"workload": "fraud", "environment": "hub"},
        "amlplatform:network": {
            "existing_subnets": {"private_endpoints": f"{HUB}/virtualNetworks/vnet-spoke/subnets/pe",
                                 "aks": f"{HUB}/virtualNetworks/vnet-spoke/subnets/aks"},
            "private_dns": {"existing_zone_ids": {
                "privatelink.blob.core.windows.net": f"{DNS}/privateDnsZones/privatelink.blob.core.windows.net"}},
            "storage_groups": ["blob", "file", "table"],
        },
    }
    g = evaluate_stack("hub", project_dir=make_stack(config, name="hub"))
    assert not g.of_type(VNET) and not g.of_type(SUBNET) and not g.of_type(NSG)
    by_group = endpoints_by_group(g)
    # no registry: nothing needs images; azuremonitor: the private stack's Azure Monitor Private Link Scope
    assert set(by_group) == {"amlworkspace", "blob", "file", "table", "vault", "azuremonitor"}
    for pe in by_group.values():
        assert pe.inputs["subnet"]["id"] == f"{HUB}/virtualNetworks/vnet-spoke/subnets/pe"
    zones = {z.inputs["privateZoneName"] for z in g.of_type(ZONE)}
    assert "privatelink.blob.core.windows.net" not in zones  # central zone, not created
    (blob_group,) = [z for z in g.of_type(ZG) if z.inputs["privateEndpointName"].endswith("-blob")]
    assert blob_group.inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"].startswith(DNS)
    for link in g.of_type(LINK):  # created zones are linked to the spoke VNet of the given subnets
        assert link.inputs["virtualNetwork"]["id"] == f"{HUB}/virtualNetworks/vnet-spoke"


def test_arm_export_nests_connection_properties_as_arm_does(stack_graph):
    template = arm.to_arm_template(stack_graph("prod"), exceptions=[])
    pes = [r for r in template["resources"] if r["type"] == "Microsoft.Network/privateEndpoints"]
    assert len(pes) == 8  # workspace, blob, file, queue, table (batch endpoint), vault, registry, Azure Monitor
    for r in pes:
        (conn,) = r["properties"]["privateLinkServiceConnections"]
        assert set(conn) == {"name", "properties"}
        assert set(conn["properties"]) == {"privateLinkServiceId", "groupIds"}
    groups = [r for r in template["resources"] if r["type"] == "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"]
    assert groups and all(r["name"].endswith("/default") for r in groups)
    for r in groups:
        for c in r["properties"]["privateDnsZoneConfigs"]:
            assert set(c) == {"name", "properties"} and "privateDnsZoneId" in c["properties"]
    types = {r["type"] for r in template["resources"]}
    assert {"Microsoft.Network/virtualNetworks", "Microsoft.Network/virtualNetworks/subnets",
            "Microsoft.Network/networkSecurityGroups", "Microsoft.Network/privateDnsZones",
            "Microsoft.Network/privateDnsZones/virtualNetworkLinks"} <= types


def _with_mode(plan, mode):
    plan = json.loads(json.dumps(plan))
    for r in plan["resources"]:
        if r["type"] == MLW:
            r["inputs"]["managedNetwork"] = {"isolationMode": mode}
    return plan


@pytest.mark.parametrize("before,after,expected", [
    ("Disabled", "AllowInternetOutbound", "enables a managed network"),
    ("AllowInternetOutbound", "AllowOnlyApprovedOutbound", "changes the isolation mode"),
    ("AllowOnlyApprovedOutbound", "Disabled", "Azure refuses this"),
])
def test_plan_diff_flags_one_way_managed_network_changes(stack_graph, before, after, expected):
    plan = stack_graph("dev").to_dict()
    result = diff.diff_plans(_with_mode(plan, before), _with_mode(plan, after))
    (name, change), = result.one_way_changes
    assert name == "ml-workspace-workspace" and change.path == "managedNetwork.isolationMode"
    assert expected in change.one_way and not change.create_only
    text = result.render()
    assert "[ONE-WAY: " in text and "WARNING: one-way changes" in text
    assert result.to_dict()["has_one_way_changes"] is True
    assert not diff.diff_plans(plan, plan).one_way_changes


def test_estimate_puts_the_private_path_on_the_critical_path(stack_graph):
    from amlplatform.review.estimate import estimate

    path = estimate(stack_graph("staging")).critical_path
    assert path[path.index("workspace") + 1:path.index("attach")] == ["private endpoint", "private DNS records"]
    steps = {s.label: s for s in estimate(stack_graph("prod")).steps}
    assert "provisionNetworkNow" in steps["workspace"].source  # computes no longer wait for the network
    assert not any(s.label.startswith("cluster") and s.seconds >= 1800 for s in estimate(stack_graph("prod")).steps)


def test_cluster_identity_may_use_the_stack_subnet_before_the_router_takes_an_address(stack_graph):
    g = stack_graph("prod")
    role = g.named("k8s-inference-subnet-network-contributor").inputs
    aks_subnet = [s for s in g.of_type(SUBNET) if s.inputs["subnetName"] == "snet-aks"][0]
    assert role["scope"] == aks_subnet.id
    assert role["roleDefinitionId"].endswith("/4d97b98b-1d4f-4787-a291-c67834d212e7")
    ext = g.one("azure-native:kubernetesconfiguration:Extension")
    assert g.named("k8s-inference-subnet-network-contributor").urn in g.resource_dependencies(ext)


def test_plan_diff_replaces_an_endpoint_moved_to_another_subnet(stack_graph):
    plan = stack_graph("prod").to_dict()
    moved = json.loads(json.dumps(plan))
    for r in moved["resources"]:
        if r["type"] == PE:
            r["inputs"]["subnet"] = {"id": r["inputs"]["subnet"]["id"].replace("snet-private-endpoints", "snet-other")}
    result = diff.diff_plans(plan, moved)
    assert sorted(r.name for r in result.of("replace")) == sorted(r.name for r in stack_graph("prod").of_type(PE))


def test_a_network_without_an_aks_subnet_leaves_a_public_stacks_cluster_alone(make_stack):
    config = {"amlplatform:location": "westeurope", "amlplatform:naming": {"workload": "fraud", "environment": "pub"},
              "amlplatform:workspace": {"public_network_access": "Enabled"},
              "amlplatform:network": {"vnet": {"address_space": ["10.70.0.0/24"], "private_endpoints_subnet": "10.70.0.0/26"}},
              "amlplatform:kubernetes": [{"name": "serve", "api_server_access": "public", "extension": {
                  "allow_insecure_connections": True}}]}
    g = evaluate_stack("pub", project_dir=make_stack(config, name="pub"))
    assert all("vnetSubnetID" not in p for p in g.one(AKS).inputs["agentPoolProfiles"])
    assert not [r for r in g.resources if r.name.endswith("subnet-network-contributor")]
    # with a network, public resources get endpoints too: workspace, blob, file, vault, registry (AKS needs images)
    assert len(g.of_type(PE)) == 5
