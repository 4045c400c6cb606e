"""An egress firewall for AKS nodes: the platform's own Azure Firewall and the route table that sends the
nodes' traffic to it, so a cluster with outbound type ``userDefinedRouting`` needs nothing outside the
stack on a first deploy.

What AKS needs (learn.microsoft.com/azure/aks/egress-udr, "Create a route table"; aks/limit-egress-traffic):
the nodes' subnet carries a route table whose default route (``0.0.0.0/0``) goes to the firewall's private
address (next hop ``VirtualAppliance``) before the cluster is created, and a route for the firewall's own
public address to ``Internet`` (its return traffic must not loop back through itself). The firewall allows
what AKS needs with the Azure Firewall FQDN tag ``AzureKubernetesService`` and NTP
(aks/outbound-rules-control-egress, "Azure Global required network rules": ``ntp.ubuntu.com`` UDP 123; an
FQDN in a network rule needs the policy's DNS proxy, azure/firewall/fqdn-filtering-network-rules), plus the
Azure ML extension's hosts (how-to-access-azureml-behind-firewall, "Kubernetes Compute"). The subnet is
``AzureFirewallSubnet``, at least a /26 (azure/firewall/firewall-faq, "Why does Azure Firewall need a /26
subnet size?"), without a network security group (Azure Firewall does not support one on its subnet).
Everything else the nodes send is denied, which is the point: the platform's egress is as controlled as
its managed network's.
"""

from typing import List, Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import network
from typing_extensions import Required

from amlplatform.iac._base import child, defaults

FIREWALL_SUBNET = "AzureFirewallSubnet"  # the name Azure Firewall requires of its subnet
NTP_FQDN = "ntp.ubuntu.com"


class EgressFirewallSpec(TypedDict, total=False):
    """The platform's egress firewall (PlatformNetwork creates it in the VNet, before the AKS subnet)."""
    subnet_prefix: Required[str]
    """Prefix of AzureFirewallSubnet, inside the VNet's address space, a /26 or larger."""
    firewall_name: Required[str]
    """Name of the Azure Firewall."""
    policy_name: Required[str]
    """Name of its firewall policy."""
    public_ip_name: Required[str]
    """Name of its public IP address."""
    route_table_name: Required[str]
    """Name of the route table the AKS subnet gets."""
    source_prefixes: Required[List[str]]
    """Address prefixes whose traffic the rules allow (the AKS subnet)."""
    fqdn_tags: List[str]
    """Azure Firewall FQDN tags allowed over HTTPS (AzureKubernetesService)."""
    application_fqdns: List[str]
    """More host names allowed over HTTPS (the Azure ML extension's)."""
    sku_tier: str
    """Standard or Premium."""
    threat_intel_mode: str
    """Alert or Deny: traffic to known malicious addresses and domains."""


# every default of EgressFirewallSpec, written once (amlplatform.iac._base.defaults)
DEFAULTS = defaults(EgressFirewallSpec, fqdn_tags=["AzureKubernetesService"], sku_tier="Standard",
                    threat_intel_mode="Deny")


