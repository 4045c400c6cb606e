"""Log Analytics and workspace-based Application Insights (classic Application Insights is retired),
optionally behind an Azure Monitor Private Link Scope.

Private monitoring (learn.microsoft.com/azure/azure-monitor/logs/private-link-security and
private-link-configure): a Private Link Scope (AMPLS, a global resource) scopes the Log Analytics
workspace and the Application Insights component; its private endpoint (group ``azuremonitor``) in
the stack's network, with the five DNS zones of amlplatform.azure.private_dns, carries ingestion
and queries. Access modes ``PrivateOnly`` let the networks behind the endpoint reach only scoped
resources; with both resources' public ingestion (and query) Disabled, nobody on the internet
sends or reads telemetry. Who queries then: people whose network resolves the zones (the platform
VNet, or a VNet linked with network.private_dns.link_vnet_ids, reached by VPN or peering), or
everyone with query access mode Open (a stated reason).

Graph::

    Log Analytics -> Application Insights
    Log Analytics, Application Insights -> scoped resource -> scope <- private endpoint -> DNS zone group
"""

from typing import Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import applicationinsights, monitor, operationalinsights
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.iac._base import ComponentArgsError, check_args, child, defaults, token
from amlplatform.iac.network.privatelink import PrivateEndpointsSpec, declare_private_endpoints
from amlplatform.iac.options.locks import LockSpec, apply_lock

ACCESS_MODES = ("PrivateOnly", "Open")


class PrivateLinkScopeSpec(TypedDict, total=False):
    """An Azure Monitor Private Link Scope over the created Log Analytics and Application Insights."""
    scope_name: Required[str]
    """Name of the scope (1-255 characters)."""
    private_endpoints: Required[PrivateEndpointsSpec]
    """Its private endpoint: subnet, DNS zone ids (the azuremonitor zones), groups ['azuremonitor']."""
    ingestion_access_mode: str
    """PrivateOnly or Open: what the networks behind the endpoint may send to."""
    query_access_mode: str
    """PrivateOnly or Open: what the networks behind the endpoint may query."""


# every default of PrivateLinkScopeSpec, written once (amlplatform.iac._base.defaults)
SCOPE_DEFAULTS = defaults(PrivateLinkScopeSpec, ingestion_access_mode="PrivateOnly", query_access_mode="PrivateOnly")


class WorkspaceMonitoringArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group for both resources."""
    location: Required[pulumi.Input[str]]
    """Azure region."""
    app_insights_name: Required[str]
    """Application Insights component name."""
    log_analytics_name: str
    """Log Analytics workspace name; required unless existing_log_analytics_id is given."""
    existing_log_analytics_id: pulumi.Input[str]
    """Link Application Insights to this Log Analytics workspace instead of creating one."""
    retention_days: int
    """Retention of the created Log Analytics workspace, 30-730 days. It also governs
    Application Insights (workspace-based), which is sent no retention of its own."""
    daily_quota_gb: float
    """Daily ingestion cap of Log Analytics; none by default."""
    app_insights_local_auth: bool
    """Instrumentation-key ingestion; off means Entra ID only."""
    log_analytics_local_auth: bool
    """Workspace-key ingestion and queries on the created Log Analytics workspace; off means Entra ID only
    (features.disableLocalAuth)."""
    private_link_scope: PrivateLinkScopeSpec
    """An Azure Monitor Private Link Scope with its private endpoint, scoping both resources (not with
    existing_log_analytics_id: scope that workspace where it is created)."""
    public_ingestion: str
    """Enabled or Disabled."""
    app_insights_public_ingestion: str
    """Enabled or Disabled: Application Insights' own public ingestion; by default public_ingestion."""
    public_query: str
    """Enabled or Disabled."""
    tags: Mapping[str, str]
    """Tags for both."""
    lock: LockSpec
    """A management lock (CanNotDelete) on the created Log Analytics workspace: it holds the resource
    logs of every resource (the audit trail), which a resource-group contributor could otherwise delete."""


# every default of WorkspaceMonitoringArgs, written once (amlplatform.iac._base.defaults)
DEFAULTS = defaults(WorkspaceMonitoringArgs, retention_days=30, app_insights_local_auth=False,
                    log_analytics_local_auth=False, public_ingestion="Enabled", public_query="Enabled")


