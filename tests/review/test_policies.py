"""Every policy of the pack has a failing and a passing fixture; the pack is what policypack/ serves."""

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from amlplatform.review import policies
from tests.review import graphs as g

WS_TYPE = "azure-native:machinelearningservices:Workspace"


def _instance(**props):
    return g.compute("ci-alice", "ComputeInstance", {"vmSize": "Standard_DS3_v2", **props})


def _cluster(**props):
    return g.compute("cpu", "AmlCompute", {"vmSize": "Standard_DS3_v2", **props})


def _app_insights(**over):
    inputs = {"resourceName": "appi-t", "kind": "web", "applicationType": "web", "disableLocalAuth": True,
              "workspaceResourceId": "/log", "publicNetworkAccessForIngestion": "Disabled",
              "publicNetworkAccessForQuery": "Disabled"}
    inputs.update(over)
    return g.res("azure-native:applicationinsights:Component", "appi", inputs)


def _log_analytics(**over):
    inputs = {"workspaceName": "log-t", "publicNetworkAccessForIngestion": "Disabled",
              "publicNetworkAccessForQuery": "Disabled", "features": {"disableLocalAuth": True}}
    inputs.update(over)
    return g.res("azure-native:operationalinsights:Workspace", "log", inputs)


def _vault(rbac):
    return g.res("azure-native:keyvault:Vault", "kv", {"vaultName": "kv-t", "properties": {"enableRbacAuthorization": rbac}})


def _registry(**over):
    return g.res("azure-native:containerregistry:Registry", "cr", {"registryName": "crt", "sku": {"name": "Premium"}, **over})


def _ws_with_logs(**over):
    ws = g.workspace(**over)
    return [ws, g.diag(ws)]


# policy name -> (failing resources, passing resources)
CASES = {
    "ml-workspace-public-access-disabled": (
        [g.workspace(publicNetworkAccess="Enabled")], [g.workspace()]),
    "ml-compute-local-auth-disabled": (
        [_cluster(), ], [_cluster()]),  # replaced below (needs disable_local_auth)
    "ml-compute-instance-idle-shutdown": (
        [_instance()], [_instance(idleTimeBeforeShutdown="PT30M")]),
    "ml-workspace-customer-managed-key": (
        [g.workspace()], [g.workspace(encryption={"status": "Enabled", "keyVaultProperties": {}})]),
    "ml-workspace-user-assigned-identity": (
        [g.workspace()], [g.workspace(primaryUserAssignedIdentity="/uai")]),
    "ml-managed-network-approved-outbound": (
        [g.workspace(managedNetwork={"isolationMode": "AllowInternetOutbound"})], [g.workspace()]),
    "ml-compute-in-virtual-network": (
        [g.workspace(managedNetwork={"isolationMode": "Disabled"}), _cluster()],
        [g.workspace(managedNetwork={"isolationMode": "Disabled"}), _cluster(subnet={"id": "/subnet"})]),
    "ml-workspace-resource-logs": (
        [g.workspace()], _ws_with_logs()),
    "appinsights-local-auth-disabled": ([_app_insights(disableLocalAuth=False)], [_app_insights()]),
    "appinsights-linked-to-log-analytics": ([_app_insights(workspaceResourceId=None)], [_app_insights()]),
    "appinsights-no-public-ingestion-query": (
        [_app_insights(publicNetworkAccessForIngestion="Enabled")], [_app_insights()]),
    "log-analytics-no-public-ingestion-query": (
        [_log_analytics(publicNetworkAccessForQuery="Enabled")], [_log_analytics()]),
    "log-analytics-local-auth-disabled": ([_log_analytics(features={"disableLocalAuth": False})], [_log_analytics()]),
    # in a private stack (a workspace with public network access Disabled) public monitoring fails
    "log-analytics-private-in-private-stack": (
        [g.workspace(), _log_analytics(publicNetworkAccessForIngestion="Enabled")],
        [g.workspace(), _log_analytics()]),
    "appinsights-private-in-private-stack": (
        [g.workspace(), _app_insights(publicNetworkAccessForQuery="Enabled")],
        # public ingestion is accepted with local auth off (the managed network's computes send by service tag)
        [g.workspace(), _app_insights(publicNetworkAccessForIngestion="Enabled")]),
    "storage-shared-key-access-disabled": ([g.storage(allowSharedKeyAccess=True)], [g.storage()]),
    "storage-no-cross-tenant-replication": ([g.storage(allowCrossTenantReplication=True)], [g.storage()]),
    "keyvault-rbac-authorization": ([_vault(False)], [_vault(True)]),
    "registry-admin-user-disabled": ([_registry(adminUserEnabled=True)], [_registry(adminUserEnabled=False)]),
    "registry-anonymous-pull-disabled": ([_registry(anonymousPullEnabled=True)], [_registry()]),
    "aks-local-accounts-disabled": ([g.aks(disableLocalAccounts=False)], [g.aks()]),
    "aks-entra-id-integration": ([g.aks(aadProfile=None)], [g.aks()]),
}
CASES["ml-compute-local-auth-disabled"] = (
    [g.compute("cpu", "AmlCompute", {"vmSize": "Standard_DS3_v2"}, disable_local_auth=False),
     g.compute("k8s", "Kubernetes", {"namespace": "azureml"}, disable_local_auth=None)],
    [g.compute("cpu", "AmlCompute", {"vmSize": "Standard_DS3_v2"}),
     g.compute("k8s", "Kubernetes", {"namespace": "azureml"})])


