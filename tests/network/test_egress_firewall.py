"""The platform's own egress firewall (network.egress_firewall): AKS with outbound type
userDefinedRouting needs nothing outside the stack on a first deploy; the nodes' subnet is routed to
the firewall before the cluster exists, and the firewall allows what AKS and the Azure ML extension need."""

import copy
from pathlib import Path

import pytest
import yaml

from amlplatform.azure.kubernetes import AKS_FQDN_TAG, EXTENSION_FQDNS
from amlplatform.errors import UserError
from amlplatform.settings import settings_from_config

ROOT = Path(__file__).resolve().parents[2]
FIREWALL, ROUTES, SUBNET, AKS = ("azure-native:network:AzureFirewall", "azure-native:network:RouteTable",
                                 "azure-native:network:Subnet", "azure-native:containerservice:ManagedCluster")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_aks_subnet_is_routed_to_the_stacks_own_firewall_before_the_cluster(stack_graph, stack):
    g = stack_graph(stack)
    (fw,), (rt,) = g.of_type(FIREWALL), g.of_type(ROUTES)
    subnets = {s.inputs["subnetName"]: s for s in g.of_type(SUBNET)}
    assert subnets["snet-aks"].inputs["routeTable"] == {"id": rt.id}
    assert subnets["AzureFirewallSubnet"].inputs["addressPrefix"].endswith("/26")
    assert {"ipConfigurations"} <= set(fw.inputs)
    assert fw.inputs["ipConfigurations"][0]["subnet"] == {"id": subnets["AzureFirewallSubnet"].id}
    default = next(r for r in rt.inputs["routes"] if r["addressPrefix"] == "0.0.0.0/0")
    assert default["nextHopType"] == "VirtualAppliance"  # the firewall's private address, known after deploy
    # the cluster waits for its subnet, which waits for the route table, which waits for the firewall
    (aks,) = g.of_type(AKS)
    assert subnets["snet-aks"].urn in aks.dependencies
    assert rt.urn in subnets["snet-aks"].dependencies and fw.urn in rt.dependencies
    assert aks.inputs["networkProfile"]["outboundType"] == "userDefinedRouting"


def test_the_firewall_allows_aks_and_the_azure_ml_extension_only(stack_graph):
    g = stack_graph("prod")
    (group,) = g.of_type("azure-native:network:FirewallPolicyRuleCollectionGroup")
    rules = {r["name"]: r for c in group.inputs["ruleCollections"] for r in c["rules"]}
    assert rules["aks-required"]["fqdnTags"] == [AKS_FQDN_TAG]
    assert set(rules["azureml-extension"]["targetFqdns"]) == {h.replace("<region>", "westeurope")
                                                               for h in EXTENSION_FQDNS}
    assert rules["ntp"]["destinationFqdns"] == ["ntp.ubuntu.com"] and rules["ntp"]["destinationPorts"] == ["123"]
    assert all(r["sourceAddresses"] == ["10.40.1.0/24"] for r in rules.values())  # the AKS subnet only
    assert all(c["action"] == {"type": "Allow"} for c in group.inputs["ruleCollections"])
    (policy,) = g.of_type("azure-native:network:FirewallPolicy")
    assert policy.inputs["threatIntelMode"] == "Deny" and policy.inputs["dnsSettings"] == {"enableProxy": True}


def _prod():
    return yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]


@pytest.mark.parametrize("change,message", [
    (lambda c: c["amlplatform:network"]["vnet"].pop("firewall_subnet"),
     "network.egress_firewall: needs network.vnet with firewall_subnet"),
    (lambda c: c["amlplatform:network"]["vnet"].__setitem__("firewall_subnet", "10.40.2.0/27"),
     "is smaller than a /26"),
    (lambda c: c["amlplatform:network"].pop("egress_firewall"),
     "outbound_type userDefinedRouting needs network.egress_firewall"),
    (lambda c: c["amlplatform:kubernetes"][0].__setitem__(
        "route_table_id", "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
        "Microsoft.Network/routeTables/rt"),
     "route_table_id and network.egress_firewall both route"),
])
def test_a_bad_egress_setting_is_named(change, message):
    config = copy.deepcopy(_prod())
    change(config)
    with pytest.raises(UserError) as err:
        settings_from_config(config)
    assert message in str(err.value) + " ".join(getattr(err.value, "problems", []))
