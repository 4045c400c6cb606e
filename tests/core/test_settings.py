"""Stack settings: one readable error listing every bad field; secure defaults; the schema."""

import json

import pytest
from hypothesis import given, strategies as st

from amlplatform.errors import UserError
from amlplatform.settings import StackSettings, derived_network, settings_from_config
from amlplatform.settings.core import WorkspaceSettings
from amlplatform.settings.stack import SCHEMA_PATH, json_schema, schema_text

BASE = {"amlplatform:location": "westeurope",
        "amlplatform:naming": {"workload": "fraud", "environment": "dev"},
        # the secure defaults (a private workspace) need an inbound path: a VNet for private endpoints
        "amlplatform:network": {"vnet": {"address_space": ["10.50.0.0/24"],
                                         "private_endpoints_subnet": "10.50.0.0/26"}}}


def problems_of(config):
    with pytest.raises(UserError) as err:
        settings_from_config(config)
    return err.value.problems, str(err.value)


def test_several_invalid_values_give_one_error_naming_each():
    problems, text = problems_of({
        **BASE,
        "amlplatform:workspace": {"public_network_access": "off", "hbi_workspace": "maybe"},
        "amlplatform:storage": {"sku": "Premium_XYZ", "blob_soft_delete_days": 0},
        "amlplatform:registry": {"mode": "lazy"},
        "amlplatform:key_vault": {"soft_delete_retention_days": 3},
        "amlplatform:tags": {"bad/key": "x"},
    })
    assert "workspace.public_network_access: must be 'Enabled' or 'Disabled', got 'off'" in problems
    expected_fields = ["workspace.hbi_workspace", "storage.sku", "storage.blob_soft_delete_days",
                       "registry.mode", "key_vault.soft_delete_retention_days", "tags"]
    for field in expected_fields:
        assert any(p.startswith(field + ":") for p in problems), (field, problems)
    assert len(problems) == 7
    assert text.startswith("invalid settings in stack config (7 problems):")


def test_unknown_keys_are_errors_not_ignored():
    problems, _ = problems_of({**BASE, "amlplatform:workspce": {}, "amlplatform:storage": {"skuu": "x"}})
    assert "amlplatform:workspce: is not a known setting (did you mean 'workspace'?)" in problems
    assert any(p.startswith("storage.skuu: is not a known setting (did you mean 'sku'?)") for p in problems)


def test_other_namespaces_are_left_alone_and_azure_native_location_is_the_fallback():
    s = settings_from_config({"azure-native:location": "northeurope", "aws:region": "x",
                              "amlplatform:naming": {"workload": "fraud", "environment": "dev"},
                              "amlplatform:network": BASE["amlplatform:network"]})
    assert s.location == "northeurope"


def test_missing_required_settings():
    problems, _ = problems_of({"amlplatform:location": "westeurope"})
    assert problems == ["naming: is required"]
    problems, _ = problems_of({"amlplatform:naming": {"workload": "fraud", "environment": "dev"}})
    assert problems == ["location: is required (amlplatform:location or azure-native:location)"]


def test_cross_field_rules():
    problems, _ = problems_of({
        **BASE,
        "amlplatform:registry": {"mode": "existing"},
        "amlplatform:workspace": {"identity": "UserAssigned"},
        "amlplatform:resource_group": {"existing": True},
    })
    assert any(p.startswith("registry: existing_id is required") for p in problems)
    assert any(p.startswith("workspace: user_assigned_identity_id is required") for p in problems)
    assert any(p.startswith("resource_group: name is required") for p in problems)


def test_existing_ids_must_be_of_the_right_type():
    kv_id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1"
    problems, _ = problems_of({**BASE, "amlplatform:storage": {"existing_id": kv_id},
                               "amlplatform:key_vault": {"existing_id": "kv1"}})
    assert any(p.startswith("storage.existing_id: must be the id of a Microsoft.Storage/storageAccounts") for p in problems)
    assert any(p.startswith("key_vault.existing_id: must be an ARM resource id") for p in problems)
    # the service returns other casing: accept it
    s = settings_from_config({**BASE, "amlplatform:key_vault": {"existing_id": kv_id.replace("KeyVault", "Keyvault")}})
    assert s.key_vault.existing_id


def test_role_assignments_validate_principal_and_role():
    problems, _ = problems_of({**BASE, "amlplatform:workspace": {"identity": "x"},
                               "amlplatform:role_assignments": [{"principal_id": "nope", "role": "Boss"}]})
    assert any(p.startswith("workspace.identity:") for p in problems)
    assert any(p.startswith("role_assignments[0].principal_id: must be a GUID") for p in problems)
    assert any(p.startswith("role_assignments[0].role: must be a built-in role name") for p in problems)


