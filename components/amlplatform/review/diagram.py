"""``amlplatform plan --format svg|png|mermaid``: the architecture of a stack, drawn the way the
Azure Machine Learning architecture diagrams are: the workspace in the middle, its storage, key
vault, monitoring and registry above it (what it needs), computes, environments and the
Kubernetes target below it (what needs it). Arrows point from a resource to what waits for it.

SVG and PNG use the ``diagrams`` package (Azure icons, maintained) over Graphviz ``dot``
(Debian's graphviz); icons are embedded in the SVG so the file stands alone. Mermaid needs
neither. Small resources are folded into the node they belong to (blob service into its
storage account, environment versions into their environment, node pools and instance types into
the Kubernetes group); every folded resource's Pulumi name is in its node's tooltip, diagnostic
settings are dashed "logs" arrows to Log Analytics, role assignments one "access" node.
"""

import base64
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from amlplatform.errors import UserError

FORMATS = ("svg", "png", "mermaid")

# token -> (group, caption, icon "module.Class" in diagrams.azure)
KINDS: Dict[str, Tuple[str, str, str]] = {
    "azure-native:storage:StorageAccount": ("deps", "Storage account", "storage.StorageAccounts"),
    "azure-native:keyvault:Vault": ("deps", "Key vault", "security.KeyVaults"),
    "azure-native:containerregistry:Registry": ("deps", "Container registry", "compute.ContainerRegistries"),
    "azure-native:managedidentity:UserAssignedIdentity": ("deps", "Managed identity", "identity.ManagedIdentities"),
    "azure-native:operationalinsights:Workspace": ("monitoring", "Log Analytics", "analytics.LogAnalyticsWorkspaces"),
    "azure-native:applicationinsights:Component": ("monitoring", "Application Insights", "devops.ApplicationInsights"),
    "azure-native:machinelearningservices:Workspace": ("workspace", "ML workspace", "ml.MachineLearningServiceWorkspaces"),
    "azure-native:machinelearningservices:EnvironmentContainer": ("computes", "Environment", "compute.ImageVersions"),
    "azure-native:containerservice:ManagedCluster": ("kubernetes", "AKS cluster", "compute.KubernetesServices"),
    "azure-native:kubernetesconfiguration:Extension": ("kubernetes", "AzureML extension", "general.Extensions"),
    # inbound network (amlplatform.iac.network.network, amlplatform.iac.network.privatelink)
    "azure-native:network:VirtualNetwork": ("network", "Virtual network", "network.VirtualNetworks"),
    "azure-native:network:Subnet": ("network", "Subnet", "network.Subnets"),
    "azure-native:network:PrivateEndpoint": ("network", "Private endpoint", "network.PrivateEndpoint"),
    "azure-native:privatedns:PrivateZone": ("network", "Private DNS zone", "network.DNSPrivateZones"),
    # the AKS egress firewall (iac/network/egress.py) and the route table the AKS subnet gets
    "azure-native:network:AzureFirewall": ("network", "Firewall", "network.Firewall"),
    "azure-native:network:RouteTable": ("network", "Route table", "network.RouteTables"),
}
# folded into the node of a resource of the given type they are tied to: an NSG into the subnet it
# guards (the subnet waits for it), a DNS zone group into its endpoint, a VNet link into its zone
FOLD_INTO_TYPE = {
    "azure-native:network:NetworkSecurityGroup": ("azure-native:network:Subnet", "dependents"),
    "azure-native:network:PrivateDnsZoneGroup": ("azure-native:network:PrivateEndpoint", "dependencies"),
    "azure-native:privatedns:VirtualNetworkLink": ("azure-native:privatedns:PrivateZone", "dependencies"),
    # the firewall's policy, rules and public IP into the firewall (it waits for each)
    "azure-native:network:FirewallPolicy": ("azure-native:network:AzureFirewall", "dependents"),
    "azure-native:network:FirewallPolicyRuleCollectionGroup": ("azure-native:network:AzureFirewall", "dependents"),
    "azure-native:network:PublicIPAddress": ("azure-native:network:AzureFirewall", "dependents"),
}
SERVING_FOLD = ("azure-native:machinelearningservices:OnlineDeployment",
                "azure-native:machinelearningservices:BatchDeployment", "azure-native:resources:Resource")
