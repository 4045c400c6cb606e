"""Project metadata in the current form, and what git must not pick up."""

import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_license_is_an_spdx_expression_with_a_backend_that_knows_it():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # PEP 639: `license` is an SPDX expression string; the table form is deprecated in setuptools
    # (warned since 77, removal announced for 2027-02-18), which is also the first to accept the string.
    assert data["project"]["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in data["project"].get("classifiers", []))
    (requirement,) = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    assert requirement.replace(" ", "") == "setuptools>=77"


def test_the_policy_packs_venv_is_ignored():
    """`pulumi preview --policy-pack policypack` makes policypack/venv (PulumiPolicy.yaml: virtualenv venv)."""
    done = subprocess.run(["git", "check-ignore", "-q", "--no-index", "policypack/venv/bin/python"], cwd=ROOT)
    assert done.returncode == 0
    assert "virtualenv: venv" in (ROOT / "policypack" / "PulumiPolicy.yaml").read_text()
