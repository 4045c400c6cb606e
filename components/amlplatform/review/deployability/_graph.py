"""Reading the recorded graph for deployability rules: ids, role assignments, private endpoints.

Inputs are azure-native wire names as the engine records them (see amlplatform.offline.engine).
Ids are compared without regard to case: ARM returns ids in other casings.
"""

from typing import Any, Dict, Iterable, List, Mapping, Optional

from amlplatform.azure.roles import ROLES
from amlplatform.offline import armtypes
from amlplatform.offline.engine import OFFLINE_SUBSCRIPTION
from amlplatform.review.paths import get_path as get

WORKSPACE = "azure-native:machinelearningservices:Workspace"
COMPUTE = "azure-native:machinelearningservices:Compute"
STORAGE = "azure-native:storage:StorageAccount"
KEY_VAULT = "azure-native:keyvault:Vault"
KEY = "azure-native:keyvault:Key"
REGISTRY = "azure-native:containerregistry:Registry"
AKS = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
DNS_ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
FEATURE_REGISTRATION = "azure-native:features:SubscriptionFeatureRegistration"
ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"
PRIVATE_ZONE = "azure-native:privatedns:PrivateZone"
VNET_LINK = "azure-native:privatedns:VirtualNetworkLink"
RECORD_SET = "azure-native:privatedns:PrivateRecordSet"
SUBNET = "azure-native:network:Subnet"
EXTENSION = "azure-native:kubernetesconfiguration:Extension"
DCR_ASSOCIATION = "azure-native:monitor:DataCollectionRuleAssociation"
USER_ASSIGNED_IDENTITY = IDENTITY

# Built-in role definition GUIDs (learn.microsoft.com/azure/role-based-access-control/built-in-roles)
STORAGE_BLOB_DATA_CONTRIBUTOR = ROLES["Storage Blob Data Contributor"]
STORAGE_BLOB_DATA_OWNER = ROLES["Storage Blob Data Owner"]
STORAGE_BLOB_DATA_READER = ROLES["Storage Blob Data Reader"]
STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR = ROLES["Storage File Data Privileged Contributor"]
ACR_PULL = ROLES["AcrPull"]
KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER = ROLES["Key Vault Crypto Service Encryption User"]
KEY_VAULT_CRYPTO_OFFICER = ROLES["Key Vault Crypto Officer"]
KEY_VAULT_ADMINISTRATOR = ROLES["Key Vault Administrator"]
AKS_RBAC_CLUSTER_ADMIN = ROLES["Azure Kubernetes Service RBAC Cluster Admin"]
AKS_RBAC_ADMIN = ROLES["Azure Kubernetes Service RBAC Admin"]
AKS_RBAC_WRITER = ROLES["Azure Kubernetes Service RBAC Writer"]
STORAGE_ACCOUNT_CONTRIBUTOR = ROLES["Storage Account Contributor"]
PRIVATE_DNS_ZONE_CONTRIBUTOR = ROLES["Private DNS Zone Contributor"]
OWNER = ROLES["Owner"]

UNKNOWN = armtypes.UNKNOWN  # what the plan shows for a value known after deploy

# A cluster whose stack states the subscription has Microsoft.Compute/EncryptionAtHost registered
# carries this tag with the value "registered" (written by amlplatform.iac.kubernetes.aks.declare_cluster). It is the
# stack's word, not proof of the registration: AMLD-011 does not read it (see that rule).
ENCRYPTION_AT_HOST_TAG = "amlplatform.io/encryption-at-host-feature"


def resource_id(res: Any) -> Optional[str]:
    """The ARM id of a recorded resource (what the mock engine answered, else its id template)."""
    if res.id and str(res.id).startswith("/"):
        return str(res.id)
    arm = armtypes.lookup(res.type)
    return arm.resource_id(res.inputs, OFFLINE_SUBSCRIPTION) if arm else None


