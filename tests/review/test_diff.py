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


# ------------------------------------------------------------------ lists, element by element

POOLS = [{"name": "system", "mode": "System", "count": 3, "vmSize": "Standard_D4ds_v5",
          "availabilityZones": ["1", "2", "3"], "enableAutoScaling": True, "osDiskType": "Ephemeral"},
         {"name": "inference", "mode": "User", "count": 3, "vmSize": "Standard_D8ds_v5",
          "availabilityZones": ["1", "2", "3"], "enableAutoScaling": True, "osDiskType": "Ephemeral"}]


def pools(**edits):
    """POOLS with {pool name: {key: value}} edits applied (a copy)."""
    out = json.loads(json.dumps(POOLS))
    for p in out:
        p.update(edits.get(p["name"], {}))
    return out


def cluster_diff(before_pools, after_pools, ignore=()):
    old = g.graph(g.aks(agentPoolProfiles=before_pools))
    new = g.graph(g.aks(agentPoolProfiles=after_pools))
    new.resources[0].ignore_changes = list(ignore)
    return diff_plans(old.to_dict(), new)


def test_a_node_pool_vm_size_change_is_shown_by_pool_name_and_replaces():
    d = cluster_diff(POOLS, pools(inference={"vmSize": "Standard_NC6s_v3"}))
    (aks,) = d.resources
    assert [(c.path, c.before, c.after, c.create_only) for c in aks.changes] == [
        ("agentPoolProfiles[name=inference].vmSize", "Standard_D8ds_v5", "Standard_NC6s_v3", True)]
    assert aks.action == "replace" and d.has_replacements
    text = d.render()
    assert ("agentPoolProfiles[name=inference].vmSize: \"Standard_D8ds_v5\" → \"Standard_NC6s_v3\""
            "  [create-only: forces replacement]") in text
    assert "! REPLACE aks" in text and "availabilityZones" not in text


def test_a_node_count_change_updates_in_place():
    (aks,) = cluster_diff(POOLS, pools(system={"count": 5})).resources
    assert aks.action == "change"
    assert [(c.path, c.before, c.after, c.create_only) for c in aks.changes] == [
        ("agentPoolProfiles[name=system].count", 3, 5, False)]


def test_pools_are_matched_by_name_not_position():
    assert not cluster_diff(POOLS, list(reversed(POOLS))).has_changes
    # a new pool is an update of the cluster (its settings are new, not changed)
    gpu = {"name": "gpu", "mode": "User", "count": 1, "vmSize": "Standard_NC6s_v3"}
    (aks,) = cluster_diff(POOLS, [POOLS[0], gpu, POOLS[1]]).resources
    assert aks.action == "change"
    assert {c.path for c in aks.changes} == {f"agentPoolProfiles[name=gpu].{k}"
                                             for k in ("name", "mode", "count", "vmSize")}
    assert all(c.after == gpu[c.path.rsplit(".", 1)[1]] and not c.create_only for c in aks.changes)
    assert "agentPoolProfiles[name=gpu].vmSize: (unset) → \"Standard_NC6s_v3\"" in cluster_diff(
        POOLS, POOLS + [gpu]).render()


def test_scalar_lists_diff_by_index_and_zones_are_create_only():
    (aks,) = cluster_diff(POOLS, pools(inference={"availabilityZones": ["1", "2"]})).resources
    (zone,) = aks.changes
    assert (zone.path, zone.before, zone.create_only) == (
        "agentPoolProfiles[name=inference].availabilityZones[2]", "3", True)
    assert "(unset)" in diff_plans(g.graph(g.aks(agentPoolProfiles=POOLS)).to_dict(),
                                   g.graph(g.aks(agentPoolProfiles=pools(inference={"availabilityZones": ["1", "2"]})))
                                   ).render()


def test_lists_of_unnamed_objects_diff_by_index():
    ws = g.workspace()
    old, new = g.graph(ws, g.diag(ws, logs=True)), g.graph(ws, g.diag(ws, logs=False))
    (setting,) = diff_plans(old.to_dict(), new).resources
    assert [(c.path, c.before, c.after) for c in setting.changes] == [("logs[0].enabled", True, False)]


def test_ignore_changes_by_pulumi_index_path_applies_to_a_named_element():
    d = cluster_diff(POOLS, pools(inference={"count": 6}), ignore=["agentPoolProfiles[1].count"])
    (aks,) = d.resources
    assert [(c.path, c.ignored) for c in aks.changes] == [("agentPoolProfiles[name=inference].count", True)]
    d = cluster_diff(POOLS, pools(inference={"vmSize": "x"}), ignore=["agentPoolProfiles[*].vmSize"])
    assert not d.has_replacements and d.resources[0].changes[0].ignored
    # an index path of another pool does not cover it
    d = cluster_diff(POOLS, pools(inference={"vmSize": "x"}), ignore=["agentPoolProfiles[0].vmSize"])
    assert d.has_replacements


@pytest.mark.parametrize("key, value, replaces", [
    ("vmSize", "Standard_D16ds_v5", True), ("osDiskType", "Managed", True), ("osDiskSizeGB", 256, True),
    ("availabilityZones", ["1"], True), ("maxPods", 50, True), ("count", 9, False), ("maxCount", 12, False)])
def test_a_separate_agent_pool_resource(key, value, replaces):
    def pool(**over):
        inputs = {"resourceName": "aks-t", "agentPoolName": "inference", "count": 3, "maxCount": 6,
                  "vmSize": "Standard_D8ds_v5", "osDiskType": "Ephemeral", "osDiskSizeGB": 128,
                  "availabilityZones": ["1", "2", "3"], "maxPods": 110}
        inputs.update(over)
        return g.res("azure-native:containerservice:AgentPool", "pool", inputs)

    d = diff_plans(g.graph(pool()).to_dict(), g.graph(pool(**{key: value})))
    (p,) = d.resources
    assert p.action == ("replace" if replaces else "change")
    assert all(c.path == key or c.path.startswith(key + "[") for c in p.changes)


