"""What the program declares for datastores and endpoints (prod and dev under the mock engine):
the resources, their secure defaults, the edges, and how review (ARM export, text plan, picture,
estimate) shows them."""

import pulumi
import pytest

from amlplatform.errors import UserError
from amlplatform.offline.engine import SECRET, evaluate, evaluate_stack

# private by default: the workspace and its dependencies need an inbound path (a VNet for their
# private endpoints, and one for AKS nodes; tests/network), which is not what these tests are about
NETWORK = {"vnet": {"address_space": ["10.50.0.0/22"], "private_endpoints_subnet": "10.50.0.0/26",
                    "aks_subnet": "10.50.1.0/24"}}

DATASTORE = "azure-native:machinelearningservices:Datastore"
CONTAINER = "azure-native:storage:BlobContainer"
ROLE = "azure-native:authorization:RoleAssignment"
ONLINE = "azure-native:machinelearningservices:OnlineEndpoint"
DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
BATCH = "azure-native:machinelearningservices:BatchEndpoint"
BATCH_DEPLOYMENT = "azure-native:machinelearningservices:BatchDeployment"
WRITE = "azure-native:resources:Resource"
COMPUTE = "azure-native:machinelearningservices:Compute"
MLW = "azure-native:machinelearningservices:Workspace"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"


def deps(graph, res):
    by_urn = graph.by_urn()
    return {by_urn[u].name for u in graph.resource_dependencies(res)}


def endpoint(graph, name):
    return next(r for r in graph.of_type(ONLINE) if r.inputs["endpointName"] == name)


def raw_transactions(graph, type_):
    """The raw_transactions datastore's resource of ``type_`` (prod also has the asset store's)."""
    [found] = [r for r in graph.of_type(type_) if r.name.startswith("datastore-raw_transactions-")]
    return found


def deployments_of(graph, type_, name):
    return {r.inputs["deploymentName"]: r for r in graph.of_type(type_) if r.inputs["endpointName"] == name}


# ----------------------------------------------------------------------------- datastores

def test_prod_datastore_is_identity_based_on_a_private_container(stack_graph):
    g = stack_graph("prod")
    ds = raw_transactions(g, DATASTORE)
    props = ds.inputs["properties"]
    assert ds.inputs["name"] == "raw_transactions"
    assert props["datastoreType"] == "AzureBlob"
    assert props["credentials"] == {"credentialsType": "None"}
    assert props["serviceDataAccessAuthIdentity"] == "WorkspaceSystemAssignedIdentity"
    assert props["accountName"] == g.one("azure-native:storage:StorageAccount").inputs["accountName"]
    container = raw_transactions(g, CONTAINER)
    assert container.inputs["containerName"] == props["containerName"] == "raw-transactions"
    assert container.inputs["publicAccess"] == "None"
    assert "datastore-raw_transactions-container" in deps(g, ds)


def test_prod_datastore_roles_are_scoped_to_its_container(stack_graph):
    g = stack_graph("prod")
    container = raw_transactions(g, CONTAINER)
    roles = [r for r in g.of_type(ROLE) if r.inputs["scope"] == container.id]
    by_principal = {r.inputs["principalId"]: r for r in roles}
    workspace_principal = g.outputs["workspace_principal_id"]
    assert set(by_principal) == {workspace_principal, "5b3c0a1e-7d2f-4e8a-9c61-2f4d8e9a0b13"}
    for role in roles:
        assert role.inputs["roleDefinitionId"].endswith(BLOB_READER)
        assert "datastore-raw_transactions-container" in deps(g, role)
    assert by_principal[workspace_principal].inputs["principalType"] == "ServicePrincipal"
    assert container.id.endswith("/blobServices/default/containers/raw-transactions")