SERVING_HOSTS = ("azure-native:machinelearningservices:OnlineEndpoint",
                 "azure-native:machinelearningservices:BatchEndpoint")
# datastores and serving: drawn with the computes; deployments, the traffic
# write and containers fold into their endpoint / datastore
KINDS.update({
    "azure-native:machinelearningservices:Datastore": ("computes", "Datastore", "storage.DataLakeStorage"),
    "azure-native:machinelearningservices:OnlineEndpoint": ("computes", "Online endpoint", "ml.MachineLearningServiceWorkspaces"),
    "azure-native:machinelearningservices:BatchEndpoint": ("computes", "Batch endpoint", "ml.BatchAI"),
})
# assets the deployments use (iac/serving/assets.py, iac/data/assets.py): one node per asset (its
# container), its versions and uploaded files folded into it
KINDS.update({
    "azure-native:machinelearningservices:ModelContainer": ("computes", "Model", "ml.MachineLearningServiceWorkspaces"),
    "azure-native:machinelearningservices:CodeContainer": ("computes", "Code", "storage.StorageAccounts"),
    "azure-native:machinelearningservices:ComponentContainer": ("computes", "Component", "ml.MachineLearningServiceWorkspaces"),
    "azure-native:machinelearningservices:DataContainer": ("computes", "Data asset", "storage.DataLakeStorage"),
})
ASSET_HOSTS = ("azure-native:machinelearningservices:ModelContainer", "azure-native:machinelearningservices:CodeContainer",
               "azure-native:machinelearningservices:ComponentContainer",
               "azure-native:machinelearningservices:DataContainer")
ASSET_FOLD = ("azure-native:storage:Blob", "azure-native:machinelearningservices:ModelVersion",
              "azure-native:machinelearningservices:CodeVersion", "azure-native:machinelearningservices:ComponentVersion",
              "azure-native:machinelearningservices:DataVersion")
COMPUTE_KINDS = {
    "AmlCompute": ("computes", "Compute cluster", "compute.VMScaleSets"),
    "ComputeInstance": ("computes", "Compute instance", "compute.VM"),
    "Kubernetes": ("kubernetes", "Kubernetes compute (attach)", "ml.MachineLearningServiceWorkspaces"),
}
# folded into the node of the resource they point at: token -> input naming that resource's node
FOLD_INTO = {
    "azure-native:storage:BlobServiceProperties": "parent",
    "azure-native:machinelearningservices:EnvironmentVersion": "parent",
    "azure-native:containerservice:AgentPool": "parent",
    "kubernetes:amlarc.azureml.com/v1alpha1:InstanceType": "parent",
    "kubernetes:core/v1:Namespace": "parent",
    "azure-native:machinelearningservices:OnlineDeployment": "parent",
    "azure-native:machinelearningservices:BatchDeployment": "parent",
    "azure-native:resources:Resource": "parent",
}
GROUP_TITLES = {"monitoring": "Monitoring", "computes": "Computes and environments",
                "kubernetes": "Kubernetes inference target", "network": "Network: private endpoints and DNS"}
GROUPS = ("network", "deps", "monitoring", "workspace", "computes", "kubernetes")


def node_range(scale: Any) -> Optional[str]:
    """``min-max`` of a cluster's scale settings (``0-8``), as the text plan and the picture say it."""
    if not isinstance(scale, dict) or scale.get("maxNodeCount") is None:
        return None
    return f"{scale.get('minNodeCount', 0)}-{scale['maxNodeCount']}"


@dataclass
class Node:
    id: str
    group: str
    caption: str
    name: str  # physical name (or logical when none)
    icon: str
    members: List[str] = field(default_factory=list)  # Pulumi names folded into this node
    extra: List[str] = field(default_factory=list)  # extra label lines

    @property
    def label(self) -> str:
        return "\n".join([self.name, self.caption] + self.extra)


@dataclass
class Model:
    title: str
    resource_group: Optional[str]
    nodes: Dict[str, Node] = field(default_factory=dict)
    edges: List[Tuple[str, str, str]] = field(default_factory=list)  # (from, to, style: dep|logs|access)


