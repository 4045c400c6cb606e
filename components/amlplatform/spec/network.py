"""Typed settings for the stack's network (stack key ``amlplatform:network``): the virtual network
that carries the private endpoints and the AKS nodes (created, or existing subnets of a hub-and-spoke
estate), the private DNS zones (created and linked, or existing ones, possibly in another
subscription), and the workspace managed network's outbound rules.

Inbound and outbound are separate (learn.microsoft.com/azure/machine-learning/how-to-managed-network):
a workspace managed network isolates the *outbound* traffic of managed computes (compute instances,
clusters, serverless, managed online endpoints); *inbound* access - studio, SDK, CI, an attached
Kubernetes cluster - needs a private endpoint in a VNet the stack owns, plus DNS. This module checks
both before any resource is declared (:func:`stack_problems`).

Declares no resources; the defaults are the components' own (amlplatform.iac._base.defaults).
"""

import math
from typing import Annotated, Any, Dict, List, Literal, Optional, Tuple

from pydantic import AfterValidator, Field, StringConstraints, field_validator, model_validator

from amlplatform.azure import naming
from amlplatform.azure.private_dns import BATCH_STORAGE_GROUPS, GROUP_ZONES, KNOWN_ZONES, REQUIRED_STORAGE_GROUPS
from amlplatform.errors import Problems
from amlplatform.spec import cidr
from amlplatform.iac.network.egress import DEFAULTS as EGRESS  # written once, beside EgressFirewallSpec
from amlplatform.spec.core import WORKSPACE, Model, arm_id

# --------------------------------------------------------------------------- what Azure documents

# private endpoint groups and their DNS zones: amlplatform.azure.private_dns (re-exported here)
StorageGroup = Literal["blob", "file", "queue", "table"]

# Private IP addresses one endpoint of each group takes in the endpoints' subnet. A registry's
# endpoint takes two: the registry and its regional data endpoint (learn.microsoft.com/azure/
# container-registry/container-registry-private-link). The workspace endpoint's NIC carries the
# API, cert and notebook records: counted as 3, a conservative assumption (no published number).
# an Azure Monitor endpoint registers a record per global and regional Azure Monitor host and per
# scoped workspace (oms, ods, agentsvc) and the agents' blob storage, each with its own address
# (learn.microsoft.com/azure/azure-monitor/logs/private-link-configure, "Review and validate your
# private endpoint DNS settings"): counted generously, as a subnet cannot grow under its endpoints
ADDRESSES_PER_ENDPOINT = {"amlworkspace": 3, "registry": 2, "azuremonitor": 12}

# Documented FQDN rule sets for package sources under AllowOnlyApprovedOutbound
# (learn.microsoft.com/azure/machine-learning/how-to-managed-network, "Scenario: Access public
# machine learning packages"). FQDN rules are carried out by an Azure Firewall the managed network
# deploys, which is billed (same page, "Pricing").
PACKAGE_SOURCES: Dict[str, Tuple[str, ...]] = {
    # pip lists from pypi.org and downloads the files from files.pythonhosted.org
    "pypi": ("pypi.org", "*.pythonhosted.org"),
    "conda": ("anaconda.com", "*.anaconda.com", "*.anaconda.org"),
    "pytorch": ("pytorch.org", "*.pytorch.org"),
    "tensorflow": ("*.tensorflow.org",),
}
PackageSource = Literal["pypi", "conda", "pytorch", "tensorflow"]
# A host name, a leading "*." allowed (the FQDN rules' destination)
FQDN_PATTERN = r"^(?:(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+)$"


def package_rule_name(source: str, fqdn: str) -> str:
    """Stable outbound rule name for one FQDN of a package source: ``pkg-pypi-pypi-org``, a wildcard
    as ``any`` (``pkg-conda-any-anaconda-com`` for ``*.anaconda.com``, apart from ``anaconda.com``)."""
    cleaned = "-".join("any" if p == "*" else p for p in fqdn.split(".") if p)
    return f"pkg-{source}-{cleaned}"[:64].rstrip("-")


