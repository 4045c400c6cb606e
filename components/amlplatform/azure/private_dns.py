"""Private endpoint sub-resources (group ids) and the private DNS zones their records go to.

Source: learn.microsoft.com/azure/private-link/private-endpoint-dns, "Azure services DNS zone
configuration" (AI + Machine Learning, Storage, Key Vault, Container Registry).
"""

from typing import Dict, Iterable, List, Tuple

GROUP_ZONES: Dict[str, Tuple[str, ...]] = {
    "amlworkspace": ("privatelink.api.azureml.ms", "privatelink.notebooks.azure.net"),
    "blob": ("privatelink.blob.core.windows.net",),
    "file": ("privatelink.file.core.windows.net",),
    "queue": ("privatelink.queue.core.windows.net",),
    "table": ("privatelink.table.core.windows.net",),
    "vault": ("privatelink.vaultcore.azure.net",),
    "registry": ("privatelink.azurecr.io",),
    # an Azure Monitor Private Link Scope's endpoint (group azuremonitor): the global and regional
    # Azure Monitor endpoints, Log Analytics ingestion (ods) and its agents (oms, agentsvc), and the
    # storage account of the agents' solution packs (blob) - learn.microsoft.com/azure/azure-monitor/
    # logs/private-link-configure, "Review and validate your private endpoint DNS settings", and
    # private-link/private-endpoint-dns ("Management and Governance": Azure Monitor)
    "azuremonitor": ("privatelink.monitor.azure.com", "privatelink.oms.opinsights.azure.com",
                     "privatelink.ods.opinsights.azure.com", "privatelink.agentsvc.azure-automation.net",
                     "privatelink.blob.core.windows.net"),
}
KNOWN_ZONES: Tuple[str, ...] = tuple(sorted({z for zones in GROUP_ZONES.values() for z in zones}))

# Azure ML needs blob and file on the workspace storage (code snapshots, outputs, notebooks' file
# share: learn.microsoft.com/azure/machine-learning/how-to-configure-private-link, "the storage
# account needs private endpoints for blob and file"); queue and table are opt-in.
REQUIRED_STORAGE_GROUPS: Tuple[str, ...] = ("blob", "file")
# ... and queue and table where batch endpoints / ParallelRunStep run: they coordinate mini-batches
# through the default storage's queues and tables (learn.microsoft.com/azure/machine-learning/
# how-to-managed-network, batch endpoints)
BATCH_STORAGE_GROUPS: Tuple[str, ...] = ("queue", "table")

# The group ids each of the workspace's resources gets by default when it is reached privately
DEFAULT_GROUPS: Dict[str, Tuple[str, ...]] = {
    "workspace": ("amlworkspace",),
    "storage": REQUIRED_STORAGE_GROUPS,
    "key_vault": ("vault",),
    "registry": ("registry",),
    "monitoring": ("azuremonitor",),
}


def zones_of(groups: Iterable[str]) -> List[str]:
    """The sorted private DNS zones the endpoints of ``groups`` need."""
    return sorted({z for g in groups for z in GROUP_ZONES[g]})


__all__ = ["GROUP_ZONES", "KNOWN_ZONES", "REQUIRED_STORAGE_GROUPS", "BATCH_STORAGE_GROUPS", "DEFAULT_GROUPS", "zones_of"]
