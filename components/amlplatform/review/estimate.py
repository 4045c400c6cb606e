"""How long a first ``pulumi up`` of a stack takes until it is ready: the longest (critical) path
through the recorded dependency graph, weighted by per-type provisioning times.

Pulumi creates a resource as soon as everything it depends on exists, so the time to ready is
the heaviest path, not the sum. The times are published figures where there are any (sources
next to each entry; architecture.md collects them) and labelled assumptions where there are none.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

# token -> (seconds, source)
PROVISIONING_SECONDS: Dict[str, Tuple[int, str]] = {
    "azure-native:resources:ResourceGroup": (5, "assumption: a resource group is a metadata write"),
    "azure-native:storage:StorageAccount": (23, "azure-ai-ml create logs / azurerm acceptance tests (~23 s)"),
    "azure-native:storage:BlobServiceProperties": (5, "assumption: a property update of the account"),
    "azure-native:keyvault:Vault": (18, "azure-ai-ml create logs / azurerm acceptance tests (~18 s)"),
    "azure-native:operationalinsights:Workspace": (17, "azurerm acceptance tests (~17 s)"),
    "azure-native:applicationinsights:Component": (20, "azurerm acceptance tests (~20 s)"),
    "azure-native:containerregistry:Registry": (60, "assumption: no sourced number (architecture.md: ~1 min)"),
    "azure-native:machinelearningservices:Workspace": (330, "azure-ai-ml create logs (~5.5 min)"),
    "azure-native:machinelearningservices:Compute": (60, "assumption: no sourced number for AmlCompute (~1 min)"),
    "azure-native:machinelearningservices:EnvironmentContainer": (5, "assumption: a metadata write"),
    "azure-native:machinelearningservices:EnvironmentVersion": (5, "assumption: a metadata write (image built on first use)"),
    "azure-native:containerservice:ManagedCluster": (360, "vendor figure (~6 min; older measurements far worse)"),
    "azure-native:containerservice:AgentPool": (240, "assumption: a node pool scale set (~4 min)"),
    "azure-native:kubernetesconfiguration:Extension": (300, "AML docs: several minutes, 'Pending' first (assume 5 min)"),
    "azure-native:authorization:RoleAssignment": (10, "assumption: plus replication, ~10 s"),
    "azure-native:monitor:DiagnosticSetting": (5, "assumption"),
    "azure-native:managedidentity:UserAssignedIdentity": (5, "assumption"),
    "kubernetes:amlarc.azureml.com/v1alpha1:InstanceType": (2, "assumption: a Kubernetes object"),
    "kubernetes:core/v1:Namespace": (2, "assumption: a Kubernetes object"),
    # network (no published figures: assumptions, labelled as such)
    "azure-native:network:VirtualNetwork": (10, "assumption: a VNet without gateways (~10 s)"),
    "azure-native:network:Subnet": (10, "assumption: a subnet update of its VNet (~10 s)"),
    "azure-native:network:NetworkSecurityGroup": (10, "assumption: an NSG without rules (~10 s)"),
    "azure-native:network:PrivateEndpoint": (90, "assumption: NIC, connection approval (~1.5 min)"),
    "azure-native:network:PrivateDnsZoneGroup": (30, "assumption: the endpoint's A records (~30 s)"),
    "azure-native:privatedns:PrivateZone": (30, "assumption: a global resource (~30 s)"),
    "azure-native:privatedns:VirtualNetworkLink": (30, "assumption: link propagation (~30 s)"),
    # datastores and serving
    "azure-native:storage:BlobContainer": (5, "assumption: a container is a metadata write"),
    "azure-native:storage:FileShare": (5, "assumption: a share is a metadata write"),
    "azure-native:machinelearningservices:Datastore": (5, "assumption: a datastore is a metadata write"),
    "azure-native:machinelearningservices:OnlineEndpoint": (90, "assumption: no sourced number (~1.5 min)"),
    "azure-native:machinelearningservices:OnlineDeployment": (
        900, "AML docs (how-to-deploy-online-endpoints): 'might take up to 15 minutes' when the image is built first"),
    "azure-native:machinelearningservices:BatchEndpoint": (60, "assumption: no sourced number (~1 min)"),
    "azure-native:machinelearningservices:BatchDeployment": (
        60, "assumption: no compute is started until a job runs (~1 min)"),
    "azure-native:resources:Resource": (60, "assumption: an endpoint update (traffic/default) ~1 min"),
}
# per computeType, where it differs from the Compute default above
COMPUTE_SECONDS: Dict[str, Tuple[int, str]] = {
    "ComputeInstance": (300, "assumption: a VM with its setup (~5 min)"),
    "Kubernetes": (60, "assumption: the attach call (~1 min)"),
}
# The first compute in a managed virtual network waits for the network to be provisioned; with
# provisionNetworkNow the workspace provisions it instead, and the computes do not wait again.
MANAGED_VNET_FIRST_COMPUTE = (1800, "AML docs: first compute in a managed VNet ~30 min")
MANAGED_VNET_WITH_WORKSPACE = (330 + 1800, "azure-ai-ml create logs (~5.5 min) + managed VNet provisioned "
                                           "now (provisionNetworkNow; AML docs ~30 min)")
DEFAULT_SECONDS = (10, "assumption: an unknown type")

LABELS: Dict[str, str] = {
    "azure-native:resources:ResourceGroup": "resource group",
    "azure-native:storage:StorageAccount": "storage",
    "azure-native:storage:BlobServiceProperties": "blob service",
    "azure-native:keyvault:Vault": "key vault",
    "azure-native:operationalinsights:Workspace": "Log Analytics",
    "azure-native:applicationinsights:Component": "App Insights",
    "azure-native:containerregistry:Registry": "registry",
    "azure-native:machinelearningservices:Workspace": "workspace",
    "azure-native:machinelearningservices:EnvironmentContainer": "environment",
    "azure-native:machinelearningservices:EnvironmentVersion": "environment version",
    "azure-native:containerservice:ManagedCluster": "AKS",
    "azure-native:containerservice:AgentPool": "node pool",
    "azure-native:kubernetesconfiguration:Extension": "extension",
    "azure-native:authorization:RoleAssignment": "role assignment",
    "azure-native:monitor:DiagnosticSetting": "diagnostic setting",
    "azure-native:managedidentity:UserAssignedIdentity": "identity",
    "kubernetes:amlarc.azureml.com/v1alpha1:InstanceType": "instance type",
    "kubernetes:core/v1:Namespace": "namespace",
    "azure-native:network:VirtualNetwork": "VNet",
    "azure-native:network:Subnet": "subnet",
    "azure-native:network:NetworkSecurityGroup": "NSG",
    "azure-native:network:PrivateEndpoint": "private endpoint",
    "azure-native:network:PrivateDnsZoneGroup": "private DNS records",
    "azure-native:privatedns:PrivateZone": "private DNS zone",
    "azure-native:privatedns:VirtualNetworkLink": "DNS zone link",
    "azure-native:storage:BlobContainer": "container",
    "azure-native:storage:FileShare": "file share",
    "azure-native:machinelearningservices:Datastore": "datastore",
    "azure-native:machinelearningservices:OnlineEndpoint": "online endpoint",
    "azure-native:machinelearningservices:OnlineDeployment": "online deployment",
    "azure-native:machinelearningservices:BatchEndpoint": "batch endpoint",
    "azure-native:machinelearningservices:BatchDeployment": "batch deployment",
    "azure-native:resources:Resource": "endpoint traffic/default",
}
COMPUTE_LABELS = {"AmlCompute": "cluster", "ComputeInstance": "instance", "Kubernetes": "attach"}


@dataclass
class Step:
    urn: str
    name: str
    label: str
    seconds: int
    source: str
    finish: int = 0  # seconds from the start of the deploy


@dataclass
class Estimate:
    total_seconds: int
    path: List[Step] = field(default_factory=list)
    steps: List[Step] = field(default_factory=list)

    @property
    def critical_path(self) -> List[str]:
        return [s.label for s in self.path]

    def summary(self) -> str:
        return f"first deploy ≈ {format_duration(self.total_seconds)}, critical path: " + " → ".join(self.critical_path)

    def table(self) -> str:
        lines = [self.summary(), "", f"{'step':<28} {'takes':>8} {'ready at':>9}  source"]
        for s in self.path:
            lines.append(f"{s.label:<28} {format_duration(s.seconds):>8} {format_duration(s.finish):>9}  {s.source}")
        return "\n".join(lines) + "\n"


def format_duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    return f"{round(seconds / 60)} min"


def _compute_type(inputs: Mapping[str, Any]) -> Optional[str]:
    props = inputs.get("properties")
    return props.get("computeType") if isinstance(props, Mapping) else None


def _managed_workspaces(graph: Any) -> set:
    """Workspaces whose managed network is provisioned lazily, by the first compute."""
    out = set()
    for r in graph.of_type("azure-native:machinelearningservices:Workspace"):
        mode = (r.inputs.get("managedNetwork") or {}).get("isolationMode")
        if mode in ("AllowInternetOutbound", "AllowOnlyApprovedOutbound") and not r.inputs.get("provisionNetworkNow"):
            out.add(r.inputs.get("workspaceName"))
    return out


def duration(res: Any, managed_workspaces: set = frozenset()) -> Tuple[int, str]:
    """Seconds ``res`` takes to provision, and where the number comes from."""
    if res.type.startswith("pulumi:providers:"):
        return 0, "a provider: no cloud work"
    if res.type == "azure-native:machinelearningservices:Workspace" and res.inputs.get("provisionNetworkNow"):
        mode = (res.inputs.get("managedNetwork") or {}).get("isolationMode")
        if mode in ("AllowInternetOutbound", "AllowOnlyApprovedOutbound"):
            return MANAGED_VNET_WITH_WORKSPACE
    if res.type == "azure-native:machinelearningservices:Compute":
        kind = _compute_type(res.inputs)
        if kind in ("AmlCompute", "ComputeInstance") and res.inputs.get("workspaceName") in managed_workspaces:
            return MANAGED_VNET_FIRST_COMPUTE
        if kind in COMPUTE_SECONDS:
            return COMPUTE_SECONDS[kind]
    return PROVISIONING_SECONDS.get(res.type, DEFAULT_SECONDS)


def label(res: Any) -> str:
    if res.type == "azure-native:machinelearningservices:Compute":
        kind = COMPUTE_LABELS.get(_compute_type(res.inputs) or "", "compute")
        return "attach" if kind == "attach" else f"{kind} {res.inputs.get('computeName') or res.name}"
    if res.type.startswith("pulumi:providers:"):
        return f"{res.type.split(':')[-1]} provider"
    return LABELS.get(res.type, res.name)


def _dependencies(graph: Any, res: Any, custom: Dict[str, Any]) -> List[str]:
    deps = [u for u in graph.resource_dependencies(res) if u in custom]
    if res.provider:
        provider_urn = res.provider.rsplit("::", 1)[0]
        if provider_urn in custom and provider_urn not in deps:
            deps.append(provider_urn)
    return deps


def estimate(graph: Any) -> Estimate:
    """The critical path of a first deploy of ``graph`` and its length in seconds."""
    custom = {r.urn: r for r in graph.custom_resources()}
    managed = _managed_workspaces(graph)
    deps = {urn: _dependencies(graph, r, custom) for urn, r in custom.items()}
    finish: Dict[str, int] = {}
    before: Dict[str, Optional[str]] = {}
    steps: Dict[str, Step] = {}
    visiting: set = set()

    def visit(urn: str) -> int:
        if urn in finish:
            return finish[urn]
        if urn in visiting:  # a cycle cannot be deployed; do not loop on one
            return 0
        visiting.add(urn)
        res = custom[urn]
        start, prev = 0, None
        for d in deps[urn]:
            t = visit(d)
            if t > start or prev is None and t == start:
                start, prev = t, d
        seconds, source = duration(res, managed)
        finish[urn] = start + seconds
        before[urn] = prev
        steps[urn] = Step(urn, res.name, label(res), seconds, source, finish[urn])
        visiting.discard(urn)
        return finish[urn]

    for urn in custom:
        visit(urn)
    if not finish:
        return Estimate(0)
    # the last resource to be ready; ties go to the first recorded
    end = max(custom, key=lambda u: finish[u])
    path: List[Step] = []
    cur: Optional[str] = end
    while cur is not None:
        path.append(steps[cur])
        cur = before[cur]
    path.reverse()
    return Estimate(total_seconds=finish[end], path=path, steps=[steps[u] for u in custom])