# --------------------------------------------------------------------------- value types

def _cidr(value: str) -> str:
    cidr.parse(value)
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]


def _subnet_cidr(value: str) -> str:
    net = cidr.parse(value)
    if not cidr.LARGEST_SUBNET_PREFIX <= net.prefixlen <= cidr.SMALLEST_SUBNET_PREFIX:
        raise ValueError(f"a subnet must be /{cidr.LARGEST_SUBNET_PREFIX} to /{cidr.SMALLEST_SUBNET_PREFIX} "
                         f"(Azure virtual network FAQ), got /{net.prefixlen}")
    return value


SubnetCidr = Annotated[str, AfterValidator(_subnet_cidr)]
SubnetId = Annotated[str, arm_id("Microsoft.Network/virtualNetworks/subnets")]
ZoneId = Annotated[str, arm_id("Microsoft.Network/privateDnsZones")]


def _name(kind: str):
    def check(value: str) -> str:
        problems = naming.check(kind, value)
        if problems:
            raise Problems(problems)
        return value
    return AfterValidator(check)


def vnet_of(subnet_id: str) -> str:
    """The virtual network id of a subnet id (``.../virtualNetworks/<vnet>/subnets/<subnet>``)."""
    return subnet_id.rsplit("/subnets/", 1)[0]


# --------------------------------------------------------------------------- models

class VnetSettings(Model):
    """A virtual network the stack creates, with a subnet for private endpoints and one for AKS
    nodes, each with its own network security group."""

    name: Optional[Annotated[str, _name("virtual_network")]] = Field(
        None, description="VNet name; default vnet-<workload>-<environment>")
    address_space: List[Cidr] = Field(min_length=1, description="Address prefixes of the VNet, e.g. [10.40.0.0/22]")
    private_endpoints_subnet: SubnetCidr = Field(
        description="Prefix of the private endpoints' subnet, inside address_space (e.g. 10.40.0.0/26)")
    aks_subnet: Optional[SubnetCidr] = Field(
        None, description="Prefix of the AKS nodes' subnet, inside address_space; needed by created "
        "Kubernetes targets (overlay: only nodes take addresses from it)")
    firewall_subnet: Optional[SubnetCidr] = Field(
        None, description="Prefix of AzureFirewallSubnet, inside address_space, a /26 or larger (Azure Firewall "
        "FAQ): needed by network.egress_firewall")

    @model_validator(mode="after")
    def _layout(self) -> "VnetSettings":
        problems = []
        spaces = list(self.address_space)
        for (a, b) in cidr.overlapping_pairs([(s, s) for s in spaces]):
            problems.append(f"address_space {a} overlaps {b}")
        named = [("private_endpoints_subnet", self.private_endpoints_subnet)]
        if self.aks_subnet:
            named.append(("aks_subnet", self.aks_subnet))
        if self.firewall_subnet:
            named.append(("firewall_subnet", self.firewall_subnet))
            if int(self.firewall_subnet.split("/")[1]) > 26:
                problems.append(f"firewall_subnet {self.firewall_subnet} is smaller than a /26, the size Azure Firewall "
                                "needs (learn.microsoft.com/azure/firewall/firewall-faq)")
        for label, prefix in named:
            if not cidr.within_any(spaces, prefix):
                problems.append(f"{label} {prefix} is not inside address_space ({', '.join(spaces)})")
        for a, b in cidr.overlapping_pairs(named):
            problems.append(f"{a} and {b} overlap")
        if problems:
            raise Problems(problems)
        return self


class ExistingSubnets(Model):
    """Subnets of a VNet the stack does not own (hub-and-spoke: the platform team's spoke)."""

    private_endpoints: SubnetId = Field(description="Subnet id for the private endpoints")
    aks: Optional[SubnetId] = Field(None, description="Subnet id for the AKS nodes")


