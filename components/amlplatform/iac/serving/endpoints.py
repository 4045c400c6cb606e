"""``OnlineEndpoint`` and ``BatchEndpoint``: serving a model (or a pipeline) from the workspace.

Resource graph (online)::

    workspace ──> endpoint ──> deployment 1..n ──> traffic
    [Kubernetes compute] ──┘

Traffic can only name deployments that exist ("You can set the traffic only when the deployments
under an endpoint have been created", https://learn.microsoft.com/azure/machine-learning/how-to-safely-rollout-online-endpoints),
so the endpoint is created without traffic and a second write of the same ARM resource (a generic
``azure-native:resources:Resource`` PUT of the endpoint body plus ``traffic``/``mirrorTraffic``)
runs after the deployments. The endpoint resource ignores later drift of those two properties, and
the second write is retained on delete (deleting it would delete the endpoint itself; the endpoint
resource owns that). Batch endpoints set their default deployment the same way.

Names follow Azure ML's endpoint limits (3-32 characters, a letter first, letters/digits/single
dashes, unique per region: https://learn.microsoft.com/azure/machine-learning/how-to-manage-quotas#azure-machine-learning-online-endpoints-and-batch-endpoints).
Auth: Microsoft Entra tokens (``AADToken``) by default on managed online and batch endpoints;
``AADToken`` is not available on Kubernetes online endpoints (``AMLToken`` there); ``Key`` only
with a stated reason, which is recorded as the endpoint tag ``amlplatform.io/key-auth-reason`` so
reviews see it (https://learn.microsoft.com/azure/machine-learning/how-to-authenticate-online-endpoint).

Telemetry: with ``app_insights_id``, an endpoint with a deployment that sends to Application
Insights gives its system-assigned identity (the one its containers get tokens for,
https://learn.microsoft.com/azure/machine-learning/how-to-access-resources-from-endpoints-managed-identities)
Monitoring Metrics Publisher on the component: what Entra ID ingestion needs when the component
refuses local (instrumentation key) auth ("assign the Monitoring Metrics Publisher role ... setting the
target Application Insights resource as the role scope", https://learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication).
The inference server's own request logs are sent with the instrumentation key (``AzureLogHandler(
instrumentation_key=...)`` in microsoft/azureml-inference-server,
azureml_inference_server_http/server/appinsights_client.py): with local auth off only what the
scoring code sends with the identity (azure-monitor-opentelemetry with ManagedIdentityCredential)
arrives; docs/security.md says how a stack keeps local auth with a stated reason instead.
"""

from typing import Dict, List, Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import machinelearningservices as ml
from pulumi_azure_native import resources
from typing_extensions import Required

from amlplatform.iac._base import check_args, child, token, waits_for
from amlplatform.iac.access.access import assignment_guid, role_definition_id
from amlplatform.azure.roles import ROLES
from amlplatform.offline.armtypes import api_version
from amlplatform.azure.rules import endpoint_name_problems

KEY_REASON_TAG = "amlplatform.io/key-auth-reason"
# assets a deployment names that were registered outside the stack (deployability rule AMLD-060)
EXISTING_ASSETS_TAG = "amlplatform.io/existing-assets"
ML_NAMESPACE = "Microsoft.MachineLearningServices"
MONITORING_METRICS_PUBLISHER = ROLES["Monitoring Metrics Publisher"]
ONLINE_TOKEN = "azure-native:machinelearningservices:OnlineEndpoint"
BATCH_TOKEN = "azure-native:machinelearningservices:BatchEndpoint"


def _check_name(owner: str, what: str, value: str) -> None:
    problems = endpoint_name_problems(value)
    if problems:
        raise ValueError(f"{owner}: {what} {value!r} " + "; ".join(problems))


