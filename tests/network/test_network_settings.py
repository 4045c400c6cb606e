"""Network settings: a private resource without an inbound path, subnets that do not fit, a
Kubernetes target that cannot reach a private workspace, an API server nobody can reach - each is
an error naming the field and the rule, before any resource is declared."""

import copy
from pathlib import Path

import pytest
import yaml

from amlplatform.errors import UserError
from amlplatform.settings import settings_from_config
from amlplatform.settings.network import (
    GROUP_ZONES, PACKAGE_SOURCES, OutboundSettings, private_endpoint_groups, private_resources,
)

ROOT = Path(__file__).resolve().parents[2]
BASE = {"amlplatform:location": "westeurope", "amlplatform:naming": {"workload": "fraud", "environment": "tst"}}
VNET = {"vnet": {"address_space": ["10.60.0.0/22"], "private_endpoints_subnet": "10.60.0.0/26",
                 "aks_subnet": "10.60.1.0/24"}}
# prod's AKS egresses through the stack's own firewall (network.egress_firewall)
EGRESS_VNET = {"vnet": {**VNET["vnet"], "firewall_subnet": "10.60.2.0/26"}, "egress_firewall": {}}
TLS = {"ssl_secret": "azureml-scoring-tls", "ssl_cname": "scoring.fraud.internal"}
SUBNET = ("/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-hub/providers"
          "/Microsoft.Network/virtualNetworks/vnet-spoke/subnets/{}")


def problems_of(config):
    with pytest.raises(UserError) as err:
        settings_from_config(config)
    return "\n".join(err.value.problems)


def prod_config():
    return yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]


# ------------------------------------------------------------------ inbound path

def test_private_resources_without_a_network_are_each_named():
    text = problems_of(BASE)  # defaults: private workspace, storage and key vault follow it
    for label in ("workspace:", "storage:", "key_vault:"):
        assert label in text
    assert "no private endpoint" in text and "network.vnet" in text
    assert "registry:" not in text  # mode auto creates none here


def test_a_public_stack_needs_no_network():
    s = settings_from_config({**BASE, "amlplatform:workspace": {"public_network_access": "Enabled"}})
    assert s.network.mode == "none" and private_resources(s) == {}


def test_one_public_dependency_still_leaves_the_others_named():
    text = problems_of({**BASE, "amlplatform:storage": {"public_network_access": "Enabled"}})
    assert "workspace:" in text and "key_vault:" in text and "storage:" not in text


def test_with_a_network_every_created_resource_gets_its_endpoints():
    s = settings_from_config({**prod_config(), "amlplatform:network": {**EGRESS_VNET, "storage_groups": ["blob", "file", "queue"]}})
    # prod's batch endpoint adds table (and queue, already listed): batch jobs use both (how-to-managed-network);
    # monitoring: the private stack's Azure Monitor Private Link Scope
    assert private_endpoint_groups(s) == {"workspace": ["amlworkspace"], "storage": ["blob", "file", "queue", "table"],
                                          "key_vault": ["vault"], "registry": ["registry"],
                                          "monitoring": ["azuremonitor"]}
    without_batch = settings_from_config({**prod_config(), "amlplatform:batch_endpoints": [],
                                          "amlplatform:network": {**EGRESS_VNET, "storage_groups": ["blob", "file", "queue"]}})
    assert private_endpoint_groups(without_batch)["storage"] == ["blob", "file", "queue"]


def test_a_public_standard_registry_gets_no_endpoint():
    config = {**prod_config(), "amlplatform:registry": {"sku": "Standard", "public_network_access": "Enabled"}}
    config["amlplatform:policy_exceptions"] = []
    assert "registry" not in private_endpoint_groups(settings_from_config(config))