def test_a_credential_comes_from_secret_config_only(make_stack):
    account = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-data/providers/"
               "Microsoft.Storage/storageAccounts/stlanding")
    base = {"amlplatform:location": "westeurope", "amlplatform:naming": {"workload": "fraud", "environment": "tst"},
            "amlplatform:network": NETWORK,
            "amlplatform:datastores": [{"name": "landing", "container": "landing", "storage_account_id": account,
                                        "auth": "account_key", "secret_config_key": "datastores:landing-key"}]}
    project = make_stack({**base, "datastores:landing-key": {"secure": "v1:AAAAencrypted"}}, name="secret")
    g = evaluate_stack("secret", project_dir=project)
    props = g.one(DATASTORE).inputs["properties"]
    assert props["credentials"]["credentialsType"] == "AccountKey"
    assert props["credentials"]["secrets"] == SECRET or props["credentials"]["secrets"]["key"] == SECRET
    assert not g.of_type(CONTAINER)  # another team's account: the container is theirs
    assert not [r for r in g.of_type(ROLE) if "landing" in r.name]  # credentials, no data roles

    project = make_stack({**base, "datastores:landing-key": "the-account-key-in-plain-text"}, name="plain")
    with pytest.raises(UserError, match=r"datastores\[0\].secret_config_key: config key 'datastores:landing-key' "
                                        r"is not a secret; plain values are refused"):
        evaluate_stack("plain", project_dir=project)
    project = make_stack(base, name="missing")
    with pytest.raises(UserError, match=r"datastores\[0\].secret_config_key: the stack has no config key"):
        evaluate_stack("missing", project_dir=project)


def test_datastore_component_refuses_a_plain_secret():
    from amlplatform.iac.data.datastores import Datastore

    def program():
        Datastore("raw", {"resource_group_name": "rg", "workspace_name": "mlw", "subscription_id": "s",
                          "datastore_name": "raw", "storage_account_id": "x", "container": "raw",
                          "credentials": "sas", "secret": "sv=2024&sig=plain"})

    with pytest.raises(Exception, match="plain values are refused"):
        evaluate(program, project="amlplatform", stack="t")


# ----------------------------------------------------------------------------- online endpoints

def test_prod_managed_endpoint_follows_the_private_workspace(stack_graph):
    g = stack_graph("prod")
    ep = endpoint(g, "fraud-score-prod")
    assert ep.inputs["properties"]["authMode"] == "AADToken"
    assert ep.inputs["properties"]["publicNetworkAccess"] == "Disabled"
    assert "compute" not in ep.inputs["properties"]
    assert "traffic" not in ep.inputs["properties"]  # set after the deployments exist
    assert set(ep.ignore_changes) == {"properties.traffic", "properties.mirrorTraffic"}
    deps_ = deployments_of(g, DEPLOYMENT, "fraud-score-prod")
    assert set(deps_) == {"blue", "green"}
    blue = deps_["blue"].inputs
    assert blue["properties"]["endpointComputeType"] == "Managed"
    assert blue["properties"]["instanceType"] == "Standard_DS3_v2" and blue["sku"]["capacity"] == 3
    assert blue["properties"]["model"] == f"{g.one(MLW).id}/models/credit-default/versions/1"
    assert blue["properties"]["livenessProbe"]["initialDelay"] == "PT10S"
    assert blue["properties"]["requestSettings"]["requestTimeout"] == "PT5S"


def test_traffic_is_written_after_every_deployment(stack_graph):
    g = stack_graph("prod")
    for name, traffic, mirror in (("fraud-score-prod", {"blue": 100, "green": 0}, {"green": 10}),
                                  ("fraud-aks-prod", {"blue": 90, "green": 10}, None)):
        write = next(r for r in g.of_type(WRITE) if r.inputs["resourceName"] == name)
        assert write.inputs["resourceType"] == "onlineEndpoints"
        assert write.inputs["parentResourcePath"] == "workspaces/mlw-fraud-prod"
        assert write.inputs["properties"]["traffic"] == traffic
        assert write.inputs["properties"].get("mirrorTraffic") == mirror
        assert write.retain_on_delete  # deleting it would delete the endpoint the other resource owns
        expected = {d.name for d in deployments_of(g, DEPLOYMENT, name).values()} | {endpoint(g, name).name}
        assert expected <= deps(g, write)
        # the second write repeats what the endpoint says, so it never undoes it
        ep_props = endpoint(g, name).inputs["properties"]
        for key in ("authMode", "publicNetworkAccess"):
            assert write.inputs["properties"][key] == ep_props[key]


