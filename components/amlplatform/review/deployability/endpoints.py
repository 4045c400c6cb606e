"""Deployability rules for datastores and endpoints (AMLD-101..199).

Each rule reads the recorded graph (azure-native inputs, wire names) and reports what would fail
at ``pulumi up`` or break the workspace's isolation, whoever declared the resources: the stack
settings refuse most of these up front, but a program that uses the components or azure-native
directly gets no such check. Sources are on each rule.
"""

from typing import Any, Dict, Iterable, List, Optional, Tuple

from amlplatform.azure.roles import BLOB_READ_ROLE_GUIDS, FILE_READ_ROLE_GUIDS
from amlplatform.review.deployability import Finding, rule
from amlplatform.review.paths import get_path as _get

WORKSPACE = "azure-native:machinelearningservices:Workspace"
COMPUTE = "azure-native:machinelearningservices:Compute"
ONLINE_ENDPOINT = "azure-native:machinelearningservices:OnlineEndpoint"
ONLINE_DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
BATCH_ENDPOINT = "azure-native:machinelearningservices:BatchEndpoint"
BATCH_DEPLOYMENT = "azure-native:machinelearningservices:BatchDeployment"
DATASTORE = "azure-native:machinelearningservices:Datastore"
STORAGE = "azure-native:storage:StorageAccount"
GENERIC = "azure-native:resources:Resource"
KEY_REASON_TAG = "amlplatform.io/key-auth-reason"  # written by amlplatform.iac.serving.endpoints


def _workspaces(graph: Any) -> Dict[str, Any]:
    return {str(r.inputs.get("workspaceName")): r for r in graph.of_type(WORKSPACE)}


def _deployments(graph: Any, type_: str) -> Dict[Tuple[str, str], List[Any]]:
    """(workspace, endpoint) -> its deployments (recorded resources)."""
    out: Dict[Tuple[str, str], List[Any]] = {}
    for d in graph.of_type(type_):
        out.setdefault((str(d.inputs.get("workspaceName")), str(d.inputs.get("endpointName"))), []).append(d)
    return out


def _computes(graph: Any) -> Dict[str, Any]:
    """Lower-cased ARM id -> compute resource."""
    return {str(c.id).lower(): c for c in graph.of_type(COMPUTE) if c.id}


def _traffic_writes(graph: Any) -> List[Tuple[Any, Tuple[str, str], Dict[str, Any]]]:
    """(resource, (workspace, endpoint), properties) of every write that sets an online endpoint's
    traffic: the endpoint itself and generic second writes of it."""
    out = []
    for ep in graph.of_type(ONLINE_ENDPOINT):
        out.append((ep, (str(ep.inputs.get("workspaceName")), str(ep.inputs.get("endpointName"))),
                    ep.inputs.get("properties") or {}))
    for res in graph.of_type(GENERIC):
        i = res.inputs
        if str(i.get("resourceProviderNamespace", "")).lower() == "microsoft.machinelearningservices" \
                and str(i.get("resourceType", "")).lower() == "onlineendpoints":
            workspace = str(i.get("parentResourcePath", "")).split("/")[-1]
            out.append((res, (workspace, str(i.get("resourceName"))), i.get("properties") or {}))
    return out


@rule("AMLD-101", reason="an endpoint open to public networks in a private workspace bypasses the workspace's "
      "private endpoint for scoring traffic",
      doc="https://learn.microsoft.com/azure/machine-learning/concept-secure-online-endpoint")
def public_endpoint_in_private_workspace(graph: Any) -> Iterable[Finding]:
    workspaces = _workspaces(graph)
    for ep in graph.of_type(ONLINE_ENDPOINT):
        ws = workspaces.get(str(ep.inputs.get("workspaceName")))
        if ws is None or ws.inputs.get("publicNetworkAccess") != "Disabled":
            continue
        access = _get(ep.inputs, "properties.publicNetworkAccess")
        if access != "Disabled":  # the service's default is Enabled
            yield Finding("AMLD-101", ep.name,
                          f"online endpoint {ep.inputs.get('endpointName')!r} has public network access "
                          f"{access or 'Enabled (the default)'} while workspace {ws.inputs.get('workspaceName')!r} "
                          "is private: set properties.publicNetworkAccess Disabled, or except the rule with a reason")