class PrivateDnsSettings(Model):
    """Private DNS zones for the private endpoints: created in the stack's resource group and linked
    to the VNet(s) of the subnets, or existing ones (enterprises keep them central, often in
    another subscription, and link them to their hub themselves)."""

    existing_zone_ids: Dict[str, ZoneId] = Field(
        default_factory=dict, description="Zone name (privatelink.blob.core.windows.net ...) -> id of an "
        "existing private DNS zone; zones not listed are created")
    link_vnet_ids: List[Annotated[str, arm_id("Microsoft.Network/virtualNetworks")]] = Field(
        default_factory=list, description="More VNets to link the created zones to (a hub, a runner's VNet)")

    @field_validator("existing_zone_ids")
    @classmethod
    def _known(cls, value: Dict[str, str]) -> Dict[str, str]:
        problems = []
        for zone, zone_id in value.items():
            if zone not in KNOWN_ZONES:
                problems.append(f"{zone!r} is not a zone of a private endpoint here (known: {', '.join(KNOWN_ZONES)})")
            elif zone_id.rsplit("/", 1)[-1].lower() != zone:
                problems.append(f"{zone}: the id names zone {zone_id.rsplit('/', 1)[-1]!r}")
        if problems:
            raise Problems(problems)
        return value


_RULE_NAME = r"^(?:[A-Za-z][A-Za-z0-9-]{1,62}[A-Za-z0-9])$"


class OutboundRuleSettings(Model):
    """A user-defined outbound rule of the workspace managed network
    (learn.microsoft.com/azure/machine-learning/how-to-managed-network, "outbound rules")."""

    name: str = Field(pattern=_RULE_NAME, description="Rule name: 3-64 letters, digits, '-'")
    type: Literal["FQDN", "ServiceTag", "PrivateEndpoint"]
    """FQDN (needs AllowOnlyApprovedOutbound and the managed firewall), ServiceTag or PrivateEndpoint"""
    destination: Optional[str] = Field(
        None, pattern=FQDN_PATTERN, description="FQDN rules: the host name, a leading '*.' allowed")
    service_tag: Optional[str] = Field(None, pattern=r"^(?:[A-Za-z][A-Za-z0-9.]*)$",
                                       description="ServiceTag rules: the tag, e.g. AzureFrontDoor.FrontEnd")
    protocol: Literal["TCP", "UDP", "ICMP", "*"] = Field("TCP", description="ServiceTag rules")
    port_ranges: str = Field("443", pattern=r"^(?:\*|[0-9]{1,5}(-[0-9]{1,5})?(,[0-9]{1,5}(-[0-9]{1,5})?)*)$",
                             description="ServiceTag rules: ports, e.g. 443 or 80,443")
    service_resource_id: Optional[str] = Field(
        None, pattern=r"^/subscriptions/.+/providers/.+$",
        description="PrivateEndpoint rules: the ARM id of the resource to reach")
    subresource_target: Optional[str] = Field(None, description="PrivateEndpoint rules: group id, e.g. blob")
    spark_enabled: bool = Field(False, description="PrivateEndpoint rules: also for serverless Spark")

    @model_validator(mode="after")
    def _by_type(self) -> "OutboundRuleSettings":
        needs = {"FQDN": ("destination",), "ServiceTag": ("service_tag",),
                 "PrivateEndpoint": ("service_resource_id", "subresource_target")}[self.type]
        missing = [f for f in needs if not getattr(self, f)]
        others = [f for f in ("destination", "service_tag", "service_resource_id", "subresource_target")
                  if f not in needs and getattr(self, f)]
        problems = [f"{self.type} rules need {f}" for f in missing]
        problems += [f"{f} is not used by {self.type} rules" for f in others]
        if problems:
            raise Problems(problems)
        return self

    def to_args(self) -> Dict[str, Any]:
        """The rule as the component takes it (azure-native ``outboundRules`` entry)."""
        if self.type == "FQDN":
            return {"type": "FQDN", "category": "UserDefined", "destination": self.destination}
        if self.type == "ServiceTag":
            return {"type": "ServiceTag", "category": "UserDefined", "destination": {
                "service_tag": self.service_tag, "protocol": self.protocol, "port_ranges": self.port_ranges,
                "action": "Allow"}}
        return {"type": "PrivateEndpoint", "category": "UserDefined", "destination": {
            "service_resource_id": self.service_resource_id, "subresource_target": self.subresource_target,
            "spark_enabled": self.spark_enabled}}


