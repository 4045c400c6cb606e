"""The "use the components in your own program" example (docs/components.md), evaluated as a real program and
scanned: what a reader copies must be usable (no deployability finding) and pass checkov."""

from pathlib import Path

import pytest

from amlplatform.errors import UserError
from amlplatform.offline.engine import UNKNOWN, evaluate_stack
from amlplatform.review import scan

CONSUMER = Path(__file__).resolve().parents[2] / "examples" / "consumer"
STORAGE = "azure-native:storage:StorageAccount"


def _checkov():
    try:
        return scan.find_checkov(None, CONSUMER.parents[1])
    except UserError:
        return None


CHECKOV = _checkov()
needs_checkov = pytest.mark.skipif(
    CHECKOV is None, reason="checkov is not installed (./dev setup installs it into .venv-scan; CI does)")


@pytest.fixture(scope="module")
def graph():
    return evaluate_stack("dev", project_dir=CONSUMER)


@pytest.fixture(scope="module")
def report():
    return scan.scan_stack("dev", project_dir=CONSUMER, checkov=CHECKOV, require_checkov=CHECKOV is not None)


def test_consumer_example_declares_a_full_platform(graph):
    types = [r.type for r in graph.resources]
    assert types.count(STORAGE) == 2
    assert "azure-native:containerregistry:Registry" in types
    assert graph.one("amlplatform:index:MLWorkspace").urn.endswith("::vision")
    ws = graph.one("azure-native:machinelearningservices:Workspace")
    assert ws.inputs["managedNetwork"]["isolationMode"] == "AllowOnlyApprovedOutbound"
    assert ws.inputs["containerRegistry"] == graph.one("azure-native:containerregistry:Registry").id
    assert graph.outputs["registry"] == UNKNOWN  # the login server is Azure's answer: known after deploy
    raw = graph.named("raw-data-account")
    assert raw.inputs["allowSharedKeyAccess"] is False and raw.inputs["minimumTlsVersion"] == "TLS1_2"


def test_consumer_example_reads_its_own_settings(graph):
    """location and the scientists' group come from Pulumi.dev.yaml (vision-platform: keys)."""
    assert graph.named("resource-group").inputs["location"] == "northeurope"
    scientists = "5b3c0a1e-7d2f-4e8a-9c61-2f4d8e9a0b13"
    grants = [r for r in graph.of_type("azure-native:authorization:RoleAssignment")
              if r.inputs.get("principalId") == scientists]
    accounts = {r.id for r in graph.of_type(STORAGE)}
    assert accounts <= {g.inputs["scope"] for g in grants}  # the data roles on both accounts


def test_consumer_example_is_private(graph):
    assert all(r.inputs["publicNetworkAccess"] == "Disabled" for r in graph.of_type(STORAGE))
    assert graph.one("azure-native:machinelearningservices:Workspace").inputs["publicNetworkAccess"] == "Disabled"
    assert graph.one("azure-native:keyvault:Vault").inputs["properties"]["publicNetworkAccess"] == "Disabled"
    assert graph.one("azure-native:containerregistry:Registry").inputs["publicNetworkAccess"] == "Disabled"
    assert graph.of_type("azure-native:network:PrivateEndpoint")


def test_consumer_example_is_usable(report):
    """Deployability rules need no checkov: the example has no AMLD finding, failed or excepted."""
    found = [f for f in report.findings if f.scanner == "deployability" and f.result != scan.PASSED]
    assert found == [], report.render()


@needs_checkov
def test_consumer_example_passes_the_scan(report):
    assert report.checkov_scanned == report.exported > 0
    failed = [(f.scanner, f.rule, f.resource) for f in report.findings if f.result == scan.FAILED]
    assert failed == [], report.render()
    assert report.ok and report.stale_exceptions() == 0
    excepted = {(f.rule, f.resource) for f in report.findings if f.result == scan.EXCEPTED}
    assert excepted == {("CKV_AZURE_166", "vision-registry-registry")}  # the one reasoned exception


def test_the_example_uses_public_imports_only_and_fits_in_30_lines():
    import ast

    code = (CONSUMER / "__main__.py").read_text(encoding="utf-8")
    body = code.split('"""', 2)[2].strip()
    assert len(body.splitlines()) <= 30
    modules = {n.module if isinstance(n, ast.ImportFrom) else a.name for n in ast.walk(ast.parse(code))
               if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert modules == {"pulumi", "amlplatform"}


@pytest.mark.parametrize("page", ["components.md", "platform-component.md"])
def test_the_docs_show_the_tested_example(project_root, page):
    text = (project_root / "docs" / page).read_text(encoding="utf-8")
    code = (CONSUMER / "__main__.py").read_text(encoding="utf-8")
    body = code.split('"""', 2)[2].strip()  # shown without the module docstring
    assert body in text
