"""Deployability rules (amlplatform.review.deployability): each fires on the unusable fixture, each
is quiet once the stack declares what Azure needs, and the scan reports them as a third family."""

import importlib.util
import json
from pathlib import Path

import pytest

from amlplatform.review import deployability, scan
from amlplatform.review.deployability import Finding, rule, run_rules
from amlplatform.review.deployability import _graph as dg
from tests.review.graphs import RG_ID, graph, res

ROOT = Path(__file__).resolve().parents[2]
UNUSABLE = ROOT / "tests" / "fixtures" / "unusable"  # a project: stack file and its own program
PLATFORM_RULES = {f"AMLD-{i:03d}" for i in range(1, 14)}
KUBERNETES_RULES = {f"AMLD-{i:03d}" for i in range(30, 40)}
ENDPOINT_RULES = {f"AMLD-{i}" for i in range(101, 110)}


@pytest.fixture(scope="module")
def unusable_project():
    return UNUSABLE


@pytest.fixture(scope="module")
def unusable_graph(unusable_project):
    from amlplatform.offline.engine import evaluate_stack

    return evaluate_stack("unusable", project_dir=unusable_project)


# ------------------------------------------------------------------ the rules and their fixture

def test_every_rule_has_an_id_a_one_line_reason_and_an_azure_doc():
    assert PLATFORM_RULES | KUBERNETES_RULES <= set(deployability.RULES)
    for rule_id, spec in deployability.RULES.items():
        assert deployability.RULE_ID.match(rule_id)
        assert spec.reason and "\n" not in spec.reason and len(spec.reason) > 40
        assert spec.doc.startswith("https://learn.microsoft.com/"), rule_id


def test_the_unusable_fixture_fires_every_registered_rule(unusable_graph):
    assert PLATFORM_RULES | KUBERNETES_RULES | ENDPOINT_RULES <= set(deployability.RULES)
    fired = {f.rule_id for f in run_rules(unusable_graph)}
    missing = sorted(set(deployability.RULES) - fired)
    assert not missing, f"rules the unusable fixture does not fire (add a line that trips them): {missing}"


def test_the_unusable_fixture_passes_settings_validation_and_is_declared_secure(unusable_graph):
    # what makes it unusable is invisible to checks of single resources: the policy pack's
    # mandatory public-access and shared-key rules pass on it
    from amlplatform.review import policies

    failed = {r.rule.rule_id for r in policies.evaluate(unusable_graph) if not r.passed and r.rule.mandatory}
    assert "438c38d2-3772-465a-a9cc-7a6666a275ce" not in failed
    assert "8c6a50c6-9ffd-4ae7-986f-5fa6111f9a54" not in failed


def test_findings_name_the_resource_and_how_to_fix_it(unusable_graph):
    by_rule = {}
    for f in run_rules(unusable_graph):
        by_rule.setdefault(f.rule_id, []).append(f)
    names = {r.name for r in unusable_graph.resources}
    for findings in by_rule.values():
        for f in findings:
            assert f.resource in names
    # the stack's own resources have their private endpoints (the settings refuse less); the
    # fixture program's hand-declared private workspace and registry have none
    assert any("'amlworkspace'" in f.message for f in by_rule["AMLD-001"])
    found = {f.resource for f in by_rule["AMLD-001"]}
    assert {"own-workspace", "own-registry"} <= found
    assert not {r for r in found if r.startswith("ml-")}
    assert "no imageBuildCompute" in by_rule["AMLD-006"][0].message
    assert [f.resource for f in by_rule["AMLD-009"]] == ["own-aks"]
    assert "az feature register" in by_rule["AMLD-011"][0].message
    assert [f.resource for f in by_rule["AMLD-011"]] == ["own-aks"]  # the stack's cluster has no host encryption
    assert [f.resource for f in by_rule["AMLD-101"]] == ["online-unusable-public-endpoint"]


def test_dev_has_no_deployability_findings(stack_graph):
    assert run_rules(stack_graph("dev")) == []


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_stacks_have_zero_deployability_findings(stack_graph, project_root, stack):
    """The shipped stacks must be usable on Azure, not only declared secure. What no plan can show
    (a subscription's feature registration: AMLD-011; an image digest not readable offline: AMLD-301) is a
    reasoned exception naming the check."""
    from amlplatform.offline.engine import stack_policy_exceptions
    from amlplatform.review.deployability import evaluate

    results = evaluate(stack_graph(stack), stack_policy_exceptions(stack, project_root))
    assert [(r.finding.rule_id, r.finding.resource) for r in results if r.excepted is None] == []
    assert {r.finding.rule_id for r in results} <= {"AMLD-011", "AMLD-301"}


def test_prod_customer_managed_key_rules_pass(stack_graph):
    g = stack_graph("prod")
    assert g.of_type(dg.KEY), "prod has a customer-managed key"
    assert run_rules(g, ["AMLD-012", "AMLD-013"]) == []


# ------------------------------------------------------------------ each rule is quiet when met

