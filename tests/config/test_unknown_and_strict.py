"""Unknown means error; strict types; settings that do not apply are errors (issue 13, item 2)."""

import json

import pytest

from amlplatform.errors import UserError
from amlplatform.settings.stack import settings_from_config, settings_from_strings

# private by default: the workspace and its dependencies need an inbound path (a VNet for their
# private endpoints; tests/network), which is not what these tests are about
NETWORK = {"vnet": {"address_space": ["10.50.0.0/24"], "private_endpoints_subnet": "10.50.0.0/26"}}
BASE = {"amlplatform:location": "westeurope", "amlplatform:naming": {"workload": "fraud", "environment": "dev"},
        "amlplatform:network": NETWORK}


def problems(config) -> list:
    with pytest.raises(UserError) as info:
        settings_from_config({**BASE, **config})
    return info.value.problems


def test_unknown_project_key_names_the_closest_setting():
    assert problems({"amlplatform:unexpected_key": 1})[0].startswith("amlplatform:unexpected_key: is not a known setting")
    assert problems({"amlplatform:clustres": []}) == [
        "amlplatform:clustres: is not a known setting (did you mean 'clusters'?)"]


def test_unknown_key_without_a_close_one_lists_the_known_ones():
    (line,) = problems({"amlplatform:zzzzzzzz": 1})
    assert "(known: " in line and "clusters" in line and "workspace" in line


@pytest.mark.parametrize("namespace", ["amlplatfrom", "amlpltform", "AmlPlatform", "aml-platform", "amlplatforms"])
def test_misspelt_namespace_is_an_error(namespace):
    (line,) = problems({f"{namespace}:location": "westeurope"})
    assert line.startswith(f"{namespace}:location: namespace {namespace!r} is not 'amlplatform'")
    assert "did you mean 'amlplatform:location'" in line


@pytest.mark.parametrize("key", ["azure-native:location", "pulumi:disable-default-providers", "myteam:owner",
                                 "azure:clientId", "kubernetes:context"])
def test_other_namespaces_pass_untouched(key):
    settings_from_config({**BASE, key: "anything"})


def test_unknown_nested_keys_name_the_closest(tmp_path):
    lines = problems({"amlplatform:workspace": {"frendly_name": "x"},
                      "amlplatform:clusters": [{"name": "cpu", "vm_size": "Standard_DS3_v2", "max_nodse": 2}],
                      "amlplatform:naming": {"workload": "fraud", "environment": "dev", "overrides": {"storage": "x"}}})
    text = "\n".join(lines)
    assert "workspace.frendly_name: is not a known setting (did you mean 'friendly_name'?)" in text
    assert "clusters[0].max_nodse: is not a known setting (did you mean 'max_nodes'?)" in text
    assert "naming.overrides.storage: is not a known setting (did you mean 'storage_account'?)" in text


@pytest.mark.parametrize("config,field", [
    ({"amlplatform:clusters": [{"name": "cpu", "vm_size": "Standard_DS3_v2", "max_nodes": True}]}, "clusters[0].max_nodes"),
    ({"amlplatform:clusters": [{"name": "cpu", "vm_size": "Standard_DS3_v2", "max_nodes": "4"}]}, "clusters[0].max_nodes"),
    ({"amlplatform:clusters": [{"name": "cpu", "vm_size": "Standard_DS3_v2", "max_nodes": 4.5}]}, "clusters[0].max_nodes"),
    ({"amlplatform:storage": {"versioning": "yes"}}, "storage.versioning"),
    ({"amlplatform:storage": {"versioning": 1}}, "storage.versioning"),
    ({"amlplatform:tags": {"a": 1}}, "tags.a"),
    ({"amlplatform:protect": "yes"}, "protect"),
    ({"amlplatform:protect": "on"}, "protect"),
    ({"amlplatform:tenant_id": None}, "tenant_id"),
    ({"amlplatform:tenant_id": "None"}, "tenant_id"),
    ({"amlplatform:naming": "fraud"}, "naming"),
    ({"amlplatform:monitoring": {"daily_quota_gb": "1"}}, "monitoring.daily_quota_gb"),
])
def test_strict_types(config, field):
    assert any(p.startswith(field + ":") for p in problems(config)), problems(config)


def test_plain_strings_are_not_json_decoded():
    # the program receives "123"/"true"/"null" as text and a text setting keeps them as text
    s = settings_from_config({**BASE, "amlplatform:tags": {"a": "123", "b": "true", "c": "null"},
                              "amlplatform:workspace": {"friendly_name": "123", "description": "null"}})
    assert s.tags == {"a": "123", "b": "true", "c": "null"}
    assert s.workspace.friendly_name == "123" and s.workspace.description == "null"


def test_top_level_scalars_are_read_as_pulumi_config_reads_them():
    # pulumi.Config: get_bool accepts true/True/false/False, get_int int(), get_object json.loads
    strings = {"amlplatform:location": "westeurope", "amlplatform:naming": '{"workload":"fraud","environment":"dev"}',
               "amlplatform:network": json.dumps(NETWORK), "amlplatform:protect": "True"}
    assert settings_from_strings(strings).protect is True
    with pytest.raises(UserError, match="protect: must be true or false, got 'yes'"):
        settings_from_strings({**strings, "amlplatform:protect": "yes"})
    with pytest.raises(UserError, match="naming: must be a mapping or a list"):
        settings_from_strings({**strings, "amlplatform:naming": "fraud"})
    with pytest.raises(UserError, match="naming: must be a mapping or a list"):
        settings_from_strings({**strings, "amlplatform:naming": '{"workload": Infinity}'})