class OutboundSettings(Model):
    """The workspace managed network's outbound side (``workspace.managed_network`` picks the mode)."""

    provision_now: bool = Field(
        True, description="Provision the managed network with the workspace (provisionNetworkNow) instead "
        "of lazily on the first compute, which then waits for it (~30 min)")
    package_sources: Optional[List[PackageSource]] = Field(
        None, description="Documented FQDN rule sets under AllowOnlyApprovedOutbound: pypi, conda, pytorch, "
        "tensorflow. [] says explicitly: no internet packages. Needs the managed firewall (billed)")
    package_mirrors: List[Annotated[str, StringConstraints(pattern=FQDN_PATTERN)]] = Field(
        default_factory=list, description="Host names of an internal package mirror (Azure Artifacts, Nexus, "
        "Artifactory) that pip and conda use instead of the public package sources; each gets an FQDN rule. The "
        "public sources let a job upload as well as download, a mirror need not. Give it instead of "
        "package_sources (a mirror reachable only privately: a PrivateEndpoint rule in rules). Environments point "
        "pip at it (--index-url in the conda file)")
    firewall_sku: Literal["Standard", "Basic"] = Field(
        WORKSPACE["firewall_sku"], description="SKU of the Azure Firewall the managed network deploys for FQDN rules")
    rules: List[OutboundRuleSettings] = Field(default_factory=list, description="User-defined outbound rules")

    @model_validator(mode="after")
    def _mirror_or_sources(self) -> "OutboundSettings":
        if self.package_mirrors and self.package_sources:
            raise ValueError("package_mirrors replace the public package_sources: give one of them (the public "
                             "sources would let jobs reach, and upload to, the sites the mirror stands in for)")
        return self

    @field_validator("rules")
    @classmethod
    def _distinct(cls, value: List[OutboundRuleSettings]) -> List[OutboundRuleSettings]:
        names = [r.name for r in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"rule names repeat: {', '.join(repeated)}")
        return value

    def outbound_rules(self) -> Dict[str, Dict[str, Any]]:
        """Every user-defined rule, package sources first, by name."""
        out: Dict[str, Dict[str, Any]] = {}
        for source in self.package_sources or []:
            for fqdn in PACKAGE_SOURCES[source]:
                out[package_rule_name(source, fqdn)] = {"type": "FQDN", "category": "UserDefined",
                                                        "destination": fqdn}
        for fqdn in self.package_mirrors:
            out[package_rule_name("mirror", fqdn)] = {"type": "FQDN", "category": "UserDefined", "destination": fqdn}
        for rule in self.rules:
            out[rule.name] = rule.to_args()
        return out

    def needs_firewall(self) -> bool:
        return any(r["type"] == "FQDN" for r in self.outbound_rules().values())


class NetworkWatcherSettings(Model):
    """The region's Network Watcher, which owns flow logs (one per region and subscription)."""

    create: bool = Field(
        False, description="Declare the Network Watcher in the stack's resource group (only where the subscription "
        "has none in the region yet); default: use the one Azure enables in NetworkWatcherRG when a VNet is created")
    resource_group: Optional[str] = Field(
        None, description="Resource group of an existing watcher; default NetworkWatcherRG (create: the stack's)")
    name: Optional[str] = Field(None, description="Name of the watcher; default NetworkWatcher_<location>")


