"""Typed settings for serving: online endpoints (managed, or on a stack's Kubernetes target) with
their deployments, and batch endpoints with model and pipeline-component deployments (stack keys
``amlplatform:online_endpoints`` and ``amlplatform:batch_endpoints``).

Azure rules encoded here, with their sources:

* Endpoint and deployment names: begin with a letter, 3-32 characters, letters and digits with
  single dashes; endpoint names are unique per Azure region (so a stack's own names must differ
  case-insensitively); for a Kubernetes endpoint, endpoint name + deployment name are 6-62
  characters together. At most 20 deployments per endpoint; at most 50 instances per managed
  deployment; request timeout at most 180 s (managed) / 300 s (Kubernetes).
  https://learn.microsoft.com/azure/machine-learning/how-to-manage-quotas#azure-machine-learning-online-endpoints-and-batch-endpoints
* Traffic: a map deployment -> percent over the endpoint's own deployments; mirror traffic goes to
  one deployment only, at most 50 %, to a deployment without live traffic, and is not supported on
  Kubernetes online endpoints.
  https://learn.microsoft.com/azure/machine-learning/how-to-safely-rollout-online-endpoints
* Auth modes: ``AADToken`` (Microsoft Entra, identity based, role-scoped) is the strongest and is
  supported on managed online endpoints only; Kubernetes online endpoints take ``AMLToken`` or
  ``Key``; keys never expire. Batch endpoints authenticate with Microsoft Entra tokens only.
  https://learn.microsoft.com/azure/machine-learning/how-to-authenticate-online-endpoint
  https://learn.microsoft.com/azure/machine-learning/how-to-authenticate-batch-endpoint
* Network: inbound scoring of a managed online endpoint goes through the workspace's private
  endpoint when the endpoint's ``public_network_access`` is Disabled; with a workspace managed
  network the deployment's ``egress_public_network_access`` flag no longer applies (outbound
  follows the managed network's rules); without one it is the legacy per-deployment isolation.
  https://learn.microsoft.com/azure/machine-learning/concept-secure-online-endpoint

Cross-block checks (a Kubernetes endpoint names one of the stack's Kubernetes targets and one of
its instance types; a batch deployment names one of the stack's clusters) are made by
``StackSettings`` with :func:`serving_problems`, which has the whole stack in hand.

Declares no resources; the defaults are the components' own (amlplatform.iac._base.defaults).
"""

import re
from typing import Annotated, Dict, List, Literal, Mapping, Optional, Sequence

from pydantic import AfterValidator, Field, model_validator

from amlplatform.azure.rules import endpoint_name_problems
from amlplatform.errors import Problems
from amlplatform.spec.core import Model, Tags

# ---------------------------------------------------------------------------- value types

def _endpoint_name(value: str) -> str:
    problems = endpoint_name_problems(value)
    if problems:
        raise Problems(problems)
    return value


EndpointName = Annotated[str, AfterValidator(_endpoint_name)]

# `azureml:<name>:<version>` (a workspace asset), a workspace-relative ARM id, or a registry asset
# `azureml://registries/<registry>/models/<name>/versions/<version>`
_ASSET = re.compile(r"azureml:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,254}):(?P<version>[A-Za-z0-9][A-Za-z0-9._-]{0,29})")
_REGISTRY_ASSET = re.compile(r"azureml://registries/[A-Za-z0-9][A-Za-z0-9_-]{1,62}/(?:models|environments|components|codes)"
                             r"/[A-Za-z0-9][A-Za-z0-9._-]{0,254}/versions/[A-Za-z0-9][A-Za-z0-9._-]{0,29}")
_ARM_ASSET = re.compile(r"/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/"
                        r"Microsoft\.MachineLearningServices/workspaces/[^/]+/(?:models|environments|components|codes)"
                        r"/[^/]+/versions/[^/]+", re.IGNORECASE)


def _asset(value: str) -> str:
    if _ASSET.fullmatch(value) or _REGISTRY_ASSET.fullmatch(value) or _ARM_ASSET.fullmatch(value):
        return value
    raise ValueError("must be a versioned asset reference: azureml:<name>:<version> (an asset of the stack's "
                     "workspace), azureml://registries/<registry>/<kind>/<name>/versions/<version>, or the "
                     "asset version's ARM id")


