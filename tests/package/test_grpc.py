"""The provider as the Pulumi engine uses it for every non-Python program: started as a plugin
process on loopback, asked for its schema, and asked to construct a component under the mock
engine - which must give exactly the resources the Python call gives."""

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2

import amlplatform
from amlplatform import MLWorkspace, provider
from amlplatform.offline.engine import evaluate

from .engine import PROJECT, STACK, Engine, ProviderProcess, input_errors, recorded_view, schema_names, state_of

pytestmark = pytest.mark.slow

NAMES = {"storage_account": "stmlx01", "key_vault": "kv-ml-x01", "container_registry": "crmlx01",
         "workspace": "mlw-x01", "log_analytics": "log-ml-x01", "app_insights": "appi-ml-x01"}
# a public workspace with a few nested settings, integers among them (numbers travel as floats)
ARGS = {
    "resource_group_name": "rg-ml", "location": "westeurope", "tenant_id": "00000000-0000-0000-0000-000000000001",
    "subscription_id": "00000000-0000-0000-0000-000000000002", "names": NAMES,
    "tags": {"team": "fraud", "amlplatform.io/env": "tst"},
    "registry_mode": "service",
    "storage": {"sku": "Standard_LRS", "network_default_action": "Allow", "blob_soft_delete_days": 14,
                "lock": {"kind": "CanNotDelete", "notes": "keep"}},
    "monitoring": {"retention_days": 60},
    "workspace": {"public_network_access": "Enabled", "managed_network": "AllowInternetOutbound"},
}


@pytest.fixture(scope="module")
def engine():
    engine = Engine()
    process = None
    try:
        process = ProviderProcess(engine.address)
        engine.provider = process.stub
        engine.process = process
        yield engine
    finally:
        if process is not None:
            process.kill()
        engine.stop()


def test_get_plugin_info_gives_the_package_version(engine):
    info = engine.provider.GetPluginInfo(empty_pb2.Empty(), timeout=30)
    assert info.version == amlplatform.__version__


def test_get_schema_serves_the_committed_schema(engine):
    import json

    response = engine.provider.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=30)
    assert json.loads(response.schema) == json.loads(provider.SCHEMA_FILE.read_text(encoding="utf-8"))


def test_construct_mlworkspace_gives_the_children_of_the_python_call(engine):
    schema = provider.schema()
    inputs = schema_names(ARGS, schema["resources"]["amlplatform:index:MLWorkspace"]["inputProperties"],
                          schema["types"])
    assert inputs["storage"]["blobSoftDeleteDays"] == 14 and inputs["names"]["storageAccount"] == "stmlx01"
    engine.monitor.monitor.recorded.clear()
    response = engine.construct("amlplatform:index:MLWorkspace", "ml", inputs)

    assert response.urn == f"urn:pulumi:{STACK}::{PROJECT}::amlplatform:index:MLWorkspace::ml"
    state = state_of(response)
    assert state["workspaceName"] == "mlw-x01" and "storageAccountId" in state

    in_process = evaluate(lambda: MLWorkspace("ml", ARGS), project=PROJECT, stack=STACK)
    over_grpc = recorded_view(engine.recorded)
    assert over_grpc == recorded_view(in_process.resources)
    types = {r["type"] for r in over_grpc}
    assert {"amlplatform:index:MLWorkspace", "azure-native:storage:StorageAccount",
            "azure-native:machinelearningservices:Workspace", "azure-native:authorization:ManagementLockByScope"} <= types
    # the integers arrived as integers
    blob = next(r for r in over_grpc if r["type"] == "azure-native:storage:BlobServiceProperties")
    assert blob["inputs"]["deleteRetentionPolicy"]["days"] == 14


def test_construct_refuses_bad_input_naming_the_field(engine):
    schema = provider.schema()
    bad = {**ARGS, "names": NAMES, "storage": {"sku": 3}}
    inputs = schema_names(bad, schema["resources"]["amlplatform:index:MLWorkspace"]["inputProperties"],
                          schema["types"])
    with pytest.raises(grpc.RpcError) as info:
        engine.construct("amlplatform:index:MLWorkspace", "bad", inputs)
    assert "args.storage.sku: must be text, got 3" in info.value.details()