def test_prod_kubernetes_endpoint_runs_on_the_attached_target(stack_graph):
    g = stack_graph("prod")
    ep = endpoint(g, "fraud-aks-prod")
    attach = next(r for r in g.of_type(COMPUTE) if r.inputs["properties"]["computeType"] == "Kubernetes")
    assert ep.inputs["properties"]["compute"] == attach.id
    assert attach.name in deps(g, ep)
    assert ep.inputs["properties"]["authMode"] == "AMLToken"  # Entra tokens are managed-only
    types = set(attach.inputs["properties"]["properties"]["instanceTypes"])
    deps_ = deployments_of(g, DEPLOYMENT, "fraud-aks-prod")
    for d in deps_.values():
        assert d.inputs["properties"]["endpointComputeType"] == "Kubernetes"
        assert d.inputs["properties"]["instanceType"] in types
        assert d.inputs["properties"]["codeConfiguration"]["scoringScript"] == "score.py"
    scale = deps_["blue"].inputs["properties"]["scaleSettings"]
    assert scale == {"scaleType": "TargetUtilization", "minInstances": 2, "maxInstances": 6,
                     "targetUtilizationPercentage": 70, "pollingInterval": "PT1S"}


def test_dev_has_a_managed_endpoint_that_follows_its_public_workspace(stack_graph):
    g = stack_graph("dev")
    ep = endpoint(g, "fraud-score-dev")
    assert ep.inputs["properties"]["publicNetworkAccess"] == "Enabled"  # dev's workspace is public
    assert ep.inputs["properties"]["authMode"] == "AADToken"
    [blue] = deployments_of(g, DEPLOYMENT, "fraud-score-dev").values()
    # no managed network in dev: legacy per-deployment egress follows the workspace
    assert blue.inputs["properties"]["egressPublicNetworkAccess"] == "Enabled"
    write = next(r for r in g.of_type(WRITE) if r.inputs["resourceName"] == "fraud-score-dev")
    assert write.inputs["properties"]["traffic"] == {"blue": 100}


def test_key_auth_records_its_reason(make_stack):
    project = make_stack({
        "amlplatform:location": "westeurope", "amlplatform:naming": {"workload": "fraud", "environment": "tst"},
        "amlplatform:network": NETWORK,
        "amlplatform:online_endpoints": [{"name": "fraud-keys", "auth_mode": "Key",
                                          "key_auth_reason": "the partner's client can only send static keys"}]},
        name="keys")
    ep = evaluate_stack("keys", project_dir=project).one(ONLINE)
    assert ep.inputs["properties"]["authMode"] == "Key"
    assert ep.inputs["tags"]["amlplatform.io/key-auth-reason"] == "the partner's client can only send static keys"


@pytest.mark.parametrize("args, words", [
    ({"traffic": {"red": 100}}, "traffic names 'red', not deployments of this endpoint"),
    ({"traffic": {"blue": 40}}, "traffic must sum to 100, sums to 40"),
    ({"auth_mode": "Key"}, "auth_mode Key needs key_auth_reason"),
    ({"kind": "kubernetes", "compute_id": "x", "auth_mode": "AADToken"}, "AADToken is supported on managed"),
    ({"endpoint_name": "x"}, "must be 3-32 characters long"),
])
def test_online_endpoint_component_checks_its_arguments(args, words):
    from amlplatform.iac.serving.endpoints import OnlineEndpoint

    def program():
        OnlineEndpoint("ep", {"resource_group_name": "rg", "workspace_name": "mlw", "location": "westeurope",
                              "endpoint_name": "fraud-ep", "deployments": [{"name": "blue", "model": "m",
                                                                            "instance_type": "Standard_DS3_v2"}],
                              **args})

    with pytest.raises(Exception, match=words):
        evaluate(program, project="amlplatform", stack="t")


# ----------------------------------------------------------------------------- batch

