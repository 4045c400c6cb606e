"""The amlplatform policy pack: rules checkov lacks, re-expressed as pulumi-policy validations.

Each policy cites the rule it re-expresses (an Azure Policy built-in definition id, and the
PSRule for Azure rule where there is one; see docs/reference/rules.md, generated from these rules). The validations are pure
functions over a resource's azure-native inputs (wire names, as the engine sends them and as
:mod:`amlplatform.offline.engine` records them), so the same objects run

* in-process in ``amlplatform scan`` over the recorded graph (:func:`evaluate`), and
* in a real deployment: ``pulumi preview --policy-pack policypack`` (policypack/__main__.py builds
  the ``PolicyPack`` from :data:`POLICIES`; constructing one starts a gRPC server, so only there).

Enforcement: MANDATORY for what the prod stack meets and every stack should; ADVISORY for rules
that are environment or cost choices (customer-managed keys, a user-assigned identity, compute
subnets when there is no managed network, public ingestion of monitoring data). Public monitoring
becomes MANDATORY in a stack that declares itself private (a workspace with public network access
Disabled): the ``*-private-in-private-stack`` stack policies. A stack that
breaks a rule on purpose lists it under ``amlplatform:policy_exceptions`` with a reason; the scan
shows it as EXCEPTED.

Decision on "computes in a subnet" (7804b5c7, PSRule Azure.ML.ComputeVnet): a workspace with a
managed network runs its computes inside that network (a subnet must not be given), so the rule
is met there; without a managed network a compute needs a subnet. It stays ADVISORY because a
dev stack without a managed network and without a VNet is a legitimate choice.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from pulumi_policy import (
    EnforcementLevel, PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions,
    ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs,
    StackValidationPolicy,
)

from amlplatform.review.paths import get_path as _get

WORKSPACE = "azure-native:machinelearningservices:Workspace"
COMPUTE = "azure-native:machinelearningservices:Compute"
APP_INSIGHTS = "azure-native:applicationinsights:Component"
LOG_ANALYTICS = "azure-native:operationalinsights:Workspace"
STORAGE = "azure-native:storage:StorageAccount"
KEY_VAULT = "azure-native:keyvault:Vault"
REGISTRY = "azure-native:containerregistry:Registry"
AKS = "azure-native:containerservice:ManagedCluster"
DIAGNOSTIC_SETTING = "azure-native:monitor:DiagnosticSetting"

MANAGED_NETWORK_MODES = ("AllowInternetOutbound", "AllowOnlyApprovedOutbound")
PACK_NAME = "amlplatform"


def _compute_type(props: Mapping[str, Any]) -> Optional[str]:
    return _get(props, "properties.computeType")


@dataclass(frozen=True)
class Rule:
    """A policy with the rule it re-expresses."""

    policy: Any  # ResourceValidationPolicy | StackValidationPolicy
    rule_id: str  # Azure Policy definition id (what stacks name in policy_exceptions)
    types: Tuple[str, ...]  # resource types it applies to
    psrule: Optional[str] = None
    applies: Optional[Callable[[Mapping[str, Any]], bool]] = None  # finer filter over props

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def mandatory(self) -> bool:
        return self.policy.enforcement_level == EnforcementLevel.MANDATORY

    def applies_to(self, resource_type: str, props: Mapping[str, Any]) -> bool:
        return resource_type in self.types and (self.applies is None or bool(self.applies(props)))


RULES: List[Rule] = []


def _resource_rule(name: str, rule_id: str, types: Sequence[str], description: str,
                   check: Callable[[Mapping[str, Any]], Optional[str]], *,
                   mandatory: bool, psrule: Optional[str] = None,
                   applies: Optional[Callable[[Mapping[str, Any]], bool]] = None) -> ResourceValidationPolicy:
    """A resource policy: ``check(props)`` returns a violation message or None."""
    types = tuple(types)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in types:
            return
        if applies is not None and not applies(args.props):
            return
        problem = check(args.props)
        if problem:
            report_violation(f"{problem} [{rule_id}]", None)

    cited = f"Azure Policy {rule_id}" + (f", PSRule {psrule}" if psrule else "")
    policy = ResourceValidationPolicy(
        name=name, description=f"{description} ({cited})", validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY if mandatory else EnforcementLevel.ADVISORY)
    RULES.append(Rule(policy, rule_id, types, psrule, applies))
    return policy


def _stack_rule(name: str, rule_id: str, types: Sequence[str], description: str,
                validate: Callable[[StackValidationArgs, ReportViolation], None], *,
                mandatory: bool, psrule: Optional[str] = None,
                applies: Optional[Callable[[Mapping[str, Any]], bool]] = None) -> StackValidationPolicy:
    cited = f"Azure Policy {rule_id}" + (f", PSRule {psrule}" if psrule else "")
    policy = StackValidationPolicy(
        name=name, description=f"{description} ({cited})", validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY if mandatory else EnforcementLevel.ADVISORY)
    RULES.append(Rule(policy, rule_id, tuple(types), psrule, applies))
    return policy


# ----------------------------------------------------------------------------- machine learning

def _workspace_public(props: Mapping[str, Any]) -> Optional[str]:
    access = props.get("publicNetworkAccess")
    if access != "Disabled":
        return f"workspace publicNetworkAccess is {access or 'not set (the service default is Enabled)'}"
    if props.get("allowPublicAccessWhenBehindVnet") is True:
        return "workspace allowPublicAccessWhenBehindVnet is true"
    return None


ml_workspace_public_access = _resource_rule(
    "ml-workspace-public-access-disabled", "438c38d2-3772-465a-a9cc-7a6666a275ce", [WORKSPACE],
    "Machine Learning workspaces should disable public network access", _workspace_public,
    mandatory=True, psrule="Azure.ML.PublicAccess")

ml_compute_local_auth = _resource_rule(
    "ml-compute-local-auth-disabled", "e96a9a5f-07ca-471b-9bc5-6a0f33cbd68f", [COMPUTE],
    "Machine Learning computes should have local authentication methods disabled",
    lambda p: None if _get(p, "properties.disableLocalAuth") is True
    else f"{_compute_type(p) or 'compute'} does not set disableLocalAuth: true",
    mandatory=True, psrule="Azure.ML.DisableLocalAuth")

ml_instance_idle_shutdown = _resource_rule(
    "ml-compute-instance-idle-shutdown", "679ddf89-ab8f-48a5-9029-e76054077449", [COMPUTE],
    "Machine Learning compute instances should have idle shutdown",
    lambda p: None if _get(p, "properties.properties.idleTimeBeforeShutdown")
    else "compute instance has no idleTimeBeforeShutdown",
    mandatory=True, psrule="Azure.ML.ComputeIdleShutdown",
    applies=lambda p: _compute_type(p) == "ComputeInstance")

ml_workspace_cmk = _resource_rule(
    "ml-workspace-customer-managed-key", "ba769a63-b8cc-4b2d-abf6-ac33c7204be8", [WORKSPACE],
    "Machine Learning workspaces should be encrypted with a customer-managed key",
    lambda p: None if _get(p, "encryption.status") == "Enabled"
    else "workspace data is encrypted with Microsoft-managed keys (no encryption.status Enabled)",
    mandatory=False)

ml_workspace_uai = _resource_rule(
    "ml-workspace-user-assigned-identity", "5f0c7d88-c7de-45b8-ac49-db49e72eaa78", [WORKSPACE],
    "Machine Learning workspaces should use a user-assigned managed identity",
    lambda p: None if p.get("primaryUserAssignedIdentity")
    else "workspace has no primaryUserAssignedIdentity",
    mandatory=False, psrule="Azure.ML.UserManagedIdentity")

ml_managed_network = _resource_rule(
    "ml-managed-network-approved-outbound", "6ddb1705-c8cf-450e-aa4b-19ad6703c440", [WORKSPACE],
    "Machine Learning workspaces should use a managed network that allows only approved outbound",
    lambda p: None if _get(p, "managedNetwork.isolationMode") == "AllowOnlyApprovedOutbound"
    else f"managed network isolation is {_get(p, 'managedNetwork.isolationMode') or 'not set (Disabled)'}",
    mandatory=True)


def _workspace_names(resources: Iterable[Any]) -> Dict[str, Mapping[str, Any]]:
    return {str(r.props.get("workspaceName")): r.props for r in resources if r.resource_type == WORKSPACE}


def _computes_in_subnet(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    workspaces = _workspace_names(args.resources)
    for r in args.resources:
        if r.resource_type != COMPUTE or _compute_type(r.props) not in ("AmlCompute", "ComputeInstance"):
            continue
        if _get(r.props, "properties.properties.subnet.id"):
            continue
        ws = workspaces.get(str(r.props.get("workspaceName")))
        if ws is not None and _get(ws, "managedNetwork.isolationMode") in MANAGED_NETWORK_MODES:
            continue  # runs inside the workspace's managed network
        report_violation(f"{_compute_type(r.props)} {r.name} has no subnet and its workspace has no managed "
                         "network [7804b5c7-01dc-4723-969b-ae300cc07ff1]", r.urn)


ml_compute_subnet = _stack_rule(
    "ml-compute-in-virtual-network", "7804b5c7-01dc-4723-969b-ae300cc07ff1", [COMPUTE],
    "Machine Learning computes should be in a virtual network (a subnet, or the workspace's managed network)",
    _computes_in_subnet, mandatory=False, psrule="Azure.ML.ComputeVnet",
    applies=lambda p: _compute_type(p) in ("AmlCompute", "ComputeInstance"))


def _diagnostics_target(r: Any) -> str:
    return str(r.props.get("resourceUri") or "").lower()


def _workspace_logs(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    settings = [r for r in args.resources if r.resource_type == DIAGNOSTIC_SETTING]
    for ws in args.resources:
        if ws.resource_type != WORKSPACE:
            continue
        name = str(ws.props.get("workspaceName") or "").lower()
        found = False
        for s in settings:
            target = _diagnostics_target(s)
            depends = {d.urn for d in (s.dependencies or [])} | {
                d.urn for deps in (s.property_dependencies or {}).values() for d in deps}
            if ws.urn in depends or (name and target.endswith(
                    f"/microsoft.machinelearningservices/workspaces/{name}")):
                logs = s.props.get("logs") or []
                if any(isinstance(entry, Mapping) and entry.get("enabled") for entry in logs):
                    found = True
        if not found:
            report_violation(f"workspace {ws.name} sends no resource logs to a diagnostic setting "
                             "[afe0c3be-ba3b-4544-ba52-0c99672a8ad6]", ws.urn)


ml_workspace_logs = _stack_rule(
    "ml-workspace-resource-logs", "afe0c3be-ba3b-4544-ba52-0c99672a8ad6", [WORKSPACE],
    "Resource logs in Machine Learning workspaces should be enabled (a diagnostic setting with logs)",
    _workspace_logs, mandatory=True)

# ----------------------------------------------------------------------------- monitoring

appinsights_local_auth = _resource_rule(
    "appinsights-local-auth-disabled", "199d5677-e4d9-4264-9465-efe1839c06bd", [APP_INSIGHTS],
    "Application Insights components should block non-Entra ID ingestion (local auth disabled)",
    lambda p: None if p.get("disableLocalAuth") is True else "App Insights does not set disableLocalAuth: true",
    mandatory=True)

appinsights_log_analytics = _resource_rule(
    "appinsights-linked-to-log-analytics", "d550e854-df1a-4de9-bf44-cd894b39a95e", [APP_INSIGHTS],
    "Application Insights components should be linked to a Log Analytics workspace",
    lambda p: None if p.get("workspaceResourceId") else "App Insights has no workspaceResourceId (classic)",
    mandatory=True)


def _no_public_monitoring(p: Mapping[str, Any]) -> Optional[str]:
    open_ = [k for k in ("publicNetworkAccessForIngestion", "publicNetworkAccessForQuery")
             if p.get(k) != "Disabled"]
    return f"{' and '.join(open_)} not Disabled" if open_ else None


log_analytics_public = _resource_rule(
    "log-analytics-no-public-ingestion-query", "6c53d030-cc64-46f0-906d-2bc061cd1334", [LOG_ANALYTICS],
    "Log Analytics workspaces should block log ingestion and querying from public networks "
    "(needs an Azure Monitor private link scope)", _no_public_monitoring, mandatory=False)

appinsights_public = _resource_rule(
    "appinsights-no-public-ingestion-query", "1bc02227-0cb6-4e11-8f53-eb0b22eab7e8", [APP_INSIGHTS],
    "Application Insights components should block log ingestion and querying from public networks "
    "(needs an Azure Monitor private link scope)", _no_public_monitoring, mandatory=False)

log_analytics_local_auth = _resource_rule(
    "log-analytics-local-auth-disabled", "e15effd4-2278-4c65-a0da-4d6f6d1890e2", [LOG_ANALYTICS],
    "Log Analytics workspaces should block non-Entra ID based ingestion (features.disableLocalAuth)",
    lambda p: None if _get(p, "features.disableLocalAuth") is True
    else "Log Analytics does not set features.disableLocalAuth: true (workspace keys still ingest and query)",
    mandatory=True)


def _private_stack(resources: Iterable[Any]) -> bool:
    """A stack that declares itself private: a workspace with public network access Disabled
    (amlplatform.azure.isolation: private where something reaches it privately)."""
    return any(r.resource_type == WORKSPACE and r.props.get("publicNetworkAccess") == "Disabled" for r in resources)


def _appinsights_private(p: Mapping[str, Any]) -> Optional[str]:
    problems = []
    if p.get("publicNetworkAccessForQuery") != "Disabled":
        problems.append("publicNetworkAccessForQuery not Disabled")
    if p.get("publicNetworkAccessForIngestion") != "Disabled" and p.get("disableLocalAuth") is not True:
        # public ingestion stays for managed computes and deployments (the managed network reaches Azure
        # Monitor by service tag, not the stack's scope endpoint), but only with Entra ID auth
        problems.append("publicNetworkAccessForIngestion not Disabled while local (key) auth is on")
    return "; ".join(problems) or None


def _private_monitoring_rule(name: str, rule_id: str, type_: str, description: str,
                             check: Callable[[Mapping[str, Any]], Optional[str]]) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        if not _private_stack(args.resources):
            return
        for res in args.resources:
            if res.resource_type == type_:
                problem = check(res.props)
                if problem:
                    report_violation(f"private stack: {problem} (an Azure Monitor private link scope carries "
                                     f"private monitoring) [{rule_id}]", res.urn)
    return _stack_rule(name, rule_id, [type_], description, validate, mandatory=True)


# the advisories above become failures in a stack that declares itself private (issue 20): its
# monitoring sits behind an Azure Monitor Private Link Scope (learn.microsoft.com/azure/azure-monitor/
# logs/private-link-security)
log_analytics_private_stack = _private_monitoring_rule(
    "log-analytics-private-in-private-stack", "6c53d030-cc64-46f0-906d-2bc061cd1334", LOG_ANALYTICS,
    "In a private stack (workspace public network access Disabled), Log Analytics blocks ingestion and "
    "querying from public networks", _no_public_monitoring)

appinsights_private_stack = _private_monitoring_rule(
    "appinsights-private-in-private-stack", "1bc02227-0cb6-4e11-8f53-eb0b22eab7e8", APP_INSIGHTS,
    "In a private stack, Application Insights blocks queries from public networks, and public ingestion "
    "only with local auth off (Entra ID only)", _appinsights_private)

# ----------------------------------------------------------------------------- storage, vault, registry

storage_shared_key = _resource_rule(
    "storage-shared-key-access-disabled", "8c6a50c6-9ffd-4ae7-986f-5fa6111f9a54", [STORAGE],
    "Storage accounts should prevent shared key access",
    lambda p: None if p.get("allowSharedKeyAccess") is False
    else f"allowSharedKeyAccess is {p.get('allowSharedKeyAccess', 'not set (the service default is true)')}",
    mandatory=True)

storage_cross_tenant = _resource_rule(
    "storage-no-cross-tenant-replication", "92a89a79-6c52-4a7e-a03f-61306fc49312", [STORAGE],
    "Storage accounts should prevent cross tenant object replication",
    lambda p: None if p.get("allowCrossTenantReplication") is False
    else f"allowCrossTenantReplication is {p.get('allowCrossTenantReplication', 'not set')}",
    mandatory=True)

keyvault_rbac = _resource_rule(
    "keyvault-rbac-authorization", "12d4fa5e-1f9f-4c21-97a9-b99b3c6611b5", [KEY_VAULT],
    "Azure Key Vault should use the RBAC permission model",
    lambda p: None if _get(p, "properties.enableRbacAuthorization") is True
    else "key vault uses access policies (enableRbacAuthorization is not true)",
    mandatory=True)

registry_admin = _resource_rule(
    "registry-admin-user-disabled", "dc921057-6b28-4fbe-9b83-f7bec05db6c2", [REGISTRY],
    "Container registries should have local admin account disabled",
    lambda p: "registry adminUserEnabled is true" if p.get("adminUserEnabled") is True else None,
    mandatory=True)

registry_anonymous = _resource_rule(
    "registry-anonymous-pull-disabled", "9f2dea28-e834-476c-99c5-3507b4728395", [REGISTRY],
    "Container registries should have anonymous authentication (pull) disabled",
    lambda p: "registry anonymousPullEnabled is true" if p.get("anonymousPullEnabled") is True else None,
    mandatory=True)

# ----------------------------------------------------------------------------- AKS

aks_local_accounts = _resource_rule(
    "aks-local-accounts-disabled", "993c2fcd-2b29-49d2-9eb0-df2c3a730c32", [AKS],
    "Kubernetes clusters should have local authentication methods disabled "
    "(the AzureML extension needs them unless Trusted Access is configured: expect a stack exception)",
    lambda p: None if p.get("disableLocalAccounts") is True else "AKS disableLocalAccounts is not true",
    mandatory=True)

aks_entra = _resource_rule(
    "aks-entra-id-integration", "450d2877-ebea-41e8-b00c-e286317d21bf", [AKS],
    "Kubernetes clusters should use Microsoft Entra ID integration (managed AAD) with Azure RBAC",
    lambda p: None if _get(p, "aadProfile.managed") is True
    else "AKS has no managed Entra ID integration (aadProfile.managed)",
    mandatory=True)

POLICIES = [r.policy for r in RULES]


# ----------------------------------------------------------------------------- in-process evaluation

@dataclass
class PolicyResult:
    rule: Rule
    resource: str  # logical name ("" for a stack-level result without a resource)
    urn: Optional[str]
    resource_type: str
    passed: bool
    message: str = ""


def _opts(res: Any) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=bool(getattr(res, "protect", False)),
                                 ignore_changes=list(getattr(res, "ignore_changes", []) or []),
                                 delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
                                 additional_secret_outputs=[], parent=getattr(res, "parent", None))


def _policy_resources(graph: Any) -> List[PolicyResource]:
    """The recorded custom resources as pulumi-policy's stack view (props = recorded inputs)."""
    custom = graph.custom_resources()
    by_urn: Dict[str, PolicyResource] = {}
    for res in custom:
        by_urn[res.urn] = PolicyResource(res.type, res.inputs, res.urn, res.name, _opts(res), None,
                                         None, [], {})
    for res in custom:
        pr = by_urn[res.urn]
        pr.dependencies = [by_urn[u] for u in graph.resource_dependencies(res) if u in by_urn]
        pr.property_dependencies = {k: [by_urn[u] for u in v if u in by_urn]
                                    for k, v in (res.property_dependencies or {}).items()}
    return list(by_urn.values())