class FlowLogSettings(Model):
    """Virtual network flow logs of the created VNet (every subnet and NSG in it)."""

    storage_account_id: Annotated[str, arm_id("Microsoft.Storage/storageAccounts")] = Field(
        description="Storage account in the stack's region that keeps the flow logs (Network Watcher writes them)")
    retention_days: int = Field(90, ge=0, le=365, description="Days the records are kept (0: forever)")
    network_watcher: NetworkWatcherSettings = Field(
        NetworkWatcherSettings(), description="The region's Network Watcher: the auto-enabled one, or declared here")


class EgressFirewallSettings(Model):
    """The platform's own Azure Firewall for the AKS nodes' egress (amlplatform.iac.network.egress): in
    network.vnet.firewall_subnet, with the route table network.vnet.aks_subnet gets before any cluster."""

    sku_tier: Literal["Standard", "Premium"] = Field(EGRESS["sku_tier"], description="Azure Firewall tier")
    threat_intel_mode: Literal["Alert", "Deny"] = Field(
        EGRESS["threat_intel_mode"], description="Traffic to known malicious addresses and domains")
    allowed_fqdns: List[Annotated[str, StringConstraints(pattern=FQDN_PATTERN)]] = Field(
        default_factory=list, description="More host names the nodes may reach over HTTPS, besides what AKS "
        "(FQDN tag AzureKubernetesService, NTP) and the Azure ML extension need")


class NetworkSettings(Model):
    """Where private endpoints and AKS nodes live, and how their names resolve."""

    vnet: Optional[VnetSettings] = Field(None, description="Create a VNet (or give existing_subnets)")
    existing_subnets: Optional[ExistingSubnets] = Field(
        None, description="Use subnets of an existing VNet instead of creating one")
    private_dns: PrivateDnsSettings = Field(PrivateDnsSettings(), description="Private DNS zones: created and linked to the VNet, or existing zone ids (central DNS), and more VNets to link")
    storage_groups: List[StorageGroup] = Field(
        default_factory=lambda: list(REQUIRED_STORAGE_GROUPS),
        description="Storage sub-resources that get a private endpoint: blob and file always; queue, table opt-in")
    outbound: OutboundSettings = OutboundSettings()
    """Managed network outbound rules and provisioning"""
    egress_firewall: Optional[EgressFirewallSettings] = Field(
        None, description="An Azure Firewall of the stack's own in network.vnet.firewall_subnet, and the route "
        "table (0.0.0.0/0 to it) network.vnet.aks_subnet gets: Kubernetes targets with outbound_type "
        "userDefinedRouting then need no route_table_id (nothing outside the stack on a first deploy)")
    flow_logs: Optional[FlowLogSettings] = Field(
        None, description="Virtual network flow logs of the created VNet (NSG flow logs can no longer be created "
        "after 30 June 2025)")

    @field_validator("storage_groups")
    @classmethod
    def _storage_groups(cls, value: List[str]) -> List[str]:
        missing = [g for g in REQUIRED_STORAGE_GROUPS if g not in value]
        if missing:
            raise ValueError(f"must include {' and '.join(REQUIRED_STORAGE_GROUPS)} (Azure ML uses both; "
                             f"missing: {', '.join(missing)})")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _one_source(self) -> "NetworkSettings":
        if self.vnet is not None and self.existing_subnets is not None:
            raise ValueError("give vnet (create one) or existing_subnets, not both")
        if self.flow_logs is not None and self.vnet is None:
            raise ValueError("flow_logs are declared on the VNet the stack creates (network.vnet); an existing "
                             "VNet's flow logs belong with whoever owns it")
        return self

    @property
    def mode(self) -> str:
        """none, create or existing."""
        if self.vnet is not None:
            return "create"
        if self.existing_subnets is not None:
            return "existing"
        return "none"

    @property
    def has_aks_subnet(self) -> bool:
        return bool((self.vnet and self.vnet.aks_subnet) or (self.existing_subnets and self.existing_subnets.aks))


