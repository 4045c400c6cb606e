"""A plan diff names every delete a management lock refuses (learn.microsoft.com/azure/azure-resource-manager/
management/lock-resources: a lock applies to its resource and everything under it), with the commands
that lift and re-apply it; a change Azure makes in place is not one of them."""

import copy
import json

import pytest

from amlplatform.review.diff import diff_plans
from amlplatform.review.locks import DOC, LOCK, commands

WS_LOCK_ID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-fraud-prod/providers/"
              "Microsoft.MachineLearningServices/workspaces/mlw-fraud-prod/providers/Microsoft.Authorization/locks/"
              "do-not-delete-workspace")


def _earlier(graph):
    return json.loads(json.dumps(graph.to_dict()))


def _named(plan, name):
    return next(r for r in plan["resources"] if r["name"] == name)


def _instance(plan):
    return next(r for r in plan["resources"] if r["type"] == "azure-native:machinelearningservices:Compute"
                and r["inputs"]["properties"]["computeType"] == "ComputeInstance")


def test_the_prod_locks_are_what_the_rule_reads(stack_graph):
    locks = {r.name: r.inputs for r in stack_graph("prod").of_type(LOCK)}
    assert set(locks) == {"ml-workspace-lock", "ml-storage-lock", "ml-keyvault-lock", "ml-monitoring-logs-lock"}
    assert {i["level"] for i in locks.values()} == {"CanNotDelete"}


def test_a_compute_instance_replaced_under_the_workspace_lock_is_named_with_the_commands(stack_graph):
    current = stack_graph("prod")
    earlier = _earlier(current)
    instance = _instance(earlier)
    instance["inputs"]["properties"]["properties"]["vmSize"] = "Standard_DS11_v2"  # create-only: a replace
    d = diff_plans(earlier, current)
    assert [(r.name, r.action) for r in d.resources] == [(instance["name"], "replace")]
    [locked] = d.locked
    assert (locked.resource, locked.action, locked.lock, locked.level) == (
        instance["name"], "replace", "ml-workspace-lock", "CanNotDelete")
    assert locked.lock_id == WS_LOCK_ID
    assert "ScopeLocked" in locked.message and "under the CanNotDelete lock ml-workspace-lock" in locked.message
    assert commands([locked], "prod") == [
        f"az lock delete --ids {WS_LOCK_ID}",
        f"pulumi up --stack prod --target '{instance['urn']}' --target-dependents",
        "pulumi up --stack prod --refresh   # the stack still declares the lock: this re-creates it"]
    text = d.render()
    assert "LOCKED: 1 change a management lock refuses" in text and DOC in text
    assert f"az lock delete --ids {WS_LOCK_ID}" in text
    assert d.to_dict()["locked"][0]["lock"] == "ml-workspace-lock"


def test_a_tag_change_is_made_in_place_and_no_lock_is_in_the_way(stack_graph):
    current = stack_graph("prod")
    earlier = _earlier(current)
    for name in ("ml-workspace-workspace", "ml-storage-account"):
        _named(earlier, name)["inputs"].setdefault("tags", {})["owner"] = "someone-else"
    d = diff_plans(earlier, current)
    assert {r.action for r in d.resources} == {"change"}
    assert d.locked == [] and "LOCKED" not in d.render()


def test_removed_children_of_the_workspace_and_the_storage_account_are_named_by_their_lock(stack_graph):
    current = stack_graph("prod")
    earlier = _earlier(current)
    deployment = next(r for r in earlier["resources"]
                      if r["type"] == "azure-native:machinelearningservices:OnlineDeployment")
    gone = copy.deepcopy(deployment)
    gone["urn"] += "-retired"
    gone["name"] += "-retired"
    gone["inputs"]["deploymentName"] = "retired"
    container = next(r for r in earlier["resources"] if r["type"] == "azure-native:storage:BlobContainer")
    old_container = copy.deepcopy(container)
    old_container["urn"] += "-old"
    old_container["name"] += "-old"
    old_container["inputs"]["containerName"] = "old-data"
    earlier["resources"] += [gone, old_container]
    d = diff_plans(earlier, current)
    assert {(r.name, r.action) for r in d.resources} == {(gone["name"], "remove"), (old_container["name"], "remove")}
    assert {(c.resource, c.lock) for c in d.locked} == {(gone["name"], "ml-workspace-lock"),
                                                         (old_container["name"], "ml-storage-lock")}
    assert len([line for line in d.render().splitlines() if "az lock delete" in line]) == 2


