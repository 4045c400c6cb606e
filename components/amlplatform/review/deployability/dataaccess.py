"""Deployability rules of data access (AMLD-040..049): least-privilege data roles, batch endpoints'
queue and table, studio over private storage.

* AMLD-040: a read-only grant (Storage Blob Data Reader on a container, Storage File Data Privileged
  Reader on a share) is void when the same principal holds a write role on the account (or above)
  without a condition that keeps writes out of that container. Azure RBAC is additive: "role
  assignments are additive, the effective permissions are the sum of your role assignments"
  (learn.microsoft.com/azure/role-based-access-control/overview, "Multiple role assignments"); a
  condition (Azure ABAC) narrows the write role for blobs (storage-auth-abac-attributes,
  storage-auth-abac-examples); Azure Files has no ABAC, so there only a narrower scope works.
* AMLD-041: batch endpoints (and ParallelRunStep) use the default storage's queues and tables; a
  managed network reaches them only through PrivateEndpoint outbound rules for the ``queue`` and
  ``table`` sub-resources (how-to-managed-network: Azure adds blob and file itself, not these).
* AMLD-042: with shared keys off, the identity of the cluster a batch deployment runs on needs
  Storage Queue Data Contributor and Storage Table Data Contributor on the default storage
  (how-to-disable-local-auth-storage; how-to-managed-network, batch endpoints).
* AMLD-043: in a managed network, the studio reaches private storage through the workspace's managed
  identity, which needs Reader on the storage account's private endpoints (how-to-managed-network,
  "Azure Machine Learning studio").

Each rule has a fixture that fires it and a corrected twin: tests/fixtures/deployability/dataaccess.py.
"""

from typing import Any, Dict, Iterable, List, Optional

from amlplatform.azure.roles import (BLOB_WRITE_ROLE_GUIDS, FILE_WRITE_ROLE_GUIDS, ROLES, condition_protects,
                                     role_name)
from amlplatform.review.deployability import Finding, rule
from amlplatform.review.deployability import _graph as g

BATCH_DEPLOYMENT = "azure-native:machinelearningservices:BatchDeployment"
_CONTAINERS = "/blobservices/default/containers/"
_SHARES = "/fileservices/default/fileshares/"
# read-only data roles whose grant a write role on a parent scope would shadow
_BLOB_READ_ONLY = {ROLES["Storage Blob Data Reader"]}
_FILE_READ_ONLY = {ROLES["Storage File Data Privileged Reader"]}
_QUEUE_ROLES = (ROLES["Storage Queue Data Contributor"], g.OWNER)
_TABLE_ROLES = (ROLES["Storage Table Data Contributor"], g.OWNER)
_ENDPOINT_READ_ROLES = (ROLES["Reader"], ROLES["Contributor"], g.OWNER)
BATCH_SUBRESOURCES = ("queue", "table")