WS_TYPE, ST_TYPE = dg.WORKSPACE, dg.STORAGE
VNET = f"{RG_ID}/providers/Microsoft.Network/virtualNetworks/vnet"


def _workspace(**inputs):
    return res(WS_TYPE, "ws", {"workspaceName": "mlw", "publicNetworkAccess": "Disabled", **inputs})


def _pe(name, target, group, subnet="pe"):
    pe = res(dg.PRIVATE_ENDPOINT, name, {
        "privateEndpointName": name, "subnet": {"id": f"{VNET}/subnets/{subnet}"},
        "privateLinkServiceConnections": [{"privateLinkServiceId": target.id, "groupIds": [group]}]})
    pe.id = f"{RG_ID}/providers/Microsoft.Network/privateEndpoints/{name}"
    return pe


def _zone_group(pe, *zones):
    return res(dg.DNS_ZONE_GROUP, f"{pe.name}-dns", {
        "privateEndpointName": pe.inputs["privateEndpointName"], "privateDnsZoneGroupName": "default",
        "privateDnsZoneConfigs": [{"name": z, "privateDnsZoneId": f"{RG_ID}/providers/Microsoft.Network/"
                                   f"privateDnsZones/{z}"} for z in zones]}, deps=[pe])


def test_amld_001_private_endpoint_with_both_workspace_zones_passes():
    ws = _workspace()
    pe = _pe("pe-ws", ws, "amlworkspace")
    ok = graph(ws, pe, _zone_group(pe, "privatelink.api.azureml.ms", "privatelink.notebooks.azure.net"))
    assert run_rules(ok, ["AMLD-001"]) == []
    one_zone = graph(ws, pe, _zone_group(pe, "privatelink.api.azureml.ms"))
    (f,) = run_rules(one_zone, ["AMLD-001"])
    assert "privatelink.notebooks.azure.net" in f.message
    (f,) = run_rules(graph(ws, pe), ["AMLD-001"])
    assert "no private DNS zone group" in f.message
    wrong_group = _pe("pe-ws", ws, "blob")
    (f,) = run_rules(graph(ws, wrong_group, _zone_group(wrong_group, "privatelink.blob.core.windows.net")),
                     ["AMLD-001"])
    assert "'amlworkspace'" in f.message
    public = _workspace(publicNetworkAccess="Enabled")
    assert run_rules(graph(public), ["AMLD-001"]) == []


def test_amld_001_storage_needs_blob_and_file():
    st = res(ST_TYPE, "st", {"accountName": "st1", "publicNetworkAccess": "Disabled"})
    blob = _pe("pe-blob", st, "blob")
    g = graph(st, blob, _zone_group(blob, "privatelink.blob.core.windows.net"))
    (f,) = run_rules(g, ["AMLD-001"])
    assert "'file'" in f.message
    file_ = _pe("pe-file", st, "file")
    g = graph(st, blob, _zone_group(blob, "privatelink.blob.core.windows.net"),
              file_, _zone_group(file_, "privatelink.file.core.windows.net"))
    assert run_rules(g, ["AMLD-001"]) == []


def _role(name, scope, role_guid, principal, ptype="Group", source=None):
    r = res(dg.ROLE_ASSIGNMENT, name, {
        "scope": scope, "principalId": principal, "principalType": ptype,
        "roleDefinitionId": f"/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"})
    if source is not None:
        r.property_dependencies = {"principalId": [source.urn]}
    return r


def test_amld_002_003_people_need_contributor_and_file_roles():
    st = res(ST_TYPE, "st", {"accountName": "st1", "allowSharedKeyAccess": False})
    inst = res(dg.COMPUTE, "ci", {"workspaceName": "mlw", "computeName": "ci",
                                   "properties": {"computeType": "ComputeInstance"}})
    reader = _role("r", RG_ID, dg.STORAGE_BLOB_DATA_READER, "p1")
    assert {f.rule_id for f in run_rules(graph(st, inst, reader), ["AMLD-002", "AMLD-003"])} == {
        "AMLD-002", "AMLD-003"}
    contributor = _role("c", st.id, dg.STORAGE_BLOB_DATA_CONTRIBUTOR, "p1")
    files = _role("f", st.id, dg.STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR, "p1")
    assert run_rules(graph(st, inst, contributor, files), ["AMLD-002", "AMLD-003"]) == []
    # a role for a managed identity does not make the account usable for people
    sp = _role("c", st.id, dg.STORAGE_BLOB_DATA_CONTRIBUTOR, "p1", ptype="ServicePrincipal")
    assert [f.rule_id for f in run_rules(graph(st, sp), ["AMLD-002"])] == ["AMLD-002"]
    shared = res(ST_TYPE, "st", {"accountName": "st1", "allowSharedKeyAccess": True})
    assert run_rules(graph(shared, inst), ["AMLD-002", "AMLD-003"]) == []