class WorkspaceMonitoring(pulumi.ComponentResource):
    """A Log Analytics workspace and an Application Insights component that stores into it."""

    log_analytics_id: pulumi.Output[str]
    """ARM id of the Log Analytics workspace (created or given)."""
    app_insights_id: pulumi.Output[str]
    """ARM id of the Application Insights component."""
    private_link_scope_name: pulumi.Output[Optional[str]]
    """Name of the Azure Monitor Private Link Scope (none without private_link_scope): other components
    (another workspace's Application Insights) join it as scoped resources."""

    def __init__(self, name: str, args: WorkspaceMonitoringArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("WorkspaceMonitoring", args, WorkspaceMonitoringArgs)
        super().__init__(token("WorkspaceMonitoring"), name, None, opts)
        tags = dict(args.get("tags") or {})
        ingestion = args.get("public_ingestion", DEFAULTS["public_ingestion"])
        query = args.get("public_query", DEFAULTS["public_query"])
        retention = args.get("retention_days", DEFAULTS["retention_days"])
        if args.get("existing_log_analytics_id") is not None:
            if args.get("lock") is not None:
                raise ComponentArgsError("WorkspaceMonitoring: invalid arguments (1 problem):", [
                    "args.lock: the Log Analytics workspace is not created here (existing_log_analytics_id); "
                    "lock it where it is created"])
            log_analytics_id = pulumi.Output.from_input(args["existing_log_analytics_id"])
        else:
            if "log_analytics_name" not in args:
                raise ValueError(f"{name}: log_analytics_name or existing_log_analytics_id is required")
            quota = args.get("daily_quota_gb")
            logs = operationalinsights.Workspace(
                f"{name}-logs",
                workspace_name=naming.ensure("log_analytics", args["log_analytics_name"]),
                resource_group_name=args["resource_group_name"],
                location=args["location"],
                sku={"name": "PerGB2018"},
                retention_in_days=retention,
                workspace_capping={"daily_quota_gb": quota} if quota else None,
                # disableLocalAuth: "Disable Non-AAD based Auth" (workspace keys): Entra ID only
                # (learn.microsoft.com/azure/azure-monitor/logs/azure-ad-authentication-logs)
                features={"enable_log_access_using_only_resource_permissions": True,
                          "disable_local_auth": not args.get("log_analytics_local_auth", DEFAULTS["log_analytics_local_auth"])},
                public_network_access_for_ingestion=ingestion,
                public_network_access_for_query=query,
                tags=tags,
                opts=child(self),
            )
            log_analytics_id = logs.id
            apply_lock(self, f"{name}-logs-lock", args.get("lock"), kind="log-analytics", resource_id=logs.id)
        insights = applicationinsights.Component(
            f"{name}-insights",
            resource_name_=naming.ensure("app_insights", args["app_insights_name"]),
            resource_group_name=args["resource_group_name"],
            location=args["location"],
            kind="web",
            application_type="web",
            ingestion_mode="LogAnalytics",
            workspace_resource_id=log_analytics_id,
            # no retention_in_days: a workspace-based component keeps its data in Log Analytics,
            # whose retention governs it (and App Insights itself accepts only 30, 60, 90, 120,
            # 180, 270, 365, 550 or 730)
            disable_local_auth=not args.get("app_insights_local_auth", DEFAULTS["app_insights_local_auth"]),
            public_network_access_for_ingestion=args.get("app_insights_public_ingestion", ingestion),
            public_network_access_for_query=query,
            tags=tags,
            opts=child(self),
        )
        scope_spec = args.get("private_link_scope")
        self.private_links: dict = {}
        scope_name: Optional[pulumi.Input[str]] = None
        if scope_spec:
            if args.get("existing_log_analytics_id") is not None:
                raise ComponentArgsError("WorkspaceMonitoring: invalid arguments (1 problem):", [
                    "args.private_link_scope: the Log Analytics workspace is not created here "
                    "(existing_log_analytics_id); scope it where it is created"])
            modes = {k: scope_spec.get(k, SCOPE_DEFAULTS[k]) for k in ("ingestion_access_mode", "query_access_mode")}
            bad = [f"args.private_link_scope.{k}: must be PrivateOnly or Open, got {v!r}"
                   for k, v in modes.items() if v not in ACCESS_MODES]
            if bad:
                raise ComponentArgsError(f"WorkspaceMonitoring: invalid arguments ({len(bad)} problem"
                                         f"{'s' if len(bad) != 1 else ''}):", bad)
            scope = monitor.PrivateLinkScope(
                f"{name}-scope",
                scope_name=scope_spec["scope_name"],
                resource_group_name=args["resource_group_name"],
                location="global",  # an AMPLS is a global resource (private-link-configure)
                access_mode_settings={"ingestion_access_mode": modes["ingestion_access_mode"],
                                      "query_access_mode": modes["query_access_mode"]},
                tags=tags,
                opts=child(self),
            )
            scope_name = scope.name
            for label, linked in (("logs", log_analytics_id), ("insights", insights.id)):
                monitor.PrivateLinkScopedResource(
                    f"{name}-scope-{label}",
                    name=f"scoped-{label}",
                    scope_name=scope.name,
                    resource_group_name=args["resource_group_name"],
                    linked_resource_id=linked,
                    opts=child(self),
                )
            self.private_links = declare_private_endpoints(
                self, f"{name}-scope", resource_id=scope.id, resource_name=scope_spec["scope_name"],
                spec=scope_spec["private_endpoints"], resource_group_name=args["resource_group_name"],
                location=args["location"], tags=tags)
        self.log_analytics_id = log_analytics_id
        self.app_insights_id = insights.id
        self.private_link_scope_name = pulumi.Output.from_input(scope_name)
        self.register_outputs({"log_analytics_id": self.log_analytics_id,
                               "app_insights_id": self.app_insights_id,
                               "private_link_scope_name": self.private_link_scope_name})