def test_existing_dependencies_get_no_endpoint_from_this_stack():
    kv = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/shared/providers/Microsoft.KeyVault/vaults/kv-shared"
    s = settings_from_config({**BASE, "amlplatform:network": VNET, "amlplatform:key_vault": {"existing_id": kv}})
    assert "key_vault" not in private_endpoint_groups(s)


def test_storage_needs_blob_and_file():
    text = problems_of({**BASE, "amlplatform:network": {**VNET, "storage_groups": ["blob"]}})
    assert "network.storage_groups" in text and "file" in text


def test_workspace_zones_are_the_documented_two():
    assert GROUP_ZONES["amlworkspace"] == ("privatelink.api.azureml.ms", "privatelink.notebooks.azure.net")
    assert GROUP_ZONES["vault"] == ("privatelink.vaultcore.azure.net",)
    assert GROUP_ZONES["registry"] == ("privatelink.azurecr.io",)


# ------------------------------------------------------------------ address plan

@pytest.mark.parametrize("vnet,expected", [
    ({"address_space": ["10.60.0.0/24"], "private_endpoints_subnet": "10.61.0.0/26"},
     "private_endpoints_subnet 10.61.0.0/26 is not inside address_space"),
    ({"address_space": ["10.60.0.0/24"], "private_endpoints_subnet": "10.60.0.0/26", "aks_subnet": "10.60.0.32/27"},
     "private_endpoints_subnet and aks_subnet overlap"),
    ({"address_space": ["10.60.0.0/24", "10.60.0.0/25"], "private_endpoints_subnet": "10.60.0.0/26"},
     "address_space 10.60.0.0/24 overlaps 10.60.0.0/25"),
    ({"address_space": ["10.60.0.0/24"], "private_endpoints_subnet": "10.60.0.0/30"},
     "a subnet must be /2 to /29"),
    ({"address_space": ["10.60.0.0/24"], "private_endpoints_subnet": "10.60.0.1/26"}, "host bits set"),
])
def test_subnets_must_fit_the_address_space(vnet, expected):
    text = problems_of({**BASE, "amlplatform:network": {"vnet": vnet}})
    assert "network.vnet" in text and expected in text


def test_endpoint_subnet_must_hold_every_endpoint():
    # prod: workspace (3 addresses), blob, file, queue, table (batch endpoint), vault (1 each), registry (2),
    # the Azure Monitor scope (12) = 22 > a /29's 3
    config = prod_config()
    config["amlplatform:network"] = {"vnet": {"address_space": ["10.40.0.0/22"],
                                              "private_endpoints_subnet": "10.40.0.0/29",
                                              "aks_subnet": "10.40.1.0/24"}}
    text = problems_of(config)
    assert "private_endpoints_subnet 10.40.0.0/29 leaves 3 usable addresses" in text and "need 22" in text
    assert "use a /27 or larger" in text
    # without the scope: 10 (use a /28)
    config["amlplatform:monitoring"] = {"private_link_scope": False}
    text = problems_of(config)
    assert "need 10" in text and "use a /28 or larger" in text


def test_aks_subnet_must_hold_every_node_with_upgrade_surge():
    config = prod_config()  # pools: 3 + 10 nodes at most, + 1 + 4 surge = 18
    config["amlplatform:network"]["vnet"]["aks_subnet"] = "10.40.1.0/28"
    text = problems_of(config)
    assert "aks_subnet 10.40.1.0/28 leaves 11 usable addresses" in text and "may take 18" in text


def test_pod_and_service_ranges_must_not_overlap_the_vnet():
    config = prod_config()
    config["amlplatform:network"]["vnet"] = {"address_space": ["10.0.0.0/16"], "private_endpoints_subnet": "10.0.0.0/26",
                                             "aks_subnet": "10.0.1.0/24", "firewall_subnet": "10.0.2.0/26"}
    text = problems_of(config)
    assert "service_cidr 10.0.0.0/16 overlaps network.vnet.address_space 10.0.0.0/16" in text
    config["amlplatform:kubernetes"][0]["service_cidr"] = "172.16.0.0/16"
    config["amlplatform:kubernetes"][0]["dns_service_ip"] = "172.16.0.10"
    settings_from_config(config)


