"""A bare component import gets a usable platform: the network defaults follow the workspace
(amlplatform.azure.isolation), so nothing the platform needs is behind a firewall that denies
everyone without a private path."""

import pytest

from amlplatform import MLWorkspace, WorkspaceKeyVault, WorkspaceStorage
from amlplatform.azure.isolation import dependency_network, firewall_default, public_access_default
from amlplatform.offline.engine import evaluate

SA, KV, MLW = ("azure-native:storage:StorageAccount", "azure-native:keyvault:Vault",
               "azure-native:machinelearningservices:Workspace")
NAMES = {"storage_account": "stbare", "key_vault": "kv-bare", "container_registry": "crbare12345",
         "workspace": "mlw-bare", "log_analytics": "log-bare", "app_insights": "appi-bare"}
BASE = {"resource_group_name": "rg-bare", "location": "westeurope", "tenant_id": "t", "subscription_id": "s",
        "names": NAMES}


def _network(graph):
    account, vault = graph.one(SA).inputs, graph.one(KV).inputs["properties"]
    return {"workspace": graph.one(MLW).inputs["publicNetworkAccess"],
            "storage": (account["publicNetworkAccess"], account["networkRuleSet"]["defaultAction"]),
            "key_vault": (vault["publicNetworkAccess"], vault["networkAcls"]["defaultAction"])}


def test_public_workspace_without_managed_network_has_reachable_storage_and_vault():
    graph = evaluate(lambda: MLWorkspace("bare", {**BASE, "workspace": {"managed_network": "Disabled"}}),
                     project="p", stack="s")
    assert _network(graph) == {"workspace": "Enabled", "storage": ("Enabled", "Allow"),
                               "key_vault": ("Enabled", "Allow")}


def test_bare_workspace_is_public_and_its_managed_network_is_the_private_path_of_a_denying_firewall():
    """No private endpoint reaches the workspace, so it is public; its default managed network
    (AllowInternetOutbound) reaches storage and vault through Azure-managed private endpoints."""
    graph = evaluate(lambda: MLWorkspace("bare", BASE), project="p", stack="s")
    assert graph.one(MLW).inputs["managedNetwork"]["isolationMode"] == "AllowInternetOutbound"
    assert _network(graph) == {"workspace": "Enabled", "storage": ("Enabled", "Deny"),
                               "key_vault": ("Enabled", "Deny")}


def test_explicit_settings_win_over_the_derived_defaults():
    args = {**BASE, "workspace": {"managed_network": "Disabled"},
            "storage": {"network_default_action": "Deny", "public_network_access": "Disabled"}}
    graph = evaluate(lambda: MLWorkspace("bare", args), project="p", stack="s")
    assert _network(graph)["storage"] == ("Disabled", "Deny")
    assert _network(graph)["key_vault"] == ("Enabled", "Allow")


@pytest.mark.parametrize("component,args,path", [
    (WorkspaceStorage, {"account_name": "stalone"}, ("networkRuleSet", "defaultAction")),
    (WorkspaceKeyVault, {"vault_name": "kv-alone", "tenant_id": "t"}, ("properties", "networkAcls", "defaultAction")),
])
def test_a_standalone_account_or_vault_denies_only_with_a_private_path(component, args, path):
    def default_action(extra):
        graph = evaluate(lambda: component("alone", {"resource_group_name": "rg", "location": "westeurope",
                                                     **args, **extra}), project="p", stack="s")
        value = graph.one(SA if component is WorkspaceStorage else KV).inputs
        for key in path:
            value = value[key]
        return value

    assert default_action({}) == "Allow"
    endpoints = {"private_endpoints": {"subnet_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/"
                                                    "virtualNetworks/v/subnets/pe",
                                       "dns_zone_ids": {}, "groups": []}}
    # an empty list of groups is no private path
    assert default_action(endpoints) == "Allow"
    group, zone = ("blob", "privatelink.blob.core.windows.net") if component is WorkspaceStorage else (
        "vault", "privatelink.vaultcore.azure.net")
    endpoints["private_endpoints"].update(groups=[group], dns_zone_ids={zone: "/zones/" + zone})
    assert default_action(endpoints) == "Deny"


def test_isolation_rules():
    assert public_access_default(True) == "Disabled" and public_access_default(False) == "Enabled"
    assert firewall_default(True) == "Deny" and firewall_default(False) == "Allow"
    assert dependency_network("Disabled", "Enabled") == {"network_default_action": "Allow",
                                                         "public_network_access": "Enabled"}
    for mode in ("AllowInternetOutbound", "AllowOnlyApprovedOutbound"):
        assert dependency_network(mode, "Disabled") == {"network_default_action": "Deny",
                                                        "public_network_access": "Disabled"}
