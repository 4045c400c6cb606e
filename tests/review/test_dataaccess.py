"""Least-privilege data access, batch endpoints' queues and tables, studio over private storage: the
rules AMLD-040..043 (each fixture fires its rule and only it, each twin passes, hand-built graphs
for the cases the fixtures do not show) and what the shipped stacks declare (each role's scope and
condition)."""

import importlib.util
from pathlib import Path

import pytest

from amlplatform.azure.roles import (BLOB_WRITE_ACTIONS, CONTAINER_NAME_ATTRIBUTE, ROLES, condition_protects,
                                     read_only_containers_condition)
from amlplatform.offline.engine import evaluate
from amlplatform.review.deployability import RULES, run_rules
from amlplatform.review.deployability import _graph as dg
from tests.review.graphs import RG_ID, graph, res

ROOT = Path(__file__).resolve().parents[2]
RULE_IDS = [f"AMLD-04{i}" for i in range(0, 4)]
ROLE = "azure-native:authorization:RoleAssignment"
ACCOUNT = f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/stt"
GROUP = "5b3c0a1e-7d2f-4e8a-9c61-2f4d8e9a0b13"
PROD_GROUP = GROUP  # prod's data scientists, also the readers of raw_transactions


def _programs():
    spec = importlib.util.spec_from_file_location(
        "dataaccess_programs", ROOT / "tests" / "fixtures" / "deployability" / "dataaccess.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PROGRAMS = _programs()


def fired(g):
    return sorted({f.rule_id for f in run_rules(g, RULE_IDS)})


# ------------------------------------------------------------------ the rules

def test_the_rules_are_registered_with_a_reason_and_their_doc():
    for rule_id in RULE_IDS:
        assert rule_id in RULES
        assert RULES[rule_id].doc.startswith("https://learn.microsoft.com/")
    assert "abac" in RULES["AMLD-040"].doc and "managed-network" in RULES["AMLD-041"].doc
    assert "disable-local-auth-storage" in RULES["AMLD-042"].doc


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_each_fixture_fires_its_rule_and_its_twin_passes(rule_id):
    suffix = rule_id.lower().replace("-", "_")
    bad = evaluate(getattr(PROGRAMS, f"fires_{suffix}"), project="amlplatform", stack="fixture")
    good = evaluate(getattr(PROGRAMS, f"passes_{suffix}"), project="amlplatform", stack="fixture")
    assert fired(bad) == [rule_id]
    assert fired(good) == []


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_stacks_have_no_data_access_findings(stack_graph, stack):
    assert run_rules(stack_graph(stack), RULE_IDS) == []


def _ra(name, scope, role, principal=GROUP, **extra):
    return res(ROLE, name, {"scope": scope, "principalId": principal, "principalType": "Group",
                            "roleDefinitionId": f"/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/"
                                                f"{ROLES[role]}", **extra})


def test_amld_040_names_the_write_role_and_the_read_grant_it_voids():
    container = f"{ACCOUNT}/blobServices/default/containers/raw"
    g = graph(_ra("read", container, "Storage Blob Data Reader"),
              _ra("write", ACCOUNT, "Storage Blob Data Contributor"))
    [finding] = run_rules(g, ["AMLD-040"])
    assert finding.resource == "write"
    assert "'raw'" in finding.message and "read" in finding.message and "read_only_containers_condition" in finding.message


def test_amld_040_a_write_role_on_the_resource_group_shadows_too_and_owner_counts():
    container = f"{ACCOUNT}/blobServices/default/containers/raw"
    g = graph(_ra("read", container, "Storage Blob Data Reader"), _ra("rg-write", RG_ID, "Storage Blob Data Owner"),
              _ra("owner", RG_ID, "Owner"))
    assert {f.resource for f in run_rules(g, ["AMLD-040"])} == {"rg-write", "owner"}


def test_amld_040_only_the_same_principal_and_a_condition_for_that_container():
    container = f"{ACCOUNT}/blobServices/default/containers/raw"
    other = "9e1f6c2a-3b4d-4a5e-8f70-1c2d3e4f5a6b"
    assert run_rules(graph(_ra("read", container, "Storage Blob Data Reader"),
                           _ra("write", ACCOUNT, "Storage Blob Data Contributor", principal=other)), ["AMLD-040"]) == []
    # a condition that protects another container does not protect this one
    wrong = read_only_containers_condition(["curated"])
    assert [f.resource for f in run_rules(graph(
        _ra("read", container, "Storage Blob Data Reader"),
        _ra("write", ACCOUNT, "Storage Blob Data Contributor", condition=wrong, conditionVersion="2.0")),
        ["AMLD-040"])] == ["write"]
    right = read_only_containers_condition(["curated", "raw"])
    assert run_rules(graph(_ra("read", container, "Storage Blob Data Reader"),
                           _ra("write", ACCOUNT, "Storage Blob Data Contributor", condition=right,
                               conditionVersion="2.0")), ["AMLD-040"]) == []
    # a contributor on the same container is a decision (writable), not a shadow
    assert run_rules(graph(_ra("read", container, "Storage Blob Data Reader"),
                           _ra("write", container, "Storage Blob Data Contributor")), ["AMLD-040"]) == []


def test_amld_040_file_shares_have_no_condition_so_an_account_wide_file_role_always_shadows():
    share = f"{ACCOUNT}/fileServices/default/fileshares/reports"
    g = graph(_ra("read", share, "Storage File Data Privileged Reader"),
              _ra("write", ACCOUNT, "Storage File Data Privileged Contributor",
                  condition=read_only_containers_condition(["reports"]), conditionVersion="2.0"))
    [finding] = run_rules(g, ["AMLD-040"])
    assert "file share 'reports'" in finding.message and "no role assignment conditions" in finding.message


def test_the_condition_denies_every_blob_write_action_in_the_named_containers_only():
    text = read_only_containers_condition(["raw-transactions", "curated", "raw-transactions"])
    for action in BLOB_WRITE_ACTIONS:
        assert f"!(ActionMatches{{'{action}'}})" in text
    # reads are not targeted: the holder still reads everything
    assert "blobs/read" not in text
    assert text.count(f"{CONTAINER_NAME_ATTRIBUTE} StringNotEquals") == 2
    assert condition_protects(text, "raw-transactions") and condition_protects(text, "curated")
    assert not condition_protects(text, "azureml")
    assert read_only_containers_condition([]) is None
    # a condition that leaves a write action out does not protect
    partial = text.replace("!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete'})",
                           "true")
    assert not condition_protects(partial, "raw-transactions")


# ------------------------------------------------------------------ what the shipped stacks grant

def _roles(g, **where):
    out = []
    for r in g.of_type(ROLE):
        if all(r.inputs.get(k) == v for k, v in where.items()):
            out.append(r)
    return out


def _guid(r):
    return r.inputs["roleDefinitionId"].rsplit("/", 1)[-1]


def test_prod_account_wide_blob_writes_exclude_the_read_only_datastore(stack_graph):
    g = stack_graph("prod")
    account = g.one(dg.STORAGE).id
    blob_writers = [r for r in _roles(g, scope=account) if _guid(r) == ROLES["Storage Blob Data Contributor"]]
    # the data scientists, both instance users, the two clusters' identities and the Kubernetes compute's
    assert len(blob_writers) == 6
    for r in blob_writers:
        assert r.inputs["conditionVersion"] == "2.0"
        assert condition_protects(r.inputs["condition"], "raw-transactions")
    # the read grant it would have voided: container scope, read only, no condition
    container = f"{account}/blobServices/default/containers/raw-transactions"
    readers = _roles(g, scope=container, principalId=PROD_GROUP)
    assert [_guid(r) for r in readers] == [ROLES["Storage Blob Data Reader"]]
    assert "condition" not in readers[0].inputs


def test_prod_file_role_is_for_notebooks_on_the_account_and_no_share_datastore_is_shadowed(stack_graph):
    g = stack_graph("prod")
    account = g.one(dg.STORAGE).id
    file_roles = [r for r in g.of_type(ROLE) if _guid(r) == ROLES["Storage File Data Privileged Contributor"]]
    # the data scientists and the instance users (notebooks), nobody else (no compute identity)
    assert {r.inputs["principalId"] for r in file_roles} == {
        PROD_GROUP, "7a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d", "1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a"}
    assert {r.inputs["scope"] for r in file_roles} == {account}
    assert all(r.inputs["principalType"] != "ServicePrincipal" for r in file_roles)


def test_prod_batch_cluster_has_queue_and_table_roles_and_the_deployments_wait_for_them(stack_graph):
    g = stack_graph("prod")
    account = g.one(dg.STORAGE).id
    cpu, gpu = g.named("cluster-cpu-compute"), g.named("cluster-gpu-compute")
    for cluster, expected in ((cpu, True), (gpu, False)):
        mine = {_guid(r) for r in g.of_type(ROLE) if cluster.urn in r.property_dependencies.get("principalId", [])
                and r.inputs["scope"] == account}
        has = {ROLES["Storage Queue Data Contributor"], ROLES["Storage Table Data Contributor"]} <= mine
        assert has is expected
    roles = {r.urn for r in g.of_type(ROLE) if cpu.urn in r.property_dependencies.get("principalId", [])}
    deployments = g.of_type("azure-native:machinelearningservices:BatchDeployment")
    assert len(deployments) == 2
    for d in deployments:
        assert cpu.urn in d.dependencies  # the compute exists before the deployment
        assert roles <= set(d.dependencies)  # and its identity's roles


def test_prod_workspace_identity_reads_each_storage_private_endpoint(stack_graph):
    g = stack_graph("prod")
    ws = g.one(dg.WORKSPACE)
    endpoints = dg.private_endpoints_to(g, g.one(dg.STORAGE).id)
    assert sorted(gid for e in endpoints for gid in e["group_ids"]) == ["blob", "file", "queue", "table"]
    for e in endpoints:
        [grant] = [r for r in g.of_type(ROLE) if r.inputs["scope"] == e["endpoint"].id]
        assert _guid(grant) == ROLES["Reader"] and grant.inputs["principalType"] == "ServicePrincipal"
        assert dg.grants(g, e["endpoint"].id, [ROLES["Reader"]], principal_from=ws) == [grant]  # the workspace's


def test_staging_has_no_batch_rules_and_dev_no_studio_grant(stack_graph):
    staging = stack_graph("staging")
    rules = staging.one(dg.WORKSPACE).inputs["managedNetwork"].get("outboundRules") or {}
    assert not [n for n in rules if n.startswith("default-storage-")]
    assert not [r for r in staging.of_type(ROLE) if _guid(r) in (ROLES["Storage Queue Data Contributor"],
                                                                   ROLES["Storage Table Data Contributor"])]
    # staging: a managed network and private storage, so the studio grant is there
    assert len([r for r in staging.of_type(ROLE) if "/privateEndpoints/" in r.inputs["scope"]]) == 2
    dev = stack_graph("dev")
    assert not [r for r in dev.of_type(ROLE) if "/privateEndpoints/" in str(r.inputs["scope"])]


def test_the_documented_condition_is_the_one_the_platform_writes():
    page = (ROOT / "docs" / "data-protection.md").read_text(encoding="utf-8")
    assert read_only_containers_condition(["raw-transactions"]) in page
