"""Consistency (issue 13, item 6): compute names, text plan and picture, dev's registry, the scan
summary, the sample CI workflow."""

import re

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from amlplatform.azure import naming
from amlplatform.review.diagram import build_model, node_range
from amlplatform.review.text import render_text
from conftest import ROOT


# ------------------------------------------------------------------------------- compute names

@pytest.mark.parametrize("name,kind,ok", [
    ("ab", "cluster", True), ("a", "cluster", False), ("a" * 16, "cluster", True), ("a" * 17, "cluster", False),
    ("gpu-1", "cluster", False), ("gpu-a1", "cluster", True), ("1gpu", "cluster", False), ("gpu-", "cluster", False),
    ("ab", "instance", False), ("a" * 24, "instance", True), ("a" * 25, "instance", False),
    ("ci-12345", "instance", False), ("ci-1234x", "instance", True),
    ("k8s", "kubernetes", True), ("a" * 17, "kubernetes", False),
    ("a" * 24, "any", True), ("a" * 25, "any", False), ("a_b", "any", False),
])
def test_one_rule_per_compute_kind(name, kind, ok):
    assert (naming.compute_name_problems(name, kind) == []) is ok


@given(st.text(alphabet="abcXYZ019-_", min_size=0, max_size=30))
def test_any_accepts_every_name_some_kind_accepts(name):
    # a job does not know its compute's kind: it must not refuse a name the stack may declare
    if any(naming.compute_name_problems(name, k) == [] for k in ("cluster", "instance", "kubernetes")):
        assert naming.compute_name_problems(name, "any") == []


def test_the_rule_is_pure():
    # usable from the runtime shim: naming imports nothing from Pulumi
    source = (ROOT / "components" / "amlplatform" / "azure" / "naming.py").read_text()
    assert "pulumi" not in re.findall(r"^(?:from|import) (\w+)", source, re.M)


def test_generated_instance_names_fit_the_instance_rule():
    for user in ("a", "b" * 40, "3f1c9a52-6d7e-4b8f-a012-5c6d7e8f9a0b"):
        assert naming.compute_name_problems(naming.instance_name("fraud-dev", user), "instance") == []


def test_examples_and_stacks_agree_on_compute_names():
    clusters = {c["name"] for stack in ("dev", "staging", "prod")
                for c in yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
                .get("amlplatform:clusters", [])}
    # every `--compute NAME` the README, the docs pages and the example job files show, and every
    # `compute:` the job files set
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    jobs = sorted((ROOT / "examples").glob("*/*.yml"))
    texts = [p.read_text() for p in docs + jobs]
    named = {n for t in texts for n in re.findall(r"--compute (\w[\w-]*)", t)} - {"local", "CLUSTER", "NAME"}
    named |= {n for t in texts[len(docs):] for n in re.findall(r"^compute: azureml:(\S+)", t, flags=re.M)}
    assert named and named <= clusters, (named, clusters)


# ------------------------------------------------------------------------ text plan and picture

def test_text_plan_and_picture_say_the_same_node_range(stack_graph):
    g = stack_graph("prod")
    text = render_text(g)
    model = build_model(g)
    for res in g.of_type("azure-native:machinelearningservices:Compute"):
        scale = res.inputs["properties"]["properties"].get("scaleSettings")
        if not scale:
            continue
        span = node_range(scale)
        assert f"nodes={span}" in text
        assert any(f"{span} nodes" in n.extra for n in model.nodes.values() if res.name in n.members)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_no_picture_edge_the_graph_does_not_have(stack_graph, stack):
    g = stack_graph(stack)
    model = build_model(g)
    by_name = {r.name: r for r in g.resources}
    for a, b, style in model.edges:
        if style != "dep":
            continue
        sources = {by_name[m].urn for m in model.nodes[a].members if m in by_name}
        # some resource drawn in b waits (directly or through undrawn resources) for one drawn in a
        waits = set()
        for m in model.nodes[b].members:
            if m in by_name:
                waits |= set(g.resource_dependencies(by_name[m]))
        closure = set(waits)
        frontier = list(waits)
        while frontier:
            nxt = by_name_urn(g).get(frontier.pop())
            if nxt is None:
                continue
            for d in g.resource_dependencies(nxt):
                if d not in closure:
                    closure.add(d)
                    frontier.append(d)
        assert sources & closure, f"edge {a} -> {b} has no dependency behind it"
    workspace = next(n.id for n in model.nodes.values() if "ml-workspace-workspace" in n.members)
    aks = [n.id for n in model.nodes.values() if "k8s-inference-aks" in n.members]
    for node in aks:
        assert (workspace, node, "dep") not in model.edges


def by_name_urn(g):
    return g.by_urn()


# ------------------------------------------------------------------------------ dev's registry

def _dev_with_registry(tmp_path):
    import shutil

    text = (ROOT / "stacks" / "Pulumi.dev.yaml").read_text()
    block = re.search(r"(    #- rule: CKV_AZURE_139.*?)\n  # a small", text, re.S).group(1)
    uncommented = "\n".join(line.replace("    #", "    ", 1) for line in block.splitlines())
    start = text.index(block)
    text = text[:start] + uncommented + text[start + len(block):]
    text = text.replace("  amlplatform:key_vault:", "  amlplatform:registry:\n    mode: create\n  amlplatform:key_vault:")
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copytree(ROOT / "infra", project / "infra")
    # the files dev uploads as assets (amlplatform:assets, data_assets)
    shutil.copytree(ROOT / "serving", project / "serving")
    shutil.copytree(ROOT / "examples", project / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "stacks" / "Pulumi.dev.yaml").write_text(text)
    return project


def test_dev_documents_what_a_created_registry_needs(tmp_path):
    from amlplatform.review.scan import scan_stack

    report = scan_stack("dev", project_dir=_dev_with_registry(tmp_path))
    assert report.ok, report.render()
    assert report.stale_exceptions() == 0
    assert {f.rule for f in report.findings if f.result == "EXCEPTED" and f.resource == "ml-registry-registry"} == {
        "CKV_AZURE_139", "CKV_AZURE_233", "CKV_AZURE_166"}


def test_stale_exceptions_are_counted_in_the_summary(tmp_path):
    from amlplatform.review.scan import scan_stack

    project = _dev_with_registry(tmp_path)
    stack = project / "stacks" / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("    mode: create\n", "    mode: auto\n"))  # no registry now
    report = scan_stack("dev", project_dir=project)
    assert report.stale_exceptions() == 3
    assert report.render().rstrip().endswith("3 stale exceptions")
    assert report.to_dict()["stale_exceptions"] == 3


# ------------------------------------------------------------------------------- the CI workflow

def test_sample_workflow_fails_through_pipes():
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "amlplatform-review.yml").read_text())
    job = doc["jobs"]["review"]
    # an explicit `shell: bash` runs steps with `bash -eo pipefail` (GitHub's implicit default has no pipefail)
    assert job["defaults"]["run"]["shell"] == "bash"
    for step in job["steps"]:
        run = step.get("run", "")
        if "| tee" in run:
            assert "set -o pipefail" in run.split("| tee")[0], step["name"]


@given(st.text(alphabet="abcXYZ019-_", min_size=0, max_size=30))
def test_the_generic_compute_rule_is_the_intersection(name):
    every = all(naming.compute_name_problems(name, k) == [] for k in ("cluster", "instance", "kubernetes"))
    if naming.check("compute", name) == []:
        assert every