def test_vnet_or_existing_subnets_not_both():
    text = problems_of({**BASE, "amlplatform:network": {**VNET, "existing_subnets": {"private_endpoints": SUBNET.format("pe")}}})
    assert "give vnet (create one) or existing_subnets, not both" in text


def test_existing_zone_ids_must_name_their_zone():
    zone = ("/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/dns/providers"
            "/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net")
    text = problems_of({**BASE, "amlplatform:network": {**VNET, "private_dns": {"existing_zone_ids": {
        "privatelink.file.core.windows.net": zone, "example.com": zone}}}})
    assert "privatelink.file.core.windows.net: the id names zone 'privatelink.blob.core.windows.net'" in text
    assert "'example.com' is not a zone of a private endpoint here" in text


# ------------------------------------------------------------------ Kubernetes

def test_kubernetes_needs_a_subnet_when_the_workspace_is_private():
    config = prod_config()
    config["amlplatform:network"]["vnet"].pop("aks_subnet")
    text = problems_of(config)
    assert "kubernetes[0] (inference): the workspace is private" in text
    assert "Kubernetes compute is not carried by its managed network" in text


def test_api_server_access_is_an_explicit_choice():
    config = prod_config()
    config["amlplatform:kubernetes"][0].pop("api_server_access")
    assert "api_server_access is required for a created cluster" in problems_of(config)
    config["amlplatform:kubernetes"][0]["api_server_access"] = "authorized_ranges"
    assert "needs authorized_ip_ranges" in problems_of(config)
    config["amlplatform:kubernetes"][0]["authorized_ip_ranges"] = ["203.0.113.0/24"]
    text = problems_of(config)
    assert "203.0.113.0/24 is in the documentation range 203.0.113.0/24 (RFC 5737)" in text
    config["amlplatform:kubernetes"][0]["authorized_ip_ranges"] = ["20.50.10.0/28"]
    settings_from_config(config)
    config["amlplatform:kubernetes"][0]["api_server_access"] = "private"
    assert "only used with api_server_access authorized_ranges" in problems_of(config)


def test_encryption_at_host_needs_the_registered_feature_and_says_how():
    config = prod_config()
    config["amlplatform:kubernetes"][0].pop("encryption_at_host_registered")
    s = settings_from_config(config)  # default: off when the stack does not say
    target = s.kubernetes[0]
    assert target.pool_encryption_at_host(target.system_pool) is False
    config["amlplatform:kubernetes"][0]["system_pool"]["encryption_at_host"] = True
    text = problems_of(config)
    assert "az feature register --namespace Microsoft.Compute --name EncryptionAtHost" in text
    assert "node pools system" in text


def test_dns_service_ip_must_be_in_the_service_range():
    config = prod_config()
    config["amlplatform:kubernetes"][0]["dns_service_ip"] = "10.1.0.10"
    assert "dns_service_ip 10.1.0.10 must be inside service_cidr 10.0.0.0/16" in problems_of(config)


# ------------------------------------------------------------------ outbound, image builds

def test_package_sources_become_the_documented_fqdn_rules():
    out = OutboundSettings(package_sources=["pypi", "conda"])
    rules = out.outbound_rules()
    assert {r["destination"] for r in rules.values()} == set(PACKAGE_SOURCES["pypi"] + PACKAGE_SOURCES["conda"])
    assert all(r == {"type": "FQDN", "category": "UserDefined", "destination": r["destination"]} for r in rules.values())
    assert len(rules) == len(PACKAGE_SOURCES["pypi"] + PACKAGE_SOURCES["conda"])  # no name collides
    assert "pkg-conda-anaconda-com" in rules and "pkg-conda-any-anaconda-com" in rules
    assert out.needs_firewall()
    assert not OutboundSettings(package_sources=[]).needs_firewall()