def test_construct_refuses_a_missing_required_input(engine):
    with pytest.raises(grpc.RpcError) as info:
        engine.construct("amlplatform:index:MLWorkspace", "missing", {"location": "westeurope"})
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert input_errors(info.value) == ["resourceGroupName: Missing required input 'resourceGroupName' on 'MLWorkspace'"]


def _output_value(value, dependencies):
    """An output value as the engine sends it to a provider that accepts outputs (Configure)."""
    from pulumi.runtime.rpc import _special_output_value_sig, _special_sig_key

    return {_special_sig_key: _special_output_value_sig, "value": value, "dependencies": list(dependencies)}


def test_construct_keeps_the_dependencies_of_inputs_from_other_resources(engine):
    from pulumi_azure_native import resources

    def program():
        other = resources.ResourceGroup("other", resource_group_name="rg-ml")
        MLWorkspace("ml", {**ARGS, "resource_group_name": other.id.apply(lambda _: "rg-ml"),
                           "key_vault": {"existing_id": other.id.apply(lambda i: f"{i}/providers/kv")}})

    in_process = evaluate(program, project=PROJECT, stack=STACK)
    other = in_process.named("other")
    schema = provider.schema()
    inputs = schema_names({**ARGS, "key_vault": {}}, schema["resources"]["amlplatform:index:MLWorkspace"]
                          ["inputProperties"], schema["types"])
    inputs["resourceGroupName"] = _output_value("rg-ml", [other.urn])
    inputs["keyVault"] = {"existingId": _output_value(f"{other.id}/providers/kv", [other.urn])}
    engine.monitor.monitor.recorded.clear()
    engine.construct("amlplatform:index:MLWorkspace", "ml", inputs,
                     dependencies={"resourceGroupName": [other.urn], "keyVault": [other.urn]})

    over_grpc = recorded_view(engine.recorded)
    assert over_grpc == recorded_view([r for r in in_process.resources if r.name != "other"])
    workspace = next(r for r in over_grpc if r["type"] == "azure-native:machinelearningservices:Workspace")
    assert other.urn in workspace["dependencies"] and other.urn in workspace["property_dependencies"]["keyVault"]
    assert not any(r["type"] == "azure-native:keyvault:Vault" for r in over_grpc)  # existing vault: none made


# the top-level component: a public platform with a cluster and a data scientist
PLATFORM = {
    "location": "westeurope", "naming": {"workload": "fraud", "environment": "tst"},
    "tenant_id": "00000000-0000-0000-0000-000000000001", "subscription_id": "00000000-0000-0000-0000-000000000002",
    "deployer_object_id": "00000000-0000-0000-0000-000000000003",
    "workspace": {"public_network_access": "Enabled", "managed_network": "AllowInternetOutbound"},
    "clusters": [{"name": "cpu", "vm_size": "Standard_DS3_v2", "max_nodes": 2}],
    "access": {"data_scientists": [{"principal_id": "00000000-0000-0000-0000-000000000004", "description": "ds"}]},
}


def test_construct_mlplatform_gives_the_children_of_the_python_call(engine):
    from amlplatform import MLPlatform

    schema = provider.schema()
    inputs = schema_names(PLATFORM, schema["resources"]["amlplatform:index:MLPlatform"]["inputProperties"],
                          schema["types"])
    assert inputs["clusters"][0]["maxNodes"] == 2 and inputs["access"]["dataScientists"][0]["principalId"]
    engine.monitor.monitor.recorded.clear()
    response = engine.construct("amlplatform:index:MLPlatform", "ml", inputs)

    assert response.urn == f"urn:pulumi:{STACK}::{PROJECT}::amlplatform:index:MLPlatform::ml"
    assert "workspaceName" in state_of(response)
    in_process = evaluate(lambda: MLPlatform("ml", PLATFORM), project=PROJECT, stack=STACK)
    over_grpc = recorded_view(engine.recorded)
    assert over_grpc == recorded_view(in_process.resources)
    types = {r["type"] for r in over_grpc}
    assert {"amlplatform:index:MLPlatform", "amlplatform:index:MLWorkspace", "amlplatform:index:ComputeCluster",
            "azure-native:machinelearningservices:Workspace", "azure-native:authorization:RoleAssignment"} <= types
    cluster = next(r for r in over_grpc if r["type"] == "azure-native:machinelearningservices:Compute")
    assert cluster["inputs"]["properties"]["properties"]["scaleSettings"]["maxNodeCount"] == 2  # an integer
