"""Every asset a shipped stack's deployments name is created by the same plan and waited for (a first
`pulumi up` completes in one run); the settings, the mapping and the upload listing that make it so."""

import json
from pathlib import Path

import pytest

from amlplatform.errors import UserError
from amlplatform.iac.platform import serving as serving_map
from amlplatform.iac.serving.assets import resolve_references
from amlplatform.review.deployability.assets import VERSIONS, deployment_assets
from amlplatform.review.deployability._graph import resource_id, same_id
from amlplatform.spec.platform import StackSettings
from amlplatform.stack.inputs import read_asset_files

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = ("azure-native:machinelearningservices:OnlineDeployment",
               "azure-native:machinelearningservices:BatchDeployment")
BLOB = "azure-native:storage:Blob"
ROLE = "azure-native:authorization:RoleAssignment"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
BASE = {"location": "westeurope", "naming": {"workload": "fraud", "environment": "tst"},
        "workspace": {"public_network_access": "Enabled"}}


def _producer(graph, asset_id):
    for type_ in VERSIONS.values():
        for res in graph.of_type(type_):
            if same_id(resource_id(res), asset_id.removeprefix("azureml:")):
                return res
    return None


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_asset_a_deployment_names_is_produced_by_a_resource_it_waits_for(stack_graph, stack):
    g = stack_graph(stack)
    by_urn = g.by_urn()
    named = 0
    for d in [r for t in DEPLOYMENTS for r in g.of_type(t)]:
        waits = set(g.resource_dependencies(d))
        for field, asset in deployment_assets(d):
            producer = _producer(g, asset)
            assert producer is not None, f"{d.name}.{field}: {asset} is created by nothing in the {stack} plan"
            assert producer.urn in waits, f"{d.name}.{field}: does not wait for {producer.name}"
            named += 1
        build = g.one("azure-native:machinelearningservices:Workspace").inputs.get("imageBuildCompute")
        if build:
            assert any(by_urn[u].inputs.get("computeName") == build for u in waits), f"{d.name}: no wait for {build}"
    assert named == {"dev": 1, "staging": 0, "prod": 12}[stack]


def test_prod_uploads_each_file_after_the_deployers_data_role_and_registers_after_the_upload(stack_graph):
    g = stack_graph("prod")
    by_urn = g.by_urn()
    [grant] = [r for r in g.of_type(ROLE) if r.name == "asset-store-deployer-upload"]
    assert grant.inputs["roleDefinitionId"].endswith(BLOB_CONTRIBUTOR)
    assert grant.inputs["scope"].endswith("/blobServices/default/containers/amlplatform-assets")
    assert grant.inputs["principalType"] == "ServicePrincipal"
    blobs = g.of_type(BLOB)
    model_files = sorted(p.name for p in (ROOT / "serving/models/credit-default/1/model").iterdir())
    assert sorted(b.inputs["blobName"] for b in blobs if b.inputs["blobName"].startswith("models/credit-default/1/")) \
        == [f"models/credit-default/1/model/{f}" for f in model_files]
    store_datastore = g.named("asset-store-datastore")
    for b in blobs:
        assert b.inputs["containerName"] == "amlplatform-assets" and b.inputs["type"] == "Block"
        # after the role, and after the workspace's datastore: the role has the workspace's minutes to take effect
        assert {grant.urn, store_datastore.urn} <= set(g.resource_dependencies(b))
    model = g.named("asset-model-credit-default-1-version")
    # the long form azure-ai-ml sends for what it uploads (what the service keeps: no drift on a second up)
    assert model.inputs["properties"]["modelUri"] == (
        "azureml://subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-fraud-prod/workspaces/"
        "mlw-fraud-prod/datastores/amlplatform_assets/paths/models/credit-default/1/model")
    assert model.inputs["properties"]["modelType"] == "mlflow_model"
    uploaded = {by_urn[u].inputs["blobName"] for u in g.resource_dependencies(model) if by_urn[u].type == BLOB}
    assert uploaded == {f"models/credit-default/1/model/{f}" for f in model_files}
    code = g.named("asset-code-fraud-score-code-1-version")
    assert code.inputs["properties"]["codeUri"].endswith(".blob.core.windows.net/amlplatform-assets/codes/"
                                                         "fraud-score-code/1/model")


def test_prod_pipeline_component_names_its_step_by_id_and_waits_for_it(stack_graph):
    g = stack_graph("prod")
    step = g.named("asset-component-fraud-rescore-step-1-version")
    pipeline = g.named("asset-component-fraud-rescoring-1-version")
    spec = pipeline.inputs["properties"]["componentSpec"]
    assert spec["type"] == "pipeline" and "$schema" not in spec
    assert spec["jobs"]["rescore"]["componentId"] == "azureml:" + resource_id(step)
    assert "component" not in spec["jobs"]["rescore"]
    assert step.urn in g.resource_dependencies(pipeline)
    step_spec = step.inputs["properties"]["componentSpec"]
    assert step_spec["code"] == "azureml:" + resource_id(g.named("asset-code-fraud-batch-code-1-version"))
    assert step_spec["environment"] == "azureml:" + resource_id(g.named("env-fraud-scoring-version"))