def evaluate(graph: Any, rules: Sequence[Rule] = ()) -> List[PolicyResult]:
    """Run every policy over the recorded resources of ``graph``: one result per (rule, resource)."""
    rules = list(rules) or RULES
    results: List[PolicyResult] = []
    resources = _policy_resources(graph)
    by_urn = {r.urn: r for r in resources}
    for rule in rules:
        if isinstance(rule.policy, ResourceValidationPolicy):
            for res in resources:
                if not rule.applies_to(res.resource_type, res.props):
                    continue
                messages: List[str] = []
                args = ResourceValidationArgs(res.resource_type, res.props, res.urn, res.name, res.opts, None)
                rule.policy.validate(args, lambda msg, urn=None: messages.append(msg))
                results.append(PolicyResult(rule, res.name, res.urn, res.resource_type, not messages,
                                            "; ".join(messages)))
        else:
            violations: List[Tuple[str, Optional[str]]] = []
            rule.policy.validate(StackValidationArgs(resources),
                                 lambda msg, urn=None: violations.append((msg, urn)))
            failed_urns = {u for _, u in violations if u}
            for msg, urn in violations:
                res = by_urn.get(urn) if urn else None
                results.append(PolicyResult(rule, res.name if res else "", urn,
                                            res.resource_type if res else "", False, msg))
            for res in resources:
                if rule.applies_to(res.resource_type, res.props) and res.urn not in failed_urns:
                    results.append(PolicyResult(rule, res.name, res.urn, res.resource_type, True))
    return results


_RULE_BY_NAME: Dict[str, Rule] = {r.name: r for r in RULES}


def rule_named(name: str) -> Rule:
    return _RULE_BY_NAME[name]


def policy_pack_config(exceptions: Iterable[Any]) -> Dict[str, Any]:
    """``--policy-pack-config`` for ``pulumi preview``: a rule a stack excepts becomes advisory
    (still shown, no longer blocking), as the scan's EXCEPTED does."""
    config: Dict[str, Any] = {}
    for e in exceptions:
        for rule in RULES:
            if e.rule in (rule.rule_id, rule.name):
                config[rule.name] = {"enforcementLevel": "advisory"}
    return config


__all__ = ["POLICIES", "RULES", "Rule", "PolicyResult", "evaluate", "rule_named", "policy_pack_config",
           "PACK_NAME"]
