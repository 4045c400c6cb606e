"""Diagnostic settings: resource logs and metrics of one resource, sent to Log Analytics.

Every component that owns a resource with resource logs takes the same optional
``log_analytics_workspace_id`` argument and calls :func:`send_to_log_analytics` (the AVM
``diagnosticSettings`` shape, learned once).
"""

import pulumi
from pulumi_azure_native import monitor

from amlplatform._component import child

SETTING_NAME = "to-log-analytics"


def send_to_log_analytics(parent: pulumi.Resource, name: str, *, resource_id: pulumi.Input[str],
                          log_analytics_workspace_id: pulumi.Input[str]) -> monitor.DiagnosticSetting:
    """All resource logs (category group ``allLogs``) and all metrics of ``resource_id``."""
    return monitor.DiagnosticSetting(
        name,
        name=SETTING_NAME,
        resource_uri=resource_id,
        workspace_id=log_analytics_workspace_id,
        log_analytics_destination_type="Dedicated",
        logs=[{"category_group": "allLogs", "enabled": True}],
        metrics=[{"category": "AllMetrics", "enabled": True}],
        opts=child(parent),
    )
