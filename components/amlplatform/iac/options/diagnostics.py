"""Diagnostic settings: resource logs and metrics of one resource, sent to Log Analytics.

Every component that owns a resource with resource logs takes the same optional
``log_analytics_workspace_id`` argument and calls :func:`send_to_log_analytics` (the AVM
``diagnosticSettings`` shape, learned once). What each resource type offers differs
(learn.microsoft.com/azure/azure-monitor/reference/supported-logs/logs-index and
supported-metrics/metrics-index): the defaults below (category group ``allLogs``, metrics
``AllMetrics``) suit the workspace, key vault and registry; the others are named here.
"""

from typing import Optional, Sequence

import pulumi
from pulumi_azure_native import monitor

from amlplatform.iac._base import child

SETTING_NAME = "to-log-analytics"

# Storage: resource logs exist on the service sub-resources only (blobServices/default: StorageRead,
# StorageWrite, StorageDelete); their metric category is "Transaction" ("AllMetrics" is refused).
STORAGE_SERVICE_METRICS = ("Transaction",)
# AKS: "allLogs" would include kube-audit, every read of the API server (the costliest table by
# far); kube-audit-admin keeps the writes. Sources: AKS "Monitor AKS, resource logs".
AKS_LOG_CATEGORIES = ("kube-apiserver", "kube-audit-admin", "kube-controller-manager", "kube-scheduler",
                      "cluster-autoscaler", "guard")


def send_to_log_analytics(parent: pulumi.Resource, name: str, *, resource_id: pulumi.Input[str],
                          log_analytics_workspace_id: pulumi.Input[str],
                          log_categories: Optional[Sequence[str]] = None,
                          metric_categories: Sequence[str] = ("AllMetrics",)) -> monitor.DiagnosticSetting:
    """Resource logs (category group ``allLogs``, or ``log_categories``) and metrics of ``resource_id``."""
    if log_categories is None:
        logs = [{"category_group": "allLogs", "enabled": True}]
    else:
        logs = [{"category": c, "enabled": True} for c in log_categories]
    return monitor.DiagnosticSetting(
        name,
        name=SETTING_NAME,
        resource_uri=resource_id,
        workspace_id=log_analytics_workspace_id,
        log_analytics_destination_type="Dedicated",
        logs=logs,
        metrics=[{"category": c, "enabled": True} for c in metric_categories],
        opts=child(parent),
    )