# --------------------------------------------------------------------------- across the stack

def private_endpoint_groups(settings: Any) -> Dict[str, List[str]]:
    """Resource label -> the group ids that get a private endpoint, for the resources the stack
    creates (a stack with a network gives every one of them an endpoint)."""
    net = settings.network
    if net.mode == "none":
        return {}
    out: Dict[str, List[str]] = {"workspace": ["amlworkspace"]}
    if not settings.storage.existing_id:
        out["storage"] = list(net.storage_groups)
        if getattr(settings, "batch_endpoints", None):
            # batch endpoints coordinate mini-batches through the storage's queues and tables: with the
            # account private, they need their own endpoints too (how-to-managed-network, batch endpoints)
            out["storage"] += [g for g in BATCH_STORAGE_GROUPS if g not in out["storage"]]
    if not settings.key_vault.existing_id:
        out["key_vault"] = ["vault"]
    if monitoring_private_link(settings):
        out["monitoring"] = ["azuremonitor"]
    if creates_registry(settings) and settings.registry.sku == "Premium":
        # private link is a Premium feature (learn.microsoft.com/azure/container-registry/
        # container-registry-private-link); a Basic/Standard registry is public, which the settings
        # allow only with public access Enabled
        out["registry"] = ["registry"]
    return out


def monitoring_private_link(settings: Any) -> bool:
    """Whether the stack gets an Azure Monitor Private Link Scope: as set, else on in a private stack
    (the workspace's public network access Disabled) that has a network and creates its monitoring.
    Without one, Log Analytics and Application Insights take ingestion and queries from the internet
    (learn.microsoft.com/azure/azure-monitor/logs/private-link-security)."""
    mon = settings.monitoring
    if mon.existing_app_insights_id:
        return False
    if mon.private_link_scope is not None:
        return bool(mon.private_link_scope) and settings.network.mode != "none"
    return settings.workspace.public_network_access == "Disabled" and settings.network.mode != "none"


def monitoring_network(settings: Any) -> Dict[str, str]:
    """``public_ingestion``, ``public_query`` and ``app_insights_public_ingestion`` of the created
    monitoring: as set, else Disabled behind a private link scope (queries: only with query access mode
    PrivateOnly), else Enabled. Application Insights keeps public ingestion with a managed network:
    managed computes and managed online deployments reach Azure Monitor through the managed
    network's outbound (service tag AzureMonitor, how-to-managed-network "Required rules"), which
    does not resolve the stack's scope endpoint; its local auth stays off (Entra ID only)."""
    mon = settings.monitoring
    scoped = monitoring_private_link(settings)
    ingestion = mon.public_ingestion or ("Disabled" if scoped else "Enabled")
    managed = settings.workspace.managed_network != "Disabled"
    return {"public_ingestion": ingestion,
            "public_query": mon.public_query or (
                "Disabled" if scoped and mon.query_access_mode == "PrivateOnly" else "Enabled"),
            "app_insights_public_ingestion": mon.app_insights_public_ingestion or ("Enabled" if managed else ingestion)}


def creates_registry(settings: Any) -> bool:
    reg = settings.registry
    return reg.mode == "create" or (reg.mode == "auto" and settings.needs_images())


def private_resources(settings: Any) -> Dict[str, str]:
    """Label -> the setting that makes it private, for each created resource whose public network
    access is Disabled."""
    from amlplatform.spec.core import derived_network

    ws = settings.workspace
    out: Dict[str, str] = {}
    if ws.public_network_access == "Disabled":
        out["workspace"] = "workspace.public_network_access"
    for label, block in (("storage", settings.storage), ("key_vault", settings.key_vault)):
        if not block.existing_id and derived_network(ws, block.public_network_access, "public_access") == "Disabled":
            out[label] = f"{label}.public_network_access" + (
                "" if block.public_network_access else " (follows workspace.public_network_access)")
    reg = settings.registry
    if creates_registry(settings) and derived_network(ws, reg.public_network_access, "public_access") == "Disabled":
        out["registry"] = "registry.public_network_access" + (
            "" if reg.public_network_access else " (follows workspace.public_network_access)")
    return out


