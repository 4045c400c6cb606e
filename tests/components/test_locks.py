"""One lock shape (LockSpec) on every lockable component: given, it is a CanNotDelete lock on the
component's main resource; kind None or no lock declares none; a bad kind is refused by name."""

import pytest

from amlplatform import LockKind, MLWorkspace, WorkspaceKeyVault, WorkspaceMonitoring, WorkspaceStorage
from amlplatform.iac._base import ComponentArgsError
from amlplatform.iac.options.locks import DEFAULT_NOTES
from amlplatform.offline.engine import evaluate

LOCK = "azure-native:authorization:ManagementLockByScope"
NAMES = {"storage_account": "stlock", "key_vault": "kv-lock", "container_registry": "crlock12345",
         "workspace": "mlw-lock", "log_analytics": "log-lock", "app_insights": "appi-lock"}
BASE = {"resource_group_name": "rg", "location": "westeurope", "tenant_id": "t", "subscription_id": "s",
        "names": NAMES}


def _locks(program):
    graph = evaluate(program, project="p", stack="s")
    return graph, graph.of_type(LOCK)


@pytest.mark.parametrize("component,args,target", [
    (WorkspaceStorage, {"resource_group_name": "rg", "location": "l", "account_name": "stlock"},
     "azure-native:storage:StorageAccount"),
    (WorkspaceKeyVault, {"resource_group_name": "rg", "location": "l", "vault_name": "kv-lock", "tenant_id": "t"},
     "azure-native:keyvault:Vault"),
    (WorkspaceMonitoring, {"resource_group_name": "rg", "location": "l", "app_insights_name": "appi-lock",
                           "log_analytics_name": "log-lock"}, "azure-native:operationalinsights:Workspace"),
])
def test_every_lockable_component_takes_the_same_lock_shape(component, args, target):
    graph, locks = _locks(lambda: component("c", {**args, "lock": {"notes": "keep it"}}))
    (lock,) = locks
    assert lock.inputs["scope"] == graph.one(target).id
    assert (lock.inputs["level"], lock.inputs["notes"]) == ("CanNotDelete", "keep it")
    assert lock.parent.endswith("::c")  # a child of the component: protect and providers flow to it
    # kind None, or no lock at all: nothing is declared
    assert _locks(lambda: component("c", {**args, "lock": {"kind": LockKind.NONE}}))[1] == []
    assert _locks(lambda: component("c", {**args, "lock": {"kind": "None"}}))[1] == []
    assert _locks(lambda: component("c", args))[1] == []


def test_a_lock_without_notes_says_why_it_is_there():
    _, (lock,) = _locks(lambda: WorkspaceStorage("c", {"resource_group_name": "rg", "location": "l",
                                                       "account_name": "stlock", "lock": {}}))
    assert lock.inputs["notes"] == DEFAULT_NOTES


def test_a_bad_lock_is_refused_naming_the_field_and_the_kinds():
    with pytest.raises(ComponentArgsError) as err:
        WorkspaceStorage("c", {"resource_group_name": "rg", "location": "l", "account_name": "stlock",
                               "lock": {"kind": "ReadOnly"}})
    assert "args.lock.kind: must be one of 'CanNotDelete', 'None', got 'ReadOnly'" in str(err.value.problems)
    with pytest.raises(ValueError, match="at most 512 characters"):
        evaluate(lambda: WorkspaceStorage("c", {"resource_group_name": "rg", "location": "l",
                                                "account_name": "stlock", "lock": {"notes": "x" * 513}}),
                 project="p", stack="s")


def test_the_workspace_platform_locks_each_part_it_creates_with_the_parts_own_lock():
    graph, locks = _locks(lambda: MLWorkspace("ml", {
        **BASE, "storage": {"lock": {"notes": "data"}}, "monitoring": {"lock": {}},
        "workspace": {"lock": {"kind": "CanNotDelete"}}}))
    scopes = {lk.inputs["scope"]: lk.inputs["notes"] for lk in locks}
    assert scopes == {graph.one("azure-native:storage:StorageAccount").id: "data",
                      graph.one("azure-native:operationalinsights:Workspace").id: DEFAULT_NOTES,
                      graph.one("azure-native:machinelearningservices:Workspace").id: DEFAULT_NOTES}


def test_an_existing_log_analytics_workspace_cannot_be_locked_here():
    with pytest.raises(ComponentArgsError, match="lock it where it is created"):
        evaluate(lambda: WorkspaceMonitoring("m", {
            "resource_group_name": "rg", "location": "l", "app_insights_name": "appi-lock",
            "existing_log_analytics_id": "/subscriptions/s/x", "lock": {}}), project="p", stack="s")
