"""Data-plane access: who may read and write the workspace's data, not only manage it.

With shared key access off (the default: identity-based datastores), the storage account
accepts Entra ID only, and *control-plane* roles on the workspace (AzureML Data Scientist) do not
include data actions. So (sources: Azure ML "Use your storage account without shared keys",
learn.microsoft.com/azure/machine-learning/how-to-disable-local-auth-storage; "Set up
authentication between Azure ML and other services",
learn.microsoft.com/azure/machine-learning/how-to-identity-based-service-authentication):

* data scientists need AzureML Data Scientist on the workspace, Storage Blob Data Contributor
  (code snapshots, data, outputs) and Storage File Data Privileged Contributor (the notebooks
  file share) on the storage account;
* each compute instance's user needs the same two storage roles to use notebooks;
* cluster and instance managed identities need Storage Blob Data Contributor on the storage
  account and AcrPull on the registry (images are pulled with the compute's identity when the
  registry's admin user is off); the clusters batch deployments run on also need Storage Queue and
  Table Data Contributor (batch endpoints keep their mini-batches in queues and tables);
* the workspace's system-assigned identity needs Reader on the storage private endpoints so the
  studio can use the storage in a managed network (how-to-managed-network, "Azure Machine Learning
  studio"): declared by MLWorkspace.

Least privilege (what is narrower than "the account" and still works):

* Storage Blob Data Contributor stays on the account - Azure ML writes to containers it names after
  the workspace's internal id (``azureml-blobstore-<id>``, ``azureml``), known only once the
  workspace exists - but with an Azure ABAC condition that denies blob writes and deletes in the
  containers of the read-only datastores on this account (``writable: false``), so their readers
  stay readers (learn.microsoft.com/azure/storage/blobs/storage-auth-abac-examples,
  storage-auth-abac-attributes; conditionVersion 2.0: role-based-access-control/conditions-format);
* Storage File Data Privileged Contributor is granted only for notebooks (``access.notebooks``) and
  stays on the account: the notebooks' share is created and named by Azure ML, and Azure ABAC does
  not cover Azure Files; a read-only file share datastore on this account whose readers hold it is
  refused (keep such files in another storage account);
* the queue and table roles are on the account: the service names its queues and tables at run time.

Not covered by a condition: Storage Blob Data Contributor's control-plane actions
(``containers/write``, ``containers/delete``) - the condition targets data actions only. Container
soft delete (``storage.container_soft_delete_days``) is what restores a deleted container.
* the workspace's own system-assigned identity gets its roles on storage, key vault and registry
  from Azure ML when the workspace is created: declaring the same assignments again would fail
  with RoleAssignmentExists, so they are not declared. A user-assigned workspace identity must
  hold them beforehand (workspace.user_assigned_identity_id).

Declares no resources; the defaults are the components' own (amlplatform.iac._base.defaults).
"""

from typing import List, Literal, Optional

from pydantic import Field, field_validator

from amlplatform.azure.roles import ROLES, STORAGE_DATA_ROLE_GUIDS, STORAGE_DATA_ROLES
from amlplatform.spec.core import Guid, Model

# the built-in role table lives in amlplatform.azure.roles (re-exported here for older imports)
ROLE_GUIDS = ROLES


class Principal(Model):
    """A user, group or service principal."""

    principal_id: Guid = Field(description="Entra object id")
    principal_type: Literal["User", "Group", "ServicePrincipal"] = Field("Group", description="Kind of principal")
    description: Optional[str] = Field(None, description="Who this is and why they have access")


class AccessSettings(Model):
    """Data-plane access: people and compute identities get the roles working with the workspace needs."""

    data_scientists: List[Principal] = Field(
        default_factory=list,
        description="AzureML Data Scientist on the workspace, plus Storage Blob Data Contributor (no writes in the "
        "read-only datastores' containers) and, with access.notebooks, Storage File Data Privileged Contributor on "
        "its storage account")
    instance_users: bool = Field(
        True, description="Each compute instance user gets the two storage data roles (notebooks and data)")
    notebooks: bool = Field(
        True, description="People use the studio's notebooks (the workspace's file share): data scientists and "
        "instance users get Storage File Data Privileged Contributor on the storage account. False: nobody gets a "
        "file data role (least privilege when nobody uses notebooks; compute instances then cannot mount them)")
    compute_identities: bool = Field(
        True, description="Each cluster and instance with a system-assigned identity, and each Kubernetes compute, "
        "gets Storage Blob Data Contributor on the storage account (no writes in the read-only datastores' "
        "containers) and AcrPull on the registry (what jobs and deployments need); clusters that batch deployments "
        "run on also Storage Queue and Table Data Contributor; a Kubernetes compute of an HBI workspace also "
        "Storage Account Contributor")

    @field_validator("data_scientists")
    @classmethod
    def _distinct(cls, value: List[Principal]) -> List[Principal]:
        seen = {}
        for i, p in enumerate(value):
            if p.principal_id in seen:
                raise ValueError(f"entry {i} repeats entry {seen[p.principal_id]} (same principal_id)")
            seen[p.principal_id] = i
        return value


__all__ = ["AccessSettings", "Principal", "ROLE_GUIDS", "STORAGE_DATA_ROLES", "STORAGE_DATA_ROLE_GUIDS"]
