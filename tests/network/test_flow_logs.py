"""Virtual network flow logs where the stack creates a VNet with NSGs (issue 20): one VNet flow log
(NSG flow logs can no longer be created after 30 June 2025) under the region's Network Watcher,
the auto-enabled one by default, or one the stack declares."""

import pytest
import yaml

from amlplatform.errors import UserError
from amlplatform.offline.engine import evaluate_stack
from amlplatform.settings import settings_from_config

FLOW = "azure-native:network:FlowLog"
WATCHER = "azure-native:network:NetworkWatcher"
VNET = "azure-native:network:VirtualNetwork"
ST = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-audit/providers/"
      "Microsoft.Storage/storageAccounts/stflowlogs")


def _prod(project_root, **flow):
    config = yaml.safe_load((project_root / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    config["amlplatform:network"]["flow_logs"] = {"storage_account_id": ST, **flow}
    return config


def test_the_vnet_gets_a_flow_log_under_the_auto_enabled_watcher(make_stack, project_root):
    g = evaluate_stack("flow", project_dir=make_stack(_prod(project_root), name="flow"))
    (flow,) = g.of_type(FLOW)
    vnet = g.one(VNET)
    assert flow.inputs["targetResourceId"] == vnet.id  # the VNet: every subnet and NSG in it
    assert flow.inputs["storageId"] == ST and flow.inputs["enabled"] is True
    assert flow.inputs["format"] == {"type": "JSON", "version": 2}
    assert flow.inputs["retentionPolicy"] == {"days": 90, "enabled": True}
    assert (flow.inputs["networkWatcherName"], flow.inputs["resourceGroupName"]) == (
        "NetworkWatcher_westeurope", "NetworkWatcherRG")
    assert g.of_type(WATCHER) == []
    # Azure enables the region's watcher when the first VNet is created: the flow log waits for the VNet
    assert vnet.urn in g.resource_dependencies(flow)


def test_a_declared_watcher_lives_in_the_stack_group_and_the_flow_log_waits_for_it(make_stack, project_root):
    config = _prod(project_root, retention_days=0, network_watcher={"create": True})
    g = evaluate_stack("flowwatch", project_dir=make_stack(config, name="flowwatch"))
    watcher = g.one(WATCHER)
    flow = g.one(FLOW)
    assert watcher.inputs["resourceGroupName"] == g.one("azure-native:resources:ResourceGroup").inputs["resourceGroupName"]
    assert flow.inputs["resourceGroupName"] == watcher.inputs["resourceGroupName"]
    assert watcher.urn in g.resource_dependencies(flow)
    assert flow.inputs["retentionPolicy"] == {"days": 0, "enabled": False}


def test_flow_logs_need_the_vnet_the_stack_creates():
    hub = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/hub/providers/Microsoft.Network"
    with pytest.raises(UserError) as info:
        settings_from_config({
            "amlplatform:location": "westeurope", "amlplatform:naming": {"workload": "fraud", "environment": "hub"},
            "amlplatform:network": {"existing_subnets": {"private_endpoints": f"{hub}/virtualNetworks/v/subnets/pe"},
                                    "flow_logs": {"storage_account_id": ST}}})
    assert any("flow_logs" in p and "network.vnet" in p for p in info.value.problems)


def test_retention_is_bounded():
    with pytest.raises(UserError) as info:
        settings_from_config({
            "amlplatform:location": "westeurope", "amlplatform:naming": {"workload": "fraud", "environment": "x"},
            "amlplatform:network": {"vnet": {"address_space": ["10.50.0.0/24"], "private_endpoints_subnet": "10.50.0.0/26"},
                                    "flow_logs": {"storage_account_id": ST, "retention_days": 400}}})
    assert any("retention_days" in p for p in info.value.problems)
