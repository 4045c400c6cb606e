"""Plan, scan, draw and diff any Pulumi Python program offline (issue 13, item 4)."""

import json
import shutil

import pytest

from amlplatform.cli import main
from amlplatform.offline.engine import evaluate_stack
from amlplatform.review.diagram import build_model, render
from amlplatform.review.scan import scan_stack
from conftest import ROOT

EXAMPLE = ROOT / "examples" / "shared-registry"
WS = "azure-native:machinelearningservices:Workspace"
ACR = "azure-native:containerregistry:Registry"
LOGS = "azure-native:operationalinsights:Workspace"
INSIGHTS = "azure-native:applicationinsights:Component"


@pytest.fixture(scope="module")
def example_graph():
    return evaluate_stack("dev", project_dir=EXAMPLE)


def test_two_workspaces_share_one_registry_and_one_log_analytics(example_graph):
    g = example_graph
    workspaces, (registry,), (logs,) = g.of_type(WS), g.of_type(ACR), g.of_type(LOGS)
    assert sorted(w.inputs["workspaceName"] for w in workspaces) == ["mlw-speech-dev", "mlw-vision-dev"]
    assert all(w.inputs["containerRegistry"] == registry.id for w in workspaces)
    # one Application Insights per team (plus the shared one), all storing into the one Log Analytics
    insights = g.of_type(INSIGHTS)
    assert len(insights) == 3 and all(i.inputs["workspaceResourceId"] == logs.id for i in insights)
    assert logs.inputs["retentionInDays"] == 60  # from the program's own config (sharedml:retention_days)
    # each team keeps its own storage and key vault
    assert len(g.of_type("azure-native:storage:StorageAccount")) == 2
    assert len(g.of_type("azure-native:keyvault:Vault")) == 2


def test_the_example_scans_clean(example_graph):
    report = scan_stack("dev", project_dir=EXAMPLE)
    assert report.ok, report.render()
    assert report.stale_exceptions() == 0
    assert any(f.result == "EXCEPTED" and f.rule == "CKV_AZURE_166" for f in report.findings)


def test_the_example_is_drawn(example_graph):
    model = build_model(example_graph)
    by_name = {n.name: n.id for n in model.nodes.values()}
    registry = next(i for name, i in by_name.items() if name.startswith("crshareddev"))
    for ws in ("mlw-vision-dev", "mlw-speech-dev"):
        assert (registry, by_name[ws], "dep") in model.edges  # one registry, drawn into both
    text = render(example_graph, "mermaid")
    text = text.decode() if isinstance(text, bytes) else text
    assert "mlw-vision-dev" in text and "mlw-speech-dev" in text and "crshareddev" in text


def test_plan_scan_diff_through_the_cli(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert main(["plan", "-s", "dev", "--project-dir", str(EXAMPLE), "--format", "json", "-o", str(out)]) == 0
    assert main(["plan", "-s", "dev", "--project-dir", str(EXAMPLE), "--diff", str(out)]) == 0
    assert main(["plan", "-s", "dev", "--project-dir", str(EXAMPLE), "--format", "svg", "-o", str(tmp_path / "a.svg")]) == 0
    assert (tmp_path / "a.svg").read_bytes().lstrip().startswith(b"<")
    assert json.loads(out.read_text())["project"] == "sharedml"


def own_project(tmp_path, program: str, stack: str) -> "Path":  # noqa: F821
    folder = tmp_path / "own"
    folder.mkdir()
    (folder / "Pulumi.yaml").write_text("name: own\nruntime: python\n")
    (folder / "__main__.py").write_text(program)
    (folder / "Pulumi.dev.yaml").write_text(stack)
    return folder


def test_a_program_without_amlplatform_at_all(tmp_path, capsys):
    folder = own_project(tmp_path, "import pulumi\nfrom pulumi_azure_native import resources\n"
                         "c = pulumi.Config()\n"
                         "resources.ResourceGroup('rg', resource_group_name=c.require('rg'), location='westeurope')\n"
                         "pulumi.export('n', c.get_int('n'))\n",
                         "config:\n  rg: rg-own\n  n: 3\n")
    g = evaluate_stack("dev", project_dir=folder)
    assert g.one("azure-native:resources:ResourceGroup").inputs["resourceGroupName"] == "rg-own"
    assert g.outputs["n"] == 3  # un-namespaced keys are the project's own (own:rg, own:n)


def test_a_program_of_its_own_with_a_misspelt_amlplatform_namespace(tmp_path, capsys):
    folder = own_project(tmp_path, "import pulumi\n", "config:\n  amlplatfrom:policy_exceptions: []\n")
    assert main(["plan", "-s", "dev", "--project-dir", str(folder)]) == 2
    assert "amlplatfrom" in capsys.readouterr().err


def test_a_component_typo_in_a_program_of_its_own_is_an_error_not_a_traceback(tmp_path, capsys):
    folder = own_project(tmp_path, "from amlplatform import ContainerRegistry\n"
                         "ContainerRegistry('r', {'resource_group_name': 'rg', 'location': 'westeurope',\n"
                         "                        'registry_name': 'crx12345', 'skuu': 'Basic'})\n",
                         "config: {}\n")
    assert main(["plan", "-s", "dev", "--project-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "args.skuu: is not an argument of ContainerRegistryArgs (did you mean 'sku'?)" in err
    assert "Traceback" not in err


def test_a_failing_program_is_named_with_its_line(tmp_path, capsys):
    folder = own_project(tmp_path, "d = {}\nd['k']\n", "config: {}\n")
    assert main(["plan", "-s", "dev", "--project-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "__main__.py:2: KeyError" in err and "Traceback" not in err