def test_data_assets_one_version_per_entry(stack_graph):
    prod = stack_graph("prod")
    version = prod.named("data-raw-transactions-1-version")
    assert version.inputs["properties"]["dataUri"] == "azureml://datastores/raw_transactions/paths/daily/"
    assert version.inputs["properties"]["dataType"] == "uri_folder"
    assert prod.named("datastore-raw_transactions-datastore").urn in prod.resource_dependencies(version)
    staging = stack_graph("staging")
    points = staging.named("data-example-points-1-version")
    assert points.inputs["properties"]["dataType"] == "uri_file"
    store = ("azureml://subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-fraud-stg/workspaces/"
             "mlw-fraud-stg/datastores/amlplatform_assets/paths/")
    assert points.inputs["properties"]["dataUri"] == store + "data/example-points/1/points.csv"
    rows = staging.named("data-example-rows-1-version")
    assert rows.inputs["properties"]["dataUri"] == store + "data/example-rows/1/rows/"
    assert {b.inputs["blobName"] for b in staging.of_type(BLOB)} == {
        "data/example-points/1/points.csv", "data/example-rows/1/rows/part-0.csv", "data/example-rows/1/rows/part-1.csv"}


def test_a_stack_declares_nothing_for_an_existing_asset_and_the_deployment_says_so():
    s = StackSettings.model_validate({**BASE, "assets": {"models": [
        {"name": "credit-default", "version": "9", "existing": True}]}, "online_endpoints": [
        {"name": "fraud-ack", "deployments": [{"name": "blue", "model": "azureml:credit-default:9",
                                               "instance_type": "Standard_DS3_v2"}]}]})
    assert serving_map.uploaded_paths(s) == {}
    assert serving_map.asset_version_args(s, {}, {}) == []
    [dep] = serving_map.online_endpoint_args(s, 0, "W")["deployments"]
    assert dep["existing_assets"] == ["azureml:credit-default:9"]


@pytest.mark.parametrize("entry, message", [
    ({"name": "m", "version": "1"}, "path: required"),
    ({"name": "m", "version": "1", "path": "a", "existing": True}, "not used with existing"),
    ({"name": "m", "version": "1", "path": "../outside"}, "relative to the project folder"),
    ({"name": "m", "version": "1", "path": "/abs/model"}, "relative to the project folder"),
    ({"name": "m", "version": "1", "existing": True, "description": "x"}, "not used with existing"),
])
def test_model_entries_are_checked(entry, message):
    with pytest.raises(Exception, match=message):
        StackSettings.model_validate({**BASE, "assets": {"models": [entry]}})


def test_a_version_is_declared_once():
    with pytest.raises(Exception, match=r"models\[1\]: azureml:m:1 is already models\[0\]"):
        StackSettings.model_validate({**BASE, "assets": {"models": [{"name": "m", "version": "1", "path": "a"},
                                                                      {"name": "m", "version": "1", "path": "b"}]}})


@pytest.mark.parametrize("entry, message", [
    ({"name": "d", "version": "1", "path": "azureml://datastores/nowhere/paths/x/"}, "not one of the stack's datastores"),
    ({"name": "d", "version": "1", "type": "uri_file", "path": "azureml://datastores/workspaceblobstore/paths/x/"},
     "names a file"),
    ({"name": "d", "version": "1", "path": "https://example.org/data"}, "azureml://datastores"),
    ({"name": "d", "version": "1", "path": "azureml://datastores/x"}, "azureml://datastores/<datastore>/paths"),
])
def test_data_asset_entries_are_checked(entry, message):
    with pytest.raises(Exception, match=message):
        StackSettings.model_validate({**BASE, "data_assets": [entry]})


def test_the_workspace_datastores_are_valid_data_paths():
    s = StackSettings.model_validate({**BASE, "data_assets": [
        {"name": "d", "version": "1", "path": "azureml://datastores/workspaceblobstore/paths/raw/"}]})
    [group] = serving_map.data_asset_args(s, {})
    [args] = group["versions"]
    assert args["path"] == "azureml://datastores/workspaceblobstore/paths/raw/" and "files" not in args
    assert group["datastores"] == ["workspaceblobstore"]  # the service's own: nothing of the stack to wait for


