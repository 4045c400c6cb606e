"""amlplatform: Azure Machine Learning platforms as Pulumi components.

Components are imported lazily (``from amlplatform import MLWorkspace``) so that the runtime
shim, ``amlplatform.runs``, can be used without loading Pulumi at all.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (one obvious place for each thing)
_EXPORTS = {
    "MLWorkspace": "amlplatform.platform",
    "MLWorkspaceArgs": "amlplatform.platform",
    "WorkspaceStorage": "amlplatform.storage",
    "WorkspaceStorageArgs": "amlplatform.storage",
    "WorkspaceKeyVault": "amlplatform.keyvault",
    "WorkspaceKeyVaultArgs": "amlplatform.keyvault",
    "WorkspaceMonitoring": "amlplatform.monitoring",
    "WorkspaceMonitoringArgs": "amlplatform.monitoring",
    "ContainerRegistry": "amlplatform.registry",
    "ContainerRegistryArgs": "amlplatform.registry",
    "Workspace": "amlplatform.workspace",
    "WorkspaceArgs": "amlplatform.workspace",
    "WorkspaceAccess": "amlplatform.access",
    "WorkspaceAccessArgs": "amlplatform.access",
    "ComputeCluster": "amlplatform.compute",
    "ComputeClusterArgs": "amlplatform.compute",
    "ComputeInstance": "amlplatform.compute",
    "ComputeInstanceArgs": "amlplatform.compute",
    "KubernetesInferenceTarget": "amlplatform.kubernetes",
    "KubernetesInferenceTargetArgs": "amlplatform.kubernetes",
    "Environment": "amlplatform.environments",
    "EnvironmentArgs": "amlplatform.environments",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'amlplatform' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = sorted(_EXPORTS)
