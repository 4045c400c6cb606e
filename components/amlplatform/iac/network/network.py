"""``PlatformNetwork``: where the stack's private endpoints and AKS nodes live, and how their names
resolve.

Either a virtual network the stack creates (a subnet for private endpoints, one for AKS nodes, each
with its own network security group), or subnets of an existing VNet (hub-and-spoke estates). Then
the private DNS zones the endpoints need: created and linked to the VNet(s) of those subnets, or
existing zones by id (often central, in another subscription; their links are the owner's job).

Resource graph::

    NSG ──> subnet ──┐
    VNet ──> subnet ─┴──> (private endpoints, AKS node pools: other components)
    private DNS zone ──> VNet link

Zones do not wait for the VNet; only their links do.
"""

from typing import Dict, List, Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import network, privatedns
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.iac._base import check_args, child, token
from amlplatform.iac.network.egress import EgressFirewall, EgressFirewallSpec


class SubnetSpec(TypedDict, total=False):
    name: Required[str]
    """Subnet name (1-80 characters)."""
    prefix: Required[str]
    """Address prefix, inside the VNet's address space."""
    nsg_name: Required[str]
    """Name of the subnet's network security group."""


class VnetSpec(TypedDict, total=False):
    name: Required[str]
    """VNet name (2-64 characters)."""
    address_space: Required[List[str]]
    """Address prefixes."""
    private_endpoints_subnet: Required[SubnetSpec]
    """Subnet of the private endpoints."""
    aks_subnet: SubnetSpec
    """Subnet of the AKS nodes."""
    aks_route_table_id: pulumi.Input[str]
    """Route table of the AKS subnet (a cluster with outbound type userDefinedRouting: 0.0.0.0/0 to a
    firewall). The subnet has it before any cluster is created in it (learn.microsoft.com/azure/aks/egress-udr)."""
    egress_firewall: EgressFirewallSpec
    """The platform's own Azure Firewall and the AKS subnet's route table to it (instead of
    aks_route_table_id): amlplatform.iac.network.egress."""


class FlowLogsSpec(TypedDict, total=False):
    """Virtual network flow logs of the created VNet: they record the traffic of every subnet and NSG
    in it (learn.microsoft.com/azure/network-watcher/vnet-flow-logs-overview). NSG flow logs are not
    offered: they can no longer be created after 30 June 2025 (network-watcher/nsg-flow-logs-overview,
    retirement), and VNet flow logs replace them."""
    storage_account_id: Required[pulumi.Input[str]]
    """Storage account in the VNet's region that keeps the records."""
    retention_days: int
    """Days the records are kept (0: forever); default 90."""
    network_watcher_name: Required[str]
    """The region's Network Watcher (Azure enables NetworkWatcher_<region> in NetworkWatcherRG when a
    VNet is created in a region; network-watcher/network-watcher-create)."""
    network_watcher_resource_group: Required[pulumi.Input[str]]
    """Its resource group (NetworkWatcherRG for the auto-enabled one)."""
    create_network_watcher: bool
    """Declare the watcher (in network_watcher_resource_group) instead of using the auto-enabled one:
    only where the subscription has none in the region (one watcher per region and subscription)."""


class PlatformNetworkArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of what this component creates."""
    location: Required[pulumi.Input[str]]
    """Region of the VNet."""
    vnet: VnetSpec
    """Create this VNet (or give private_endpoints_subnet_id)."""
    private_endpoints_subnet_id: pulumi.Input[str]
    """Existing subnet for the private endpoints."""
    aks_subnet_id: pulumi.Input[str]
    """Existing subnet for the AKS nodes."""
    zones: Required[List[str]]
    """Private DNS zones the endpoints need (and any other private zone of the platform: a private AKS
    API server's privatelink.<region>.azmk8s.io, the zone of the Kubernetes scoring name)."""
    existing_zone_ids: Mapping[str, str]
    """Zone name -> id of an existing zone (not created, not linked)."""
    link_vnet_ids: List[pulumi.Input[str]]
    """VNets the created zones are linked to, besides the created VNet (or the existing subnets' VNets)."""
    tags: Mapping[str, str]
    """Tags of the created resources."""
    flow_logs: FlowLogsSpec
    """Virtual network flow logs of the created VNet (only with vnet)."""


def _vnet_of(subnet_id: str) -> str:
    return subnet_id.rsplit("/subnets/", 1)[0]


class PlatformNetwork(pulumi.ComponentResource):
    """A VNet with NSG-guarded subnets (or existing subnets) and the private DNS zones, linked."""

    private_endpoints_subnet_id: pulumi.Output[str]
    """ARM id of the subnet that holds the private endpoints."""
    aks_subnet_id: pulumi.Output[Optional[str]]
    """ARM id of the AKS nodes' subnet (none without one)."""
    vnet_id: pulumi.Output[Optional[str]]
    """ARM id of the created VNet (none with existing subnets)."""
    dns_zone_ids: pulumi.Output[Dict[str, str]]
    """Private DNS zone name -> zone id."""

    def __init__(self, name: str, args: PlatformNetworkArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("PlatformNetwork", args, PlatformNetworkArgs)
        super().__init__(token("PlatformNetwork"), name, None, opts)
        rg, location = args["resource_group_name"], args["location"]
        tags = dict(args.get("tags") or {})
        spec = args.get("vnet")
        if spec and args.get("private_endpoints_subnet_id"):
            raise ValueError(f"{name}: give vnet or private_endpoints_subnet_id, not both")
        link_targets: List[pulumi.Input[str]] = []
        aks_subnet: Optional[pulumi.Input[str]] = None
        vnet_id: Optional[pulumi.Input[str]] = None
        if spec:
            vnet = network.VirtualNetwork(
                f"{name}-vnet",
                virtual_network_name=naming.ensure("virtual_network", spec["name"]),
                resource_group_name=rg,
                location=location,
                address_space={"address_prefixes": list(spec["address_space"])},
                # subnets are separate resources below. A VNet PUT without `subnets` keeps the existing
                # ones (Network API 2023-09-01 and later: Azure/azure-quickstart-templates#2786), and
                # azure-native reads them back when the property is unset (pulumi-azure-native#611)
                tags=tags,
                opts=child(self),
            )
            vnet_id = vnet.id
            link_targets.append(vnet.id)
            pe_subnet = self._subnet(name, "private-endpoints", vnet, spec["private_endpoints_subnet"], rg, location,
                                     tags, endpoints=True)
            route_table_id = spec.get("aks_route_table_id")
            self.egress_firewall: Optional[EgressFirewall] = None
            if spec.get("egress_firewall"):
                if route_table_id is not None:
                    raise ValueError(f"{name}: give vnet.aks_route_table_id or vnet.egress_firewall, not both")
                self.egress_firewall = EgressFirewall(self, name, spec["egress_firewall"], vnet=vnet,
                                                      resource_group_name=rg, location=location, tags=tags,
                                                      after=[pe_subnet])
                route_table_id = self.egress_firewall.route_table_id
            if spec.get("aks_subnet"):
                aks_subnet = self._subnet(name, "aks", vnet, spec["aks_subnet"], rg, location, tags,
                                          endpoints=False, route_table_id=route_table_id).id
            pe_subnet_id: pulumi.Input[str] = pe_subnet.id
        elif args.get("private_endpoints_subnet_id"):
            pe_subnet_id = args["private_endpoints_subnet_id"]
            aks_subnet = args.get("aks_subnet_id")
            for sid in (pe_subnet_id, aks_subnet):
                if isinstance(sid, str) and _vnet_of(sid) not in link_targets:
                    link_targets.append(_vnet_of(sid))
        else:
            raise ValueError(f"{name}: give vnet (to create one) or private_endpoints_subnet_id")
        for extra in args.get("link_vnet_ids") or []:
            if extra not in link_targets:
                link_targets.append(extra)

        existing = dict(args.get("existing_zone_ids") or {})
        zone_ids: Dict[str, pulumi.Input[str]] = {}
        for zone in args["zones"]:
            if zone in existing:
                zone_ids[zone] = existing[zone]
                continue
            label = zone.replace(".", "-")
            created = privatedns.PrivateZone(
                f"{name}-zone-{label}",
                private_zone_name=zone,
                resource_group_name=rg,
                location="Global",  # private DNS zones are global resources
                tags=tags,
                opts=child(self),
            )
            zone_ids[zone] = created.id
            for i, target in enumerate(link_targets):
                # registration off: the zone holds the endpoints' records, written by the zone groups
                privatedns.VirtualNetworkLink(
                    f"{name}-zone-{label}-link{'' if i == 0 else f'-{i}'}",
                    private_zone_name=created.name,
                    resource_group_name=rg,
                    virtual_network_link_name=f"link-{i}" if i else "link-platform-vnet",
                    location="Global",
                    virtual_network={"id": target},
                    registration_enabled=False,
                    tags=tags,
                    opts=child(self),
                )

        flow = args.get("flow_logs")
        if flow:
            if not spec:
                raise ValueError(f"{name}: flow_logs need the VNet this component creates (vnet)")
            self._flow_log(name, flow, vnet, naming.ensure("virtual_network", spec["name"]), location, tags)

        self.zone_id_inputs = zone_ids  # zone name -> Input[str], for the endpoints' zone groups
        self.aks_subnet_input = aks_subnet  # None when there is no AKS subnet (known at declaration)
        self.private_endpoints_subnet_id = pulumi.Output.from_input(pe_subnet_id)
        self.aks_subnet_id = pulumi.Output.from_input(aks_subnet)
        self.vnet_id = pulumi.Output.from_input(vnet_id)
        self.dns_zone_ids = pulumi.Output.all(**zone_ids) if zone_ids else pulumi.Output.from_input({})
        self.register_outputs({"private_endpoints_subnet_id": self.private_endpoints_subnet_id,
                               "aks_subnet_id": self.aks_subnet_id, "vnet_id": self.vnet_id,
                               "dns_zone_ids": self.dns_zone_ids})

    def _flow_log(self, name: str, flow: FlowLogsSpec, vnet: network.VirtualNetwork, vnet_name: str,
                  location: pulumi.Input[str], tags: dict) -> network.FlowLog:
        """A VNet flow log (JSON version 2) under the region's Network Watcher. It waits for the VNet:
        creating the first VNet of a region is what makes Azure enable the watcher there."""
        after: List[pulumi.Resource] = [vnet]
        watcher_name: pulumi.Input[str] = flow["network_watcher_name"]
        if flow.get("create_network_watcher", False):
            watcher = network.NetworkWatcher(
                f"{name}-network-watcher", network_watcher_name=flow["network_watcher_name"],
                resource_group_name=flow["network_watcher_resource_group"], location=location, tags=tags,
                opts=child(self))
            watcher_name = watcher.name
            after.append(watcher)
        retention = int(flow.get("retention_days", 90))
        return network.FlowLog(
            f"{name}-flow-log",
            flow_log_name=f"flowlog-{vnet_name}"[:80],
            network_watcher_name=watcher_name,
            resource_group_name=flow["network_watcher_resource_group"],
            location=location,
            target_resource_id=vnet.id,
            storage_id=flow["storage_account_id"],
            enabled=True,
            format={"type": "JSON", "version": 2},
            retention_policy={"days": retention, "enabled": retention > 0},
            tags=tags,
            opts=child(self, depends_on=after),
        )

    def _subnet(self, name: str, role: str, vnet: network.VirtualNetwork, spec: SubnetSpec,
                rg: pulumi.Input[str], location: pulumi.Input[str], tags: dict, *,
                endpoints: bool, route_table_id: Optional[pulumi.Input[str]] = None) -> network.Subnet:
        # No custom rules: the default rules allow traffic inside the VNet and from Azure's load
        # balancer and deny the rest of the internet inbound
        # (learn.microsoft.com/azure/virtual-network/network-security-groups-overview, "Default security rules")
        nsg = network.NetworkSecurityGroup(
            f"{name}-nsg-{role}",
            network_security_group_name=naming.ensure("network_security_group", spec["nsg_name"]),
            resource_group_name=rg,
            location=location,
            tags=tags,
            opts=child(self),
        )
        return network.Subnet(
            f"{name}-subnet-{role}",
            subnet_name=naming.ensure("subnet", spec["name"]),
            virtual_network_name=vnet.name,
            resource_group_name=rg,
            address_prefix=spec["prefix"],
            network_security_group={"id": nsg.id},
            # NSGs (and route tables) apply to private endpoints only with these policies on
            # (learn.microsoft.com/azure/private-link/disable-private-endpoint-network-policy)
            private_endpoint_network_policies="Enabled" if endpoints else None,
            route_table={"id": route_table_id} if route_table_id is not None else None,
            # no implicit internet egress for anything in the subnet; AKS nodes go out through the
            # cluster's load balancer (learn.microsoft.com/azure/virtual-network/ip-services/default-outbound-access)
            default_outbound_access=False,
            opts=child(self),
        )
