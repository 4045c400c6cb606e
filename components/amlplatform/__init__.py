"""amlplatform: Azure Machine Learning platforms as Pulumi components.

Components are imported lazily (``from amlplatform import MLWorkspace``) so that the runtime
shim, ``amlplatform.runs``, can be used without loading Pulumi at all.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (one obvious place for each thing)
_EXPORTS = {
    # the whole platform, shaped like a stack file
    "MLPlatform": "amlplatform.mlplatform",
    "MLPlatformArgs": "amlplatform.mlplatform",
    # the workspace with what it depends on, and its parts
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
    "CustomerManagedKey": "amlplatform.encryption",
    "CustomerManagedKeyArgs": "amlplatform.encryption",
    # network
    "PlatformNetwork": "amlplatform.network",
    "PlatformNetworkArgs": "amlplatform.network",
    "PrivateLink": "amlplatform.privatelink",
    "PrivateLinkArgs": "amlplatform.privatelink",
    "PrivateEndpointsSpec": "amlplatform.privatelink",
    # access
    "WorkspaceAccess": "amlplatform.access",
    "WorkspaceAccessArgs": "amlplatform.access",
    "IdentityAccess": "amlplatform.access",
    "IdentityAccessArgs": "amlplatform.access",
    "RoleAssignmentSpec": "amlplatform.access",
    # computes
    "ComputeCluster": "amlplatform.compute",
    "ComputeClusterArgs": "amlplatform.compute",
    "ComputeInstance": "amlplatform.compute",
    "ComputeInstanceArgs": "amlplatform.compute",
    "KubernetesInferenceTarget": "amlplatform.kubernetes",
    "KubernetesInferenceTargetArgs": "amlplatform.kubernetes",
    "Environment": "amlplatform.environments",
    "EnvironmentArgs": "amlplatform.environments",
    # data and serving
    "Datastore": "amlplatform.datastores",
    "DatastoreArgs": "amlplatform.datastores",
    "OnlineEndpoint": "amlplatform.endpoints",
    "OnlineEndpointArgs": "amlplatform.endpoints",
    "BatchEndpoint": "amlplatform.endpoints",
    "BatchEndpointArgs": "amlplatform.endpoints",
    # pure helpers a program of its own needs (no Pulumi)
    "ROLES": "amlplatform.azure.roles",
    "role_guid": "amlplatform.azure.roles",
    "GROUP_ZONES": "amlplatform.azure.private_dns",
    "generate_names": "amlplatform.naming",
}


# public name -> its name in the defining module, where they differ
_RENAMED = {"generate_names": "generate"}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'amlplatform' has no attribute {name!r}")
    return getattr(import_module(module), _RENAMED.get(name, name))


__all__ = sorted(_EXPORTS)