def same_id(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.rstrip("/").lower() == b.rstrip("/").lower()


def covers(scope: Any, target: Any) -> bool:
    """A role granted on ``scope`` applies to ``target`` (the same id, or a parent of it)."""
    if not isinstance(scope, str) or not isinstance(target, str):
        return False
    s, t = scope.rstrip("/").lower(), target.rstrip("/").lower()
    return t == s or t.startswith(s + "/")


def role_guid(role_definition_id: Any) -> str:
    return str(role_definition_id or "").rstrip("/").rsplit("/", 1)[-1].lower()


def role_assignments(graph: Any) -> List[Any]:
    return graph.of_type(ROLE_ASSIGNMENT)


def grants(graph: Any, target_id: str, roles: Iterable[str], *, principal_types: Iterable[str] = (),
           principal_from: Optional[Any] = None) -> List[Any]:
    """Role assignments giving one of ``roles`` on ``target_id`` (or a parent scope).

    ``principal_types`` limits to User/Group/ServicePrincipal; ``principal_from`` to assignments
    whose principalId comes from that recorded resource (a compute's or identity's principal)."""
    wanted = {r.lower() for r in roles}
    kinds = set(principal_types)
    out = []
    for ra in role_assignments(graph):
        if role_guid(ra.inputs.get("roleDefinitionId")) not in wanted:
            continue
        if not covers(ra.inputs.get("scope"), target_id):
            continue
        if kinds and ra.inputs.get("principalType") not in kinds:
            continue
        if principal_from is not None and not _principal_from(graph, ra, principal_from):
            continue
        out.append(ra)
    return out


def _principal_from(graph: Any, ra: Any, source: Any) -> bool:
    """The assignment's principalId is an output of ``source`` (or of a resource below it)."""
    deps = set((ra.property_dependencies or {}).get("principalId") or [])
    if source.urn in deps:
        return True
    by_urn = graph.by_urn()
    for urn in deps:
        dep = by_urn.get(urn)
        if dep is not None and not dep.custom and source.urn in graph.resource_dependencies(dep):
            return True
        # a component output: the source is one of its children
        if dep is not None and not dep.custom and source.parent == dep.urn:
            return True
    return False


def private_endpoints_to(graph: Any, target_id: str) -> List[Dict[str, Any]]:
    """[{endpoint, group_ids}] of the private endpoints connecting to ``target_id``."""
    out = []
    for pe in graph.of_type(PRIVATE_ENDPOINT):
        for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
            for conn in pe.inputs.get(key) or []:
                if same_id(get(conn, "privateLinkServiceId"), target_id):
                    out.append({"endpoint": pe, "group_ids": [str(g).lower() for g in conn.get("groupIds") or []]})
    return out


def dns_zones_of(graph: Any, endpoint: Any) -> Optional[List[str]]:
    """Zone names of the DNS zone groups of ``endpoint``; None when it has no zone group."""
    pe_name = endpoint.inputs.get("privateEndpointName")
    zones: Optional[List[str]] = None
    for group in graph.of_type(DNS_ZONE_GROUP):
        deps = set(group.dependencies) | {u for v in (group.property_dependencies or {}).values() for u in v}
        if group.inputs.get("privateEndpointName") != pe_name and endpoint.urn not in deps:
            continue
        zones = zones or []
        for config in group.inputs.get("privateDnsZoneConfigs") or []:
            zone_id = str(config.get("privateDnsZoneId") or "")
            zones.append(zone_id.rstrip("/").rsplit("/", 1)[-1].lower() if zone_id != UNKNOWN else UNKNOWN)
    return zones


def created(graph: Any, type_: str) -> List[Any]:
    return graph.of_type(type_)


def by_id(graph: Any, arm_id: Any, type_: Optional[str] = None) -> Optional[Any]:
    for res in graph.custom_resources():
        if (type_ is None or res.type == type_) and same_id(resource_id(res), arm_id):
            return res
    return None


def workspace_of(graph: Any, compute: Any) -> Optional[Any]:
    for ws in graph.of_type(WORKSPACE):
        if ws.inputs.get("workspaceName") == compute.inputs.get("workspaceName"):
            return ws
    return None


def compute_type(res: Any) -> Optional[str]:
    return get(res.inputs, "properties.computeType")


def has_system_identity(res: Any) -> bool:
    return "SystemAssigned" in str(get(res.inputs, "identity.type") or "")


def user_identities(res: Any) -> List[str]:
    value = get(res.inputs, "identity.userAssignedIdentities")
    if isinstance(value, Mapping):
        return [str(k) for k in value]
    return [str(v) for v in value or []]


def vnet_of(subnet_id: Any) -> Optional[str]:
    """The VNet id of a subnet id (lower case), None for anything else."""
    text = str(subnet_id or "").lower()
    marker = "/subnets/"
    return text.split(marker, 1)[0] if marker in text and "/virtualnetworks/" in text else None


def all_dependencies(graph: Any, res: Any) -> List[str]:
    """URNs of every custom resource ``res`` waits for, directly or through others."""
    by_urn = graph.by_urn()
    seen: List[str] = []
    todo = list(graph.resource_dependencies(res))
    while todo:
        urn = todo.pop()
        if urn in seen:
            continue
        seen.append(urn)
        dep = by_urn.get(urn)
        if dep is not None:
            todo.extend(graph.resource_dependencies(dep))
    return seen


def provider_of(graph: Any, res: Any) -> Optional[Any]:
    """The recorded provider resource of ``res`` (its ``provider`` reference is ``<urn>::<id>``)."""
    ref = res.provider or ""
    urn = ref.rsplit("::", 1)[0] if ref.count("::") > 3 else ref
    return graph.by_urn().get(urn)
