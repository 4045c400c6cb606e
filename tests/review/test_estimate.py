"""Deploy-time estimate: longest path over the recorded dependency graph."""

from amlplatform.review import estimate as est
from tests.review import graphs as g


def _aks_chain(managed="AllowOnlyApprovedOutbound"):
    rg = g.resource_group()
    st = g.res(g.storage().type, "st", g.storage().inputs, [rg])
    ws = g.res(g.workspace().type, "ws", g.workspace(managedNetwork={"isolationMode": managed}).inputs, [rg, st])
    aks = g.res(g.aks().type, "aks", g.aks().inputs, [rg])
    ext = g.res("azure-native:kubernetesconfiguration:Extension", "ext",
                {"clusterRp": "Microsoft.ContainerService", "clusterResourceName": "managedClusters",
                 "clusterName": "aks-t", "extensionName": "azureml"}, [aks])
    attach = g.compute("k8s", "Kubernetes", {"namespace": "azureml"}, deps=[ws, ext])
    return rg, st, ws, aks, ext, attach


def test_critical_path_is_the_longest_chain_not_the_sum():
    rg, st, ws, aks, ext, attach = _aks_chain()
    e = est.estimate(g.graph(rg, st, ws, aks, ext, attach))
    # rg 5 + AKS 360 + extension 300 + attach 60 = 725 > rg 5 + storage 23 + workspace 330 + attach 60
    assert e.total_seconds == 5 + 360 + 300 + 60
    assert e.critical_path == ["resource group", "AKS", "extension", "attach"]
    assert e.summary() == "first deploy ≈ 12 min, critical path: resource group → AKS → extension → attach"


def test_aks_waiting_for_the_workspace_would_lengthen_the_path():
    rg, st, ws, aks, ext, attach = _aks_chain()
    serial_aks = g.res(aks.type, "aks", aks.inputs, [rg, ws])  # the quickstart's extra depends_on
    ext2 = g.res(ext.type, "ext", ext.inputs, [serial_aks])
    attach2 = g.compute("k8s", "Kubernetes", {"namespace": "azureml"}, deps=[ws, ext2])
    e = est.estimate(g.graph(rg, st, ws, serial_aks, ext2, attach2))
    assert e.total_seconds == 5 + 23 + 330 + 360 + 300 + 60
    assert e.critical_path[:3] == ["resource group", "storage", "workspace"]


def test_first_compute_in_a_managed_network_waits_for_the_network():
    rg = g.resource_group()
    ws = g.res(g.workspace().type, "ws", g.workspace().inputs, [rg])
    cpu = g.compute("cpu", "AmlCompute", {"vmSize": "x"}, deps=[ws])
    e = est.estimate(g.graph(rg, ws, cpu))
    assert e.total_seconds == 5 + 330 + 1800
    assert e.critical_path == ["resource group", "workspace", "cluster cpu"]
    ws_open = g.res(ws.type, "ws", g.workspace(managedNetwork={"isolationMode": "Disabled"}).inputs, [rg])
    assert est.estimate(g.graph(rg, ws_open, g.compute("cpu", "AmlCompute", {}, deps=[ws_open]))).total_seconds == 395


def test_component_dependencies_expand_to_their_children():
    rg = g.resource_group()
    comp = g.res("amlplatform:index:WorkspaceStorage", "storage", {}, custom=False)
    st = g.res(g.storage().type, "st", g.storage().inputs, [rg], parent=comp)
    ws = g.res(g.workspace().type, "ws", g.workspace().inputs, [comp])
    e = est.estimate(g.graph(rg, comp, st, ws))
    assert e.critical_path == ["resource group", "storage", "workspace"]


def test_empty_graph_and_table():
    assert est.estimate(g.graph()).total_seconds == 0
    e = est.estimate(g.graph(g.resource_group()))
    assert "resource group" in e.table() and e.total_seconds == 5


def test_every_time_has_a_source():
    for token, (seconds, source) in est.PROVISIONING_SECONDS.items():
        assert seconds > 0 and source, token


def test_prod_estimate(stack_graph):
    e = est.estimate(stack_graph("prod"))
    assert e.critical_path[0] == "resource group"
    assert "workspace" in e.critical_path or "AKS" in e.critical_path
    assert e.total_seconds >= 330
    assert e.summary().startswith("first deploy ≈ ")
    finish = {s.urn: s.finish for s in e.steps}
    assert max(finish.values()) == e.total_seconds