def test_fail_on_replace_exits_3_for_a_node_pool_resize(project_root, stack_graph, tmp_path):
    import subprocess
    import sys

    earlier = json.loads(stack_graph("prod").to_json())
    aks = next(r for r in earlier["resources"] if r["type"] == "azure-native:containerservice:ManagedCluster")
    pool = next(p for p in aks["inputs"]["agentPoolProfiles"] if p["name"] != "system")
    pool["vmSize"] = "Standard_E2ds_v5"
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps(earlier))
    done = subprocess.run([sys.executable, "-m", "amlplatform.cli", "plan", "--stack", "prod", "--diff", str(path),
                           "--fail-on-replace"], cwd=project_root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr
    assert f"agentPoolProfiles[name={pool['name']}].vmSize: \"Standard_E2ds_v5\" →" in done.stdout
    assert f"! REPLACE {aks['name']}" in done.stdout


# ------------------------------------------------------------------ renames: the full identity

def _renamed(r, new_name):
    r = json.loads(json.dumps(r))
    r["urn"] = r["urn"].rsplit("::", 1)[0] + "::" + new_name
    r["name"] = new_name
    return r


def test_child_resources_sharing_a_short_name_are_not_renames():
    """Two diagnostic settings named to-log-analytics on different resources, two clusters named cpu
    in different workspaces: one removed and one added is not a rename."""
    ws, st = g.workspace(), g.storage()
    before = g.graph(ws, st, g.diag(ws, "ws-diag"), g.compute("cpu", "AmlCompute", {"vmSize": "a"})).to_dict()
    other_cpu = g.compute("cpu", "AmlCompute", {"vmSize": "a"}, workspace_name="mlw-other")
    other_cpu.urn, other_cpu.name = g.urn(other_cpu.type, "cpu2"), "cpu2"
    after = g.graph(ws, st, g.diag(st, "st-diag"), other_cpu)
    d = diff_plans(before, after)
    assert {r.name for r in d.of("remove")} == {"ws-diag", "cpu"}
    assert {r.name for r in d.of("add")} == {"st-diag", "cpu2"}
    assert [r.note for r in d.of("remove")] == ["", ""]
    assert "note:" not in d.render()


def test_a_child_resource_moved_to_a_new_urn_is_a_rename():
    ws = g.workspace()
    before = g.graph(ws, g.diag(ws, "ws-diag"), g.compute("cpu", "AmlCompute", {"vmSize": "a"})).to_dict()
    after = {**before, "resources": [before["resources"][0]] + [_renamed(r, r["name"] + "-moved")
                                                              for r in before["resources"][1:]]}
    d = diff_plans(before, Graph.from_dict(after))
    notes = {r.name: r.note for r in d.of("remove")}
    assert set(notes) == {"ws-diag", "cpu"}
    assert "ws-diag-moved" in notes["ws-diag"] and "alias" in notes["ws-diag"]
    assert "cpu-moved" in notes["cpu"] and "alias" in notes["cpu"]


def test_identity_is_the_full_resource_id():
    from amlplatform.review.diff import identity

    def recorded(r):
        return g.graph(r).to_dict()["resources"][0]

    ws, st = g.workspace(), g.storage()
    assert identity(recorded(g.diag(ws))) != identity(recorded(g.diag(st)))
    assert identity(recorded(g.diag(ws, "a"))) == identity(recorded(g.diag(ws, "b")))
    cpu = g.compute("cpu", "AmlCompute", {})
    assert identity(recorded(cpu)) != identity(recorded(g.compute("cpu", "AmlCompute", {}, workspace_name="mlw-x")))
    assert identity(recorded(cpu))[1].endswith("/workspaces/mlw-t/computes/cpu")


# ------------------------------------------------------------------ properties of the pure helper

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from amlplatform.review.diff import _MISSING, flatten, leaves  # noqa: E402

KEYS = st.text(alphabet="abcxyz", min_size=1, max_size=3)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(alphabet="ab", max_size=2))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(KEYS, inner, max_size=3)), max_leaves=12)
INPUTS = st.dictionaries(KEYS, VALUES, max_size=4)


def _resource(inputs):
    return g.res("azure-native:storage:StorageAccount", "st", {"accountName": "stt", **inputs})


@settings(max_examples=150, deadline=None)
@given(INPUTS, INPUTS)
def test_inputs_without_named_lists_differ_exactly_when_a_path_is_reported(a, b):
    """Without name-keyed lists, the reported paths are empty exactly when the inputs are equal,
    and every reported path's before/after is what lies at that path on each side."""
    d = diff_plans(g.graph(_resource(a)).to_dict(), g.graph(_resource(b)))
    assert d.has_changes == (a != b)
    la, lb = leaves(a), leaves(b)
    for r in d.resources:
        for c in r.changes:
            assert c.path in la or c.path in lb
            assert c.before == (la[c.path][1] if c.path in la else _MISSING)
            assert c.after == (lb[c.path][1] if c.path in lb else _MISSING)
            assert c.before != c.after


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({"name": st.sampled_from("pqrs"), "v": SCALARS}), max_size=4,
                unique_by=lambda p: p["name"]), st.randoms())
def test_named_lists_do_not_depend_on_order(pools, rnd):
    shuffled = list(pools)
    rnd.shuffle(shuffled)
    assert flatten({"p": pools}) == flatten({"p": shuffled})
    if pools:
        assert all(path.startswith("p[name=") for path in flatten({"p": pools}))
    else:
        assert flatten({"p": pools}) == {"p": []}
