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
    "MLPlatform": "amlplatform.iac.platform",
    "MLPlatformArgs": "amlplatform.iac.platform",
    # the workspace with what it depends on, and its parts
    "MLWorkspace": "amlplatform.iac.workspace.mlworkspace",
    "MLWorkspaceArgs": "amlplatform.iac.workspace.mlworkspace",
    "WorkspaceStorage": "amlplatform.iac.workspace.storage",
    "WorkspaceStorageArgs": "amlplatform.iac.workspace.storage",
    "WorkspaceKeyVault": "amlplatform.iac.workspace.keyvault",
    "WorkspaceKeyVaultArgs": "amlplatform.iac.workspace.keyvault",
    "WorkspaceMonitoring": "amlplatform.iac.workspace.monitoring",
    "WorkspaceMonitoringArgs": "amlplatform.iac.workspace.monitoring",
    "ContainerRegistry": "amlplatform.iac.workspace.registry",
    "ContainerRegistryArgs": "amlplatform.iac.workspace.registry",
    "Workspace": "amlplatform.iac.workspace.workspace",
    "WorkspaceArgs": "amlplatform.iac.workspace.workspace",
    "CustomerManagedKey": "amlplatform.iac.workspace.encryption",
    "CustomerManagedKeyArgs": "amlplatform.iac.workspace.encryption",
    # network
    "PlatformNetwork": "amlplatform.iac.network.network",
    "PlatformNetworkArgs": "amlplatform.iac.network.network",
    "PrivateLink": "amlplatform.iac.network.privatelink",
    "PrivateLinkArgs": "amlplatform.iac.network.privatelink",
    "PrivateEndpointsSpec": "amlplatform.iac.network.privatelink",
    # access
    "WorkspaceAccess": "amlplatform.iac.access.access",
    "WorkspaceAccessArgs": "amlplatform.iac.access.access",
    "IdentityAccess": "amlplatform.iac.access.access",
    "IdentityAccessArgs": "amlplatform.iac.access.access",
    "RoleAssignmentSpec": "amlplatform.iac.access.access",
    # computes
    "ComputeCluster": "amlplatform.iac.compute.compute",
    "ComputeClusterArgs": "amlplatform.iac.compute.compute",
    "ComputeInstance": "amlplatform.iac.compute.compute",
    "ComputeInstanceArgs": "amlplatform.iac.compute.compute",
    "KubernetesInferenceTarget": "amlplatform.iac.kubernetes.target",
    "KubernetesInferenceTargetArgs": "amlplatform.iac.kubernetes.target",
    "Environment": "amlplatform.iac.compute.environments",
    "EnvironmentArgs": "amlplatform.iac.compute.environments",
    # data and serving
    "Datastore": "amlplatform.iac.data.datastores",
    "DatastoreArgs": "amlplatform.iac.data.datastores",
    "OnlineEndpoint": "amlplatform.iac.serving.endpoints",
    "OnlineEndpointArgs": "amlplatform.iac.serving.endpoints",
    "BatchEndpoint": "amlplatform.iac.serving.endpoints",
    "BatchEndpointArgs": "amlplatform.iac.serving.endpoints",
    "Asset": "amlplatform.iac.serving.assets",
    "AssetArgs": "amlplatform.iac.serving.assets",
    "AssetStore": "amlplatform.iac.data.assets",
    "AssetStoreArgs": "amlplatform.iac.data.assets",
    "DataAsset": "amlplatform.iac.data.assets",
    "DataAssetArgs": "amlplatform.iac.data.assets",
    # cross-cutting options: one shape on every component that takes them
    "LockSpec": "amlplatform.iac.options.locks",
    "LockKind": "amlplatform.iac.options.locks",
    "CustomerManagedKeySpec": "amlplatform.iac.options.encryption",
    # pure helpers a program of its own needs (no Pulumi)
    "ROLES": "amlplatform.azure.roles",
    "role_guid": "amlplatform.azure.roles",
    "GROUP_ZONES": "amlplatform.azure.private_dns",
    "generate_names": "amlplatform.azure.naming",
}


# public name -> its name in the defining module, where they differ
_RENAMED = {"generate_names": "generate"}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'amlplatform' has no attribute {name!r}")
    return getattr(import_module(module), _RENAMED.get(name, name))


__all__ = sorted(_EXPORTS)