def test_amld_004_005_the_computes_own_identity_needs_the_roles():
    st = res(ST_TYPE, "st", {"accountName": "st1", "allowSharedKeyAccess": False})
    reg = res(dg.REGISTRY, "cr", {"registryName": "cr1", "adminUserEnabled": False})
    cluster = res(dg.COMPUTE, "cpu", {"workspaceName": "mlw", "computeName": "cpu",
                                      "identity": {"type": "SystemAssigned"},
                                      "properties": {"computeType": "AmlCompute"}})
    other = res(dg.COMPUTE, "gpu", {"workspaceName": "mlw", "computeName": "gpu",
                                    "identity": {"type": "SystemAssigned"},
                                    "properties": {"computeType": "AmlCompute"}})
    # roles of another compute's identity do not count
    roles = [_role("b", st.id, dg.STORAGE_BLOB_DATA_CONTRIBUTOR, "x", "ServicePrincipal", source=other),
             _role("a", reg.id, dg.ACR_PULL, "x", "ServicePrincipal", source=other)]
    found = {(f.rule_id, f.resource) for f in run_rules(graph(st, reg, cluster, other, *roles),
                                                         ["AMLD-004", "AMLD-005"])}
    assert found == {("AMLD-004", "cpu"), ("AMLD-005", "cpu")}


def test_amld_004_a_compute_needs_roles_on_its_own_workspaces_storage_only():
    # two workspaces, each with its storage (examples/shared-registry): a cluster of the first does
    # not read the second's data, so it needs no role there; on its own storage it does
    mine = res(ST_TYPE, "st-a", {"accountName": "sta", "allowSharedKeyAccess": False})
    theirs = res(ST_TYPE, "st-b", {"accountName": "stb", "allowSharedKeyAccess": False})
    ws_a = _workspace(storageAccount=mine.id)
    ws_b = res(WS_TYPE, "ws-b", {"workspaceName": "mlw-b", "storageAccount": theirs.id})
    cluster = res(dg.COMPUTE, "cpu", {"workspaceName": "mlw", "computeName": "cpu",
                                      "identity": {"type": "SystemAssigned"},
                                      "properties": {"computeType": "AmlCompute"}})
    granted = _role("blob", mine.id, dg.STORAGE_BLOB_DATA_CONTRIBUTOR, "x", "ServicePrincipal", source=cluster)
    assert run_rules(graph(mine, theirs, ws_a, ws_b, cluster, granted), ["AMLD-004"]) == []
    found = run_rules(graph(mine, theirs, ws_a, ws_b, cluster), ["AMLD-004"])
    assert [(f.resource, "st-a" in f.message) for f in found] == [("cpu", True)]


def test_amld_006_image_build_compute_names_a_cluster():
    reg = res(dg.REGISTRY, "cr", {"registryName": "cr1", "publicNetworkAccess": "Disabled"})
    cluster = res(dg.COMPUTE, "cpu", {"workspaceName": "mlw", "computeName": "cpu",
                                      "properties": {"computeType": "AmlCompute"}})
    ws = _workspace(containerRegistry=reg.id, imageBuildCompute="cpu")
    assert run_rules(graph(ws, reg, cluster), ["AMLD-006"]) == []
    assert run_rules(graph(_workspace(containerRegistry=reg.id), reg, cluster), ["AMLD-006"])


def test_amld_007_008_managed_network_needs_package_rules_and_provisioning():
    cluster = res(dg.COMPUTE, "cpu", {"workspaceName": "mlw", "computeName": "cpu",
                                      "properties": {"computeType": "AmlCompute"}})
    ws = _workspace(provisionNetworkNow=True, managedNetwork={
        "isolationMode": "AllowOnlyApprovedOutbound",
        "outboundRules": {"pypi": {"type": "FQDN", "destination": "pypi.org", "category": "UserDefined"},
                          "pythonhosted": {"type": "FQDN", "destination": "files.pythonhosted.org"}}})
    assert run_rules(graph(ws, cluster), ["AMLD-007", "AMLD-008"]) == []
    lazy = _workspace(managedNetwork={"isolationMode": "AllowInternetOutbound"})
    assert [f.rule_id for f in run_rules(graph(lazy, cluster), ["AMLD-007", "AMLD-008"])] == ["AMLD-008"]
    # no compute yet: nothing waits for the network
    assert run_rules(graph(lazy), ["AMLD-008"]) == []


def _aks(**inputs):
    return res(dg.AKS, "aks", {"resourceName": "aks1", **inputs})


def test_amld_009_nodes_in_the_vnet_of_the_workspace_endpoint():
    ws = _workspace()
    pe = _pe("pe-ws", ws, "amlworkspace")
    aks = _aks(agentPoolProfiles=[{"name": "system", "vnetSubnetID": f"{VNET}/subnets/aks"}])
    attach = res(dg.COMPUTE, "attach", {"workspaceName": "mlw", "computeName": "k8s",
                                         "properties": {"computeType": "Kubernetes", "resourceId": aks.id}})
    assert run_rules(graph(ws, pe, aks, attach), ["AMLD-009"]) == []
    elsewhere = _aks(agentPoolProfiles=[{"name": "system",
                                          "vnetSubnetID": f"{RG_ID}/providers/Microsoft.Network/virtualNetworks/other/subnets/aks"}])
    (f,) = run_rules(graph(ws, pe, elsewhere, attach), ["AMLD-009"])
    assert "virtual network" in f.message


