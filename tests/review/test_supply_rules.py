"""AMLD-301: an environment version's image is pinned by digest, not named by a tag that moves."""

import importlib.util
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlplatform.offline.engine import evaluate, stack_policy_exceptions
from amlplatform.review.deployability import evaluate as evaluate_rules
from amlplatform.review.deployability import run_rules
from amlplatform.review.deployability.supply import image_reference_problem

_spec = importlib.util.spec_from_file_location(
    "deployability_programs", Path(__file__).resolve().parents[1] / "fixtures" / "deployability" / "programs.py")
programs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(programs)

IMAGE = "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference"


def test_a_tag_fires_and_a_digest_passes():
    (finding,) = run_rules(evaluate(programs.fires_amld_301, project="amlplatform", stack="fixture"), ["AMLD-301"])
    assert finding.resource == "depl-env-latest"
    assert "names the tag latest" in finding.message and "@sha256:<digest>" in finding.message
    assert run_rules(evaluate(programs.passes_amld_301, project="amlplatform", stack="fixture"), ["AMLD-301"]) == []


@pytest.mark.parametrize("image,problem", [
    (f"{IMAGE}:latest", "names the tag latest"),
    (IMAGE, "names no tag, so it means :latest"),
    ("localhost:5000/scoring", "names no tag, so it means :latest"),  # a registry port is not a tag
    (f"{IMAGE}:20240101.v1", "names the tag 20240101.v1, which its registry can move to another image"),
    (f"{IMAGE}@sha256:" + "a" * 64, ""),
    (f"{IMAGE}:1.0@sha256:" + "b" * 64, ""),
    (f"{IMAGE}@sha256:" + "a" * 63, "names a digest that is not sha256:<64 hex digits>"),
])
def test_what_counts_as_pinned(image, problem):
    assert image_reference_problem(image) == problem


@given(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))
def test_any_sha256_digest_is_pinned(digest):
    assert image_reference_problem(f"{IMAGE}@sha256:{digest}") == ""


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_shipped_scoring_image_is_an_excepted_finding_with_its_reason(stack_graph, project_root, stack):
    """Its digest is not known offline: the stack says so and how to pin it, and the scan shows
    the finding as EXCEPTED, never PASSED."""
    graph = stack_graph(stack)
    assert [f.resource for f in run_rules(graph, ["AMLD-301"])] == ["env-fraud-scoring-version"]
    results = evaluate_rules(graph, stack_policy_exceptions(stack, project_root))
    (result,) = [r for r in results if r.finding.rule_id == "AMLD-301"]
    assert result.excepted and "not known offline" in result.excepted