def test_fqdn_rules_need_approved_outbound():
    config = prod_config()
    config["amlplatform:workspace"]["managed_network"] = "AllowInternetOutbound"
    assert "FQDN rules (package_sources, package_mirrors, FQDN rules) only exist under" in problems_of(config)
    config["amlplatform:workspace"]["managed_network"] = "Disabled"
    assert "need a workspace managed network" in problems_of(config)


def test_outbound_rules_are_checked_by_type():
    text = problems_of({**BASE, "amlplatform:network": {**VNET, "outbound": {"rules": [
        {"name": "tag-rule", "type": "ServiceTag", "destination": "example.com"}]}}})
    assert "ServiceTag rules need service_tag" in text and "destination is not used by ServiceTag rules" in text


def test_a_private_registry_needs_a_named_image_build_compute():
    config = prod_config()
    config["amlplatform:workspace"].pop("image_build_compute")
    text = problems_of(config)
    assert "workspace.image_build_compute: required because the registry is private" in text
    assert "cpu, gpu" in text
    config["amlplatform:workspace"]["image_build_compute"] = "builder"
    assert "workspace.image_build_compute 'builder' is not one of the stack's clusters (cpu, gpu)" in problems_of(config)
    config = prod_config()
    config["amlplatform:workspace"].pop("image_build_compute")
    config.pop("amlplatform:clusters")
    config.pop("amlplatform:batch_endpoints")  # they run on the clusters (their own error, tests/endpoints)
    config["amlplatform:workspace"]["image_build_compute"] = None
    assert "none declared: add one under amlplatform:clusters" in problems_of(config)


def test_shipped_stacks_are_valid_and_dev_has_no_network():
    for stack in ("dev", "staging", "prod"):
        config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
        s = settings_from_config(copy.deepcopy(config))
        assert (s.network.mode == "none") == (stack == "dev")


# ------------------------------------------------------------------ component argument checks

def test_components_refuse_arguments_that_cannot_work():
    from amlplatform.iac.network.privatelink import zones_for
    from amlplatform.iac.workspace.workspace import managed_network_settings

    assert zones_for("blob") == ("privatelink.blob.core.windows.net",)
    with pytest.raises(ValueError, match="no private DNS zone is known for group id 'sqlServer'"):
        zones_for("sqlServer")
    fqdn = {"pkg": {"type": "FQDN", "category": "UserDefined", "destination": "pypi.org"}}
    assert managed_network_settings("AllowOnlyApprovedOutbound", fqdn) == {
        "isolation_mode": "AllowOnlyApprovedOutbound", "outbound_rules": fqdn, "firewall_sku": "Standard"}
    assert managed_network_settings("AllowInternetOutbound") == {"isolation_mode": "AllowInternetOutbound"}
    with pytest.raises(ValueError, match="exist only under AllowOnlyApprovedOutbound"):
        managed_network_settings("AllowInternetOutbound", fqdn)
    with pytest.raises(ValueError, match="need a managed network"):
        managed_network_settings("Disabled", fqdn)
    with pytest.raises(ValueError, match="type must be one of"):
        managed_network_settings("AllowOnlyApprovedOutbound", {"x": {"type": "Url"}})


def test_network_names_follow_the_azure_rules():
    from amlplatform.azure import naming

    names = naming.network_names("fraud", "prod")
    assert names.virtual_network == "vnet-fraud-prod"
    long = naming.private_endpoint_name("cr" + "a" * 48, "registry")
    assert len(long) <= 64 and long.endswith("-registry") and not naming.check("private_endpoint", long)
    assert naming.private_endpoint_name("cr" + "a" * 48, "registry") == long  # stable
    with pytest.raises(ValueError, match="virtual_network name"):
        naming.network_names("fraud", "prod", vnet="-bad")