AssetRef = Annotated[str, AfterValidator(_asset)]


def asset_id(reference: str, workspace_id: str, kind: str) -> str:
    """The ARM id a deployment sends for ``reference``: ``azureml:<name>:<version>`` becomes
    ``<workspace id>/<kind>/<name>/versions/<version>``; registry references and ARM ids are kept."""
    m = _ASSET.fullmatch(reference)
    if m is None:
        return reference
    return f"{workspace_id}/{kind}/{m.group('name')}/versions/{m.group('version')}"


_DURATION = re.compile(r"PT(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?")


def duration_seconds(value: str) -> Optional[float]:
    """Seconds of an ISO-8601 duration of minutes and seconds (``PT10S``, ``PT0.5S``, ``PT1M30S``);
    None when it is not one."""
    m = _DURATION.fullmatch(value or "")
    if not m or value == "PT":
        return None
    return int(m.group("m") or 0) * 60 + float(m.group("s") or 0)


def _duration(low: float, high: float):
    def check(value: str) -> str:
        seconds = duration_seconds(value)
        if seconds is None:
            raise ValueError("must be an ISO-8601 duration of minutes and seconds like PT10S, PT0.5S or PT1M")
        if not low <= seconds <= high:
            raise ValueError(f"must be between {low:g} and {high:g} seconds")
        return value
    return AfterValidator(check)


Duration = Annotated[str, _duration(0, 3600)]
RequestTimeout = Annotated[str, _duration(0.001, 300)]
NetworkAccess = Literal["Enabled", "Disabled"]

_VM_SIZE = re.compile(r"Standard_[A-Za-z0-9_]+")
_K8S_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")

MANAGED_MAX_INSTANCES = 50
MAX_DEPLOYMENTS = 20
MANAGED_MAX_TIMEOUT = 180
KUBERNETES_MAX_TIMEOUT = 300
MAX_MIRROR_PERCENT = 50


# ---------------------------------------------------------------------------- online

class ProbeSettings(Model):
    """A liveness or readiness probe of the scoring container."""

    initial_delay: Duration = Field("PT10S", description="Wait after the container starts (ISO-8601, e.g. PT10S)")
    period: Duration = Field("PT10S", description="How often the probe runs")
    timeout: Duration = Field("PT2S", description="Probe timeout")
    failure_threshold: int = Field(30, ge=1, le=1000, description="Failures before the container counts as down")
    success_threshold: int = Field(1, ge=1, le=1000, description="Successes before it counts as up again")


class RequestSettings(Model):
    """How the scoring front end hands requests to a deployment."""

    request_timeout: RequestTimeout = Field(
        "PT5S", description="Scoring timeout: at most PT180S on managed endpoints, PT300S on Kubernetes")
    max_concurrent_requests_per_instance: int = Field(1, ge=1, le=1000, description="Parallel requests per instance")


class ScaleSettings(Model):
    """Autoscale a deployment between min and max instances on CPU utilisation (TargetUtilization)."""

    min_instances: int = Field(1, ge=1, le=MANAGED_MAX_INSTANCES)
    """Instances kept"""
    max_instances: int = Field(1, ge=1, le=MANAGED_MAX_INSTANCES)
    """Instances at most; at least min_instances"""
    target_utilization_percentage: int = Field(70, ge=1, le=100, description="CPU utilisation to aim for")
    polling_interval: Duration = Field("PT1S", description="How often utilisation is measured")

    @model_validator(mode="after")
    def _bounds(self) -> "ScaleSettings":
        if self.max_instances < self.min_instances:
            raise ValueError(f"max_instances ({self.max_instances}) must be at least min_instances "
                             f"({self.min_instances})")
        return self


