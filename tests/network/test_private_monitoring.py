"""Private monitoring in private stacks (issue 20): an Azure Monitor Private Link Scope with its
private endpoint (group azuremonitor) and DNS zones, Log Analytics without local auth, and the
policy pack's public-monitoring advisory a failure in a stack that declares itself private."""

import pytest

from amlplatform.azure.private_dns import GROUP_ZONES
from amlplatform.errors import UserError
from amlplatform.offline.engine import evaluate_stack
from amlplatform.review import policies
from amlplatform.settings import settings_from_config
from amlplatform.spec.network import monitoring_network, monitoring_private_link

SCOPE = "azure-native:monitor:PrivateLinkScope"
SCOPED = "azure-native:monitor:PrivateLinkScopedResource"
PE = "azure-native:network:PrivateEndpoint"
ZG = "azure-native:network:PrivateDnsZoneGroup"
ZONE = "azure-native:privatedns:PrivateZone"
LAW = "azure-native:operationalinsights:Workspace"
APPI = "azure-native:applicationinsights:Component"
MONITOR_ZONES = {"privatelink.monitor.azure.com", "privatelink.oms.opinsights.azure.com",
                 "privatelink.ods.opinsights.azure.com", "privatelink.agentsvc.azure-automation.net",
                 "privatelink.blob.core.windows.net"}
BASE = {"amlplatform:location": "westeurope", "amlplatform:naming": {"workload": "fraud", "environment": "tst"},
        "amlplatform:network": {"vnet": {"address_space": ["10.50.0.0/24"], "private_endpoints_subnet": "10.50.0.0/26"}},
        "amlplatform:access": {"data_scientists": [{"principal_id": "5b3c0a1e-7d2f-4e8a-9c61-2f4d8e9a0b13",
                                                    "principal_type": "Group"}]}}


def settings(**extra):
    return settings_from_config({**BASE, **{f"amlplatform:{k}": v for k, v in extra.items()}})


def test_the_azure_monitor_group_needs_its_five_documented_zones():
    assert set(GROUP_ZONES["azuremonitor"]) == MONITOR_ZONES


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_private_stacks_put_monitoring_behind_a_private_link_scope(stack_graph, stack):
    g = stack_graph(stack)
    scope = g.one(SCOPE)
    assert scope.inputs["accessModeSettings"] == {"ingestionAccessMode": "PrivateOnly", "queryAccessMode": "PrivateOnly"}
    assert scope.inputs["location"] == "global"
    linked = {r.inputs["linkedResourceId"] for r in g.of_type(SCOPED)}
    assert linked == {g.one(LAW).id, g.one(APPI).id}
    (endpoint,) = [pe for pe in g.of_type(PE)
                   if pe.inputs["privateLinkServiceConnections"][0]["groupIds"] == ["azuremonitor"]]
    assert scope.urn in endpoint.property_dependencies["privateLinkServiceConnections"]
    (group,) = [z for z in g.of_type(ZG) if z.inputs["privateEndpointName"] == endpoint.inputs["privateEndpointName"]]
    zone_ids = {c["privateDnsZoneId"] for c in group.inputs["privateDnsZoneConfigs"]}
    zones = {z.id: z.inputs["privateZoneName"] for z in g.of_type(ZONE)}
    assert {zones[z] for z in zone_ids} == MONITOR_ZONES
    logs = g.one(LAW).inputs
    assert logs["features"]["disableLocalAuth"] is True
    assert (logs["publicNetworkAccessForIngestion"], logs["publicNetworkAccessForQuery"]) == ("Disabled", "Disabled")
    insights = g.one(APPI).inputs
    # queries only privately; ingestion stays for the managed network's computes and deployments,
    # with local auth off (Entra ID only)
    assert insights["publicNetworkAccessForQuery"] == "Disabled"
    assert insights["publicNetworkAccessForIngestion"] == "Enabled" and insights["disableLocalAuth"] is True