def test_amld_010_011_kubernetes_deployer_role_and_host_encryption_feature():
    aks = _aks(disableLocalAccounts=True, aadProfile={"enableAzureRBAC": True},
               agentPoolProfiles=[{"name": "system", "enableEncryptionAtHost": True}])
    ns = res("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "azureml"}})
    admin = _role("admin", aks.id, dg.AKS_RBAC_CLUSTER_ADMIN, "deployer", "ServicePrincipal")
    assert run_rules(graph(aks, ns, admin), ["AMLD-010"]) == []
    assert [f.rule_id for f in run_rules(graph(aks, ns), ["AMLD-010", "AMLD-011"])] == ["AMLD-010", "AMLD-011"]
    # nothing runs the Kubernetes provider: no data-plane role needed
    assert run_rules(graph(aks), ["AMLD-010"]) == []
    # no pool with host encryption: nothing to prove
    plain = _aks(agentPoolProfiles=[{"name": "system", "enableEncryptionAtHost": False}])
    assert run_rules(graph(plain), ["AMLD-011"]) == []


def test_amld_011_a_tag_or_a_declared_registration_is_no_proof_of_the_feature():
    """What once passed the rule proves nothing about the subscription: the stack's marker tag is the
    stack's word, and a declared SubscriptionFeatureRegistration does not register anything in time
    (AMLD-201 says so). The finding says what proof is: Azure's answer, through the preflight."""
    pools = [{"name": "system", "enableEncryptionAtHost": True}]
    tagged = _aks(tags={dg.ENCRYPTION_AT_HOST_TAG: "registered"}, agentPoolProfiles=pools)
    feature = res(dg.FEATURE_REGISTRATION, "feature", {"providerNamespace": "Microsoft.Compute",
                                                       "featureName": "EncryptionAtHost"})
    (f,) = run_rules(graph(tagged, feature), ["AMLD-011"])
    assert "no proof" in f.message and "preflight --stack" in f.message and "--check" in f.message
    assert "properties.state" in f.message and "policy exception for AMLD-011" in f.message
    assert [x.rule_id for x in run_rules(graph(tagged, feature), ["AMLD-201"])] == ["AMLD-201"]
    # a separate node pool with host encryption counts the same
    separate = res(dg.AGENT_POOL, "pool", {"resourceName": "aks1", "agentPoolName": "gpu",
                                           "enableEncryptionAtHost": True})
    assert [x.resource for x in run_rules(graph(_aks(), separate), ["AMLD-011"])] == ["aks"]


def _k8s_attach(aks, **inputs):
    return res(dg.COMPUTE, "attach", {"workspaceName": "mlw", "computeName": "k8s", **inputs,
                                       "properties": {"computeType": "Kubernetes", "resourceId": aks.id}})


def test_amld_004_005_cover_kubernetes_computes():
    st = res(ST_TYPE, "st", {"accountName": "st1", "allowSharedKeyAccess": False})
    reg = res(dg.REGISTRY, "reg", {"registryName": "cr1", "adminUserEnabled": False})
    aks = _aks()
    attach = _k8s_attach(aks, identity={"type": "SystemAssigned"})
    found = {f.rule_id for f in run_rules(graph(st, reg, aks, attach), ["AMLD-004", "AMLD-005"])}
    assert found == {"AMLD-004", "AMLD-005"}
    blob = _role("blob", st.id, dg.STORAGE_BLOB_DATA_CONTRIBUTOR, "p", "ServicePrincipal", source=attach)
    pull = _role("pull", reg.id, dg.ACR_PULL, "p", "ServicePrincipal", source=attach)
    assert run_rules(graph(st, reg, aks, attach, blob, pull), ["AMLD-004", "AMLD-005"]) == []


def test_amld_009_the_cluster_vnet_reaches_every_private_dependency():
    st = res(ST_TYPE, "st", {"accountName": "st1", "publicNetworkAccess": "Disabled"})
    ws = _workspace(storageAccount=st.id, managedNetwork={"isolationMode": "AllowOnlyApprovedOutbound"})
    pe_ws = _pe("pe-ws", ws, "amlworkspace")
    aks = _aks(agentPoolProfiles=[{"name": "system", "vnetSubnetID": f"{VNET}/subnets/aks"}])
    attach = _k8s_attach(aks)
    # the storage is private; its endpoints are only in the managed network (not declared): the nodes miss them
    findings = run_rules(graph(st, ws, pe_ws, aks, attach), ["AMLD-009"])
    assert {f.message.split("'")[1] for f in findings} == {"blob", "file"}
    assert all("managed network does not carry Kubernetes computes" in f.message for f in findings)
    both = [_pe("pe-blob", st, "blob"), _pe("pe-file", st, "file")]
    assert run_rules(graph(st, ws, pe_ws, *both, aks, attach), ["AMLD-009"]) == []


def test_amld_010_the_deployer_must_resolve_a_private_api_server():
    zone_id = f"{RG_ID}/providers/Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
    ns = res("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "endpoints"}})
    system = _aks(aadProfile={"enableAzureRBAC": True},
                  apiServerAccessProfile={"enablePrivateCluster": True, "privateDNSZone": "system"})
    admin = _role("ns-admin", f"{system.id}/namespaces/endpoints", dg.AKS_RBAC_ADMIN, "deployer", "ServicePrincipal")
    (f,) = run_rules(graph(system, ns, admin), ["AMLD-010"])
    assert "cannot resolve it" in f.message
    own = _aks(aadProfile={"enableAzureRBAC": True},
               apiServerAccessProfile={"enablePrivateCluster": True, "privateDNSZone": zone_id})
    zone = res(dg.PRIVATE_ZONE, "zone", {"privateZoneName": "privatelink.westeurope.azmk8s.io"})
    link = res(dg.VNET_LINK, "link", {"privateZoneName": "privatelink.westeurope.azmk8s.io",
                                       "virtualNetworkLinkName": "l", "virtualNetwork": {"id": VNET}})
    assert run_rules(graph(own, ns, admin, zone, link), ["AMLD-010"]) == []
    (f,) = run_rules(graph(own, ns, admin, zone), ["AMLD-010"])
    assert "linked to no virtual network" in f.message


def test_amld_030_attached_clusters_keep_local_accounts():
    aks = _aks(disableLocalAccounts=True)
    assert [f.rule_id for f in run_rules(graph(aks, _k8s_attach(aks)), ["AMLD-030"])] == ["AMLD-030"]
    assert run_rules(graph(aks), ["AMLD-030"]) == []  # not an Azure ML compute
    assert run_rules(graph(_aks(disableLocalAccounts=False), _k8s_attach(aks)), ["AMLD-030"]) == []


def test_amld_031_own_api_zone_needs_the_identity_and_its_role_first():
    zone_id = f"{RG_ID}/providers/Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
    uai = res(dg.IDENTITY, "uai", {"resourceName": "id-aks"})
    profile = {"enablePrivateCluster": True, "privateDNSZone": zone_id}
    system = _aks(apiServerAccessProfile=profile, identity={"type": "SystemAssigned"})
    assert "no user-assigned identity" in run_rules(graph(system), ["AMLD-031"])[0].message
    role = _role("zone-role", zone_id, dg.PRIVATE_DNS_ZONE_CONTRIBUTOR, "uai", "ServicePrincipal", source=uai)
    identity = {"type": "UserAssigned", "userAssignedIdentities": [uai.id]}
    late = _aks(apiServerAccessProfile=profile, identity=identity)
    assert "does not wait" in run_rules(graph(uai, role, late), ["AMLD-031"])[0].message
    assert "no Private DNS Zone Contributor" in run_rules(graph(uai, late), ["AMLD-031"])[0].message
    first = res(dg.AKS, "aks", {"resourceName": "aks1", "apiServerAccessProfile": profile, "identity": identity},
                deps=[role])
    assert run_rules(graph(uai, role, first), ["AMLD-031"]) == []


def test_amld_032_hbi_kubernetes_compute_needs_storage_account_contributor():
    st = res(ST_TYPE, "st", {"accountName": "st1"})
    ws = _workspace(storageAccount=st.id, hbiWorkspace=True)
    aks = _aks()
    attach = _k8s_attach(aks, identity={"type": "SystemAssigned"})
    assert [f.rule_id for f in run_rules(graph(st, ws, aks, attach), ["AMLD-032"])] == ["AMLD-032"]
    role = _role("sac", st.id, dg.STORAGE_ACCOUNT_CONTRIBUTOR, "p", "ServicePrincipal", source=attach)
    assert run_rules(graph(st, ws, aks, attach, role), ["AMLD-032"]) == []
    assert run_rules(graph(st, _workspace(storageAccount=st.id), aks, attach), ["AMLD-032"]) == []


def test_amld_033_034_egress_through_a_route_table_declared_first():
    ws = _workspace(managedNetwork={"isolationMode": "AllowOnlyApprovedOutbound"})
    lb = _aks(networkProfile={"outboundType": "loadBalancer"})
    assert [f.rule_id for f in run_rules(graph(ws, lb, _k8s_attach(lb)), ["AMLD-033"])] == ["AMLD-033"]
    open_ws = _workspace(managedNetwork={"isolationMode": "AllowInternetOutbound"})
    assert run_rules(graph(open_ws, lb, _k8s_attach(lb)), ["AMLD-033"]) == []
    bare = res(dg.SUBNET, "subnet", {"virtualNetworkName": "vnet", "subnetName": "aks"})
    routed = res(dg.SUBNET, "subnet", {"virtualNetworkName": "vnet", "subnetName": "aks",
                                        "routeTable": {"id": f"{RG_ID}/providers/Microsoft.Network/routeTables/rt"}})

    def udr(subnet, deps=()):
        return res(dg.AKS, "aks", {"resourceName": "aks1", "networkProfile": {"outboundType": "userDefinedRouting"},
                                   "agentPoolProfiles": [{"name": "system", "vnetSubnetID": subnet.id}]}, deps=deps)
    assert run_rules(graph(ws, udr(routed, [routed]), _k8s_attach(udr(routed))), ["AMLD-033", "AMLD-034"]) == []
    assert "has no route table" in run_rules(graph(bare, udr(bare, [bare])), ["AMLD-034"])[0].message
    assert "does not wait" in run_rules(graph(routed, udr(routed)), ["AMLD-034"])[0].message


def test_amld_035_no_service_principal_is_cluster_admin():
    aks = _aks()
    admin = _role("admin", aks.id, dg.AKS_RBAC_CLUSTER_ADMIN, "pipeline", "ServicePrincipal")
    assert [f.resource for f in run_rules(graph(aks, admin), ["AMLD-035"])] == ["admin"]
    people = _role("admin", aks.id, dg.AKS_RBAC_CLUSTER_ADMIN, "oncall", "Group")
    assert run_rules(graph(aks, people), ["AMLD-035"]) == []  # people who administer the cluster


def test_amld_036_container_insights_with_managed_identity_has_a_dcr():
    aks = _aks(addonProfiles={"omsagent": {"enabled": True, "config": {"useAADAuth": "true"}}})
    assert [f.rule_id for f in run_rules(graph(aks), ["AMLD-036"])] == ["AMLD-036"]
    dcra = res(dg.DCR_ASSOCIATION, "dcra", {"resourceUri": aks.id, "associationName": "ContainerInsightsExtension"})
    assert run_rules(graph(aks, dcra), ["AMLD-036"]) == []


def _extension(**settings):
    return res(dg.EXTENSION, "ext", {"clusterRp": "Microsoft.ContainerService", "clusterResourceName": "managedClusters",
                                      "clusterName": "aks1", "extensionName": "azureml",
                                      "configurationSettings": settings})


def test_amld_037_038_scoring_name_and_certificate():
    ext = _extension(sslCname="scoring.fraud.internal", allowInsecureConnections="False",
                     **{"scoringFe.serviceType.internalLoadBalancer": "true", "scoringFe.sslSecret": "tls"})
    assert {f.rule_id for f in run_rules(graph(ext), ["AMLD-037", "AMLD-038"])} == {"AMLD-037", "AMLD-038"}
    record = res(dg.RECORD_SET, "rec", {"privateZoneName": "fraud.internal", "recordType": "A",
                                        "relativeRecordSetName": "scoring"})
    secret = res("kubernetes:core/v1:Secret", "tls", {"metadata": {"name": "tls", "namespace": "azureml"}})
    assert run_rules(graph(ext, record, secret), ["AMLD-037", "AMLD-038"]) == []


def test_amld_039_kubernetes_objects_wait_for_the_extension_after_the_roles():
    aks = _aks(aadProfile={"enableAzureRBAC": True})
    role = _role("ns-admin", f"{aks.id}/namespaces/endpoints", dg.AKS_RBAC_ADMIN, "deployer", "ServicePrincipal")
    provider = res("pulumi:providers:kubernetes", "k8s", {}, deps=[aks])
    ext = res(dg.EXTENSION, "ext", {"clusterName": "aks1", "extensionName": "azureml"}, deps=[role])

    def namespace(*deps):
        ns = res("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "endpoints"}}, deps=deps)
        ns.provider = f"{provider.urn}::id"
        return ns
    (f,) = run_rules(graph(aks, role, provider, ext, namespace(role)), ["AMLD-039"])
    assert f.resource == "ns" and "five minutes" in f.message
    assert run_rules(graph(aks, role, provider, ext, namespace(role, ext)), ["AMLD-039"]) == []


def test_prod_kubernetes_rules_pass_on_what_the_target_declares(stack_graph):
    assert run_rules(stack_graph("prod"), sorted(KUBERNETES_RULES)) == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_stack_with_host_encryption_records_the_check_as_its_exception(stack_graph, project_root, stack):
    """kubernetes[].encryption_at_host_registered turns host encryption on (and still tags the cluster,
    informational); AMLD-011 fires on the plan whatever the tag says, and the shipped stack records the
    preflight check as its reasoned exception: EXCEPTED in the scan, never PASSED."""
    from amlplatform.iac.kubernetes import aks as aks_module
    from amlplatform.offline.engine import stack_policy_exceptions
    from amlplatform.review.deployability import evaluate

    assert aks_module.ENCRYPTION_AT_HOST_TAG == dg.ENCRYPTION_AT_HOST_TAG
    [cluster] = stack_graph(stack).of_type(dg.AKS)
    assert all(p["enableEncryptionAtHost"] is True for p in cluster.inputs["agentPoolProfiles"])
    assert [f.resource for f in run_rules(stack_graph(stack), ["AMLD-011"])] == [cluster.name]
    [result] = evaluate(stack_graph(stack), stack_policy_exceptions(stack, project_root), ["AMLD-011"])
    assert result.excepted and f"amlplatform preflight --stack {stack} --check" in result.excepted


def test_amld_201_a_feature_registration_is_not_a_stack_resource():
    from amlplatform.offline.engine import evaluate

    spec = importlib.util.spec_from_file_location(
        "deployability_programs", Path(__file__).resolve().parents[1] / "fixtures" / "deployability" / "programs.py")
    programs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(programs)
    bad = evaluate(programs.fires_amld_201, project="amlplatform", stack="fixture")
    (f,) = run_rules(bad, ["AMLD-201"])
    assert f.resource == "depl-host-encryption-feature"
    assert "az feature register --namespace Microsoft.Compute --name EncryptionAtHost" in f.message
    assert "preflight --stack fixture --check" in f.message
    good = evaluate(programs.passes_amld_201, project="amlplatform", stack="fixture")
    assert run_rules(good, ["AMLD-201"]) == []


# ------------------------------------------------------------------ the API other modules use

def test_rule_ids_and_reasons_are_checked():
    with pytest.raises(ValueError, match="AMLD-001"):
        rule("X-1", reason="why", doc="https://learn.microsoft.com/x")
    with pytest.raises(ValueError, match="one line"):
        rule("AMLD-098", reason="two\nlines", doc="https://learn.microsoft.com/x")
    with pytest.raises(ValueError, match="https"):
        rule("AMLD-098", reason="why", doc="learn.microsoft.com/x")


def test_a_second_rule_under_a_taken_id_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        @rule("AMLD-001", reason="another rule", doc="https://learn.microsoft.com/x")
        def other(graph):  # pragma: no cover - never registered
            return []


def test_a_rule_returning_another_id_is_an_error(monkeypatch):
    spec = deployability.Rule("AMLD-099", "why", "https://learn.microsoft.com/x",
                              lambda g: [Finding("AMLD-001", "x", "y")])
    monkeypatch.setitem(deployability.RULES, "AMLD-099", spec)
    with pytest.raises(ValueError, match="AMLD-099"):
        run_rules(graph(), ["AMLD-099"])


def test_a_finding_about_a_urn_is_excepted_by_its_logical_name():
    f = Finding("AMLD-001", "urn:pulumi:prod::amlplatform::a$b::ml-workspace-workspace", "m")
    assert f.logical_name == "ml-workspace-workspace"


# ------------------------------------------------------------------ in the scan

def test_scan_reports_deployability_as_a_third_family(unusable_graph):
    report = scan.scan_graph(unusable_graph, checkov=None)
    failed = report.ids("deployability", "FAILED")
    assert set(deployability.RULES) <= failed
    assert not report.ok
    text = report.render()
    assert f"deployability: {len(deployability.RULES)} rules" in text
    assert "FAILED    deployability AMLD-001" in text
    data = report.to_dict()
    assert data["deployability"]["rules"] == len(deployability.RULES)
    assert data["deployability"]["failed"] == len(run_rules(unusable_graph))
    assert any(f["scanner"] == "deployability" and f["rule"] == "AMLD-006" for f in data["findings"])


def test_a_rule_that_finds_nothing_is_one_passed_line(stack_graph):
    report = scan.scan_graph(stack_graph("dev"), checkov=None)
    passed = [f for f in report.findings if f.scanner == "deployability" and f.result == "PASSED"]
    assert {f.rule for f in passed} == set(deployability.RULES)
    assert all(f.resource == "(stack)" for f in passed)


def test_stack_exceptions_apply_to_deployability_ids(unusable_graph):
    exceptions = [
        {"rule": "AMLD-007", "resource": "ml-workspace-workspace",
         "reason": "images carry every package: no internet packages on purpose"},
        {"rule": "AMLD-011", "resource": "*", "reason": "EncryptionAtHost registered on the subscription by the platform team"},
        {"rule": "AMLD-050", "resource": "*", "reason": "an exception nothing needs at all"},
        {"rule": "AMLD-101", "resource": "online-unusable-public-endpoint",
         "reason": "partner scoring from their own network until the VPN is live"},
    ]
    report = scan.scan_graph(unusable_graph, checkov=None, exceptions=exceptions)
    excepted = {(f.rule, f.resource, f.reason) for f in report.findings if f.result == "EXCEPTED"}
    assert ("AMLD-007", "ml-workspace-workspace",
            "images carry every package: no internet packages on purpose") in excepted
    assert "AMLD-007" not in report.ids("deployability", "FAILED")
    assert "AMLD-011" not in report.ids("deployability", "FAILED")
    # endpoint rules are excepted by the same family (not reported as unused)
    assert "AMLD-101" not in report.ids("deployability", "FAILED")
    assert ("AMLD-101", "online-unusable-public-endpoint",
            "partner scoring from their own network until the VPN is live") in excepted
    unused = [f.rule for f in report.findings if f.scanner == "scan"]
    assert unused == ["AMLD-050"]


def test_cli_scan_json_has_the_deployability_section_and_fails(unusable_project, capsys):
    from amlplatform.cli import main
    from amlplatform.errors import UserError

    try:
        checkov = scan.find_checkov(None, ROOT)
    except UserError:
        pytest.skip("checkov is not installed")
    code = main(["scan", "--stack", "unusable", "--project-dir", str(unusable_project), "--format", "json",
                 "--checkov", checkov])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["deployability"]["failed"] == len(run_rules_of(unusable_project))
    assert out["ok"] is False


def run_rules_of(project):
    from amlplatform.offline.engine import evaluate_stack

    return run_rules(evaluate_stack("unusable", project_dir=project))


# ------------------------------------------------------------------ pure helpers (properties)

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
arm_ids = st.lists(segment, min_size=2, max_size=8).map(lambda parts: "/subscriptions/" + "/".join(parts))


@given(arm_ids, st.lists(segment, max_size=4))
def test_a_scope_covers_itself_and_what_is_below_it_in_any_casing(scope, below):
    target = "/".join([scope] + below)
    assert dg.covers(scope, target)
    assert dg.covers(scope.upper(), target.lower() + "/")
    assert dg.same_id(target, target.upper())


@given(arm_ids, segment)
def test_a_scope_does_not_cover_a_sibling_with_a_longer_name(scope, extra):
    assert not dg.covers(scope, scope + extra)
    assert not dg.covers(scope + "/" + extra, scope)


@given(segment, segment, segment)
def test_vnet_of_a_subnet_id(rg, vnet, subnet):
    vnet_id = f"/subscriptions/s/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{vnet}"
    assert dg.vnet_of(f"{vnet_id}/subnets/{subnet}") == vnet_id.lower()
    assert dg.vnet_of(vnet_id) is None and dg.vnet_of(None) is None


@given(st.uuids().map(str))
def test_role_guid_is_the_last_segment_lower_case(guid):
    assert dg.role_guid(f"/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/{guid.upper()}") == guid


@given(segment, st.lists(segment, max_size=3))
def test_logical_name_of_a_urn_or_a_name(name, types):
    urn = "urn:pulumi:s::p::" + "$".join(types or ["t"]) + "::" + name
    assert Finding("AMLD-001", urn, "m").logical_name == name
    assert Finding("AMLD-001", name, "m").logical_name == name


def test_the_rules_see_how_the_network_is_declared_in_prod(stack_graph):
    """Prod is clean because the rules read what the network, workspace and Kubernetes components
    declare (private endpoints with zone groups, outbound rules, provisionNetworkNow, the nodes'
    subnet, the deployer's role): take each away and its rule fires."""
    import copy

    g = copy.deepcopy(stack_graph("prod"))  # the session graph is shared
    # only what no plan can prove fires (a reasoned exception of the stack: see above)
    assert {f.rule_id for f in run_rules(g)} == {"AMLD-011", "AMLD-301"}
    ws = g.one(dg.WORKSPACE)
    [aks] = g.of_type(dg.AKS)
    # the deployer's data-plane roles: AKS RBAC Admin on the namespace, the custom instance-type role
    admins = {ra.urn for ra in g.of_type(dg.ROLE_ASSIGNMENT) if ra.name.startswith("k8s-inference-deployer-")}
    assert admins and g.of_type(dg.DNS_ZONE_GROUP)
    g.resources = [r for r in g.resources if r.type != dg.DNS_ZONE_GROUP and r.urn not in admins]
    ws.inputs["managedNetwork"].pop("outboundRules")
    ws.inputs.pop("provisionNetworkNow")
    ws.inputs.pop("imageBuildCompute")
    for pool in aks.inputs["agentPoolProfiles"]:
        pool.pop("vnetSubnetID")
    # the API server's name back in AKS's own zone (only the cluster's VNet resolves it), egress to the
    # internet, the Container insights rule and the scoring record gone
    aks.inputs["apiServerAccessProfile"]["privateDNSZone"] = "system"
    aks.inputs["networkProfile"]["outboundType"] = "loadBalancer"
    g.resources = [r for r in g.resources if r.type not in (dg.DCR_ASSOCIATION, dg.RECORD_SET)]
    fired = {f.rule_id for f in run_rules(g)}
    assert {"AMLD-001", "AMLD-006", "AMLD-007", "AMLD-008", "AMLD-009", "AMLD-010", "AMLD-011",
            "AMLD-033", "AMLD-036", "AMLD-037"} <= fired
    assert any("AKS's own zone" in f.message for f in run_rules(g, ["AMLD-010"]))