def traffic_problems(traffic: Mapping[str, int], mirror: Mapping[str, int], deployments: List[str], *,
                     kubernetes: bool) -> List[str]:
    """Problems of a traffic split: keys are the endpoint's deployments, percentages 0-100 summing to
    100; mirror traffic to one deployment without live traffic, at most 50 %, not on Kubernetes."""
    problems = []
    for label, split in (("traffic", traffic), ("mirror_traffic", mirror)):
        unknown = sorted(set(split) - set(deployments))
        if unknown:
            problems.append(f"{label} names {', '.join(map(repr, unknown))}, not deployments of this endpoint")
        if any(not isinstance(v, int) or not 0 <= v <= 100 for v in split.values()):
            problems.append(f"{label} percentages must be whole numbers 0-100")
    if traffic and sum(traffic.values()) != 100:
        problems.append(f"traffic must sum to 100, sums to {sum(traffic.values())}")
    if mirror:
        if kubernetes:
            problems.append("mirror_traffic is not supported on Kubernetes online endpoints")
        if len(mirror) > 1:
            problems.append("mirror_traffic goes to one deployment only")
        if any(v > 50 for v in mirror.values()):
            problems.append("mirror_traffic is at most 50 percent")
        if any(traffic.get(k, 0) > 0 for k in mirror):
            problems.append("a deployment gets live or mirrored traffic, not both")
    return problems


class ProbeSpec(TypedDict, total=False):
    initial_delay: str
    """ISO-8601 duration."""
    period: str
    """ISO-8601 duration."""
    timeout: str
    """ISO-8601 duration."""
    failure_threshold: int
    """Failures before the container counts as down."""
    success_threshold: int
    """Successes before it counts as up."""


class ScaleSpec(TypedDict, total=False):
    """TargetUtilization autoscale of an online deployment."""
    min_instances: int
    """Instances kept; default 1."""
    max_instances: int
    """Instances at most; default 1."""
    target_utilization_percentage: int
    """CPU utilisation to aim for; default 70."""
    polling_interval: str
    """How often utilisation is measured (ISO-8601); default PT1S."""


class RequestSpec(TypedDict, total=False):
    """How the scoring front end hands requests to a deployment."""
    request_timeout: str
    """Scoring timeout (ISO-8601); default PT5S."""
    max_concurrent_requests_per_instance: int
    """Parallel requests per instance; default 1."""


class OnlineDeploymentSpec(TypedDict, total=False):
    name: Required[str]
    """Deployment name (3-32, letter first, letters/digits/single dashes)."""
    model: Required[pulumi.Input[str]]
    """ARM id (or registry URI) of the model version."""
    environment_id: pulumi.Input[str]
    """ARM id of the environment version (omit for MLflow models)."""
    code_id: pulumi.Input[str]
    """ARM id of the scoring code version."""
    scoring_script: str
    """Entry script in the code."""
    instance_type: str
    """VM size (managed) or instance type name (Kubernetes)."""
    instance_count: int
    """Fixed instance count (default 1)."""
    scale: ScaleSpec
    """TargetUtilization autoscale: min_instances, max_instances, target_utilization_percentage, polling_interval."""
    liveness_probe: ProbeSpec
    """Liveness probe."""
    readiness_probe: ProbeSpec
    """Readiness probe."""
    request: RequestSpec
    """request_timeout (ISO-8601), max_concurrent_requests_per_instance."""
    app_insights: bool
    """Logs and metrics to Application Insights (default True)."""
    egress_public_network_access: str
    """Managed only (legacy isolation): Enabled or Disabled; omit with a workspace managed network."""
    environment_variables: Mapping[str, str]
    """Environment of the scoring container."""
    description: str
    """Shown in the studio."""
    waits_for: List[pulumi.Input[str]]
    """Ids the deployment waits for besides its own inputs (the image build compute)."""
    existing_assets: List[str]
    """Asset references (azureml:<name>:<version>) registered outside the stack, acknowledged: recorded
    in the tag amlplatform.io/existing-assets."""


class OnlineEndpointArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the workspace."""
    workspace_name: Required[pulumi.Input[str]]
    """Workspace of the endpoint."""
    location: Required[pulumi.Input[str]]
    """Azure region (the workspace's)."""
    endpoint_name: Required[str]
    """Endpoint name, unique in the region."""
    kind: str
    """managed (default) or kubernetes."""
    compute_id: pulumi.Input[str]
    """With kind kubernetes: ARM id of the workspace's Kubernetes compute."""
    auth_mode: str
    """AADToken (default on managed), AMLToken (default on Kubernetes) or Key (with key_auth_reason)."""
    key_auth_reason: str
    """Why keys (required with Key)."""
    public_network_access: str
    """Enabled or Disabled (default Disabled)."""
    description: str
    """Shown in the studio."""
    tags: Mapping[str, str]
    """Tags on the endpoint and its deployments."""
    deployments: List[OnlineDeploymentSpec]
    """The deployments."""
    traffic: Mapping[str, int]
    """Deployment -> percent of live traffic (sums to 100)."""
    mirror_traffic: Mapping[str, int]
    """Deployment -> percent of traffic mirrored to it."""
    app_insights_id: pulumi.Input[str]
    """The workspace's Application Insights component: when a deployment sends telemetry (app_insights),
    the endpoint's identity gets Monitoring Metrics Publisher on it (Entra ID ingestion). Needs subscription_id."""
    subscription_id: pulumi.Input[str]
    """Subscription of the role definition (with app_insights_id)."""


class OnlineEndpoint(pulumi.ComponentResource):
    """A managed or Kubernetes online endpoint with its deployments and traffic split."""

    id: pulumi.Output[str]
    """ARM id of the online endpoint."""
    name: pulumi.Output[str]
    """Name of the endpoint."""
    deployment_ids: pulumi.Output[Dict[str, str]]
    """Deployment name -> ARM id of the deployment."""

    def __init__(self, name: str, args: OnlineEndpointArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("OnlineEndpoint", args, OnlineEndpointArgs)
        super().__init__(token("OnlineEndpoint"), name, None, opts)
        ep_name = args["endpoint_name"]
        _check_name(name, "endpoint name", ep_name)
        kind = args.get("kind", "managed")
        if kind not in ("managed", "kubernetes"):
            raise ValueError(f"{name}: kind must be managed or kubernetes, got {kind!r}")
        kubernetes = kind == "kubernetes"
        if kubernetes and args.get("compute_id") is None:
            raise ValueError(f"{name}: a Kubernetes endpoint needs compute_id (the workspace's Kubernetes compute)")
        if not kubernetes and args.get("compute_id") is not None:
            raise ValueError(f"{name}: compute_id is only used with kind kubernetes")
        auth = args.get("auth_mode") or ("AMLToken" if kubernetes else "AADToken")
        if auth not in ("AADToken", "AMLToken", "Key"):
            raise ValueError(f"{name}: auth_mode must be AADToken, AMLToken or Key, got {auth!r}")
        if kubernetes and auth == "AADToken":
            raise ValueError(f"{name}: AADToken is supported on managed online endpoints only (Kubernetes: AMLToken or Key)")
        reason = args.get("key_auth_reason")
        if auth == "Key" and not reason:
            raise ValueError(f"{name}: auth_mode Key needs key_auth_reason (keys never expire)")
        deployments = list(args.get("deployments") or [])
        names = [d["name"] for d in deployments]
        for d in deployments:
            _check_name(name, "deployment name", d["name"])
        if len(set(n.lower() for n in names)) != len(names):
            raise ValueError(f"{name}: deployment names repeat")
        traffic = dict(args.get("traffic") or {})
        mirror = dict(args.get("mirror_traffic") or {})
        problems = traffic_problems(traffic, mirror, names, kubernetes=kubernetes)
        if problems:
            raise ValueError(f"{name}: " + "; ".join(problems))

        tags = dict(args.get("tags") or {})
        if auth == "Key":
            tags[KEY_REASON_TAG] = reason[:256]
        ws = {"resource_group_name": args["resource_group_name"], "workspace_name": args["workspace_name"]}
        properties: dict = {"auth_mode": auth, "public_network_access": args.get("public_network_access", "Disabled")}
        if kubernetes:
            properties["compute"] = args["compute_id"]
        if args.get("description"):
            properties["description"] = args["description"]
        identity = {"type": "SystemAssigned"}
        endpoint = ml.OnlineEndpoint(
            f"{name}-endpoint", endpoint_name=ep_name, location=args["location"], identity=identity,
            properties=properties, tags=tags, **ws,
            # set by the traffic write below, after the deployments exist
            opts=child(self, ignore_changes=["properties.traffic", "properties.mirrorTraffic"]))

        created = []
        deployment_ids = {}
        for d in deployments:
            dep = ml.OnlineDeployment(
                f"{name}-{d['name'].lower()}", deployment_name=d["name"], endpoint_name=endpoint.name,
                location=args["location"], properties=_online_deployment(d, kubernetes),
                sku={"name": "Default", "capacity": int(d.get("instance_count", 1))}, tags=_tags(tags, d),
                opts=child(self, depends_on=waits_for(d.get("waits_for"))), **ws)
            created.append(dep)
            deployment_ids[d["name"]] = dep.id

        if traffic or mirror:
            body: dict = {"authMode": auth, "publicNetworkAccess": properties["public_network_access"],
                          "traffic": traffic}
            if mirror:
                body["mirrorTraffic"] = mirror
            if kubernetes:
                body["compute"] = args["compute_id"]
            if args.get("description"):
                body["description"] = args["description"]
            _second_write(self, f"{name}-traffic", "onlineEndpoints", ONLINE_TOKEN, endpoint.name, args,
                          body, tags, identity, created)

        if args.get("app_insights_id") is not None and any(d.get("app_insights", True) for d in deployments):
            if args.get("subscription_id") is None:
                raise ValueError(f"{name}: app_insights_id needs subscription_id (the role definition's)")
            _telemetry_access(self, f"{name}-telemetry-access", endpoint=endpoint,
                              app_insights_id=args["app_insights_id"], subscription_id=args["subscription_id"])

        self.id = endpoint.id
        self.name = endpoint.name
        self.deployment_ids = pulumi.Output.all(**deployment_ids) if deployment_ids else pulumi.Output.from_input({})
        self.register_outputs({"id": self.id, "name": self.name, "deployment_ids": self.deployment_ids})


def _telemetry_access(parent: pulumi.Resource, name: str, *, endpoint: ml.OnlineEndpoint,
                      app_insights_id: pulumi.Input[str], subscription_id: pulumi.Input[str]):
    """Monitoring Metrics Publisher on the Application Insights component for the endpoint's
    system-assigned identity (module docstring, "Telemetry")."""
    from pulumi_azure_native import authorization

    scope = pulumi.Output.from_input(app_insights_id)
    principal = endpoint.identity.apply(lambda i: i.principal_id if i else None)
    return authorization.RoleAssignment(
        name,
        scope=scope,
        principal_id=principal,
        principal_type="ServicePrincipal",
        role_definition_id=pulumi.Output.from_input(subscription_id).apply(
            lambda sub: role_definition_id(sub, MONITORING_METRICS_PUBLISHER)),
        role_assignment_name=pulumi.Output.all(scope, principal).apply(
            lambda sp: assignment_guid(sp[0], sp[1], MONITORING_METRICS_PUBLISHER)),
        description="the endpoint's deployments send telemetry to Application Insights with Entra ID",
        opts=child(parent),
    )


def _tags(tags: Mapping[str, str], d: Mapping) -> Dict[str, str]:
    """The endpoint's tags, plus the deployment's acknowledged existing assets (tag values hold 256
    characters: https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations)."""
    existing = sorted(set(d.get("existing_assets") or []))
    if not existing:
        return dict(tags)
    value = " ".join(existing)
    if len(value) > 256:
        raise ValueError(f"deployment {d['name']}: existing_assets do not fit in one tag (256 characters)")
    return {**tags, EXISTING_ASSETS_TAG: value}


def _probe(p: Mapping) -> ml.ProbeSettingsArgs:
    return ml.ProbeSettingsArgs(
        initial_delay=p.get("initial_delay", "PT10S"), period=p.get("period", "PT10S"),
        timeout=p.get("timeout", "PT2S"), failure_threshold=int(p.get("failure_threshold", 30)),
        success_threshold=int(p.get("success_threshold", 1)))


def _online_deployment(d: Mapping, kubernetes: bool):
    """The deployment's typed properties (the SDK does not translate a plain dict's keys for this
    union type: typed args make the wire names right)."""
    request = dict(d.get("request") or {})
    scale = d.get("scale")
    if scale:
        scale_settings = ml.TargetUtilizationScaleSettingsArgs(
            scale_type="TargetUtilization", min_instances=int(scale.get("min_instances", 1)),
            max_instances=int(scale.get("max_instances", 1)),
            target_utilization_percentage=int(scale.get("target_utilization_percentage", 70)),
            polling_interval=scale.get("polling_interval", "PT1S"))
    else:
        scale_settings = ml.DefaultScaleSettingsArgs(scale_type="Default")
    props: dict = {
        "model": d["model"],
        "app_insights_enabled": bool(d.get("app_insights", True)),
        "liveness_probe": _probe(d.get("liveness_probe") or {}),
        "readiness_probe": _probe(d.get("readiness_probe") or {}),
        "request_settings": ml.OnlineRequestSettingsArgs(
            request_timeout=request.get("request_timeout", "PT5S"),
            max_concurrent_requests_per_instance=int(request.get("max_concurrent_requests_per_instance", 1))),
        "scale_settings": scale_settings,
    }
    for key in ("instance_type", "environment_id", "description"):
        if d.get(key) is not None:
            props[key] = d[key]
    if d.get("code_id") is not None:
        props["code_configuration"] = ml.CodeConfigurationArgs(code_id=d["code_id"], scoring_script=d["scoring_script"])
    if d.get("environment_variables"):
        props["environment_variables"] = dict(d["environment_variables"])
    if kubernetes:
        if d.get("egress_public_network_access") is not None:
            raise ValueError(f"deployment {d['name']}: egress_public_network_access is for managed endpoints only")
        return ml.KubernetesOnlineDeploymentArgs(endpoint_compute_type="Kubernetes", **props)
    if d.get("egress_public_network_access") is not None:
        props["egress_public_network_access"] = d["egress_public_network_access"]
    return ml.ManagedOnlineDeploymentArgs(endpoint_compute_type="Managed", **props)


def _second_write(owner: pulumi.Resource, name: str, resource_type: str, arm_token: str,
                  endpoint_name: pulumi.Output[str], args: Mapping, properties: dict, tags: Mapping[str, str],
                  identity: Optional[dict], after: List[pulumi.Resource]) -> resources.Resource:
    """PUT the endpoint again with the properties that name its deployments, once they exist."""
    extra = {"identity": identity} if identity else {}
    # the SDK's keyword for the ARM resource's own name is `resource_name_` (`resource_name` is the
    # Pulumi logical name)
    return resources.Resource(
        name, resource_group_name=args["resource_group_name"], resource_provider_namespace=ML_NAMESPACE,
        parent_resource_path=pulumi.Output.concat("workspaces/", args["workspace_name"]),
        resource_type=resource_type, resource_name_=endpoint_name, api_version=api_version(arm_token),
        location=args["location"], properties=properties, tags=dict(tags), **extra,
        opts=child(owner, depends_on=after, retain_on_delete=True))


class BatchDeploymentSpec(TypedDict, total=False):
    name: Required[str]
    """Deployment name."""
    kind: str
    """model (default) or pipeline."""
    compute_id: Required[pulumi.Input[str]]
    """ARM id of the cluster (model deployments)."""
    compute_name: str
    """Name of the cluster (pipeline deployments: default_compute)."""
    model: pulumi.Input[str]
    """ARM id of the model version (kind model)."""
    environment_id: pulumi.Input[str]
    """ARM id of the environment version."""
    code_id: pulumi.Input[str]
    """ARM id of the scoring code version."""
    scoring_script: str
    """Entry script."""
    component_id: pulumi.Input[str]
    """ARM id of the pipeline component version (kind pipeline)."""
    settings: Mapping[str, str]
    """Pipeline job settings (kind pipeline)."""
    instance_count: int
    """Nodes per job."""
    max_concurrency_per_instance: int
    """Processes per node."""
    mini_batch_size: int
    """Files per run() call."""
    retries: int
    """Retries of a failed mini batch."""
    retry_timeout: str
    """Timeout of a mini batch."""
    error_threshold: int
    """Failed items tolerated (-1: all)."""
    output_action: str
    """AppendRow or SummaryOnly."""
    description: str
    """Shown in the studio."""
    waits_for: List[pulumi.Input[str]]
    """Ids the deployment waits for besides its own inputs (the image build compute)."""
    existing_assets: List[str]
    """Asset references (azureml:<name>:<version>) registered outside the stack, acknowledged: recorded
    in the tag amlplatform.io/existing-assets."""
    identity_roles: List[pulumi.Input[str]]
    """Ids of the role assignments of the cluster's identity (blob, queue and table data on the default
    storage): the deployment is created only after them, so its first job does not fail on access."""


class BatchEndpointArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the workspace."""
    workspace_name: Required[pulumi.Input[str]]
    """Workspace of the endpoint."""
    location: Required[pulumi.Input[str]]
    """Azure region."""
    endpoint_name: Required[str]
    """Endpoint name, unique in the region."""
    description: str
    """Shown in the studio."""
    tags: Mapping[str, str]
    """Tags."""
    deployments: List[BatchDeploymentSpec]
    """The deployments."""
    default_deployment: str
    """Deployment used when a call names none (default: the first)."""


class BatchEndpoint(pulumi.ComponentResource):
    """A batch endpoint (Microsoft Entra auth) with model and pipeline-component deployments."""

    id: pulumi.Output[str]
    """ARM id of the batch endpoint."""
    name: pulumi.Output[str]
    """Name of the endpoint."""
    deployment_ids: pulumi.Output[Dict[str, str]]
    """Deployment name -> ARM id of the deployment."""

    def __init__(self, name: str, args: BatchEndpointArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("BatchEndpoint", args, BatchEndpointArgs)
        super().__init__(token("BatchEndpoint"), name, None, opts)
        ep_name = args["endpoint_name"]
        _check_name(name, "endpoint name", ep_name)
        deployments = list(args.get("deployments") or [])
        names = [d["name"] for d in deployments]
        for d in deployments:
            _check_name(name, "deployment name", d["name"])
        if len(set(n.lower() for n in names)) != len(names):
            raise ValueError(f"{name}: deployment names repeat")
        default = args.get("default_deployment") or (names[0] if names else None)
        if default is not None and default not in names:
            raise ValueError(f"{name}: default_deployment {default!r} is not one of its deployments")
        tags = dict(args.get("tags") or {})
        ws = {"resource_group_name": args["resource_group_name"], "workspace_name": args["workspace_name"]}
        properties: dict = {"auth_mode": "AADToken"}  # batch endpoints take Microsoft Entra tokens only
        if args.get("description"):
            properties["description"] = args["description"]
        endpoint = ml.BatchEndpoint(
            f"{name}-endpoint", endpoint_name=ep_name, location=args["location"], properties=properties,
            tags=tags, opts=child(self, ignore_changes=["properties.defaults"]), **ws)
        created = []
        deployment_ids = {}
        for d in deployments:
            dep = ml.BatchDeployment(
                f"{name}-{d['name'].lower()}", deployment_name=d["name"], endpoint_name=endpoint.name,
                location=args["location"], properties=_batch_deployment(d), tags=_tags(tags, d),
                opts=child(self, depends_on=waits_for([*(d.get("waits_for") or []), *(d.get("identity_roles") or [])])),
                **ws)
            created.append(dep)
            deployment_ids[d["name"]] = dep.id
        if default is not None:
            body = {"authMode": "AADToken", "defaults": {"deploymentName": default}}
            if args.get("description"):
                body["description"] = args["description"]
            _second_write(self, f"{name}-default", "batchEndpoints", BATCH_TOKEN, endpoint.name, args, body, tags,
                          None, created)

        self.id = endpoint.id
        self.name = endpoint.name
        self.deployment_ids = pulumi.Output.all(**deployment_ids) if deployment_ids else pulumi.Output.from_input({})
        self.register_outputs({"id": self.id, "name": self.name, "deployment_ids": self.deployment_ids})


def _batch_deployment(d: Mapping) -> dict:
    kind = d.get("kind", "model")
    if kind == "pipeline":
        if d.get("component_id") is None:
            raise ValueError(f"deployment {d['name']}: kind pipeline needs component_id")
        # the pipeline's default compute is the cluster's name; deriving it from the cluster's id
        # makes the deployment wait for the cluster
        default_compute = pulumi.Output.from_input(d["compute_id"]).apply(lambda cid: cid.rsplit("/", 1)[-1])
        props: dict = {"deployment_configuration": {
            "deployment_configuration_type": "PipelineComponent",
            "component_id": {"reference_type": "Id", "asset_id": d["component_id"]},
            "settings": {**dict(d.get("settings") or {}), "default_compute": default_compute}}}
    else:
        if d.get("model") is None:
            raise ValueError(f"deployment {d['name']}: kind model needs model")
        props = {
            "compute": d["compute_id"],
            "model": {"reference_type": "Id", "asset_id": d["model"]},
            "resources": {"instance_count": int(d.get("instance_count", 1))},
            "max_concurrency_per_instance": int(d.get("max_concurrency_per_instance", 1)),
            "mini_batch_size": int(d.get("mini_batch_size", 10)),
            "retry_settings": {"max_retries": int(d.get("retries", 3)), "timeout": d.get("retry_timeout", "PT30S")},
            "error_threshold": int(d.get("error_threshold", -1)),
            "output_action": d.get("output_action", "AppendRow"),
            "logging_level": "Info",
        }
        if d.get("environment_id") is not None:
            props["environment_id"] = d["environment_id"]
        if d.get("code_id") is not None:
            props["code_configuration"] = {"code_id": d["code_id"], "scoring_script": d["scoring_script"]}
    if d.get("description"):
        props["description"] = d["description"]
    return props
