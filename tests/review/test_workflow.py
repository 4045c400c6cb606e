"""The sample CI workflow for a repository hosting a stack: plan + scan on every pull request."""

from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "amlplatform-review.yml"


def test_workflow_plans_scans_and_uploads_on_pull_requests():
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert "pull_request" in doc[True]  # YAML 1.1 reads the key `on` as True
    steps = doc["jobs"]["review"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "amlplatform scan --stack" in runs and "amlplatform plan --stack" in runs
    # checkov comes from the package's hash lock (which pins 3.3.30: tests/review/test_checkov_discovery.py)
    assert "--format svg" in runs and "--diff" in runs
    assert "--require-hashes -r components/amlplatform/review/checkov-lock.txt" in runs
    assert any(s.get("uses", "").startswith("actions/upload-artifact") for s in steps)