class EgressFirewall:
    """The firewall's resources, children of the PlatformNetwork that declares them (not a component of
    its own: its resources keep the network's URN path)."""

    def __init__(self, parent: pulumi.Resource, name: str, spec: Mapping, *, vnet: network.VirtualNetwork,
                 resource_group_name: pulumi.Input[str], location: pulumi.Input[str], tags: dict,
                 after: Optional[List[pulumi.Resource]] = None) -> None:
        spec = {**DEFAULTS, **spec}
        if spec["sku_tier"] not in ("Standard", "Premium"):
            raise ValueError(f"{name}: egress_firewall.sku_tier must be Standard or Premium, got {spec['sku_tier']!r}")
        if spec["threat_intel_mode"] not in ("Alert", "Deny"):
            raise ValueError(f"{name}: egress_firewall.threat_intel_mode must be Alert or Deny, "
                             f"got {spec['threat_intel_mode']!r}")
        rg = resource_group_name
        # subnets of one VNet are written one at a time (a concurrent PUT answers AnotherOperationInProgress)
        subnet = network.Subnet(
            f"{name}-subnet-firewall", subnet_name=FIREWALL_SUBNET, virtual_network_name=vnet.name,
            resource_group_name=rg, address_prefix=spec["subnet_prefix"],
            # the firewall egresses through its own public IP, nothing else here needs implicit outbound
            default_outbound_access=False, opts=child(parent, depends_on=after))
        public_ip = network.PublicIPAddress(
            f"{name}-firewall-ip", public_ip_address_name=spec["public_ip_name"], resource_group_name=rg,
            location=location, sku={"name": "Standard", "tier": "Regional"}, public_ip_allocation_method="Static",
            tags=tags, opts=child(parent))
        policy = network.FirewallPolicy(
            f"{name}-firewall-policy", firewall_policy_name=spec["policy_name"], resource_group_name=rg,
            location=location, sku={"tier": spec["sku_tier"]}, threat_intel_mode=spec["threat_intel_mode"],
            dns_settings={"enable_proxy": True}, tags=tags, opts=child(parent))
        # typed Args, not dicts: rules and collections are unions (ruleType / ruleCollectionType), whose
        # dict keys the SDK cannot translate to wire names
        https = [network.FirewallPolicyRuleApplicationProtocolArgs(protocol_type="Https", port=443)]
        sources = list(spec["source_prefixes"])
        rules: list = [network.ApplicationRuleArgs(rule_type="ApplicationRule", name="aks-required",
                                                   source_addresses=sources, protocols=https,
                                                   fqdn_tags=list(spec["fqdn_tags"]))]
        if spec.get("application_fqdns"):
            rules.append(network.ApplicationRuleArgs(rule_type="ApplicationRule", name="azureml-extension",
                                                     source_addresses=sources, protocols=https,
                                                     target_fqdns=sorted(spec["application_fqdns"])))
        allow = network.FirewallPolicyFilterRuleCollectionActionArgs(type="Allow")
        rule_group = network.FirewallPolicyRuleCollectionGroup(
            f"{name}-firewall-rules", rule_collection_group_name="aks-egress", firewall_policy_name=policy.name,
            resource_group_name=rg, priority=200,
            rule_collections=[
                network.FirewallPolicyFilterRuleCollectionArgs(
                    rule_collection_type="FirewallPolicyFilterRuleCollection", name="aks-network", priority=100,
                    action=allow,
                    rules=[network.NetworkRuleArgs(rule_type="NetworkRule", name="ntp", source_addresses=sources,
                                                   destination_fqdns=[NTP_FQDN], destination_ports=["123"],
                                                   ip_protocols=["UDP"])]),
                network.FirewallPolicyFilterRuleCollectionArgs(
                    rule_collection_type="FirewallPolicyFilterRuleCollection", name="aks-application",
                    priority=200, action=allow, rules=rules),
            ],
            opts=child(parent))
        firewall = network.AzureFirewall(
            f"{name}-firewall", azure_firewall_name=spec["firewall_name"], resource_group_name=rg,
            location=location, sku={"name": "AZFW_VNet", "tier": spec["sku_tier"]},
            firewall_policy={"id": policy.id},
            ip_configurations=[{"name": "egress", "subnet": {"id": subnet.id},
                                "public_ip_address": {"id": public_ip.id}}],
            tags=tags, opts=child(parent, depends_on=[rule_group]))
        private_ip = firewall.ip_configurations.apply(lambda configs: configs[0].private_ip_address if configs else None)
        route_table = network.RouteTable(
            f"{name}-route-table", route_table_name=spec["route_table_name"], resource_group_name=rg,
            location=location,
            routes=[
                {"name": "default-to-firewall", "address_prefix": "0.0.0.0/0",
                 "next_hop_type": "VirtualAppliance", "next_hop_ip_address": private_ip},
                {"name": "firewall-public-ip-to-internet",
                 "address_prefix": public_ip.ip_address.apply(lambda ip: f"{ip}/32" if ip else None),
                 "next_hop_type": "Internet"},
            ],
            tags=tags, opts=child(parent))
        self.subnet = subnet
        self.firewall = firewall
        self.route_table_id: pulumi.Output[str] = route_table.id
        self.private_ip_address = private_ip
