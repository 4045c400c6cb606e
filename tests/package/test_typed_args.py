"""The args that used to be bare dicts or resources are typed now: the boundary check names the
field of a nested setting, and waiting for another resource goes through its outputs."""

import pytest
from pulumi_azure_native import resources

from amlplatform import MLWorkspace, WorkspaceStorage
from amlplatform.iac._base import ComponentArgsError, check_args
from amlplatform.iac.kubernetes.target import KubernetesInferenceTargetArgs
from amlplatform.offline.engine import evaluate
from amlplatform.iac.workspace.mlworkspace import MLWorkspaceArgs

NAMES = {"storage_account": "stx", "key_vault": "kv-x", "container_registry": "crx12345",
         "workspace": "mlw-x", "log_analytics": "log-x", "app_insights": "appi-x"}
BASE = {"resource_group_name": "rg", "location": "westeurope", "tenant_id": "t", "subscription_id": "s",
        "names": NAMES}


def problems(args, spec=MLWorkspaceArgs):
    with pytest.raises(ComponentArgsError) as info:
        check_args("MLWorkspace", args, spec)
    return info.value.problems


@pytest.mark.parametrize("args,expected", [
    ({"storage": {"skuu": "Standard_LRS"}}, "args.storage.skuu: is not an argument of StorageSpec (did you mean 'sku'?)"),
    ({"storage": {"blob_soft_delete_days": "7"}}, "args.storage.blob_soft_delete_days: must be a whole number"),
    ({"key_vault": {"purge_protection": "yes"}}, "args.key_vault.purge_protection: must be true or false"),
    ({"monitoring": {"retention_day": 30}}, "args.monitoring.retention_day: is not an argument of MonitoringSpec"),
    ({"workspace": {"outbound_rules": {"pypi": {"destination": "pypi.org"}}}},
     "args.workspace.outbound_rules['pypi'].type: is required"),
    ({"storage": {"lock": {"note": "x"}}}, "args.storage.lock.note: is not an argument of LockSpec (did you mean 'notes'?)"),
    ({"key_vault": {"lock": {"kind": "ReadOnly"}}}, "args.key_vault.lock.kind: must be one of 'CanNotDelete', 'None'"),
    ({"private_endpoints": {"subnet_id": "s", "dns_zone_ids": {}, "groups": {"storage": "blob"}}},
     "args.private_endpoints.groups.storage: must be a list"),
    ({"customer_managed_key": {"key_size": 3072.5}}, "args.customer_managed_key.key_size: must be a whole number"),
])
def test_nested_settings_are_checked_field_by_field(args, expected):
    (line,) = problems({**BASE, **args})
    assert line.startswith(expected)


def test_the_shipped_shapes_pass():
    check_args("MLWorkspace", {
        **BASE,
        "storage": {"sku": "Standard_GZRS", "network_default_action": "Deny", "versioning": True,
                    "lock": {"notes": "keep"}},
        "key_vault": {"existing_id": "/subscriptions/0/x"},
        "workspace": {"managed_network": "AllowOnlyApprovedOutbound", "lock": {"kind": "CanNotDelete"}, "outbound_rules": {
            "pypi": {"type": "FQDN", "category": "UserDefined", "destination": "pypi.org"},
            "front": {"type": "ServiceTag", "category": "UserDefined", "destination": {
                "service_tag": "AzureFrontDoor.FrontEnd", "protocol": "TCP", "port_ranges": "443", "action": "Allow"}}}},
        "private_endpoints": {"subnet_id": "s", "dns_zone_ids": {"z": "id"},
                              "groups": {"workspace": ["amlworkspace"], "storage": ["blob", "file"]}},
        "customer_managed_key": {"key_name": "cmk", "key_size": 3072, "identity_name": "id-x"},
    }, MLWorkspaceArgs)


def test_kubernetes_pools_and_extension_are_typed():
    args = {"resource_group_name": "rg", "location": "l", "workspace_name": "w", "subscription_id": "s",
            "compute_name": "k8s", "extension": {"cluster_purpose": "DevTest", "inference_router_ha": None},
            "cluster": {"aks_name": "aks-x", "api_server_access": "private",
                        "system_pool": {"name": "system", "min_count": "1"}, "inference_pool": {"name": "infer"}}}
    assert problems(args, KubernetesInferenceTargetArgs) == [
        "args.cluster.system_pool.min_count: must be a whole number, got '1' (str)"]
    args["cluster"]["system_pool"]["min_count"] = 1
    check_args("KubernetesInferenceTarget", args, KubernetesInferenceTargetArgs)


def _storage_account(depends_on):
    def program():
        other = resources.ResourceGroup("other", resource_group_name="rg-other")
        WorkspaceStorage("st", {"resource_group_name": "rg", "location": "westeurope", "account_name": "stx12345",
                                "depends_on": depends_on(other)})
    graph = evaluate(program, project="p", stack="s")
    return graph.named("st-account"), graph.named("other")


def test_depends_on_takes_outputs_and_waits_for_the_resources_behind_them():
    account, other = _storage_account(lambda other: [other.id])
    assert other.urn in account.dependencies
    # an explicit dependency only: no input of the account carries the other resource
    assert not any(other.urn in deps for deps in account.property_dependencies.values())


def test_depends_on_with_a_plain_value_adds_no_dependency():
    account, other = _storage_account(lambda other: ["/subscriptions/0/resourceGroups/rg-other"])
    assert other.urn not in account.dependencies


def test_depends_on_refuses_a_resource():
    with pytest.raises(ComponentArgsError, match=r"args.depends_on\[0\]: must be text"):
        _storage_account(lambda other: [other])


def test_mlworkspace_misspelt_nested_key_fails_before_any_resource():
    with pytest.raises(ComponentArgsError, match="args.storage.skuu"):
        evaluate(lambda: MLWorkspace("x", {**BASE, "storage": {"skuu": "Standard_LRS"}}), project="p", stack="s")
