"""Role assignments name a built-in role (one table: amlplatform.azure.roles) or give its GUID."""

import pytest

from amlplatform import ROLES, IdentityAccess, WorkspaceAccess
from amlplatform.iac._base import ComponentArgsError
from amlplatform.offline.engine import evaluate

SCOPE = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"
WHO = {"principal_id": "5b3c0a1e-7d2f-4e8a-9c61-2f4d8e9a0b13", "principal_type": "Group"}


def test_a_built_in_role_by_name_and_the_subscription_from_the_scope():
    graph = evaluate(lambda: WorkspaceAccess("a", {"scope": SCOPE, "assignments": [
        {**WHO, "role_name": "Storage Blob Data Reader"}]}), project="p", stack="s")
    ra = graph.one("azure-native:authorization:RoleAssignment")
    assert ra.inputs["roleDefinitionId"] == ("/subscriptions/11111111-1111-1111-1111-111111111111/providers/"
                                             f"Microsoft.Authorization/roleDefinitions/{ROLES['Storage Blob Data Reader']}")
    assert ra.name == "a-storage-blob-data-reader-5b3c0a1e"


def test_an_unknown_role_name_is_refused_naming_the_field():
    with pytest.raises(ComponentArgsError, match=r"args.grants\[0\].roles\[0\].role_name: 'Acr Pull' is not a "
                                                 r"built-in role"):
        evaluate(lambda: IdentityAccess("i", {"subscription_id": "s", "principal_id": "p", "grants": [
            {"scope": SCOPE, "scope_label": "storage", "roles": [{**WHO, "role_name": "Acr Pull"}]}]}),
            project="p", stack="s")
    with pytest.raises(ComponentArgsError, match=r"args.assignments\[0\]: needs role_name"):
        evaluate(lambda: WorkspaceAccess("a", {"scope": SCOPE, "assignments": [WHO]}), project="p", stack="s")