def _instance_types(compute: Any) -> Tuple[List[str], Optional[str]]:
    inner = _get(compute.inputs, "properties.properties") or {}
    types = inner.get("instanceTypes") or {}
    return sorted(types) if isinstance(types, dict) else [], inner.get("defaultInstanceType")


@rule("AMLD-102", reason="a Kubernetes deployment runs on an instance type of its cluster; an unknown one never "
      "schedules a pod",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-manage-kubernetes-instance-types")
def kubernetes_instance_type_exists(graph: Any) -> Iterable[Finding]:
    computes = _computes(graph)
    endpoints = {(str(e.inputs.get("workspaceName")), str(e.inputs.get("endpointName"))): e
                 for e in graph.of_type(ONLINE_ENDPOINT)}
    for d in graph.of_type(ONLINE_DEPLOYMENT):
        if _get(d.inputs, "properties.endpointComputeType") != "Kubernetes":
            continue
        ep = endpoints.get((str(d.inputs.get("workspaceName")), str(d.inputs.get("endpointName"))))
        compute_id = _get(ep.inputs, "properties.compute") if ep is not None else None
        if not isinstance(compute_id, str):
            if ep is not None:
                yield Finding("AMLD-102", d.name, f"Kubernetes deployment {d.inputs.get('deploymentName')!r}: its "
                              f"endpoint {ep.inputs.get('endpointName')!r} names no Kubernetes compute "
                              "(properties.compute)")
            continue
        compute = computes.get(compute_id.lower())
        if compute is None:
            continue  # attached outside this graph: its instance types are not known here
        types, default = _instance_types(compute)
        wanted = _get(d.inputs, "properties.instanceType") or default
        if wanted is None:
            yield Finding("AMLD-102", d.name, f"Kubernetes deployment {d.inputs.get('deploymentName')!r} names no "
                          f"instance type and compute {compute.inputs.get('computeName')!r} has no default")
        elif wanted not in types:
            yield Finding("AMLD-102", d.name, f"Kubernetes deployment {d.inputs.get('deploymentName')!r} uses instance "
                          f"type {wanted!r}, which compute {compute.inputs.get('computeName')!r} does not have "
                          f"({', '.join(types) or 'none'})")


@rule("AMLD-103", reason="endpoint keys never expire; key auth must be a deliberate, stated choice",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-authenticate-online-endpoint")
def key_auth_has_reason(graph: Any) -> Iterable[Finding]:
    for ep in graph.of_type(ONLINE_ENDPOINT):
        if _get(ep.inputs, "properties.authMode") != "Key":
            continue
        reason = (ep.inputs.get("tags") or {}).get(KEY_REASON_TAG)
        if not isinstance(reason, str) or len(reason.strip()) < 10:
            yield Finding("AMLD-103", ep.name, f"online endpoint {ep.inputs.get('endpointName')!r} uses key auth without "
                          f"a reason (tag {KEY_REASON_TAG}); prefer AADToken (managed) or AMLToken (Kubernetes)")


@rule("AMLD-104", reason="a batch deployment runs its jobs on a compute cluster of the workspace; a missing one "
      "fails every job",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-use-batch-model-deployments")
def batch_cluster_exists(graph: Any) -> Iterable[Finding]:
    computes = _computes(graph)
    by_name = {(str(c.inputs.get("workspaceName")), str(c.inputs.get("computeName")).lower()): c
               for c in graph.of_type(COMPUTE)}
    for d in graph.of_type(BATCH_DEPLOYMENT):
        props = d.inputs.get("properties") or {}
        workspace = str(d.inputs.get("workspaceName"))
        compute_id = props.get("compute")
        name = _get(props, "deploymentConfiguration.settings.default_compute")
        if isinstance(compute_id, str):
            found = computes.get(compute_id.lower())
            label = compute_id.rsplit("/", 1)[-1]
        elif isinstance(name, str):
            found = by_name.get((workspace, name.lower()))
            label = name
        else:
            yield Finding("AMLD-104", d.name, f"batch deployment {d.inputs.get('deploymentName')!r} names no compute "
                          "(properties.compute, or settings.default_compute for a pipeline component)")
            continue
        kind = _get(found.inputs, "properties.computeType") if found is not None else None
        if found is None:
            yield Finding("AMLD-104", d.name, f"batch deployment {d.inputs.get('deploymentName')!r} runs on compute "
                          f"{label!r}, which this stack does not declare")
        elif kind != "AmlCompute":
            yield Finding("AMLD-104", d.name, f"batch deployment {d.inputs.get('deploymentName')!r} runs on compute "
                          f"{label!r} of type {kind}; batch deployments need a compute cluster (AmlCompute)")


@rule("AMLD-105", reason="traffic may only name deployments of the endpoint and must sum to 100; mirrored traffic "
      "goes to one deployment without live traffic, at most 50 %, never on Kubernetes endpoints",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-safely-rollout-online-endpoints")
def traffic_is_valid(graph: Any) -> Iterable[Finding]:
    deployments = _deployments(graph, ONLINE_DEPLOYMENT)
    kubernetes = {(str(e.inputs.get("workspaceName")), str(e.inputs.get("endpointName")))
                  for e in graph.of_type(ONLINE_ENDPOINT) if _get(e.inputs, "properties.compute")}
    for res, key, props in _traffic_writes(graph):
        traffic = props.get("traffic") or {}
        mirror = props.get("mirrorTraffic") or {}
        if not traffic and not mirror:
            continue
        names = {str(d.inputs.get("deploymentName")) for d in deployments.get(key, [])}
        problems = []
        for label, split in (("traffic", traffic), ("mirrorTraffic", mirror)):
            unknown = sorted(set(split) - names)
            if unknown:
                problems.append(f"{label} names {', '.join(map(repr, unknown))}, not deployments of endpoint "
                                f"{key[1]!r} ({', '.join(sorted(names)) or 'none'})")
        if traffic and sum(v for v in traffic.values() if isinstance(v, (int, float))) != 100:
            problems.append(f"traffic sums to {sum(traffic.values())}, not 100")
        if mirror:
            if key in kubernetes or props.get("compute"):
                problems.append("mirrorTraffic is not supported on Kubernetes online endpoints")
            if len(mirror) > 1:
                problems.append("mirrorTraffic names more than one deployment")
            if any(v > 50 for v in mirror.values() if isinstance(v, (int, float))):
                problems.append("mirrorTraffic is above 50 percent")
            if any((traffic.get(k) or 0) > 0 for k in mirror):
                problems.append("a deployment gets both live and mirrored traffic")
        if problems:
            yield Finding("AMLD-105", res.name, "; ".join(problems))


@rule("AMLD-106", reason="traffic can only be set once the deployments exist, and each deployment waits for its "
      "endpoint: traffic on the endpoint resource itself fails the first deploy",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-safely-rollout-online-endpoints")
def traffic_after_deployments(graph: Any) -> Iterable[Finding]:
    for ep in graph.of_type(ONLINE_ENDPOINT):
        traffic = _get(ep.inputs, "properties.traffic") or {}
        mirror = _get(ep.inputs, "properties.mirrorTraffic") or {}
        if any(v for v in list(traffic.values()) + list(mirror.values())):
            yield Finding("AMLD-106", ep.name, f"online endpoint {ep.inputs.get('endpointName')!r} sets traffic on "
                          "creation, before its deployments exist; set it in a write that waits for the deployments "
                          "(amlplatform.iac.serving.endpoints.OnlineEndpoint does)")


@rule("AMLD-107", reason="Microsoft Entra token auth is available on managed online and batch endpoints only; "
      "batch endpoints accept nothing else",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-authenticate-online-endpoint")
def auth_mode_supported(graph: Any) -> Iterable[Finding]:
    for ep in graph.of_type(ONLINE_ENDPOINT):
        if _get(ep.inputs, "properties.compute") and _get(ep.inputs, "properties.authMode") == "AADToken":
            yield Finding("AMLD-107", ep.name, f"Kubernetes online endpoint {ep.inputs.get('endpointName')!r} uses "
                          "AADToken, which only managed online endpoints support (use AMLToken)")
    for ep in graph.of_type(BATCH_ENDPOINT):
        mode = _get(ep.inputs, "properties.authMode")
        if mode not in (None, "AADToken"):
            yield Finding("AMLD-107", ep.name, f"batch endpoint {ep.inputs.get('endpointName')!r} uses {mode}; batch "
                          "endpoints take Microsoft Entra tokens (AADToken) only")


@rule("AMLD-108", reason="an account key or SAS credential cannot work against a storage account whose shared key "
      "access is off; use an identity-based datastore",
      doc="https://learn.microsoft.com/azure/storage/common/shared-key-authorization-prevent")
def credential_needs_shared_key(graph: Any) -> Iterable[Finding]:
    accounts = {str(s.inputs.get("accountName")): s for s in graph.of_type(STORAGE)}
    for ds in graph.of_type(DATASTORE):
        kind = _get(ds.inputs, "properties.credentials.credentialsType")
        if kind not in ("AccountKey", "Sas"):
            continue
        account = accounts.get(str(_get(ds.inputs, "properties.accountName")))
        if account is not None and account.inputs.get("allowSharedKeyAccess") is False:
            yield Finding("AMLD-108", ds.name, f"datastore {ds.inputs.get('name')!r} uses {kind} credentials on storage "
                          f"account {account.inputs.get('accountName')!r}, which refuses shared keys")


# roles that let an identity read a container (blob, ADLS Gen2) or a share (built-in role ids)
_BLOB_READ = BLOB_READ_ROLE_GUIDS
_FILE_READ = FILE_READ_ROLE_GUIDS
ROLE = "azure-native:authorization:RoleAssignment"


def _data_scope(props: Dict[str, Any]) -> Optional[str]:
    try:
        account = (f"/subscriptions/{props['subscriptionId']}/resourceGroups/{props['resourceGroup']}/providers/"
                   f"Microsoft.Storage/storageAccounts/{props['accountName']}")
    except KeyError:
        return None
    if props.get("datastoreType") == "AzureFile":
        return f"{account}/fileServices/default/fileshares/{props.get('fileShareName')}"
    return f"{account}/blobServices/default/containers/{props.get('containerName') or props.get('filesystem')}"


@rule("AMLD-109", reason="an identity-based datastore previews data in the studio with the workspace identity, "
      "which needs a data-reader role on the container or share",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-identity-based-service-authentication")
def workspace_identity_reads_datastore(graph: Any) -> Iterable[Finding]:
    workspaces = _workspaces(graph)
    accounts = {str(s.inputs.get("accountName")).lower(): s for s in graph.of_type(STORAGE)}
    roles = graph.of_type(ROLE)
    for ds in graph.of_type(DATASTORE):
        props = ds.inputs.get("properties") or {}
        ws = workspaces.get(str(ds.inputs.get("workspaceName")))
        if (_get(props, "credentials.credentialsType") != "None" or ws is None
                or props.get("serviceDataAccessAuthIdentity") != "WorkspaceSystemAssignedIdentity"
                or "SystemAssigned" not in str(_get(ws.inputs, "identity.type"))):
            continue
        account = accounts.get(str(props.get("accountName")).lower())
        # only accounts this graph declares, other than the workspace's own storage (the service grants
        # the workspace identity its roles there; elsewhere they may be granted outside this stack)
        if account is None or str(ws.inputs.get("storageAccount", "")).lower() == str(account.id).lower():
            continue
        scope = _data_scope(props)
        wanted = _FILE_READ if props.get("datastoreType") == "AzureFile" else _BLOB_READ
        granted = any(ws.urn in r.dependencies
                      and str(r.inputs.get("roleDefinitionId", "")).rsplit("/", 1)[-1].lower() in wanted
                      and scope is not None and scope.lower().startswith(str(r.inputs.get("scope", "")).lower())
                      for r in roles)
        if not granted:
            yield Finding("AMLD-109", ds.name, f"identity-based datastore {ds.inputs.get('name')!r} on storage account "
                          f"{props.get('accountName')!r}: the workspace identity has no data-reader role on it, so the "
                          "studio cannot preview its data (grant Storage Blob Data Reader on the container)")


APP_INSIGHTS = "azure-native:applicationinsights:Component"


def _telemetry_publishers(graph: Any, endpoint: Any) -> List[Any]:
    """The identities an endpoint's containers can get tokens for: the endpoint itself (system-assigned)
    and the user-assigned identities it names that this graph declares."""
    from amlplatform.review.deployability import _graph as g

    out = [endpoint]
    for uid in (_get(endpoint.inputs, "identity.userAssignedIdentities") or []):
        identity = g.by_id(graph, uid, g.IDENTITY)
        if identity is not None:
            out.append(identity)
    return out


@rule("AMLD-050", reason="a deployment that sends telemetry to an Application Insights component with local auth off "
      "is ingested only with Microsoft Entra ID, which needs Monitoring Metrics Publisher on the component for the "
      "identity that sends (the endpoint's)",
      doc="https://learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication")
def telemetry_identity_can_publish(graph: Any) -> Iterable[Finding]:
    from amlplatform.azure.roles import ROLES
    from amlplatform.review.deployability import _graph as g

    workspaces = _workspaces(graph)
    endpoints = {(str(e.inputs.get("workspaceName")), str(e.inputs.get("endpointName"))): e
                 for e in graph.of_type(ONLINE_ENDPOINT)}
    for (workspace_name, endpoint_name), deployments in sorted(_deployments(graph, ONLINE_DEPLOYMENT).items()):
        sending = [d for d in deployments if _get(d.inputs, "properties.appInsightsEnabled") is True]
        ws = workspaces.get(workspace_name)
        if not sending or ws is None:
            continue
        component = g.by_id(graph, ws.inputs.get("applicationInsights"), APP_INSIGHTS)
        if component is None or component.inputs.get("disableLocalAuth") is not True:
            continue  # an existing component (not declared here), or one that takes the instrumentation key
        endpoint = endpoints.get((workspace_name, endpoint_name))
        publishers = _telemetry_publishers(graph, endpoint) if endpoint is not None else []
        if any(g.grants(graph, g.resource_id(component), [ROLES["Monitoring Metrics Publisher"]], principal_from=p)
               for p in publishers):
            continue
        for d in sending:
            yield Finding("AMLD-050", d.name,
                          f"sends telemetry (appInsightsEnabled) to {component.inputs.get('resourceName')}, which "
                          f"refuses local auth, and no identity of endpoint {endpoint_name!r} holds Monitoring "
                          "Metrics Publisher on it: its telemetry is rejected (grant the role, e.g. OnlineEndpoint "
                          "app_insights_id, or set app_insights: false)")


LOG_ANALYTICS = "azure-native:operationalinsights:Workspace"
SCOPED_RESOURCE = "azure-native:monitor:PrivateLinkScopedResource"


@rule("AMLD-051", reason="a Log Analytics workspace or Application Insights component that refuses public ingestion "
      "or queries is reached only through an Azure Monitor Private Link Scope that holds it: with none, agents, SDKs "
      "and people cannot send or read its data",
      doc="https://learn.microsoft.com/azure/azure-monitor/logs/private-link-security")
def private_monitoring_has_a_scope(graph: Any) -> Iterable[Finding]:
    from amlplatform.review.deployability import _graph as g

    scoped = [r.inputs.get("linkedResourceId") for r in graph.of_type(SCOPED_RESOURCE)]
    for type_ in (LOG_ANALYTICS, APP_INSIGHTS):
        for res in graph.of_type(type_):
            closed = [k for k in ("publicNetworkAccessForIngestion", "publicNetworkAccessForQuery")
                      if res.inputs.get(k) == "Disabled"]
            if not closed or any(g.same_id(linked, g.resource_id(res)) for linked in scoped):
                continue
            yield Finding("AMLD-051", res.name,
                          f"{' and '.join(closed)} Disabled, and no Azure Monitor Private Link Scope in this stack "
                          "holds it (monitoring.private_link_scope, or a PrivateLinkScopedResource): nothing can "
                          "reach it (if a scope elsewhere holds it, except AMLD-051 with the reason)")