@pytest.mark.parametrize("registry,field", [
    ({"mode": "create", "sku": "Basic", "zone_redundancy": True, "public_network_access": "Enabled"},
     "registry.zone_redundancy"),
    ({"mode": "create", "sku": "Standard", "untagged_retention_days": 3, "public_network_access": "Enabled"},
     "registry.untagged_retention_days"),
    ({"mode": "existing", "existing_id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/r/"
      "providers/Microsoft.ContainerRegistry/registries/crx", "sku": "Premium"}, "registry.sku"),
    ({"mode": "service", "zone_redundancy": True}, "registry.zone_redundancy"),
])
def test_settings_that_do_not_apply_are_errors(registry, field):
    lines = problems({"amlplatform:registry": registry})
    assert any(field + ":" in p for p in lines), lines


def test_existing_storage_and_vault_take_no_other_settings():
    sid = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/r/providers/"
           "Microsoft.Storage/storageAccounts/stx")
    lines = problems({"amlplatform:storage": {"existing_id": sid, "sku": "Standard_LRS"}})
    assert any("storage.sku: does not apply with storage.existing_id" in p for p in lines), lines


def test_premium_registry_keeps_its_settings():
    # a private registry (it follows the workspace) needs a cluster to build images on (tests/network)
    s = settings_from_config({**BASE, "amlplatform:registry": {"mode": "create", "zone_redundancy": True,
                                                                "untagged_retention_days": 3},
                              "amlplatform:clusters": [{"name": "cpu", "vm_size": "Standard_DS3_v2"}],
                              "amlplatform:workspace": {"image_build_compute": "cpu"}})
    assert s.registry.zone_redundancy and s.registry.untagged_retention_days == 3


def test_every_problem_at_once():
    lines = problems({"amlplatform:workspce": {}, "amlplatform:storage": {"skuu": "x"}, "amlplatfrom:x": 1})
    assert len(lines) == 3, lines


def test_monitoring_settings_that_do_not_apply():
    la = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/r/providers/"
          "Microsoft.OperationalInsights/workspaces/log-x")
    ai = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/r/providers/"
          "Microsoft.Insights/components/appi-x")
    lines = problems({"amlplatform:monitoring": {"existing_log_analytics_id": la, "retention_days": 60}})
    assert any("monitoring.retention_days: does not apply with monitoring.existing_log_analytics_id" in p
               for p in lines), lines
    lines = problems({"amlplatform:monitoring": {"existing_app_insights_id": ai, "public_query": "Disabled"}})
    assert any("monitoring.public_query: does not apply with monitoring.existing_app_insights_id" in p
               for p in lines), lines
    # what applies is kept
    settings_from_config({**BASE, "amlplatform:monitoring": {"existing_log_analytics_id": la,
                                                              "public_query": "Disabled"}})


def _prod_config():
    from pathlib import Path

    from amlplatform.settings.stack import read_stack_file

    config, _ = read_stack_file(Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.prod.yaml")
    return config


@pytest.mark.parametrize("wrong", ["amlplatfrom:workspace", "amlplatform:workspac"])
def test_a_misspelt_setting_is_one_problem_not_the_cross_setting_errors_its_absence_causes(wrong):
    """prod without its workspace block breaks network and registry rules: those follow from the typo."""
    config = _prod_config()
    config[wrong] = config.pop("amlplatform:workspace")
    with pytest.raises(UserError) as info:
        settings_from_config(config)
    (line,) = info.value.problems
    assert line.startswith(f"{wrong}: ") and "workspace" in line


def test_a_misspelt_setting_keeps_the_problems_of_other_settings():
    config = _prod_config()
    config["amlplatfrom:workspace"] = config.pop("amlplatform:workspace")
    config["amlplatform:storage"] = {**config["amlplatform:storage"], "sku": "Floppy"}
    with pytest.raises(UserError) as info:
        settings_from_config(config)
    assert len(info.value.problems) == 2 and info.value.problems[1].startswith("storage.sku: ")


def test_a_validator_with_several_problems_reports_one_line_each():
    from pydantic import BaseModel, ValidationError, field_validator, model_validator

    from amlplatform.errors import Problems, validation_problems

    class Model(BaseModel):
        names: list = []

        @field_validator("names")
        @classmethod
        def _names(cls, value):
            raise Problems(["name 'a' repeats", "name 'b' repeats"])

        @model_validator(mode="after")
        def _across(self):
            raise Problems(["first; with a semicolon inside", "second"])

    with pytest.raises(ValidationError) as info:
        Model(names=["a"])
    assert validation_problems(info.value) == ["names: name 'a' repeats", "names: name 'b' repeats"]
    with pytest.raises(ValidationError) as info:
        Model()
    assert validation_problems(info.value) == ["first; with a semicolon inside", "second"]


def test_a_stack_yaml_syntax_error_names_the_file_and_line(tmp_path):
    from amlplatform.settings.pulumi_yaml import read_stack_config

    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n  amlplatform:location: westeurope\n  amlplatform:naming: {workload: [}\n")
    with pytest.raises(UserError) as info:
        read_stack_config(path)
    message = str(info.value)
    assert message.startswith(f"{path} is not valid YAML at line 3, column ")
    assert "unicode string" not in message and "\n" not in message


@pytest.mark.parametrize("config,line", [
    ({"amlplatform:storage": [1]}, "storage: must be a mapping of storage settings"),
    ({"amlplatform:key_vault": [1]}, "key_vault: must be a mapping of key vault settings"),
    ({"amlplatform:clusters": [{"name": "cpu", "max_nodes": None}]},
     "clusters[0].max_nodes: must be a valid integer, got null"),
])
def test_problems_speak_yaml_not_pydantic(config, line):
    assert problems(config) == [line]
