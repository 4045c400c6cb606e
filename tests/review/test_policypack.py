"""policypack/ is what `pulumi preview --policy-pack policypack` runs: it serves POLICIES."""

import runpy
from pathlib import Path

import pulumi_policy
import yaml

from amlplatform.review import policies

PACK = Path(__file__).resolve().parents[2] / "policypack"


def test_pack_main_builds_the_pack_from_the_review_policies(monkeypatch):
    built = {}

    class FakePack:  # the real one starts a gRPC server and blocks
        def __init__(self, name, enforcement_level=None, policies=None, **kw):
            built.update(name=name, level=enforcement_level, policies=policies)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", FakePack)
    runpy.run_path(str(PACK / "__main__.py"), run_name="__main__")
    assert built["name"] == "amlplatform"
    assert built["policies"] == policies.POLICIES and len(built["policies"]) == len(policies.RULES)
    mandatory = [p for p in built["policies"] if p.enforcement_level == pulumi_policy.EnforcementLevel.MANDATORY]
    assert mandatory  # per-policy levels override the pack's advisory default


def test_pack_project_files():
    doc = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert doc["runtime"]["name"] == "python"
    reqs = (PACK / "requirements.txt").read_text()
    assert "pulumi-policy==" in reqs
