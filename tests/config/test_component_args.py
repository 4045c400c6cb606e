"""Component arguments are checked against their TypedDict at the boundary (issue 13, item 4)."""

import pulumi
import pytest

from amlplatform import ComputeCluster, ContainerRegistry, MLWorkspace, WorkspaceStorage
from amlplatform.iac._base import ComponentArgsError, check_args
from amlplatform.iac.compute.compute import ComputeClusterArgs
from amlplatform.offline.engine import evaluate
from amlplatform.iac.workspace.registry import ContainerRegistryArgs

REG = {"resource_group_name": "rg", "location": "westeurope", "registry_name": "crshared12345"}


def problems(args, spec=ContainerRegistryArgs):
    with pytest.raises(ComponentArgsError) as info:
        check_args("ContainerRegistry", args, spec)
    return info.value.problems


def test_valid_args_pass():
    check_args("ContainerRegistry", REG, ContainerRegistryArgs)


def test_misspelt_key_names_the_closest():
    assert problems({**REG, "zone_redundency": True}) == [
        "args.zone_redundency: is not an argument of ContainerRegistryArgs (did you mean 'zone_redundancy'?)"]


def test_missing_required():
    assert problems({"resource_group_name": "rg", "location": "x"}) == ["args.registry_name: is required"]


@pytest.mark.parametrize("key,value,word", [
    ("zone_redundancy", "yes", "true or false"), ("untagged_retention_days", True, "whole number"),
    ("untagged_retention_days", 1.5, "whole number"), ("tags", {"a": 1}, "text"), ("tags", ["a"], "mapping"),
    ("sku", 3, "text"), ("registry_name", None, "text"),
])
def test_wrong_types(key, value, word):
    (line,) = problems({**REG, key: value})
    assert line.startswith(f"args.{key}") and word in line


def test_outputs_only_where_azure_takes_values_from_other_resources():
    out = pulumi.Output.from_input("rg")
    check_args("ContainerRegistry", {**REG, "resource_group_name": out}, ContainerRegistryArgs)  # pulumi.Input[str]
    (line,) = problems({**REG, "registry_name": out})  # a plain str: checked before deploying
    assert "args.registry_name: must be a plain value" in line


def test_an_output_only_argument_takes_an_output_and_nothing_else():
    # DatastoreArgs.secret is pulumi.Output: a credential read with require_secret, never plain text
    from amlplatform.iac.data.datastores import DatastoreArgs

    args = {"resource_group_name": "rg", "workspace_name": "mlw", "subscription_id": "0",
            "datastore_name": "landing", "storage_account_id": "/subscriptions/0/x", "container": "landing",
            "credentials": "account_key"}
    check_args("Datastore", {**args, "secret": pulumi.Output.secret("key")}, DatastoreArgs)
    (line,) = problems({**args, "secret": "plain-key"}, DatastoreArgs)
    assert line.startswith("args.secret: must be a pulumi.Output")


def test_nested_typed_dicts_are_checked():
    args = {"resource_group_name": "rg", "location": "x", "workspace_name": "w", "compute_name": "cpu",
            "vm_size": "Standard_DS3_v2", "max_nodes": "4"}
    lines = problems(args, ComputeClusterArgs)
    assert any(p.startswith("args.max_nodes: must be a whole number") for p in lines), lines


def test_a_component_refuses_bad_args_before_declaring_anything():
    def program():
        ContainerRegistry("r", {**REG, "skuu": "Premium"})

    with pytest.raises(Exception) as info:
        evaluate(program, project="p", stack="s")
    assert "skuu" in str(info.value) and "did you mean 'sku'" in str(info.value)


def test_every_component_checks_its_args():
    # one line at the top of each component's __init__ (a typo in any of them is an error)
    for component in (ContainerRegistry, WorkspaceStorage, MLWorkspace, ComputeCluster):
        with pytest.raises(ComponentArgsError):
            evaluate(lambda: component("x", {"no_such_argument": 1}), project="p", stack="s")


def test_mlworkspace_refuses_settings_an_existing_resource_would_ignore():
    sid = "/subscriptions/0/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/stx"
    args = {"resource_group_name": "rg", "location": "westeurope", "tenant_id": "t", "subscription_id": "s",
            "names": {"storage_account": "stx", "key_vault": "kv-x", "container_registry": "crx12345",
                      "workspace": "mlw-x", "log_analytics": "log-x", "app_insights": "appi-x"},
            "storage": {"existing_id": sid, "sku": "Standard_LRS"}}
    with pytest.raises(ComponentArgsError, match="args.storage: with existing_id nothing is created, so sku"):
        evaluate(lambda: MLWorkspace("x", args), project="p", stack="s")