def test_prod_batch_endpoint_runs_on_its_cluster(stack_graph):
    g = stack_graph("prod")
    ep = g.one(BATCH)
    assert ep.inputs["properties"]["authMode"] == "AADToken"
    cpu = next(r for r in g.of_type(COMPUTE) if r.inputs["computeName"] == "cpu")
    deps_ = deployments_of(g, BATCH_DEPLOYMENT, "fraud-batch-prod")
    nightly, pipeline = deps_["nightly"], deps_["rescoring-pipeline"]
    assert nightly.inputs["properties"]["compute"] == cpu.id
    assert nightly.inputs["properties"]["model"]["referenceType"] == "Id"
    assert nightly.inputs["properties"]["resources"]["instanceCount"] == 2
    config = pipeline.inputs["properties"]["deploymentConfiguration"]
    assert config["deploymentConfigurationType"] == "PipelineComponent"
    assert config["settings"]["default_compute"] == "cpu"
    for d in deps_.values():
        assert cpu.name in deps(g, d)  # waits for the cluster
    default = next(r for r in g.of_type(WRITE) if r.inputs["resourceType"] == "batchEndpoints")
    assert default.inputs["properties"]["defaults"] == {"deploymentName": "nightly"}
    assert {d.name for d in deps_.values()} <= deps(g, default)


def test_serving_outputs(stack_graph):
    outputs = stack_graph("prod").outputs
    assert set(outputs["online_endpoint_ids"]) == {"fraud-score-prod", "fraud-aks-prod"}
    assert set(outputs["batch_endpoint_ids"]) == {"fraud-batch-prod"}
    assert outputs["datastore_ids"]["raw_transactions"].endswith("/datastores/raw_transactions")
    assert set(outputs["data_asset_ids"]) == {"raw-transactions:1"}
    staging = stack_graph("staging").outputs  # data assets only: no endpoints, no datastores
    assert set(staging["data_asset_ids"]) == {"example-rows:1", "example-points:1"}
    assert staging["online_endpoint_ids"] == {} and staging["datastore_ids"] == {}


# ----------------------------------------------------------------------------- review

def test_arm_export_has_the_new_types_once(stack_graph):
    from amlplatform.review import arm

    template = arm.to_arm_template(stack_graph("prod"), exceptions=[])
    by_type = {}
    for body in template["resources"]:
        by_type.setdefault(body["type"], []).append(body)
    assert {b["name"] for b in by_type["Microsoft.MachineLearningServices/workspaces/onlineEndpoints"]} == {
        "mlw-fraud-prod/fraud-score-prod", "mlw-fraud-prod/fraud-aks-prod"}
    online_deployments = by_type["Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"]
    assert len(online_deployments) == 4
    for body in online_deployments:  # ARM's shape: sku at the top, the deployment under properties
        assert body["sku"]["name"] == "Default" and "endpointComputeType" in body["properties"]
        assert body["name"].count("/") == 2
    assert by_type["Microsoft.MachineLearningServices/workspaces/batchEndpoints"][0]["apiVersion"] == "2025-12-01"
    containers = by_type["Microsoft.Storage/storageAccounts/blobServices/containers"]
    assert sorted(c["name"].rsplit("/", 1)[-1] for c in containers) == ["amlplatform-assets", "raw-transactions"]
    for container in containers:
        assert container["name"].count("/") == 2 and container["properties"]["publicAccess"] == "None"
    datastores = by_type["Microsoft.MachineLearningServices/workspaces/datastores"]
    assert sorted(d["name"] for d in datastores) == ["mlw-fraud-prod/amlplatform_assets", "mlw-fraud-prod/raw_transactions"]
    assert all(d["properties"]["credentials"] == {"credentialsType": "None"} for d in datastores)
    # the asset versions are ARM resources; the uploaded files (data plane) are not
    assert len(by_type["Microsoft.MachineLearningServices/workspaces/models/versions"]) == 2
    assert not any(b["type"].lower().endswith("/blobs") for b in template["resources"])
    assert "online-fraud-score-prod-traffic" in template["metadata"]["notArmResources"]
    assert not any(b["type"].startswith("(generic") for b in template["resources"])