def _results(name, resources):
    rule = policies.rule_named(name)
    return [r for r in policies.evaluate(g.graph(*resources), [rule])]


def test_every_policy_has_a_case():
    assert set(CASES) == {r.name for r in policies.RULES}


@pytest.mark.parametrize("name", sorted(CASES))
def test_policy_fails_its_failing_fixture(name):
    results = _results(name, CASES[name][0])
    assert results and any(not r.passed for r in results), results
    for r in results:
        if not r.passed:
            assert policies.rule_named(name).rule_id in r.message


@pytest.mark.parametrize("name", sorted(CASES))
def test_policy_passes_its_passing_fixture(name):
    results = _results(name, CASES[name][1])
    assert results and all(r.passed for r in results), [r.message for r in results]


def test_policies_cite_their_rule_ids_and_have_pulumi_names():
    import re

    for rule in policies.RULES:
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", rule.rule_id)
        assert rule.rule_id in rule.policy.description
        assert re.fullmatch(r"[a-z0-9-]{1,100}", rule.name)
        assert isinstance(rule.policy, (ResourceValidationPolicy, StackValidationPolicy))
    assert len({r.name for r in policies.RULES}) == len(policies.RULES)


def test_enforcement_levels():
    advisory = {r.name for r in policies.RULES if r.policy.enforcement_level == EnforcementLevel.ADVISORY}
    assert advisory == {"ml-workspace-customer-managed-key", "ml-workspace-user-assigned-identity",
                        "ml-compute-in-virtual-network", "appinsights-no-public-ingestion-query",
                        "log-analytics-no-public-ingestion-query"}


def test_public_monitoring_fails_only_in_a_private_stack():
    public_ws = g.workspace(publicNetworkAccess="Enabled")
    for name, res in (("log-analytics-private-in-private-stack", _log_analytics(publicNetworkAccessForQuery="Enabled")),
                      ("appinsights-private-in-private-stack", _app_insights(publicNetworkAccessForQuery="Enabled"))):
        assert all(r.passed for r in _results(name, [public_ws, res])), name
        assert [r.passed for r in _results(name, [g.workspace(), res])] == [False], name
        assert policies.rule_named(name).mandatory
    keyed = _app_insights(publicNetworkAccessForIngestion="Enabled", disableLocalAuth=False)
    [result] = _results("appinsights-private-in-private-stack", [g.workspace(), keyed])
    assert not result.passed and "local (key) auth" in result.message


def test_compute_subnet_is_met_by_a_managed_network():
    results = _results("ml-compute-in-virtual-network", [g.workspace(), _cluster(), _instance()])
    assert len(results) == 2 and all(r.passed for r in results)


def test_workspace_logs_need_an_enabled_log_category():
    ws = g.workspace()
    results = _results("ml-workspace-resource-logs", [ws, g.diag(ws, logs=False)])
    assert [r.passed for r in results] == [False]


def test_validations_work_through_pulumi_policys_own_args():
    from pulumi_policy import ResourceValidationArgs

    seen = []
    args = ResourceValidationArgs(WS_TYPE, {"publicNetworkAccess": "Enabled"}, "urn:x", "ws", None, None)
    policies.ml_workspace_public_access.validate(args, lambda msg, urn=None: seen.append(msg))
    assert seen and "438c38d2-3772-465a-a9cc-7a6666a275ce" in seen[0]


def test_prod_meets_every_mandatory_policy_or_excepts_it_with_a_reason(stack_graph, project_root):
    from amlplatform.review.arm import stack_exceptions

    exceptions = stack_exceptions("prod", project_root)

    def excepted(r):
        return any(e.rule in (r.rule.rule_id, r.rule.name) and e.applies_to(r.resource) for e in exceptions)

    failed = [(r.rule.name, r.resource, r.message) for r in policies.evaluate(stack_graph("prod"))
              if not r.passed and r.rule.mandatory and not excepted(r)]
    assert failed == [], "prod fails a mandatory policy: fix the component default (or add a reasoned exception to the stack)"


def test_policy_pack_config_turns_exceptions_advisory():
    from amlplatform.review.arm import Exception_

    config = policies.policy_pack_config([Exception_("438c38d2-3772-465a-a9cc-7a6666a275ce", "*", "dev is public")])
    assert config == {"ml-workspace-public-access-disabled": {"enforcementLevel": "advisory"}}
