"""Architecture picture: SVG parses and names every resource; mermaid needs no Graphviz."""

import shutil
import xml.etree.ElementTree as ET

import pytest

from amlplatform.errors import UserError
from amlplatform.review import diagram
from tests.review import graphs as g

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz (dot) is not installed: apt-get install graphviz (./dev setup does)")


def _small():
    rg = g.resource_group()
    st = g.res(g.storage().type, "st", g.storage().inputs, [rg])
    ws = g.res(g.workspace().type, "ws", g.workspace().inputs, [rg, st])
    cpu = g.compute("cpu", "AmlCompute", {"vmSize": "Standard_DS3_v2", "scaleSettings": {"maxNodeCount": 4}}, deps=[ws])
    aks = g.res(g.aks().type, "aks", g.aks().inputs, [rg])
    ext = g.res("azure-native:kubernetesconfiguration:Extension", "ext",
                {"clusterRp": "Microsoft.ContainerService", "clusterResourceName": "managedClusters",
                 "clusterName": "aks-t", "extensionName": "azureml"}, [aks])
    attach = g.compute("k8s", "Kubernetes", {"namespace": "azureml"}, deps=[ws, ext])
    it = g.res("kubernetes:amlarc.azureml.com/v1alpha1:InstanceType", "it-small",
               {"metadata": {"name": "cpu-small"}}, [attach])
    return g.graph(rg, st, ws, cpu, aks, ext, attach, it, g.diag(ws))


def test_model_puts_dependencies_above_and_computes_below_the_workspace():
    m = diagram.build_model(_small())
    ws = next(n for n in m.nodes.values() if n.caption == "ML workspace")
    edges = set(m.edges)
    st = next(n for n in m.nodes.values() if n.caption == "Storage account")
    cpu = next(n for n in m.nodes.values() if n.caption == "Compute cluster")
    assert (st.id, ws.id, "dep") in edges and (ws.id, cpu.id, "dep") in edges
    attach = next(n for n in m.nodes.values() if n.caption.startswith("Kubernetes compute"))
    assert "it-small" in attach.members and "instance type cpu-small" in attach.extra
    assert any(style == "logs" for _, _, style in m.edges) is False  # no Log Analytics node in this graph


def test_mermaid_needs_no_graphviz(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    text = diagram.render(_small(), "mermaid").decode("utf-8")
    assert text.splitlines()[3] == "flowchart TB"
    assert "mlw-t" in text and "aks-t" in text and "-->" in text
    assert "subgraph kubernetes" in text


def test_svg_without_graphviz_is_a_clear_user_error(monkeypatch):
    monkeypatch.setattr(diagram.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="graphviz"):
        diagram.render(_small(), "svg")


def test_unknown_format():
    with pytest.raises(UserError, match="mermaid"):
        diagram.render(_small(), "gif")


@needs_dot
def test_prod_svg_parses_and_names_every_resource(stack_graph):
    graph = stack_graph("prod")
    svg = diagram.render(graph, "svg")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    # what a reader sees (text) and hovers (tooltips), entities decoded ("-" is written &#45;)
    text = "\n".join(list(root.itertext()) + [v for el in root.iter() for v in el.attrib.values()])
    ws = graph.one("azure-native:machinelearningservices:Workspace")
    assert ws.physical_name in text
    for res in graph.custom_resources():
        if res.type.startswith("pulumi:providers:") or res.type == "azure-native:resources:ResourceGroup":
            continue
        if res.type == "kubernetes:core/v1:Namespace":
            continue
        assert res.name in text or (res.physical_name and res.physical_name in text), res.name
    assert b'.png"' not in svg and b"data:image/png;base64," in svg  # icons are embedded


@needs_dot
def test_png(stack_graph):
    data = diagram.render(stack_graph("prod"), "png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