def _known(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and value != g.UNKNOWN


# ------------------------------------------------------------------------------- AMLD-040

@rule("AMLD-040", reason="a read-only data grant on a container or file share is void when the same principal "
      "holds a write data role on the account (role assignments add up) without an ABAC condition keeping "
      "writes out of that container; file shares have no ABAC, so only a narrower scope works",
      doc="https://learn.microsoft.com/azure/storage/blobs/storage-auth-abac-attributes")
def write_roles_do_not_shadow_read_grants(graph: Any) -> Iterable[Finding]:
    assignments = g.role_assignments(graph)
    for read in assignments:
        scope = str(read.inputs.get("scope") or "")
        principal = read.inputs.get("principalId")
        role = g.role_guid(read.inputs.get("roleDefinitionId"))
        lowered = scope.lower()
        if not _known(principal) or not _known(scope):
            continue
        if role in _BLOB_READ_ONLY and _CONTAINERS in lowered:
            kind, writes, item = "container", BLOB_WRITE_ROLE_GUIDS, scope.rstrip("/").rsplit("/", 1)[-1]
        elif role in _FILE_READ_ONLY and _SHARES in lowered:
            kind, writes, item = "file share", FILE_WRITE_ROLE_GUIDS, scope.rstrip("/").rsplit("/", 1)[-1]
        else:
            continue
        for write in assignments:
            if write is read or write.inputs.get("principalId") != principal:
                continue
            if g.role_guid(write.inputs.get("roleDefinitionId")) not in writes:
                continue
            wscope = write.inputs.get("scope")
            if not g.covers(wscope, scope) or g.same_id(wscope, scope):
                continue
            if kind == "container" and condition_protects(write.inputs.get("condition"), item):
                continue
            fix = (f"add the condition amlplatform.azure.roles.read_only_containers_condition(['{item}']) to it "
                   "(conditionVersion 2.0), or grant the write role on the containers it needs only"
                   if kind == "container" else
                   "file shares have no role assignment conditions: grant the write role on the shares it needs "
                   "only, or keep the read-only data in another storage account")
            yield Finding("AMLD-040", write.name,
                          f"{role_name(g.role_guid(write.inputs.get('roleDefinitionId')))} on {str(wscope).rsplit('/', 1)[-1]} lets principal "
                          f"{str(principal)[:8]}... write and delete in {kind} {item!r}, where {read.name} grants it "
                          f"read only: {fix}")


# ------------------------------------------------------------------------------- batch

def _batch_deployments_by_workspace(graph: Any) -> Dict[str, List[Any]]:
    out: Dict[str, List[Any]] = {}
    for d in graph.of_type(BATCH_DEPLOYMENT):
        out.setdefault(str(d.inputs.get("workspaceName")), []).append(d)
    return out


def _isolation(ws: Any) -> str:
    return str(g.get(ws.inputs, "managedNetwork.isolationMode") or "Disabled")


@rule("AMLD-041", reason="batch endpoints and ParallelRunStep use the default storage's queues and tables; a "
      "managed network reaches them only through PrivateEndpoint outbound rules for the queue and table "
      "sub-resources, which Azure does not add itself",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-managed-network")
def batch_has_queue_and_table_outbound_rules(graph: Any) -> Iterable[Finding]:
    batch = _batch_deployments_by_workspace(graph)
    for ws in graph.of_type(g.WORKSPACE):
        deployments = batch.get(str(ws.inputs.get("workspaceName")))
        if not deployments or _isolation(ws) == "Disabled":
            continue
        storage = ws.inputs.get("storageAccount")
        rules = g.get(ws.inputs, "managedNetwork.outboundRules") or {}
        found = set()
        for spec in (rules.values() if isinstance(rules, dict) else []):
            if not isinstance(spec, dict) or spec.get("type") != "PrivateEndpoint":
                continue
            destination = spec.get("destination") or {}
            target = str(destination.get("subresourceTarget") or "").lower()
            service = destination.get("serviceResourceId")
            if target in BATCH_SUBRESOURCES and (not _known(storage) or not _known(service)
                                                 or g.same_id(service, storage)):
                found.add(target)
        missing = [t for t in BATCH_SUBRESOURCES if t not in found]
        if missing:
            yield Finding("AMLD-041", ws.name,
                          f"{len(deployments)} batch deployment(s) but the managed network has no PrivateEndpoint "
                          f"outbound rule to the default storage for {' and '.join(missing)}: batch jobs cannot "
                          "queue or track their mini-batches (MLWorkspace: workspace.default_storage_outbound)")


def _batch_computes(graph: Any) -> Dict[str, Any]:
    """Compute urn -> the compute each batch deployment runs on (AmlCompute, in this graph)."""
    by_id = {str(c.id).lower(): c for c in graph.of_type(g.COMPUTE) if c.id}
    by_name = {(str(c.inputs.get("workspaceName")), str(c.inputs.get("computeName")).lower()): c
               for c in graph.of_type(g.COMPUTE)}
    out: Dict[str, Any] = {}
    for d in graph.of_type(BATCH_DEPLOYMENT):
        props = d.inputs.get("properties") or {}
        compute: Optional[Any] = None
        if isinstance(props.get("compute"), str):
            compute = by_id.get(props["compute"].lower())
        name = g.get(props, "deploymentConfiguration.settings.default_compute")
        if compute is None and isinstance(name, str):
            compute = by_name.get((str(d.inputs.get("workspaceName")), name.lower()))
        if compute is not None and g.compute_type(compute) == "AmlCompute":
            out[compute.urn] = compute
    return out


@rule("AMLD-042", reason="with shared keys off, the identity of the cluster a batch deployment runs on needs "
      "Storage Queue Data Contributor and Storage Table Data Contributor on the default storage (Azure ML: use "
      "a storage account without shared keys)",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-disable-local-auth-storage")
def batch_clusters_have_queue_and_table_roles(graph: Any) -> Iterable[Finding]:
    storages = {str(g.resource_id(s)).lower(): s for s in graph.of_type(g.STORAGE)
                if s.inputs.get("allowSharedKeyAccess") is False}
    for compute in _batch_computes(graph).values():
        ws = g.workspace_of(graph, compute)
        ref = ws.inputs.get("storageAccount") if ws is not None else None
        targets = [s for sid, s in storages.items() if not _known(ref) or g.same_id(ref, sid)]
        for st in targets:
            rid = g.resource_id(st)
            sources = ([compute] if g.has_system_identity(compute) else []) + [
                g.by_id(graph, uai, g.IDENTITY) for uai in g.user_identities(compute)]
            for source in sources:
                who = "its managed identity" if source is compute else "its user-assigned identity"
                missing = [label for label, roles in (("Storage Queue Data Contributor", _QUEUE_ROLES),
                                                      ("Storage Table Data Contributor", _TABLE_ROLES))
                           if source is None or not g.grants(graph, rid, roles, principal_from=source)]
                if missing:
                    yield Finding("AMLD-042", compute.name,
                                  f"batch deployments run on it but {who} has no {' and no '.join(missing)} on "
                                  f"{st.name}: batch jobs fail to read and write their queues and tables")


# ------------------------------------------------------------------------------- studio

@rule("AMLD-043", reason="in a managed network the studio reaches private storage with the workspace's managed "
      "identity, which needs Reader on the storage account's private endpoints (Azure ML managed network, "
      "Azure Machine Learning studio)",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-managed-network")
def workspace_identity_reads_storage_endpoints(graph: Any) -> Iterable[Finding]:
    for ws in graph.of_type(g.WORKSPACE):
        if _isolation(ws) == "Disabled" or not g.has_system_identity(ws):
            continue
        storage = ws.inputs.get("storageAccount")
        if not _known(storage):
            continue
        for link in g.private_endpoints_to(graph, storage):
            endpoint = link["endpoint"]
            endpoint_id = g.resource_id(endpoint)
            if not endpoint_id or not g.grants(graph, endpoint_id, _ENDPOINT_READ_ROLES, principal_from=ws):
                yield Finding("AMLD-043", ws.name,
                              f"its managed identity has no Reader on the storage private endpoint {endpoint.name} "
                              f"({', '.join(link['group_ids'])}): the studio cannot use the storage in the managed "
                              "network")


__all__ = ["BATCH_SUBRESOURCES"]