def test_a_role_assignment_on_the_locked_storage_account_is_under_its_lock(stack_graph):
    current = stack_graph("prod")
    earlier = _earlier(current)
    storage_id = _named(earlier, "ml-storage-lock")["inputs"]["scope"]
    ra = next(r for r in earlier["resources"] if r["type"] == "azure-native:authorization:RoleAssignment"
              and r["inputs"].get("scope") == storage_id)
    ra["inputs"]["principalId"] = "00000000-0000-0000-0000-0000000000ff"  # another principal: create-only
    d = diff_plans(earlier, current)
    assert [(c.resource, c.lock) for c in d.locked] == [(ra["name"], "ml-storage-lock")]


def test_without_locks_nothing_is_locked(stack_graph):
    current = stack_graph("dev")
    assert not current.of_type(LOCK)
    earlier = _earlier(current)
    _instance(earlier)["inputs"]["properties"]["properties"]["vmSize"] = "Standard_DS11_v2"
    d = diff_plans(earlier, current)
    assert d.has_replacements and d.locked == []


def test_a_lock_whose_scope_is_known_after_deploy_is_placed_by_the_resource_it_comes_from(stack_graph):
    current = stack_graph("prod")
    earlier = _earlier(current)
    lock = _named(earlier, "ml-workspace-lock")
    lock["inputs"]["scope"] = "(known after deploy)"
    workspace = _named(earlier, "ml-workspace-workspace")
    lock["property_dependencies"] = {"scope": [workspace["urn"]]}
    now = _earlier(current)
    _named(now, "ml-workspace-lock")["inputs"]["scope"] = "(known after deploy)"
    _named(now, "ml-workspace-lock")["property_dependencies"] = {"scope": [workspace["urn"]]}
    _instance(earlier)["inputs"]["properties"]["properties"]["vmSize"] = "Standard_DS11_v2"
    d = diff_plans(earlier, now)
    assert [c.lock_id for c in d.locked] == [WS_LOCK_ID]


@pytest.mark.slow
def test_plan_diff_on_the_command_line_prints_the_locked_change(project_root, stack_graph, tmp_path, capsys):
    from amlplatform.cli import main

    earlier = _earlier(stack_graph("prod"))
    _instance(earlier)["inputs"]["properties"]["properties"]["vmSize"] = "Standard_DS11_v2"
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps(earlier))
    code = main(["plan", "--stack", "prod", "--project-dir", str(project_root), "--diff", str(path)])
    out = capsys.readouterr().out
    assert code == 0 and "LOCKED: 1 change" in out and "az lock delete --ids" in out


def test_scan_with_an_earlier_plan_fails_on_a_locked_change_only(project_root, stack_graph):
    from amlplatform.review import scan

    earlier = _earlier(stack_graph("prod"))
    same = scan.scan_stack("prod", project_dir=project_root, require_checkov=False, earlier=earlier)
    assert same.ok and not [f for f in same.findings if f.scanner == "change"]
    _instance(earlier)["inputs"]["properties"]["properties"]["vmSize"] = "Standard_DS11_v2"
    report = scan.scan_stack("prod", project_dir=project_root, require_checkov=False, earlier=earlier)
    [locked] = [f for f in report.findings if f.scanner == "change"]
    assert (locked.rule, locked.result) == ("LOCKED", "FAILED") and not report.ok
    assert "az lock delete --ids" in locked.reason and "ml-workspace-lock" in locked.reason
    assert "LOCKED" in report.render()


def test_scan_reads_the_earlier_plan_as_plan_diff_does(project_root, tmp_path, capsys):
    from amlplatform.cli import main

    bad = tmp_path / "earlier.json"
    bad.write_text('{"resources": [{"urn": 1}]}')
    code = main(["scan", "--stack", "prod", "--project-dir", str(project_root), "--diff", str(bad)])
    assert code == 2 and "--diff" in capsys.readouterr().err
