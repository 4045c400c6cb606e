"""Log Analytics and workspace-based Application Insights (classic Application Insights is retired)."""

from typing import Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import applicationinsights, operationalinsights
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.iac._base import ComponentArgsError, check_args, child, defaults, token
from amlplatform.iac.options.locks import LockSpec, apply_lock


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
    public_ingestion: str
    """Enabled or Disabled."""
    public_query: str
    """Enabled or Disabled."""
    tags: Mapping[str, str]
    """Tags for both."""
    lock: LockSpec
    """A management lock (CanNotDelete) on the created Log Analytics workspace: it holds the resource
    logs of every resource (the audit trail), which a resource-group contributor could otherwise delete."""


# every default of WorkspaceMonitoringArgs, written once (amlplatform.iac._base.defaults)
DEFAULTS = defaults(WorkspaceMonitoringArgs, retention_days=30, app_insights_local_auth=False,
                    public_ingestion="Enabled", public_query="Enabled")


class WorkspaceMonitoring(pulumi.ComponentResource):
    """A Log Analytics workspace and an Application Insights component that stores into it."""

    log_analytics_id: pulumi.Output[str]
    """ARM id of the Log Analytics workspace (created or given)."""
    app_insights_id: pulumi.Output[str]
    """ARM id of the Application Insights component."""

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
                features={"enable_log_access_using_only_resource_permissions": True},
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
            public_network_access_for_ingestion=ingestion,
            public_network_access_for_query=query,
            tags=tags,
            opts=child(self),
        )
        self.log_analytics_id = log_analytics_id
        self.app_insights_id = insights.id
        self.register_outputs({"log_analytics_id": self.log_analytics_id,
                               "app_insights_id": self.app_insights_id})