def endpoint_addresses(groups: Dict[str, List[str]]) -> int:
    return sum(ADDRESSES_PER_ENDPOINT.get(g, 1) for gs in groups.values() for g in gs)


def _surge(count: int) -> int:
    # node pools upgrade with max_surge 33% (amlplatform.iac.kubernetes.aks): extra nodes need addresses too
    # (learn.microsoft.com/azure/aks/upgrade-aks-cluster, "Customize node surge upgrade")
    return math.ceil(count * 0.33)


def aks_node_addresses(target: Any) -> int:
    """Subnet addresses a created cluster's nodes may take at most: every pool at max_count plus its
    upgrade surge (overlay: pods take none, learn.microsoft.com/azure/aks/azure-cni-overlay)."""
    return sum(p.max_count + _surge(p.max_count) for p in (target.system_pool, target.inference_pool))


def stack_problems(settings: Any) -> List[str]:
    """Cross-block problems of the network: every private resource has an inbound path, subnets are
    big enough, Kubernetes nodes can reach a private workspace, the outbound rules fit the managed
    network mode, a private registry has an image build compute. Empty when the stack works."""
    problems: List[str] = []
    net = settings.network
    ws = settings.workspace

    private = private_resources(settings)
    if net.mode == "none":
        for label, why in private.items():
            problems.append(
                f"{label}: public network access is Disabled ({why}) but nothing reaches it: without "
                "amlplatform:network (a vnet, or existing_subnets) there is no private endpoint, and a "
                "managed network only carries outbound traffic of managed computes. Set network.vnet or "
                f"network.existing_subnets, or {label}.public_network_access: Enabled")

    if settings.monitoring.private_link_scope and net.mode == "none":
        problems.append("monitoring.private_link_scope: the scope's private endpoint needs amlplatform:network "
                        "(a vnet, or existing_subnets); set one, or leave private_link_scope out")

    groups = private_endpoint_groups(settings)
    if net.vnet is not None:
        needed = endpoint_addresses(groups)
        have = cidr.usable_addresses(net.vnet.private_endpoints_subnet)
        if needed > have:
            problems.append(
                f"network.vnet.private_endpoints_subnet {net.vnet.private_endpoints_subnet} leaves {have} usable "
                f"addresses (Azure keeps 5) but the private endpoints need {needed}: use a /"
                f"{cidr.smallest_prefix_for(needed)} or larger")

    created_targets = [(i, t) for i, t in enumerate(settings.kubernetes) if t.creates_cluster]
    aks_nodes = 0
    for i, target in created_targets:
        where = f"kubernetes[{i}] ({target.name})"
        in_subnet = target.subnet_id is not None or net.has_aks_subnet
        if "workspace" in private and not in_subnet:
            problems.append(
                f"{where}: the workspace is private and Kubernetes compute is not carried by its managed "
                "network, so the cluster reaches the workspace only through its private endpoint: put the "
                "nodes in the stack's VNet (network.vnet.aks_subnet or network.existing_subnets.aks)")
        if target.network_plugin == "azure" and net.vnet is not None:
            spaces = list(net.vnet.address_space)
            for field, value in (("pod_cidr", target.pod_cidr), ("service_cidr", target.service_cidr)):
                clash = [s for s in spaces if cidr.overlaps(s, value)]
                if clash:
                    problems.append(f"{where}: {field} {value} overlaps network.vnet.address_space {clash[0]} "
                                    "(AKS: the pod and service ranges must not overlap the cluster's VNet)")
        if target.outbound_type == "userDefinedRouting" and target.subnet_id is None:
            # AKS needs the nodes' subnet routed (0.0.0.0/0 to a firewall) before the cluster is created
            # (learn.microsoft.com/azure/aks/egress-udr): the platform associates route_table_id with
            # network.vnet.aks_subnet; existing subnets are routed by their owner
            if net.vnet is not None and net.vnet.aks_subnet and not target.route_table_id and not net.egress_firewall:
                problems.append(f"{where}: outbound_type userDefinedRouting needs network.egress_firewall (the stack's "
                                "own firewall) or route_table_id (the route table, 0.0.0.0/0 to your firewall, that "
                                "network.vnet.aks_subnet gets before the cluster)")
            if target.route_table_id and net.egress_firewall is not None:
                problems.append(f"{where}: route_table_id and network.egress_firewall both route "
                                "network.vnet.aks_subnet: give one")
            if net.existing_subnets is not None and target.route_table_id:
                problems.append(f"{where}: route_table_id is for network.vnet.aks_subnet; network.existing_subnets.aks "
                                "is routed by its owner (leave route_table_id out)")
        elif target.route_table_id and target.subnet_id is not None:
            problems.append(f"{where}: route_table_id is for network.vnet.aks_subnet, not for subnet_id (a subnet "
                            "of your own is routed by its owner)")
        if target.subnet_id is None:
            aks_nodes += aks_node_addresses(target)
    if net.vnet is not None and net.vnet.aks_subnet and aks_nodes:
        have = cidr.usable_addresses(net.vnet.aks_subnet)
        if aks_nodes > have:
            problems.append(
                f"network.vnet.aks_subnet {net.vnet.aks_subnet} leaves {have} usable addresses but the node pools "
                f"may take {aks_nodes} (max_count plus 33% upgrade surge): use a /"
                f"{cidr.smallest_prefix_for(aks_nodes)} or larger")

    if net.egress_firewall is not None and (net.vnet is None or not net.vnet.firewall_subnet
                                            or not net.vnet.aks_subnet):
        problems.append("network.egress_firewall: needs network.vnet with firewall_subnet (AzureFirewallSubnet) and "
                        "aks_subnet (the subnet it routes): the stack creates both")

    out = net.outbound
    rules = out.outbound_rules()
    if rules and ws.managed_network == "Disabled":
        problems.append("network.outbound: package_sources, package_mirrors and rules need a workspace managed network "
                        "(workspace.managed_network is Disabled)")
    elif out.needs_firewall() and ws.managed_network != "AllowOnlyApprovedOutbound":
        problems.append("network.outbound: FQDN rules (package_sources, package_mirrors, FQDN rules) only exist under "
                        "workspace.managed_network AllowOnlyApprovedOutbound (learn.microsoft.com/azure/"
                        "machine-learning/how-to-managed-network); AllowInternetOutbound already reaches them")

    cluster_names = [c.name for c in settings.clusters]
    build = ws.image_build_compute
    if build is not None and build.lower() not in [c.lower() for c in cluster_names]:
        problems.append(f"workspace.image_build_compute {build!r} is not one of the stack's clusters "
                        f"({', '.join(cluster_names) or 'none declared'})")
    if "registry" in private and build is None:
        problems.append(
            "workspace.image_build_compute: required because the registry is private (Azure ML cannot build "
            "environment images on its own build service then: learn.microsoft.com/azure/machine-learning/"
            "how-to-secure-workspace-vnet, 'Enable Azure Container Registry'); name one of the clusters ("
            + (", ".join(cluster_names) if cluster_names else "none declared: add one under amlplatform:clusters")
            + ")")
    return problems


__all__ = [
    "NetworkSettings", "VnetSettings", "ExistingSubnets", "FlowLogSettings", "NetworkWatcherSettings", "PrivateDnsSettings", "OutboundSettings",
    "OutboundRuleSettings", "GROUP_ZONES", "KNOWN_ZONES", "PACKAGE_SOURCES", "stack_problems",
    "private_endpoint_groups", "private_resources", "vnet_of", "monitoring_private_link", "monitoring_network",
]
