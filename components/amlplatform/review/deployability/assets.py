"""Deployability rules for the assets deployments use (AMLD-060..069).

A deployment names model, code, environment and component versions by id. Azure ML refuses to
create a deployment whose asset version does not exist, so on a first ``pulumi up`` (a workspace the
same run creates; in prod a private one nobody could have registered anything in beforehand) every
such asset must be created by the same run *before* the deployment, or be provably there: an asset
of an Azure ML registry (``azureml://registries/...``: a registry has its own lifecycle, and its
assets are shared across workspaces: https://learn.microsoft.com/azure/machine-learning/how-to-share-models-pipelines-across-workspaces-with-registries),
or one the stack explicitly acknowledges as registered outside it (the deployment's tag
``amlplatform.io/existing-assets``, written from ``assets.<kind>[].existing: true``).
"""

import re
from typing import Any, Iterable, List, Optional, Tuple

from amlplatform.review.deployability import Finding, rule
from amlplatform.review.deployability._graph import UNKNOWN, resource_id, same_id
from amlplatform.review.paths import get_path as get

ONLINE_DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
BATCH_DEPLOYMENT = "azure-native:machinelearningservices:BatchDeployment"
WORKSPACE = "azure-native:machinelearningservices:Workspace"
COMPUTE = "azure-native:machinelearningservices:Compute"
VERSIONS = {"models": "azure-native:machinelearningservices:ModelVersion",
            "codes": "azure-native:machinelearningservices:CodeVersion",
            "environments": "azure-native:machinelearningservices:EnvironmentVersion",
            "components": "azure-native:machinelearningservices:ComponentVersion",
            "data": "azure-native:machinelearningservices:DataVersion"}
EXISTING_ASSETS_TAG = "amlplatform.io/existing-assets"  # written by amlplatform.iac.serving.endpoints

_WORKSPACE_ASSET = re.compile(r"(?:azureml:)?/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
                              r"Microsoft\.MachineLearningServices/workspaces/[^/]+/(?P<kind>models|codes|environments|"
                              r"components|data)/(?P<name>[^/]+)/versions/(?P<version>[^/]+)", re.IGNORECASE)


def deployment_assets(res: Any) -> List[Tuple[str, str]]:
    """(field, asset id) of every asset version a recorded online or batch deployment names."""
    props = res.inputs.get("properties") or {}
    if res.type == ONLINE_DEPLOYMENT:
        fields = {"model": props.get("model"), "environmentId": props.get("environmentId"),
                  "codeConfiguration.codeId": get(props, "codeConfiguration.codeId")}
    else:
        fields = {"model.assetId": get(props, "model.assetId"), "environmentId": props.get("environmentId"),
                  "codeConfiguration.codeId": get(props, "codeConfiguration.codeId"),
                  "deploymentConfiguration.componentId.assetId": get(props, "deploymentConfiguration.componentId.assetId")}
    return [(f, v) for f, v in fields.items() if isinstance(v, str) and v]


def _declaring(graph: Any, kind: str, asset_id: str) -> Optional[Any]:
    for res in graph.of_type(VERSIONS[kind]):
        if same_id(resource_id(res), asset_id.removeprefix("azureml:")):
            return res
    return None


@rule("AMLD-060", reason="a deployment's model, code, environment or component version must exist when the "
      "deployment is created: declared by the same run and waited for, an Azure ML registry asset, or "
      "acknowledged as registered beforehand",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-deploy-online-endpoints")
def deployment_assets_exist(graph: Any) -> Iterable[Finding]:
    for d in [*graph.of_type(ONLINE_DEPLOYMENT), *graph.of_type(BATCH_DEPLOYMENT)]:
        waits = set(graph.resource_dependencies(d))
        acknowledged = set(str((d.inputs.get("tags") or {}).get(EXISTING_ASSETS_TAG) or "").split())
        for field, value in deployment_assets(d):
            if value == UNKNOWN or value.startswith("azureml://registries/"):
                continue  # known only after deploy / a registry's asset (its own lifecycle)
            m = _WORKSPACE_ASSET.fullmatch(value)
            if m is None:
                continue  # not a workspace asset version id (AMLD-060 judges those only)
            reference = f"azureml:{m.group('name')}:{m.group('version')}"
            declared = _declaring(graph, m.group("kind").lower(), value)
            if declared is not None and declared.urn in waits:
                continue
            if declared is None and reference in acknowledged:
                continue
            label = f"{d.inputs.get('endpointName')}/{d.inputs.get('deploymentName')}"
            if declared is not None:
                yield Finding("AMLD-060", d.name, f"deployment {label}: {field} names {reference}, which this stack "
                              f"declares ({declared.name}) but the deployment does not wait for: pass the version's "
                              "id (its output), or depends_on it")
            else:
                yield Finding("AMLD-060", d.name, f"deployment {label}: {field} names {reference}, which nothing in "
                              "this stack creates: on a first `pulumi up` the deployment fails. Declare it under "
                              "amlplatform:assets (uploaded and registered by the run), name a registry asset "
                              "(azureml://registries/...), or list it with existing: true when a release registers "
                              f"it before `pulumi up` (tag {EXISTING_ASSETS_TAG})")


@rule("AMLD-061", reason="with imageBuildCompute set (a private registry), Azure ML builds each deployment's image "
      "on that cluster: a deployment created before it exists fails its image build",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-secure-workspace-vnet")
def deployment_waits_for_image_build_compute(graph: Any) -> Iterable[Finding]:
    builds = {}
    for ws in graph.of_type(WORKSPACE):
        name = ws.inputs.get("imageBuildCompute")
        if isinstance(name, str) and name:
            builds[str(ws.inputs.get("workspaceName"))] = name
    computes = {(str(c.inputs.get("workspaceName")), str(c.inputs.get("computeName")).lower()): c
                for c in graph.of_type(COMPUTE)}
    for d in [*graph.of_type(ONLINE_DEPLOYMENT), *graph.of_type(BATCH_DEPLOYMENT)]:
        workspace = str(d.inputs.get("workspaceName"))
        build = builds.get(workspace)
        compute = computes.get((workspace, build.lower())) if build else None
        if compute is None:
            continue  # no image build compute, or one this stack does not declare (AMLD-006 judges it)
        if compute.urn not in set(graph.resource_dependencies(d)):
            yield Finding("AMLD-061", d.name, f"deployment {d.inputs.get('endpointName')}/"
                          f"{d.inputs.get('deploymentName')} does not wait for the image build compute {build!r} "
                          f"({compute.name}): make it depend on the cluster (OnlineDeploymentSpec/"
                          "BatchDeploymentSpec waits_for)")