def test_dev_is_public_and_has_no_scope_but_no_local_auth_on_log_analytics(stack_graph):
    g = stack_graph("dev")
    assert g.of_type(SCOPE) == []
    assert g.one(LAW).inputs["features"]["disableLocalAuth"] is True
    assert g.one(LAW).inputs["publicNetworkAccessForQuery"] == "Enabled"


def test_defaults_follow_the_stack_and_explicit_settings_win():
    private = settings()
    assert monitoring_private_link(private)
    assert monitoring_network(private) == {"public_ingestion": "Disabled", "public_query": "Disabled",
                                           "app_insights_public_ingestion": "Enabled"}
    no_managed = settings(workspace={"managed_network": "Disabled"})
    assert monitoring_network(no_managed)["app_insights_public_ingestion"] == "Disabled"
    opened = settings(monitoring={"query_access_mode": "Open", "query_open_reason": "the on-call queries from home"})
    assert monitoring_network(opened)["public_query"] == "Enabled"
    off = settings(monitoring={"private_link_scope": False})
    assert not monitoring_private_link(off) and monitoring_network(off)["public_ingestion"] == "Enabled"
    public = settings(workspace={"public_network_access": "Enabled"})
    assert not monitoring_private_link(public)


def test_open_queries_need_a_reason_and_a_scope_needs_a_network():
    with pytest.raises(UserError) as info:
        settings(monitoring={"query_access_mode": "Open"})
    assert any("query_open_reason" in p for p in info.value.problems)
    config = {k: v for k, v in BASE.items() if k != "amlplatform:network"}
    config["amlplatform:workspace"] = {"public_network_access": "Enabled"}
    config["amlplatform:monitoring"] = {"private_link_scope": True}
    with pytest.raises(UserError) as info:
        settings_from_config(config)
    assert any("monitoring.private_link_scope" in p for p in info.value.problems)


def _results(graph, name):
    return [r for r in policies.evaluate(graph, [policies.rule_named(name)])]


def test_public_monitoring_is_a_failure_in_a_private_stack(make_stack):
    config = {**BASE, "amlplatform:monitoring": {"private_link_scope": False}}
    g = evaluate_stack("pubmon", project_dir=make_stack(config, name="pubmon"))
    failed = [r for r in _results(g, "log-analytics-private-in-private-stack") if not r.passed]
    assert [r.resource for r in failed] == ["ml-monitoring-logs"]
    assert policies.rule_named("log-analytics-private-in-private-stack").mandatory
    assert "publicNetworkAccessForIngestion" in failed[0].message
    failed = [r for r in _results(g, "appinsights-private-in-private-stack") if not r.passed]
    assert [r.resource for r in failed] == ["ml-monitoring-insights"]


def test_public_monitoring_stays_advisory_in_a_public_stack(stack_graph):
    g = stack_graph("dev")
    for name in ("log-analytics-private-in-private-stack", "appinsights-private-in-private-stack"):
        assert all(r.passed for r in _results(g, name))
    advisory = [r for r in _results(g, "log-analytics-no-public-ingestion-query") if not r.passed]
    assert advisory and not advisory[0].rule.mandatory


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_private_stacks_meet_the_private_monitoring_rules(stack_graph, stack):
    g = stack_graph(stack)
    for name in ("log-analytics-private-in-private-stack", "appinsights-private-in-private-stack",
                 "log-analytics-local-auth-disabled"):
        results = _results(g, name)
        assert results and all(r.passed for r in results), name


def test_log_analytics_with_local_auth_fails_the_policy(make_stack):
    config = {**BASE, "amlplatform:monitoring": {"log_analytics_local_auth": True}}
    g = evaluate_stack("lakeys", project_dir=make_stack(config, name="lakeys"))
    assert g.one(LAW).inputs["features"]["disableLocalAuth"] is False
    [result] = _results(g, "log-analytics-local-auth-disabled")
    assert not result.passed