class OnlineDeploymentSettings(Model):
    """One deployment of an online endpoint: a model with its environment and scoring code."""

    name: EndpointName = Field(description="Deployment name: 3-32 letters, digits, single dashes; starts with a letter")
    model: AssetRef = Field(description="Model: azureml:<name>:<version> (registered in the workspace), a registry "
                            "asset or an ARM id")
    environment: Optional[AssetRef] = Field(
        None, description="Environment: azureml:<name>:<version> (e.g. one of the stack's environments); "
        "omit only for MLflow models (no-code deployment)")
    code: Optional[AssetRef] = Field(None, description="Scoring code asset: azureml:<name>:<version>")
    scoring_script: Optional[str] = Field(
        None, pattern=r"^(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+\.py$",
        description="Entry script inside the code asset (init()/run()), e.g. score.py; required with code")
    instance_type: Optional[str] = Field(
        None, description="Managed: a VM size (Standard_DS3_v2). Kubernetes: one of the target's instance types "
        "(default: the target's default instance type)")
    instance_count: int = Field(1, ge=1, le=MANAGED_MAX_INSTANCES, description="Instances (without scale)")
    scale: Optional[ScaleSettings] = Field(
        None, description="Autoscale on CPU utilisation instead of a fixed instance_count")
    liveness_probe: ProbeSettings = ProbeSettings()
    """Liveness probe of the scoring container"""
    readiness_probe: ProbeSettings = ProbeSettings()
    """Readiness probe of the scoring container"""
    request: RequestSettings = RequestSettings()
    """Request timeout and concurrency"""
    app_insights: bool = Field(True, description="Send the deployment's logs and metrics to the stack's Application Insights")
    egress_public_network_access: Optional[NetworkAccess] = Field(
        None, description="Managed only, legacy isolation: default follows workspace.public_network_access without a "
        "managed network; with a managed network the flag does not apply and is not sent")
    environment_variables: Dict[str, str] = Field(default_factory=dict)
    """Environment variables of the scoring container"""
    description: Optional[str] = None
    """Shown in the studio"""

    @model_validator(mode="after")
    def _code(self) -> "OnlineDeploymentSettings":
        if bool(self.code) != bool(self.scoring_script):
            raise ValueError("code and scoring_script go together (scoring code = a code asset + its entry script)")
        if self.code and not self.environment:
            raise ValueError("code needs an environment (only MLflow models deploy without scoring code and environment)")
        if self.scale is not None and "instance_count" in self.model_fields_set:
            raise ValueError("give instance_count (fixed) or scale (autoscale), not both")
        return self


AuthMode = Literal["AADToken", "AMLToken", "Key"]


class OnlineEndpointSettings(Model):
    """A real-time endpoint: managed by Azure ML, or on one of the stack's Kubernetes targets."""

    name: EndpointName = Field(description="Endpoint name: 3-32 letters, digits, single dashes; starts with a letter; "
                               "unique in the Azure region (it is the scoring host name)")
    kind: Literal["managed", "kubernetes"] = Field("managed", description="managed, or kubernetes (needs compute)")
    compute: Optional[str] = Field(None, description="With kind kubernetes: the name of one of the stack's kubernetes targets")
    auth_mode: Optional[AuthMode] = Field(
        None, description="Default: AADToken (Microsoft Entra) on managed endpoints, AMLToken on Kubernetes (AADToken "
        "is managed-only); Key only with key_auth_reason")
    key_auth_reason: Optional[str] = Field(
        None, min_length=10, description="Why this endpoint uses keys (they never expire); required with auth_mode Key")
    public_network_access: Optional[NetworkAccess] = Field(
        None, description="Inbound scoring from public networks; default follows workspace.public_network_access")
    description: Optional[str] = None
    """Shown in the studio"""
    tags: Tags = Field(default_factory=dict)
    """Tags on the endpoint (besides the stack's)"""
    deployments: List[OnlineDeploymentSettings] = Field(default_factory=list)
    """Deployments: name, model, environment, code + scoring_script, instance_type, instance_count or scale, probes, request"""
    traffic: Dict[str, int] = Field(
        default_factory=dict, description="Deployment -> percent of live traffic, summing to 100; default: all to the "
        "only deployment")
    mirror_traffic: Dict[str, int] = Field(
        default_factory=dict, description="Deployment -> percent of live traffic copied to it (one deployment, at most "
        "50, without live traffic; managed endpoints only)")

    @model_validator(mode="after")
    def _check(self) -> "OnlineEndpointSettings":
        problems = online_endpoint_problems(self)
        if problems:
            raise Problems(problems)
        return self

    @property
    def effective_auth_mode(self) -> str:
        if self.auth_mode is not None:
            return self.auth_mode
        return "AADToken" if self.kind == "managed" else "AMLToken"

    @property
    def effective_traffic(self) -> Dict[str, int]:
        if self.traffic:
            return dict(self.traffic)
        if len(self.deployments) == 1:
            return {self.deployments[0].name: 100}
        return {}


