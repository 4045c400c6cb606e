"""One customer-managed key shape (CustomerManagedKeySpec) for storage and workspace: each reads
what its service names (storage: the key without version; the workspace: one key version)."""

import pytest

from amlplatform import CustomerManagedKeySpec, Workspace, WorkspaceStorage
from amlplatform.iac._base import ComponentArgsError
from amlplatform.offline.engine import evaluate

KEY: CustomerManagedKeySpec = {
    "key_vault_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-x",
    "key_vault_uri": "https://kv-x.vault.azure.net/", "key_name": "cmk-aml",
    "key_uri_with_version": "https://kv-x.vault.azure.net/keys/cmk-aml/0123456789abcdef",
    "identity_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-x",
    "identity_client_id": "00000000-0000-0000-0000-0000000000c1",
}
WORKSPACE = {"resource_group_name": "rg", "location": "l", "workspace_name": "mlw-x", "storage_account_id": "st",
             "key_vault_id": KEY["key_vault_id"], "app_insights_id": "ai", "registry_mode": "service"}


def test_storage_and_workspace_take_the_same_key_and_read_what_their_service_names():
    def program():
        WorkspaceStorage("st", {"resource_group_name": "rg", "location": "l", "account_name": "stx",
                                "customer_managed_key": KEY})
        Workspace("ws", {**WORKSPACE, "customer_managed_key": KEY})
    graph = evaluate(program, project="p", stack="s")
    encryption = graph.one("azure-native:storage:StorageAccount").inputs["encryption"]
    assert encryption["keySource"] == "Microsoft.Keyvault"
    assert encryption["keyVaultProperties"] == {"keyName": "cmk-aml", "keyVaultUri": "https://kv-x.vault.azure.net/"}
    ws = graph.one("azure-native:machinelearningservices:Workspace").inputs["encryption"]
    assert ws["keyVaultProperties"] == {"keyVaultArmId": KEY["key_vault_id"],
                                        "keyIdentifier": KEY["key_uri_with_version"],
                                        "identityClientId": KEY["identity_client_id"]}
    assert ws["identity"] == {"userAssignedIdentity": KEY["identity_id"]}


def test_the_workspace_says_which_key_field_it_needs():
    key = {k: v for k, v in KEY.items() if k != "key_uri_with_version"}
    with pytest.raises(ComponentArgsError) as err:
        evaluate(lambda: Workspace("ws", {**WORKSPACE, "customer_managed_key": key}), project="p", stack="s")
    assert err.value.problems == ["args.customer_managed_key.key_uri_with_version: is required by Workspace"]


def test_a_key_field_left_out_is_named():
    with pytest.raises(ComponentArgsError, match="args.customer_managed_key.key_vault_id: is required"):
        WorkspaceStorage("st", {"resource_group_name": "rg", "location": "l", "account_name": "stx",
                                "customer_managed_key": {"key_name": "k", "key_vault_uri": "u", "identity_id": "i"}})
