"""The one table of Azure built-in role definitions this package uses (name -> role definition GUID).

Source: learn.microsoft.com/azure/role-based-access-control/built-in-roles (General, AI + machine
learning, Storage, Security, Containers, Networking, Monitor). A role is referred to by its built-in **name**
everywhere else; :func:`role_guid` turns a name (or a GUID) into the GUID Azure expects.
"""

from typing import Dict, FrozenSet, Iterable, Optional, Tuple

ROLES: Dict[str, str] = {
    # general
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    # AI + machine learning
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    "AzureML Compute Operator": "e503ece1-11d0-4e8e-8e2c-7a6c3bf38815",
    "AzureML Metrics Writer (preview)": "635dd51f-9968-44d3-b7fb-6d9a6bd613ae",
    "Azure Machine Learning Workspace Connection Secrets Reader": "ea01e6af-a1c1-4350-9563-ad00f8c72ec5",
    # storage
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage File Data Privileged Reader": "b8eda974-7b85-4f76-af95-65846b26df6d",
    "Storage File Data Privileged Contributor": "69566ab7-960f-475b-8e7c-b3118f30c6bd",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Storage Account Contributor": "17d1049b-9a84-46fb-8f53-869881c3d3ab",
    # security
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Key Vault Crypto Officer": "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    # containers
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Azure Kubernetes Service RBAC Cluster Admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
    "Azure Kubernetes Service RBAC Admin": "3498e952-d568-435e-9b2c-8d77e338d7f7",
    "Azure Kubernetes Service RBAC Reader": "7f6c6a51-bcf8-42ba-9220-52d62157d7db",
    "Azure Kubernetes Service RBAC Writer": "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb",
    # networking
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Private DNS Zone Contributor": "b12aa53e-6015-4669-85d0-8515ebb3ae7f",

    # monitor: publishes all telemetry to Application Insights with Entra ID, "although the role says
    # metrics" (learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication)
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}

# The roles people work with (data scientists, compute instance users) need on the workspace's
# storage account when shared keys are off: blob data (datastores, outputs) and the file share
# (notebooks) - learn.microsoft.com/azure/machine-learning/how-to-identity-based-service-authentication
STORAGE_DATA_ROLES: Tuple[str, ...] = ("Storage Blob Data Contributor", "Storage File Data Privileged Contributor")
STORAGE_DATA_ROLE_GUIDS: FrozenSet[str] = frozenset(ROLES[r] for r in (
    "Storage Blob Data Contributor", "Storage Blob Data Reader", "Storage Blob Data Owner",
    "Storage File Data Privileged Contributor"))
# roles that let an identity read a blob container / ADLS Gen2 file system, or a file share
BLOB_READ_ROLE_GUIDS: FrozenSet[str] = frozenset(ROLES[r] for r in (
    "Storage Blob Data Reader", "Storage Blob Data Contributor", "Storage Blob Data Owner"))
FILE_READ_ROLE_GUIDS: FrozenSet[str] = frozenset(ROLES[r] for r in (
    "Storage File Data Privileged Reader", "Storage File Data Privileged Contributor"))
# roles that let an identity write or delete blobs / files (what a read-only grant must not be shadowed by)
BLOB_WRITE_ROLE_GUIDS: FrozenSet[str] = frozenset(ROLES[r] for r in (
    "Storage Blob Data Contributor", "Storage Blob Data Owner", "Owner"))
FILE_WRITE_ROLE_GUIDS: FrozenSet[str] = frozenset(ROLES[r] for r in (
    "Storage File Data Privileged Contributor", "Owner"))

# Batch endpoints and ParallelRunStep coordinate their mini-batches through the default storage
# account's queues and tables: with shared keys off, the cluster's identity needs these two
# (learn.microsoft.com/azure/machine-learning/how-to-disable-local-auth-storage; how-to-managed-network,
# batch endpoints). The queues and tables are created by the service at run time (no name to scope to).
BATCH_STORAGE_ROLES: Tuple[str, ...] = ("Storage Queue Data Contributor", "Storage Table Data Contributor")

# --- role assignment conditions (Azure ABAC) on blob data roles --------------------------------
# learn.microsoft.com/azure/role-based-access-control/conditions-format (format, conditionVersion 2.0);
# learn.microsoft.com/azure/storage/blobs/storage-auth-abac-attributes (actions, the container name
# attribute; ABAC is GA for Blob Storage, ADLS Gen2 and Queues - not for Azure Files);
# learn.microsoft.com/azure/storage/blobs/storage-auth-abac-examples ("Read, write, or delete blobs in
# named containers": the data actions of Storage Blob Data Contributor that write or delete).
CONDITION_VERSION = "2.0"
CONTAINER_NAME_ATTRIBUTE = "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name]"
BLOB_WRITE_ACTIONS: Tuple[str, ...] = (
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
)


def read_only_containers_condition(containers: Iterable[str]) -> Optional[str]:
    """An ABAC condition for a Storage Blob Data Contributor assignment on a whole account that keeps
    its reads everywhere but allows writing and deleting blobs only outside ``containers`` (None for no
    container). The form of "Read, write, or delete blobs in named containers", negated: the write
    actions are allowed when the container name equals none of them."""
    names = sorted(set(containers))
    if not names:
        return None
    actions = "\n  AND\n  ".join(f"!(ActionMatches{{'{a}'}})" for a in BLOB_WRITE_ACTIONS)
    outside = "\n  AND\n  ".join(f"{CONTAINER_NAME_ATTRIBUTE} StringNotEquals '{n}'" for n in names)
    return f"(\n (\n  {actions}\n )\n OR\n (\n  {outside}\n )\n)"


def condition_protects(condition: Optional[str], container: str) -> bool:
    """Whether ``condition`` (as :func:`read_only_containers_condition` writes it, or by hand in the
    same form) denies every blob write action in ``container``: it targets each write action and
    requires the container name to differ from ``container``."""
    if not condition:
        return False
    text = " ".join(str(condition).split())
    if not all(f"ActionMatches{{'{a}'}}" in text for a in BLOB_WRITE_ACTIONS):
        return False
    return f"{CONTAINER_NAME_ATTRIBUTE} StringNotEquals '{container}'" in text


def role_guid(role: str) -> str:
    """The role definition GUID of a built-in role ``role`` (its name), or ``role`` itself when it is
    already a GUID (lowercased). KeyError names the unknown role."""
    if role in ROLES:
        return ROLES[role]
    import uuid

    try:
        return str(uuid.UUID(role))
    except ValueError:
        raise KeyError(f"{role!r} is not a built-in role this package knows "
                       f"({', '.join(sorted(ROLES))}) nor a role definition GUID") from None


def role_name(guid: str) -> str:
    """The built-in name of a role GUID, or the GUID when it is not in the table."""
    for name, value in ROLES.items():
        if value == guid.lower():
            return name
    return guid


__all__ = ["ROLES", "STORAGE_DATA_ROLES", "STORAGE_DATA_ROLE_GUIDS", "BLOB_READ_ROLE_GUIDS",
           "FILE_READ_ROLE_GUIDS", "BLOB_WRITE_ROLE_GUIDS", "FILE_WRITE_ROLE_GUIDS", "BATCH_STORAGE_ROLES",
           "CONDITION_VERSION", "CONTAINER_NAME_ATTRIBUTE", "BLOB_WRITE_ACTIONS", "read_only_containers_condition",
           "condition_protects", "role_guid", "role_name"]
