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
  registry's admin user is off);
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
        description="AzureML Data Scientist on the workspace, plus Storage Blob Data Contributor and Storage File "
        "Data Privileged Contributor on its storage account")
    instance_users: bool = Field(
        True, description="Each compute instance user gets the two storage data roles (notebooks and data)")
    compute_identities: bool = Field(
        True, description="Each cluster and instance with a system-assigned identity gets Storage Blob Data "
        "Contributor on the storage account and AcrPull on the registry (what jobs need)")

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