def _percent_problems(label: str, traffic: Mapping[str, int], names: Sequence[str]) -> List[str]:
    problems = []
    unknown = sorted(set(traffic) - set(names))
    if unknown:
        problems.append(f"{label} names {', '.join(map(repr, unknown))}, not deployments of this endpoint "
                        f"({', '.join(names) or 'none'})")
    bad = sorted(k for k, v in traffic.items() if not isinstance(v, int) or not 0 <= v <= 100)
    if bad:
        problems.append(f"{label} percentages must be whole numbers 0-100 ({', '.join(bad)})")
    return problems


def online_endpoint_problems(ep: OnlineEndpointSettings) -> List[str]:
    """Every problem within one online endpoint (each naming its field)."""
    problems: List[str] = []
    names = [d.name for d in ep.deployments]
    repeated = sorted({n for n in names if [m.lower() for m in names].count(n.lower()) > 1})
    if repeated:
        problems.append(f"deployments: names repeat ({', '.join(repeated)})")
    if len(names) > MAX_DEPLOYMENTS:
        problems.append(f"deployments: at most {MAX_DEPLOYMENTS} per endpoint (Azure ML limit), has {len(names)}")
    if ep.kind == "kubernetes":
        if not ep.compute:
            problems.append("compute: required with kind kubernetes (the name of one of the stack's kubernetes targets)")
        if ep.auth_mode == "AADToken":
            problems.append("auth_mode: AADToken is supported on managed online endpoints only; Kubernetes online "
                            "endpoints take AMLToken or Key")
        if ep.mirror_traffic:
            problems.append("mirror_traffic: mirroring is not supported on Kubernetes online endpoints")
    elif ep.compute:
        problems.append("compute: only used with kind kubernetes (managed endpoints run on Azure ML's machines)")
    if ep.effective_auth_mode == "Key" and not ep.key_auth_reason:
        problems.append("key_auth_reason: required with auth_mode Key (keys never expire; say why AADToken or "
                        "AMLToken will not do)")
    if ep.key_auth_reason and ep.effective_auth_mode != "Key":
        problems.append("key_auth_reason: only used with auth_mode Key")
    limit = KUBERNETES_MAX_TIMEOUT if ep.kind == "kubernetes" else MANAGED_MAX_TIMEOUT
    for i, d in enumerate(ep.deployments):
        where = f"deployments[{i}]"
        seconds = duration_seconds(d.request.request_timeout) or 0
        if seconds > limit:
            problems.append(f"{where}.request.request_timeout: at most PT{limit}S on {ep.kind} endpoints, got "
                            f"{d.request.request_timeout}")
        if ep.kind == "managed":
            if not d.instance_type:
                problems.append(f"{where}.instance_type: required on managed endpoints (a VM size like Standard_DS3_v2)")
            elif not _VM_SIZE.fullmatch(d.instance_type):
                problems.append(f"{where}.instance_type: must be a VM size like Standard_DS3_v2 on managed endpoints, "
                                f"got {d.instance_type!r}")
        else:
            if d.instance_type is not None and not _K8S_NAME.fullmatch(d.instance_type):
                problems.append(f"{where}.instance_type: must be the name of an instance type of the Kubernetes target, "
                                f"got {d.instance_type!r}")
            total = len(ep.name) + len(d.name)
            if not 6 <= total <= 62:
                problems.append(f"{where}.name: endpoint name + deployment name must be 6-62 characters on Kubernetes "
                                f"endpoints, {ep.name!r} + {d.name!r} is {total}")
            if d.egress_public_network_access is not None:
                problems.append(f"{where}.egress_public_network_access: managed endpoints only")
    problems += _percent_problems("traffic", ep.traffic, names)
    if ep.traffic and sum(ep.traffic.values()) != 100:
        problems.append(f"traffic: percentages must sum to 100, they sum to {sum(ep.traffic.values())}")
    if not ep.traffic and len(names) > 1:
        problems.append("traffic: required with more than one deployment (deployment -> percent, summing to 100)")
    problems += _percent_problems("mirror_traffic", ep.mirror_traffic, names)
    if len(ep.mirror_traffic) > 1:
        problems.append("mirror_traffic: traffic can be mirrored to one deployment only")
    for name, percent in ep.mirror_traffic.items():
        if isinstance(percent, int) and percent > MAX_MIRROR_PERCENT:
            problems.append(f"mirror_traffic: at most {MAX_MIRROR_PERCENT} percent can be mirrored, {name!r} gets {percent}")
        if ep.effective_traffic.get(name, 0) > 0:
            problems.append(f"mirror_traffic: {name!r} receives live traffic; a deployment gets live or mirrored "
                            "traffic, not both")
    return problems


