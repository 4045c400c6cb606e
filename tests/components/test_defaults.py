"""Each default is written once, beside the component's Args (``defaults(...)``): the component
applies it, the package schema and the stack settings read it from there, and no docstring
writes it again by hand."""

import ast
import re
import sys
from pathlib import Path

import pytest

from amlplatform import provider
from amlplatform.iac._base import declared_defaults, defaults
from amlplatform.iac.compute import compute, environments
from amlplatform.iac.workspace import keyvault, monitoring, registry, storage, workspace
from amlplatform.spec.compute import ClusterSettings, InstancesSettings, ScheduleSettings
from amlplatform.spec.environments import EnvironmentSettings
from amlplatform.offline.engine import evaluate
from amlplatform.spec.core import KeyVaultSettings, MonitoringSettings, RegistrySettings, StorageSettings, \
    WorkspaceSettings

provider.components()  # import every component module, so every declaration is registered


def test_a_bare_storage_account_gets_the_declared_defaults():
    graph = evaluate(lambda: storage.WorkspaceStorage("st", {"resource_group_name": "rg", "location": "l",
                                                             "account_name": "stx"}), project="p", stack="s")
    account = graph.one("azure-native:storage:StorageAccount").inputs
    blob = graph.one("azure-native:storage:BlobServiceProperties").inputs
    d = storage.DEFAULTS
    assert account["sku"] == {"name": d["sku"]}
    assert account["allowSharedKeyAccess"] is d["allow_shared_key_access"]
    assert account["publicNetworkAccess"] == d["public_network_access"]
    assert blob["deleteRetentionPolicy"]["days"] == d["blob_soft_delete_days"]
    assert blob["containerDeleteRetentionPolicy"]["days"] == d["container_soft_delete_days"]
    assert blob["isVersioningEnabled"] is d["versioning"]


@pytest.mark.parametrize("model,component,fields", [
    (StorageSettings, storage.DEFAULTS, {"sku": "sku", "allow_shared_key_access": "allow_shared_key_access",
                                         "blob_soft_delete_days": "blob_soft_delete_days",
                                         "container_soft_delete_days": "container_soft_delete_days",
                                         "versioning": "versioning"}),
    (KeyVaultSettings, keyvault.DEFAULTS, {"sku": "sku", "purge_protection": "purge_protection",
                                           "soft_delete_retention_days": "soft_delete_retention_days",
                                           "create_mode": "create_mode"}),
    (MonitoringSettings, monitoring.DEFAULTS, {"retention_days": "retention_days",
                                               "app_insights_local_auth": "app_insights_local_auth",
                                               "log_analytics_local_auth": "log_analytics_local_auth"}),
    (MonitoringSettings, monitoring.SCOPE_DEFAULTS, {"query_access_mode": "query_access_mode"}),
    (RegistrySettings, registry.DEFAULTS, {"sku": "sku", "zone_redundancy": "zone_redundancy",
                                           "untagged_retention_days": "untagged_retention_days"}),
    (RegistrySettings, workspace.DEFAULTS, {"mode": "registry_mode"}),
    (ClusterSettings, compute.CLUSTER_DEFAULTS, {
        "vm_size": "vm_size", "priority": "priority", "min_nodes": "min_nodes", "max_nodes": "max_nodes",
        "idle_time_before_scale_down": "idle_time_before_scale_down",
        "remote_login_port_public_access": "remote_login_port_public_access"}),
    (InstancesSettings, compute.INSTANCE_DEFAULTS, {"vm_size": "vm_size",
                                                    "idle_time_before_shutdown": "idle_time_before_shutdown"}),
    (ScheduleSettings, compute.SCHEDULE_DEFAULTS, {"time_zone": "time_zone"}),
    (EnvironmentSettings, environments.DEFAULTS, {"version": "version"}),
    (WorkspaceSettings, workspace.DEFAULTS, {"identity": "identity", "managed_network": "managed_network",
                                             "hbi_workspace": "hbi_workspace",
                                             "system_datastores_auth_mode": "system_datastores_auth_mode"}),
])
def test_a_stack_that_leaves_a_setting_out_gets_the_components_default(model, component, fields):
    for setting, arg in fields.items():
        assert model.model_fields[setting].default == component[arg], (model.__name__, setting)


def test_the_schema_carries_every_declared_default():
    schema = provider.schema()
    storage_props = schema["resources"]["amlplatform:index:WorkspaceStorage"]["inputProperties"]
    assert storage_props["sku"]["default"] == storage.DEFAULTS["sku"]
    assert storage_props["sku"]["description"].endswith("Default: `Standard_ZRS`.")
    spec_props = schema["types"]["amlplatform:index:StorageSpec"]["properties"]
    assert spec_props["blobSoftDeleteDays"]["default"] == storage.DEFAULTS["blob_soft_delete_days"]
    # a default MLWorkspace works out itself (from the workspace's network) is not the part's own
    assert "default" not in spec_props["publicNetworkAccess"]
    found = sum("default" in p for r in schema["resources"].values() for p in r["inputProperties"].values()) + \
        sum("default" in p for t in schema["types"].values() for p in (t.get("properties") or {}).values())
    # every plain default (a list's, like EgressFirewallSpec.fqdn_tags, is in the description only)
    assert found == sum(1 for d in declared_defaults().values() for v in d.values()
                        if isinstance(v, (str, bool, int, float)))


def _field_docstrings(cls):
    tree = ast.parse(Path(sys.modules[cls.__module__].__file__).read_text())
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__]
    for a, b in zip(node.body, node.body[1:]):
        if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant):
            yield a.target.id, b.value.value


def test_no_docstring_writes_a_declared_default_again():
    claims = []
    for cls, declared in declared_defaults().items():
        for field, doc in _field_docstrings(cls):
            prose = re.sub(r"`[^`]*`", "", doc)  # `default` as a value is not a claim
            if field in declared and re.search(r"(?i)\bdefault", prose):
                claims.append(f"{cls.__name__}.{field}: {doc!r}")
    assert claims == []


def test_declaring_a_default_checks_the_field_and_its_type():
    with pytest.raises(TypeError, match=r"WorkspaceStorageArgs.skuu: is not a field"):
        defaults(storage.WorkspaceStorageArgs, skuu="Standard_LRS")
    with pytest.raises(TypeError, match=r"WorkspaceStorageArgs.versioning: must be true or false"):
        defaults(storage.WorkspaceStorageArgs, versioning="yes")
