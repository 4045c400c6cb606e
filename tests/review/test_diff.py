"""Plan diff on fixture pairs (tests/fixtures/plans, made from the real prod plan by make_fixtures.py)."""

import json
from pathlib import Path

import pytest

from amlplatform.offline.engine import Graph
from amlplatform.review.diff import diff_plans
from tests.review import graphs as g

PLANS = Path(__file__).resolve().parents[1] / "fixtures" / "plans"


def pair(case):
    earlier = json.loads((PLANS / f"{case}.earlier.json").read_text())
    current = Graph.from_dict(json.loads((PLANS / f"{case}.current.json").read_text()))
    return diff_plans(earlier, current)


def test_workspace_create_only_changes_are_replacements():
    d = pair("workspace-replace")
    assert d.has_changes and d.has_replacements
    (ws,) = d.resources
    assert ws.action == "replace" and ws.name == "ml-workspace-workspace" and ws.protect
    assert {c.path for c in ws.changes if c.create_only} == {"hbiWorkspace", "storageAccount"}
    text = d.render()
    assert "! REPLACE ml-workspace-workspace" in text and "[create-only: forces replacement]" in text
    assert "stfraudold" in text and "protected" in text


def test_compute_vm_size_replaces_but_node_count_updates():
    d = pair("compute-resize")
    (cpu,) = d.resources
    assert cpu.action == "replace"
    by_path = {c.path: c for c in cpu.changes}
    assert by_path["properties.properties.vmSize"].create_only
    assert not by_path["properties.properties.scaleSettings.maxNodeCount"].create_only
    assert (by_path["properties.properties.scaleSettings.maxNodeCount"].before,
            by_path["properties.properties.scaleSettings.maxNodeCount"].after) == (4, 8)


def test_add_change_remove():
    d = pair("add-change-remove")
    assert [r.name for r in d.of("add")] == ["ml-access-azureml-data-scientist-5b3c0a1e"]
    assert [r.name for r in d.of("remove")] == ["ml-keyvault-vault"]
    (st,) = d.of("change")
    assert [(c.path, c.before, c.after) for c in st.changes] == [("tags.criticality", "medium", "high")]
    assert not d.has_replacements
    text = d.render()
    assert "+ add" in text and "- remove" in text and "~ change" in text


def test_a_renamed_resource_is_remove_plus_add_with_a_hint():
    d = pair("rename")
    (removed,) = d.of("remove")
    assert "alias" in removed.note and "ml-datalake-account" in removed.note


def test_no_change():
    d = pair("no-change")
    assert not d.has_changes and not d.has_replacements
    assert "no changes" in d.render()


def test_physical_name_and_location_changes_replace():
    old = g.graph(g.storage())
    new = g.graph(g.storage(accountName="stt2", location="northeurope"))
    new.resources[0].urn = old.resources[0].urn
    (st,) = diff_plans(old.to_dict(), new).resources
    assert st.action == "replace"
    assert {c.path for c in st.changes if c.create_only} == {"accountName", "location"}


def test_compute_instance_is_create_only_throughout():
    old = g.graph(g.compute("ci", "ComputeInstance", {"vmSize": "a", "idleTimeBeforeShutdown": "PT30M"}))
    new = g.graph(g.compute("ci", "ComputeInstance", {"vmSize": "a", "idleTimeBeforeShutdown": "PT60M"}))
    assert diff_plans(old.to_dict(), new).has_replacements


def test_ignored_changes_do_not_replace():
    old = g.graph(g.workspace())
    new = g.graph(g.workspace(keyVault="/other"))
    new.resources[0].ignore_changes = ["keyVault"]
    (ws,) = diff_plans(old.to_dict(), new).resources
    assert ws.action == "change" and ws.changes[0].ignored
    assert "ignore_changes" in diff_plans(old.to_dict(), new).render()


def test_against_the_live_prod_plan(stack_graph):
    current = stack_graph("prod")
    assert not diff_plans(current.to_dict(), current).has_changes
    earlier = json.loads(json.dumps(current.to_dict()))
    ws = next(r for r in earlier["resources"] if r["type"] == "azure-native:machinelearningservices:Workspace")
    ws["inputs"]["kind"] = "Hub"
    ws["inputs"]["identity"] = {"type": "UserAssigned"}
    d = diff_plans(earlier, current)
    (change,) = d.resources
    assert change.action == "replace"
    assert {c.path for c in change.changes if c.create_only} == {"kind", "identity.type"}