# ---------------------------------------------------------------------------- batch

class BatchDeploymentSettings(Model):
    """A batch deployment: a model with scoring code, or a pipeline component, on one of the stack's clusters."""

    name: EndpointName = Field(description="Deployment name: 3-32 letters, digits, single dashes; starts with a letter")
    kind: Literal["model", "pipeline"] = Field("model", description="model (model + scoring code) or pipeline "
                                               "(a pipeline component)")
    compute: str = Field(description="Name of one of the stack's clusters")
    model: Optional[AssetRef] = Field(None, description="With kind model: the model")
    environment: Optional[AssetRef] = Field(None, description="With kind model: the environment (omit for MLflow models)")
    code: Optional[AssetRef] = Field(None, description="With kind model: the scoring code asset")
    scoring_script: Optional[str] = Field(
        None, pattern=r"^(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+\.py$",
        description="With code: entry script (init()/run(mini_batch))")
    component: Optional[AssetRef] = Field(None, description="With kind pipeline: the pipeline component")
    instance_count: int = Field(1, ge=1, le=1000, description="Nodes of the cluster used per job")
    max_concurrency_per_instance: int = Field(1, ge=1, le=1000)
    """Scoring processes per node"""
    mini_batch_size: int = Field(10, ge=1, le=100000)
    """Files per run() call"""
    retries: int = Field(3, ge=0, le=100)
    """Retries of a failed mini batch"""
    retry_timeout: Duration = Field("PT30S", description="Timeout of one mini batch (ISO-8601)")
    error_threshold: int = Field(-1, ge=-1, description="Failed items tolerated; -1: all")
    output_action: Literal["AppendRow", "SummaryOnly"] = "AppendRow"
    """Write each prediction (AppendRow) or only a summary"""
    settings: Dict[str, str] = Field(default_factory=dict, description="With kind pipeline: pipeline job settings")
    description: Optional[str] = None
    """Shown in the studio"""

    @model_validator(mode="after")
    def _kind(self) -> "BatchDeploymentSettings":
        problems = []
        if self.kind == "model":
            if not self.model:
                problems.append("model: required with kind model")
            if self.component:
                problems.append("component: only used with kind pipeline")
            if bool(self.code) != bool(self.scoring_script):
                problems.append("code and scoring_script go together")
            if self.code and not self.environment:
                problems.append("code needs an environment (only MLflow models deploy without scoring code)")
            if self.settings:
                problems.append("settings: only used with kind pipeline")
        else:
            if not self.component:
                problems.append("component: required with kind pipeline")
            for f in ("model", "environment", "code", "scoring_script"):
                if getattr(self, f):
                    problems.append(f"{f}: only used with kind model")
        if problems:
            raise Problems(problems)
        return self