def test_repeated_role_assignments_are_rejected_alongside_other_problems():
    ra = {"principal_id": "5b3c0a1e-7d2f-4e8a-9c61-2f4d8e9a0b13", "role": "AzureML Data Scientist"}
    problems, _ = problems_of({**BASE, "amlplatform:workspace": {"identity": "x"},
                               "amlplatform:role_assignments": [ra, dict(ra, scope="resource_group"), ra]})
    assert any(p.startswith("workspace.identity:") for p in problems)
    assert any(p.startswith("role_assignments: entry 2 repeats entry 0") for p in problems), problems


def test_name_overrides_use_the_azure_rules():
    problems, _ = problems_of({**BASE, "amlplatform:naming": {
        "workload": "Fraud!", "environment": "dev", "overrides": {"storage_account": "My-St"}}})
    assert any(p.startswith("naming.workload:") and "got 'Fraud!'" in p for p in problems)
    assert any(p.startswith("naming.overrides:") and "storage_account 'My-St'" in p for p in problems)


def test_secure_defaults():
    s = settings_from_config(BASE)
    assert s.workspace.public_network_access == "Disabled"
    assert s.workspace.managed_network == "AllowInternetOutbound"
    assert s.workspace.system_datastores_auth_mode == "identity"
    assert s.storage.allow_shared_key_access is False
    assert s.key_vault.purge_protection is True
    assert s.monitoring.app_insights_local_auth is False
    assert s.registry.mode == "auto"
    assert s.diagnostics.enabled is True


@given(st.sampled_from(["Disabled", "AllowInternetOutbound", "AllowOnlyApprovedOutbound"]),
       st.sampled_from(["Enabled", "Disabled"]), st.sampled_from([None, "Allow", "Deny"]))
def test_dependency_network_defaults_follow_workspace_isolation(managed, public, explicit):
    ws = WorkspaceSettings(managed_network=managed, public_network_access=public)
    action = derived_network(ws, explicit, "default_action")
    if explicit:
        assert action == explicit
    else:
        assert action == ("Allow" if managed == "Disabled" else "Deny")
    assert derived_network(ws, None, "public_access") == public


def test_shipped_schema_is_current():
    """Regenerate with `amlplatform schema --write` after changing a settings model."""
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text()


def test_schema_validates_the_shipped_stack_files(project_root):
    import jsonschema
    import yaml

    schema = json_schema()
    for path in sorted((project_root / "stacks").glob("Pulumi.*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    bad = {"config": {"amlplatform:naming": {"workload": "fraud", "environment": "dev"},
                      "amlplatform:workspce": {}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_configuration_reference_page_matches_the_models(project_root):
    """The configuration reference moved from the README to docs/reference/configuration.md."""
    from amlplatform.docgen import REGENERATE, configuration_page
    from amlplatform.settings.reference import END, START

    page = (project_root / "docs" / "reference" / "configuration.md").read_text(encoding="utf-8")
    assert page == configuration_page(), (
        f"docs/reference/configuration.md is stale: run `amlplatform schema --write` or `{REGENERATE}`")
    block = page[page.index(START):page.index(END) + len(END)]
    for name in StackSettings.model_fields:
        assert f"`amlplatform:{name}`" in block


def test_a_private_registry_needs_premium_when_it_is_created():
    base = {**BASE, "amlplatform:registry": {"mode": "create", "sku": "Standard"}}
    problems, _ = problems_of(base)
    assert problems == [
        "registry.sku: a registry without public network access needs Premium, got 'Standard' "
        "(registry.public_network_access follows workspace.public_network_access, Disabled); "
        "set registry.sku: Premium, or registry.public_network_access: Enabled"]
    # fine when it is public, or when mode auto creates no registry
    settings_from_config({**BASE, "amlplatform:registry": {
        "mode": "create", "sku": "Standard", "public_network_access": "Enabled"}})
    settings_from_config({**BASE, "amlplatform:registry": {"sku": "Basic"}})


def test_component_argument_errors_reach_the_user_as_run_errors(mocker):
    """A component that refuses its arguments stops `pulumi up` with a message, not a traceback."""
    import pulumi

    from amlplatform.stack import program
    from amlplatform.offline.engine import evaluate

    mocker.patch.object(program, "declare", side_effect=ValueError("ml-registry: something is off"))
    config = {"amlplatform:location": "westeurope",
              "amlplatform:naming": json.dumps({"workload": "fraud", "environment": "dev"}),
              "amlplatform:network": json.dumps(BASE["amlplatform:network"])}
    with pytest.raises(pulumi.RunError, match="invalid settings: ml-registry: something is off"):
        evaluate(program.run, project="amlplatform", stack="t", config=config)
