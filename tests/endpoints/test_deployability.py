"""The deployability rules AMLD-101..109: each fixture stack fires its rule (and only the rule it
is about), each corrected twin passes, the shipped stacks have no findings, and a stack's reasoned
exception is carried through."""

import importlib.util
import shutil
from pathlib import Path

import pytest
import yaml

from amlplatform.offline.engine import evaluate, evaluate_stack
from amlplatform.review.deployability import RULES, Finding, evaluate as review, rule

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "deployability"
RULE_IDS = [f"AMLD-{n}" for n in range(101, 110)]


def _programs():
    spec = importlib.util.spec_from_file_location("deployability_programs", FIXTURES / "programs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PROGRAMS = _programs()


def fired(graph, exceptions=()):
    """The endpoint rules that fire (the fixture programs declare no complete platform, so the
    platform rules AMLD-0xx, which tests/review covers, are not asked here)."""
    return sorted({r.finding.rule_id for r in review(graph, exceptions, RULE_IDS) if r.excepted is None})


def test_every_rule_is_registered_with_reason_and_doc():
    rules = RULES
    for rule_id in RULE_IDS:
        assert rule_id in rules, rule_id
        assert rules[rule_id].reason and rules[rule_id].doc.startswith("https://learn.microsoft.com/")


def test_a_rule_id_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="AMLD-101 is registered twice"):
        rule("AMLD-101", reason="x", doc="https://learn.microsoft.com/x")(lambda graph: [])


@pytest.mark.parametrize("rule_id", RULE_IDS[1:])
def test_fixture_program_fires_its_rule_and_its_twin_passes(rule_id):
    suffix = rule_id.lower().replace("-", "_")
    bad = evaluate(getattr(PROGRAMS, f"fires_{suffix}"), project="amlplatform", stack="fixture")
    good = evaluate(getattr(PROGRAMS, f"passes_{suffix}"), project="amlplatform", stack="fixture")
    assert fired(bad) == [rule_id]
    assert fired(good) == []


def test_findings_name_the_resource_and_the_problem():
    graph = evaluate(PROGRAMS.fires_amld_102, project="amlplatform", stack="fixture")
    [result] = review(graph, rule_ids=["AMLD-102"])
    assert result.finding.resource == "k8s-blue"
    assert "'gpu-large'" in result.finding.message and "cpu-small" in result.finding.message
    graph = evaluate(PROGRAMS.fires_amld_105, project="amlplatform", stack="fixture")
    [result] = review(graph, rule_ids=["AMLD-105"])
    assert result.finding.resource == "split" and "'red'" in result.finding.message
    assert "sums to" not in result.finding.message  # 50 + 50 is 100: only the unknown name is wrong
    graph = evaluate(PROGRAMS.fires_amld_107, project="amlplatform", stack="fixture")
    assert sorted(r.finding.resource for r in review(graph, rule_ids=["AMLD-107"])) == [
        "depl-batch-keys", "depl-entra-k8s"]


@pytest.fixture(scope="module")
def public_endpoint_graph(tmp_path_factory):
    project = tmp_path_factory.mktemp("deployability")
    (project / "stacks").mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copytree(ROOT / "infra", project / "infra")
    shutil.copy(FIXTURES / "Pulumi.public-endpoint.yaml", project / "stacks" / "Pulumi.public-endpoint.yaml")
    return evaluate_stack("public-endpoint", project_dir=project)


def test_public_endpoint_in_a_private_workspace_fires_amld_101(public_endpoint_graph):
    results = review(public_endpoint_graph)
    assert [(r.finding.rule_id, r.finding.resource) for r in results] == [
        ("AMLD-101", "online-depl-public-test-endpoint")]
    assert "public network access Enabled" in results[0].finding.message


def test_a_reasoned_exception_excepts_the_finding(public_endpoint_graph):
    from amlplatform.settings.core import PolicyException

    exception = PolicyException(rule="AMLD-101", resource="online-depl-public-test-endpoint",
                                reason="partner scoring from their own network until the VPN is live")
    [result] = review(public_endpoint_graph, [exception])
    assert result.excepted == exception.reason
    other = PolicyException(rule="AMLD-101", resource="something-else", reason="does not apply to this one")
    assert review(public_endpoint_graph, [other])[0].excepted is None
    # as the stack file writes it (a mapping; resource defaults to every resource)
    [result] = review(public_endpoint_graph, [{"rule": "AMLD-101", "reason": "every endpoint, on purpose"}])
    assert result.excepted == "every endpoint, on purpose"
    assert review(public_endpoint_graph, [{"rule": "AMLD-102", "reason": "another rule"}])[0].excepted is None


def test_shipped_stacks_have_no_deployability_findings(stack_graph):
    from amlplatform.offline.engine import stack_policy_exceptions

    for stack in ("dev", "staging", "prod"):
        exceptions = stack_policy_exceptions(stack, ROOT)
        assert [r.finding for r in review(stack_graph(stack), exceptions) if r.excepted is None] == [], stack


def test_rules_see_what_each_stack_declares(stack_graph):
    """The rules are not vacuous on the shipped stacks: prod has what they inspect."""
    g = stack_graph("prod")
    kinds = {r.type.split(":")[-1] for r in g.resources}
    assert {"OnlineEndpoint", "OnlineDeployment", "BatchDeployment", "Datastore", "Resource"} <= kinds
    # breaking the prod graph in memory makes the rules fire (copy: the session graph is shared)
    import copy

    broken = copy.deepcopy(g)
    deployment = next(r for r in broken.of_type("azure-native:machinelearningservices:OnlineDeployment")
                      if r.inputs["properties"]["endpointComputeType"] == "Kubernetes")
    deployment.inputs["properties"]["instanceType"] = "cpu-huge"
    batch = broken.of_type("azure-native:machinelearningservices:BatchDeployment")[0]
    batch.inputs["properties"]["compute"] = batch.inputs["properties"].get("compute", "").replace("/cpu", "/nope") \
        or "/subscriptions/x/computes/nope"
    assert {"AMLD-102", "AMLD-104"} <= set(fired(broken))


def test_finding_is_a_plain_value():
    assert Finding("AMLD-101", "r", "m") == Finding("AMLD-101", "r", "m")
    assert set(RULE_IDS) <= set(RULES)