class BatchEndpointSettings(Model):
    """A batch endpoint: call a model or a pipeline by REST over files (successor of pipeline endpoints);
    Microsoft Entra authentication only."""

    name: EndpointName = Field(description="Endpoint name: 3-32 letters, digits, single dashes; starts with a letter; "
                               "unique in the Azure region")
    description: Optional[str] = None
    """Shown in the studio"""
    tags: Tags = Field(default_factory=dict)
    """Tags on the endpoint (besides the stack's)"""
    deployments: List[BatchDeploymentSettings] = Field(default_factory=list)
    """Deployments: name, kind (model/pipeline), compute (a cluster), model/code/environment or component"""
    default_deployment: Optional[str] = Field(
        None, description="Deployment that serves calls without a deployment name; default: the first")

    @model_validator(mode="after")
    def _check(self) -> "BatchEndpointSettings":
        problems = []
        names = [d.name for d in self.deployments]
        repeated = sorted({n for n in names if [m.lower() for m in names].count(n.lower()) > 1})
        if repeated:
            problems.append(f"deployments: names repeat ({', '.join(repeated)})")
        if len(names) > MAX_DEPLOYMENTS:
            problems.append(f"deployments: at most {MAX_DEPLOYMENTS} per endpoint, has {len(names)}")
        if self.default_deployment is not None and self.default_deployment not in names:
            problems.append(f"default_deployment: {self.default_deployment!r} is not a deployment of this endpoint "
                            f"({', '.join(names) or 'none'})")
        if problems:
            raise Problems(problems)
        return self

    @property
    def effective_default(self) -> Optional[str]:
        return self.default_deployment or (self.deployments[0].name if self.deployments else None)


# ---------------------------------------------------------------------------- across blocks

def serving_problems(online: Sequence[OnlineEndpointSettings], batch: Sequence[BatchEndpointSettings], *,
                     clusters: Sequence[str], kubernetes: Mapping[str, Sequence[str]],
                     default_instance_types: Mapping[str, Optional[str]]) -> List[str]:
    """Problems across the stack: endpoint names unique (case-insensitive, per region: one stack is in one
    region), Kubernetes endpoints on a declared target with its instance types, batch deployments on
    declared clusters. ``kubernetes`` maps target name -> its instance type names."""
    problems: List[str] = []
    seen: Dict[str, str] = {}
    for label, endpoints in (("online_endpoints", online), ("batch_endpoints", batch)):
        for i, ep in enumerate(endpoints):
            key = ep.name.lower()
            if key in seen:
                problems.append(f"{label}[{i}].name: {ep.name!r} is already used by {seen[key]} (endpoint names are "
                                "unique per Azure region)")
            else:
                seen[key] = f"{label}[{i}]"
    for i, ep in enumerate(online):
        if ep.kind != "kubernetes" or not ep.compute:
            continue
        if ep.compute not in kubernetes:
            problems.append(f"online_endpoints[{i}].compute: {ep.compute!r} is not one of the stack's kubernetes targets "
                            f"({', '.join(kubernetes) or 'none'})")
            continue
        types = list(kubernetes[ep.compute])
        for j, d in enumerate(ep.deployments):
            wanted = d.instance_type or default_instance_types.get(ep.compute)
            if wanted is None:
                problems.append(f"online_endpoints[{i}].deployments[{j}].instance_type: required, the target "
                                f"{ep.compute!r} declares no instance types")
            elif wanted not in types:
                problems.append(f"online_endpoints[{i}].deployments[{j}].instance_type: {wanted!r} is not an instance "
                                f"type of kubernetes target {ep.compute!r} ({', '.join(types) or 'none'})")
    for i, ep in enumerate(batch):
        for j, d in enumerate(ep.deployments):
            if d.compute not in clusters:
                problems.append(f"batch_endpoints[{i}].deployments[{j}].compute: {d.compute!r} is not one of the "
                                f"stack's clusters ({', '.join(clusters) or 'none'})")
    return problems


__all__ = [
    "OnlineEndpointSettings", "OnlineDeploymentSettings", "BatchEndpointSettings", "BatchDeploymentSettings",
    "ProbeSettings", "RequestSettings", "ScaleSettings", "endpoint_name_problems", "online_endpoint_problems",
    "serving_problems", "asset_id",
]