def test_text_plan_estimate_and_picture_cover_them(stack_graph):
    from amlplatform.review.diagram import build_model
    from amlplatform.review.estimate import duration, estimate, label
    from amlplatform.review.text import render_text

    g = stack_graph("prod")
    text = render_text(g)
    assert "traffic={\"blue\": 90, \"green\": 10}" in text
    assert "auth=AMLToken" in text and "instance type=cpu-small" in text
    deployment = next(iter(deployments_of(g, DEPLOYMENT, "fraud-score-prod").values()))
    assert duration(deployment)[0] == 900 and "15 minutes" in duration(deployment)[1]
    assert label(deployment) == "online deployment"
    steps = {s.name: s for s in estimate(g).steps}
    ep, write = endpoint(g, "fraud-score-prod"), "online-fraud-score-prod-traffic"
    assert steps[write].finish >= steps[ep.name].finish + 900  # traffic waits for a deployment
    model = build_model(g)
    node = next(n for n in model.nodes.values() if n.name == "fraud-aks-prod")
    assert node.caption == "Online endpoint"
    assert {"online-fraud-aks-prod-blue", "online-fraud-aks-prod-traffic"} <= set(node.members)
    assert any(n.caption == "Datastore" for n in model.nodes.values())
    batch = next(n for n in model.nodes.values() if n.caption == "Batch endpoint")
    cluster = next(n for n in model.nodes.values() if n.caption == "Compute cluster" and n.name == "cpu")
    assert (cluster.id, batch.id, "dep") in model.edges  # its deployments run on the cluster


def test_outputs_are_plain_pulumi_outputs():
    # the components' typed outputs exist (consumed from other programs)
    from amlplatform.iac.serving.endpoints import BatchEndpoint, OnlineEndpoint

    for cls in (OnlineEndpoint, BatchEndpoint):
        assert {"id", "name", "deployment_ids"} <= set(cls.__annotations__)
    assert pulumi.ComponentResource in OnlineEndpoint.__mro__


def test_file_share_and_adls_gen2_datastores(make_stack):
    lake = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-lake/providers/"
            "Microsoft.Storage/storageAccounts/stlake")
    group = "5b3c0a1e-7d2f-4e8a-9c61-2f4d8e9a0b13"
    project = make_stack({
        "amlplatform:location": "westeurope", "amlplatform:naming": {"workload": "fraud", "environment": "tst"},
        "amlplatform:network": NETWORK,
        "amlplatform:datastores": [
            {"name": "notebooks", "kind": "file_share", "container": "notebooks",
             "readers": [{"principal_id": group}], "writable": True},
            {"name": "lake", "kind": "adls_gen2", "container": "curated", "storage_account_id": lake,
             "readers": [{"principal_id": group}]},
        ]}, name="datastores")
    g = evaluate_stack("datastores", project_dir=project)
    stores = {r.inputs["name"]: r.inputs["properties"] for r in g.of_type(DATASTORE)}
    assert stores["notebooks"]["datastoreType"] == "AzureFile"
    assert stores["notebooks"]["fileShareName"] == "notebooks"
    assert stores["lake"]["datastoreType"] == "AzureDataLakeGen2"
    assert stores["lake"]["filesystem"] == "curated"
    assert stores["lake"]["accountName"] == "stlake" and stores["lake"]["resourceGroup"] == "rg-lake"
    share = g.one("azure-native:storage:FileShare")
    assert share.inputs["shareName"] == "notebooks"
    assert not g.of_type(CONTAINER)  # the lake's file system belongs to the lake's owners
    roles = {r.inputs["scope"]: [] for r in g.of_type(ROLE)}
    for r in g.of_type(ROLE):
        roles[r.inputs["scope"]].append(r.inputs["roleDefinitionId"].rsplit("/", 1)[-1])
    # file share: File Data Privileged Contributor for the writable readers, Reader for the workspace
    share_scope = share.id.replace("/default/shares/", "/default/fileshares/")
    assert "datastore-notebooks-share" in deps(g, next(r for r in g.of_type(ROLE) if r.inputs["scope"] == share_scope))
    assert sorted(roles[share_scope]) == ["69566ab7-960f-475b-8e7c-b3118f30c6bd", "b8eda974-7b85-4f76-af95-65846b26df6d"]
    assert sorted(roles[f"{lake}/blobServices/default/containers/curated"]) == [BLOB_READER, BLOB_READER]
