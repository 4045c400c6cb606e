"""The ARM export uses Azure's wire names and shapes at every depth (issue 17, item 6), checked against
an oracle independent of our rename table: the azure-mgmt-* SDK models of each resource type's REST
API version (tests/review/arm_oracle.py says how), run in their own venvs."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from amlplatform.review.arm import arm_identity, to_arm_template
from conftest import ROOT, SHIPPED_STACKS

HERE = Path(__file__).resolve().parent

# Types the oracle has no SDK model for at the exported API version, each with why (a type that
# appears here and nowhere in the exports fails the test: the list stays true).
NO_ORACLE = {
    ("Microsoft.OperationalInsights/workspaces", "2023-09-01"):
        "no azure-mgmt-loganalytics has 2023-09-01 (12.0.0: 2020-08-01/2021-06-01; 13.0.0b7: 2022-10-01; "
        "13.1.0: 2025-07-01)",
    ("Microsoft.Authorization/locks", "2020-05-01"):
        "not checked: the oracle venv has no azure-mgmt-resource (its locks client) installed",
    ("Microsoft.Insights/privateLinkScopes", "2023-06-01-preview"):
        "the oracle's azure-mgmt-monitor has Private Link Scope models at 2019-10-17-preview and "
        "2021-07-01-preview only",
    ("Microsoft.Insights/privateLinkScopes/scopedResources", "2023-06-01-preview"):
        "the oracle's azure-mgmt-monitor has Private Link Scope models at 2019-10-17-preview and "
        "2021-07-01-preview only",
}


def _pythons():
    """The two oracle venvs: the SDKs (.venv-armsdk) and azure-ai-ml (its ARM client for ML)."""
    sdk = os.environ.get("AMLPLATFORM_ARMSDK_PYTHON") or str(ROOT / ".venv-armsdk" / "bin" / "python")
    azureml = os.environ.get("AMLPLATFORM_AZUREML_PYTHON") or str(ROOT / ".venv-azureml" / "bin" / "python")
    return [Path(sdk), Path(azureml)]


def _oracle(python: Path, items):
    done = subprocess.run([str(python), str(HERE / "arm_oracle.py")], input=json.dumps(items), capture_output=True,
                          text=True, timeout=300, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def verdicts(stack_graph):
    pythons = _pythons()
    missing = [p for p in pythons if not p.exists()]
    if missing:
        pytest.skip(f"oracle venv missing ({', '.join(map(str, missing))}): ./dev setup creates it")
    items = []
    for stack in SHIPPED_STACKS:
        template = to_arm_template(stack_graph(stack), exceptions=[])
        items += [{"type": r["type"], "apiVersion": r["apiVersion"], "body": r} for r in template["resources"]]
    return items, [_oracle(p, items) for p in pythons]


def _type(arm_type):
    return "Microsoft.Insights/diagnosticSettings" if arm_type.endswith("/providers/diagnosticSettings") else arm_type


def test_every_exported_key_is_a_wire_name_of_its_type_and_api_version(verdicts):
    _, results = verdicts
    problems = sorted({p for r in results for p in r["problems"]})
    assert not problems, "\n".join(problems[:60])


def test_every_exported_type_is_checked_or_says_why_not(verdicts):
    items, results = verdicts
    checked = {(t, v) for r in results for t, v, _ in r["checked"]}
    exported = {(i["type"], i["apiVersion"]) for i in items}
    unchecked = {(t, v) for t, v in exported - checked if (_type(t), v) not in NO_ORACLE}
    assert not unchecked, sorted(unchecked)
    stale = {k for k in NO_ORACLE if k not in {(_type(t), v) for t, v in exported}}
    assert not stale, f"NO_ORACLE names types no stack exports: {sorted(stale)}"


def test_the_oracle_catches_a_client_name_at_depth(verdicts):
    # the storage account's export with an azure-native client name put back two levels down
    items, _ = verdicts
    storage = next(i for i in items if i["type"] == "Microsoft.Storage/storageAccounts"
                   and "encryption" in i["body"].get("properties", {}))
    body = json.loads(json.dumps(storage["body"]))
    body["properties"]["encryption"]["keyVaultProperties"] = {"keyName": "k"}
    body["identity"] = {"type": "UserAssigned", "userAssignedIdentities": ["/subscriptions/x/id"]}
    result = _oracle(_pythons()[0], [{**storage, "body": body}])
    found = "\n".join(result["problems"])
    assert "encryption.keyVaultProperties: not a wire property" in found
    assert "identity.userAssignedIdentities: must be an object keyed by name" in found


def test_user_assigned_identities_are_an_object_keyed_by_id():
    assert arm_identity({"type": "UserAssigned", "userAssignedIdentities": ["/a", "/b"]}) == {
        "type": "UserAssigned", "userAssignedIdentities": {"/a": {}, "/b": {}}}
    assert arm_identity({"type": "SystemAssigned"}) == {"type": "SystemAssigned"}
