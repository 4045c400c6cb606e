"""AMLD-060 and AMLD-061: a deployment's assets exist when it is created (declared by the same run and
waited for, a registry asset, or acknowledged as existing), and a deployment waits for the image build
compute; the fixture programs fire each rule and their twins pass."""

import importlib.util
from pathlib import Path

import pytest

from amlplatform.offline.engine import evaluate
from amlplatform.review.deployability import RULES, evaluate as review

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("deployability_programs",
                                               ROOT / "tests" / "fixtures" / "deployability" / "programs.py")
PROGRAMS = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(PROGRAMS)
RULE_IDS = ["AMLD-060", "AMLD-061"]


def fired(graph):
    return sorted({r.finding.rule_id for r in review(graph, (), RULE_IDS) if r.excepted is None})


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_fixture_fires_its_rule_and_its_twin_passes(rule_id):
    suffix = rule_id.lower().replace("-", "_")
    assert fired(evaluate(getattr(PROGRAMS, f"fires_{suffix}"), project="amlplatform", stack="fixture")) == [rule_id]
    assert fired(evaluate(getattr(PROGRAMS, f"passes_{suffix}"), project="amlplatform", stack="fixture")) == []
    assert RULES[rule_id].doc.startswith("https://learn.microsoft.com/")


def test_amld_060_tells_undeclared_from_declared_but_not_waited_for():
    graph = evaluate(PROGRAMS.fires_amld_060, project="amlplatform", stack="fixture")
    messages = {r.finding.resource: r.finding.message for r in review(graph, (), ["AMLD-060"])}
    assert set(messages) == {"assets-blue", "assets-green"}
    assert "fraud-undeclared:3, which nothing in this stack creates" in messages["assets-blue"]
    assert "existing: true" in messages["assets-blue"]
    assert "declares (assets-unwaited-version) but the deployment does not wait for" in messages["assets-green"]


def test_an_acknowledgement_does_not_cover_another_asset():
    # the tag names fraud-released:7; the deployment names version 8
    def program():
        from amlplatform.iac.serving.endpoints import OnlineEndpoint

        OnlineEndpoint("ack", {**PROGRAMS.COORDS, "location": "westeurope", "endpoint_name": "depl-ack",
                               "deployments": [{"name": "blue", "model": f"{PROGRAMS.WS_ID}/models/fraud-released/versions/8",
                                                "instance_type": "Standard_DS3_v2",
                                                "existing_assets": ["azureml:fraud-released:7"]}]})

    graph = evaluate(program, project="amlplatform", stack="fixture")
    [result] = review(graph, (), ["AMLD-060"])
    assert "fraud-released:8" in result.finding.message
    assert graph.named("ack-blue").inputs["tags"]["amlplatform.io/existing-assets"] == "azureml:fraud-released:7"
