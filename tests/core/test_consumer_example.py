"""The README's "use the components in your own program" example, evaluated as a real program."""

import runpy

from amlplatform.offline.engine import evaluate


def test_consumer_example_declares_a_full_platform(project_root):
    path = project_root / "examples" / "consumer" / "__main__.py"
    graph = evaluate(lambda: runpy.run_path(str(path), run_name="__main__"),
                     project="vision-platform", stack="dev")
    types = [r.type for r in graph.resources]
    assert types.count("azure-native:storage:StorageAccount") == 2
    assert "azure-native:containerregistry:Registry" in types
    assert graph.one("amlplatform:index:MLWorkspace").urn.endswith("::vision")
    ws = graph.one("azure-native:machinelearningservices:Workspace")
    assert ws.inputs["managedNetwork"] == {"isolationMode": "AllowOnlyApprovedOutbound"}
    assert ws.inputs["containerRegistry"] == graph.one("azure-native:containerregistry:Registry").id
    assert graph.outputs["registry"].endswith(".azurecr.io")
    raw = graph.named("raw-data-account")
    assert raw.inputs["allowSharedKeyAccess"] is False and raw.inputs["minimumTlsVersion"] == "TLS1_2"


def test_readme_shows_the_tested_example(project_root):
    readme = (project_root / "README.md").read_text(encoding="utf-8")
    code = (project_root / "examples" / "consumer" / "__main__.py").read_text(encoding="utf-8")
    body = code.split('"""', 2)[2].strip()  # the README shows it without the module docstring
    assert body in readme