def _node_id(name: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _compute_type(inputs: Dict[str, Any]) -> Optional[str]:
    props = inputs.get("properties")
    return props.get("computeType") if isinstance(props, dict) else None


def _kind(res: Any) -> Optional[Tuple[str, str, str]]:
    if res.type == "azure-native:machinelearningservices:Compute":
        return COMPUTE_KINDS.get(_compute_type(res.inputs) or "", ("computes", "Compute", "compute.VM"))
    return KINDS.get(res.type)


def build_model(graph: Any) -> Model:
    """The picture's nodes and edges from a recorded graph (no drawing library needed)."""
    custom = {r.urn: r for r in graph.custom_resources() if not r.type.startswith("pulumi:providers:")}
    rg = next((r for r in custom.values() if r.type == "azure-native:resources:ResourceGroup"), None)
    model = Model(title=f"{graph.project} · stack {graph.stack}",
                  resource_group=(rg.inputs.get("resourceGroupName") if rg else None))
    node_of: Dict[str, str] = {}
    for urn, res in custom.items():
        kind = _kind(res)
        if kind is None:
            continue
        group, caption, icon = kind
        node = Node(_node_id(res.name), group, caption, res.physical_name or res.name, icon, [res.name])
        if res.type == "azure-native:machinelearningservices:Compute":
            inner = (res.inputs.get("properties") or {}).get("properties") or {}
            bits = [str(inner[k]) for k in ("vmSize",) if inner.get(k)]
            nodes = node_range(inner.get("scaleSettings"))
            if nodes is not None:
                bits.append(f"{nodes} nodes")
            node.extra.extend(bits)
        model.nodes[node.id] = node
        node_of[urn] = node.id

    deps_cache: Dict[str, List[str]] = {}

    def shown_deps(urn: str, seen: Optional[set] = None) -> List[str]:
        """Node ids ``urn`` waits for, looking through resources that are not drawn."""
        if urn in deps_cache:
            return deps_cache[urn]
        seen = seen or set()
        out: List[str] = []
        for dep in graph.resource_dependencies(custom[urn]) if urn in custom else []:
            if dep in seen or dep not in custom:
                continue
            seen.add(dep)
            if dep in node_of:
                out.append(node_of[dep])
            else:
                out.extend(shown_deps(dep, seen))
        deps_cache[urn] = list(dict.fromkeys(out))
        return deps_cache[urn]

    # network resources tied to one node of a given type
    for urn, res in custom.items():
        rule = FOLD_INTO_TYPE.get(res.type)
        if rule is None:
            continue
        host_type, direction = rule
        if direction == "dependencies":
            candidates = [d for d in graph.resource_dependencies(res) if d in custom and custom[d].type == host_type]
        else:
            candidates = [u for u, r in custom.items() if r.type == host_type and urn in graph.resource_dependencies(r)]
        if candidates and candidates[0] in node_of:
            host = model.nodes[node_of[candidates[0]]]
            host.members.append(res.name)
            if res.type == "azure-native:network:NetworkSecurityGroup":
                host.extra.append(f"NSG {res.physical_name or res.name}")
            node_of[urn] = host.id
    for urn, res in custom.items():
        if res.type == "azure-native:network:PrivateEndpoint" and urn in node_of:
            conns = res.inputs.get("privateLinkServiceConnections") or [{}]
            groups = ", ".join(g for c in conns for g in (c.get("groupIds") or []))
            if groups:
                model.nodes[node_of[urn]].extra.append(f"group {groups}")
        elif res.type == "azure-native:network:Subnet" and urn in node_of and res.inputs.get("addressPrefix"):
            model.nodes[node_of[urn]].extra.append(str(res.inputs["addressPrefix"]))

    # fold small resources into the node they depend on
    access: List[str] = []
    for urn, res in custom.items():
        if urn in node_of or res.type == "azure-native:resources:ResourceGroup":
            continue
        if res.type == "azure-native:authorization:RoleAssignment":
            access.append(urn)
            continue
        if res.type == "azure-native:monitor:DiagnosticSetting" or res.type in FOLD_INTO_TYPE:
            continue
        if res.type in ASSET_FOLD:
            # into its asset's node (the container of the same component)
            sibling = next((node_of[u] for u, r in custom.items()
                            if u in node_of and r.parent == res.parent and r.type in ASSET_HOSTS), None)
            if sibling is not None:
                model.nodes[sibling].members.append(res.name)
                if res.type != "azure-native:storage:Blob" and res.inputs.get("version"):
                    model.nodes[sibling].extra.append(f"version {res.inputs['version']}")
                continue
        targets = shown_deps(urn)
        if targets and len(targets) > 1 and res.type not in FOLD_INTO:
            # it waits for several drawn resources: folded into one of them, its other dependencies
            # would become edges into that one (a workspace -> AKS edge for the trusted-access
            # binding, which the cluster itself does not have); drawn as a node of its own instead
            host_node = model.nodes[targets[0]]
            node = Node(_node_id(res.name), host_node.group, res.type.split(":")[-1],
                        res.physical_name or res.name, host_node.icon, [res.name])
            model.nodes[node.id] = node
            node_of[urn] = node.id
            continue
        if targets:
            host = model.nodes[targets[0]] if res.type in FOLD_INTO else None
            if res.type in SERVING_FOLD:  # into the endpoint of the same component, not the workspace
                sibling = next((node_of[u] for u, r in custom.items()
                                if u in node_of and r.parent == res.parent and r.type in SERVING_HOSTS), None)
                host = model.nodes[sibling] if sibling else host
            if host is None:  # prefer the same group as the kind of resource (instance types -> attach)
                host = model.nodes[targets[0]]
            host.members.append(res.name)
            if res.type == "kubernetes:amlarc.azureml.com/v1alpha1:InstanceType":
                meta = res.inputs.get("metadata") or {}
                host.extra.append(f"instance type {meta.get('name', res.name)}")
            elif res.type == "azure-native:containerservice:AgentPool":
                host.extra.append(f"pool {res.inputs.get('agentPoolName')}: {res.inputs.get('vmSize', '')}")
            elif res.type == "azure-native:machinelearningservices:EnvironmentVersion":
                host.extra.append(f"version {res.inputs.get('version')}")
            elif res.type in SERVING_FOLD[:2]:
                host.extra.append(f"deployment {res.inputs.get('deploymentName')}")
            node_of[urn] = host.id

    # edges: dependency -> dependent
    for urn, res in custom.items():
        if urn not in node_of or res.type in FOLD_INTO or res.type in FOLD_INTO_TYPE:
            continue
        for dep in shown_deps(urn):
            if dep != node_of[urn]:
                model.edges.append((dep, node_of[urn], "dep"))
    # a folded zone group ties its zones to the endpoint; a folded VNet link its VNet to the zone;
    # a deployment folded into its endpoint still shows what it runs on (batch: the cluster)
    for urn, res in custom.items():
        if (res.type in FOLD_INTO_TYPE or res.type in SERVING_FOLD) and urn in node_of:
            for dep in shown_deps(urn):
                if dep != node_of[urn]:
                    model.edges.append((dep, node_of[urn], "dep"))
    # diagnostic settings: resource -> Log Analytics, dashed
    logs = [n for n in model.nodes.values() if n.caption == "Log Analytics"]
    for urn, res in custom.items():
        if res.type != "azure-native:monitor:DiagnosticSetting":
            continue
        targets = [t for t in shown_deps(urn) if not logs or t != logs[0].id]
        if targets and logs:
            model.edges.append((targets[0], logs[0].id, "logs"))
            model.nodes[targets[0]].members.append(res.name)
    if access:
        node = Node("n_access", "workspace", "Role assignments", f"{len(access)} role assignment"
                    f"{'s' if len(access) != 1 else ''}", "identity.Users",
                    [custom[u].name for u in access])
        model.nodes[node.id] = node
        targets = {t for u in access for t in shown_deps(u)}
        for t in sorted(targets):
            model.edges.append((node.id, t, "access"))
    model.edges = list(dict.fromkeys(model.edges))
    return model


# ----------------------------------------------------------------------------- mermaid

def to_mermaid(model: Model) -> str:
    def label(n: Node) -> str:
        return n.label.replace('"', "'").replace("\n", "<br/>")

    lines = ["---", f"title: {model.title}", "---", "flowchart TB"]
    indent = "  "
    if model.resource_group:
        lines.append(f'  subgraph rg["resource group {model.resource_group}"]')
        indent = "    "
    for group in GROUPS:
        members = [n for n in model.nodes.values() if n.group == group]
        if not members:
            continue
        sub = group in GROUP_TITLES
        if sub:
            lines.append(f'{indent}subgraph {group}["{GROUP_TITLES[group]}"]')
        for n in members:
            shape = ('(["', '"])') if n.group == "workspace" and n.id != "n_access" else ('["', '"]')
            lines.append(f"{indent}{'  ' if sub else ''}{n.id}{shape[0]}{label(n)}{shape[1]}")
        if sub:
            lines.append(f"{indent}end")
    if model.resource_group:
        lines.append("  end")
    for a, b, style in model.edges:
        arrow = {"dep": "-->", "logs": "-.->|logs|", "access": "-.->"}[style]
        lines.append(f"  {a} {arrow} {b}")
    for n in model.nodes.values():
        if n.members:
            lines.append(f"  %% {n.id}: Pulumi resources {', '.join(n.members)}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- diagrams / graphviz

def _icon_class(path: str):
    import importlib

    module, cls = path.rsplit(".", 1)
    try:
        return getattr(importlib.import_module(f"diagrams.azure.{module}"), cls)
    except (ImportError, AttributeError):
        from diagrams.generic.blank import Blank

        return Blank


def _inline_images(svg: bytes) -> bytes:
    """Embed the icon PNGs Graphviz references by absolute path, so the SVG stands alone."""
    def embed(match: "re.Match[bytes]") -> bytes:
        path = Path(match.group(2).decode())
        try:
            data = base64.b64encode(path.read_bytes())
        except OSError:
            return match.group(0)
        return match.group(1) + b'="data:image/png;base64,' + data + b'"'

    return re.sub(rb'((?:xlink:)?href)="([^"]+\.png)"', embed, svg)


def to_image(model: Model, fmt: str) -> bytes:
    if shutil.which("dot") is None:
        raise UserError(f"--format {fmt} needs Graphviz: install it (Debian: apt-get install graphviz; "
                        "./dev setup does) or use --format mermaid")
    try:
        from diagrams import Cluster, Diagram, Edge
    except ImportError:
        raise UserError(f"--format {fmt} needs the 'diagrams' package: pip install 'amlplatform[diagram]' "
                        "(in a checkout: ./dev setup; ./dev plan installs only what planning needs), "
                        "or use --format mermaid") from None

    graph_attr = {"fontsize": "22", "labelloc": "t", "pad": "0.4", "nodesep": "1.0", "ranksep": "1.0",
                  "splines": "spline", "fontname": "Helvetica"}
    node_attr = {"fontsize": "12", "fontname": "Helvetica"}
    with tempfile.TemporaryDirectory(prefix="amlplatform-diagram-") as tmp:
        out = Path(tmp) / "architecture"
        drawn: Dict[str, Any] = {}
        with Diagram(model.title, filename=str(out), outformat=fmt, show=False, direction="TB",
                     graph_attr=graph_attr, node_attr=node_attr):
            def add(n: Node) -> None:
                cls = _icon_class(n.icon)
                drawn[n.id] = cls(n.label, tooltip="Pulumi: " + ", ".join(n.members))

            def groups() -> None:
                for group in GROUPS:
                    members = [n for n in model.nodes.values() if n.group == group]
                    if not members:
                        continue
                    if group in GROUP_TITLES:
                        with Cluster(GROUP_TITLES[group]):
                            for n in members:
                                add(n)
                    else:
                        for n in members:
                            add(n)

            if model.resource_group:
                with Cluster(f"resource group {model.resource_group}"):
                    groups()
            else:
                groups()
            for a, b, style in model.edges:
                if style == "dep":
                    drawn[a] >> Edge(color="#444444") >> drawn[b]
                elif style == "logs":
                    drawn[a] >> Edge(style="dashed", color="#2a7ab0", label="logs", fontsize="10",
                                     constraint="false") >> drawn[b]
                else:
                    drawn[a] >> Edge(style="dotted", color="#888888", label="access", fontsize="10") >> drawn[b]
        data = out.with_suffix("." + fmt).read_bytes()
    return _inline_images(data) if fmt == "svg" else data


def render(graph: Any, fmt: str) -> bytes:
    """The stack's architecture picture as ``svg``, ``png`` or ``mermaid`` (UTF-8 text) bytes."""
    if fmt not in FORMATS:
        raise UserError(f"unknown picture format {fmt!r}: use one of {', '.join(FORMATS)}")
    model = build_model(graph)
    if fmt == "mermaid":
        return to_mermaid(model).encode("utf-8")
    return to_image(model, fmt)