def test_upload_listing_is_bounded_and_refuses_links_and_missing_paths(tmp_path):
    (tmp_path / "model" / "__pycache__").mkdir(parents=True)
    (tmp_path / "model" / "MLmodel").write_text("flavors: {}\n")
    (tmp_path / "model" / "sub").mkdir()
    (tmp_path / "model" / "sub" / "w.bin").write_bytes(b"\0\1")
    (tmp_path / "model" / "__pycache__" / "x.pyc").write_bytes(b"")
    s = StackSettings.model_validate({**BASE, "assets": {"models": [{"name": "m", "version": "1", "path": "model"}]}})
    listing = read_asset_files(s, tmp_path)
    assert list(listing["model"]) == ["MLmodel", "sub/w.bin"]
    # relative to the working directory (a blob's source path is part of its state: the same on every machine)
    assert not Path(listing["model"]["MLmodel"]).is_absolute()
    assert (Path.cwd() / listing["model"]["MLmodel"]).resolve() == (tmp_path / "model" / "MLmodel").resolve()
    (tmp_path / "model" / "loop").symlink_to(tmp_path / "model")
    with pytest.raises(UserError) as err:
        read_asset_files(s, tmp_path)
    assert "symbolic link" in str(err.value.problems)
    missing = StackSettings.model_validate({**BASE, "assets": {"code": [{"name": "c", "version": "1", "path": "nope"}]}})
    with pytest.raises(UserError) as err:
        read_asset_files(missing, tmp_path)
    assert "assets.code[0].path: no file or folder 'nope'" in str(err.value.problems)


def test_a_component_may_only_name_assets_of_the_stack():
    spec = {"type": "command", "code": "azureml:other:1", "environment": "azureml://registries/azureml/environments/x/versions/1"}
    with pytest.raises(ValueError, match="azureml:other:1 is not an asset of this stack"):
        resolve_references(spec, {})
    out = resolve_references(spec, {"azureml:other:1": "/subscriptions/s/x/codes/other/versions/1"})
    assert out["code"] == "azureml:/subscriptions/s/x/codes/other/versions/1"
    assert out["environment"] == spec["environment"]  # a registry asset is sent as given
    with pytest.raises(ValueError, match="inline component"):
        resolve_references({"type": "pipeline", "jobs": {"a": {"component": {"type": "command"}}}}, {})


def test_components_come_after_what_they_name_and_a_cycle_is_refused(tmp_path):
    files = {"p.yml": "type: pipeline\njobs:\n  a:\n    component: azureml:step:1\n",
             "s.yml": "type: command\ncommand: echo\n"}
    s = StackSettings.model_validate({**BASE, "assets": {"components": [
        {"name": "pipe", "version": "1", "file": "p.yml"}, {"name": "step", "version": "1", "file": "s.yml"}]}})
    order = [a["asset_name"] for a in serving_map.asset_version_args(s, {}, files)]
    assert order == ["step", "pipe"]
    assert json.loads(serving_map.asset_version_args(s, {}, files)[1]["component_spec"])["name"] == "pipe"
    cyclic = {"p.yml": "type: pipeline\njobs:\n  a:\n    component: azureml:step:1\n",
              "s.yml": "type: pipeline\njobs:\n  b:\n    component: azureml:pipe:1\n"}
    with pytest.raises(ValueError, match="cycle"):
        serving_map.asset_version_args(s, {}, cyclic)
    with pytest.raises(ValueError, match="names azureml:gone:1, which the stack does not declare"):
        serving_map.asset_version_args(s, {}, {"p.yml": "type: pipeline\njobs:\n  a:\n    component: azureml:gone:1\n",
                                               "s.yml": "type: command\n"})


def test_the_platform_component_asks_for_the_files_it_uploads():
    from amlplatform.iac._base import ComponentArgsError
    from amlplatform.iac.platform import MLPlatform
    from amlplatform.offline.engine import evaluate

    args = {**BASE, "subscription_id": "00000000-0000-0000-0000-000000000000",
            "deployer_object_id": "3f1c9a52-6d7e-4b8f-a012-5c6d7e8f9a0b", "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "assets": {"models": [{"name": "m", "version": "1", "path": "serving/models/credit-default/1/model"}]}}
    with pytest.raises(ComponentArgsError) as err:
        evaluate(lambda: MLPlatform("ml", args), project="amlplatform", stack="t")
    assert "args.asset_files: needs the files of 'serving/models/credit-default/1/model' (assets.models[0].path)" \
        in str(err.value.problems)
    listing = {"serving/models/credit-default/1/model": {"MLmodel": "serving/models/credit-default/1/model/MLmodel"}}
    g = evaluate(lambda: MLPlatform("ml", {**args, "asset_files": listing}), project="amlplatform", stack="t")
    [blob] = g.of_type(BLOB)
    assert blob.inputs["blobName"] == "models/m/1/model/MLmodel"
