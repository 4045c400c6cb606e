"""``Datastore``: how a workspace reaches data in a blob container, an ADLS Gen2 file system or an
Azure file share, declared together with the data-plane roles it needs.

Resource graph::

    storage account ──> [container / file share] ──> datastore
                                   └──> data roles (workspace identity, readers), scoped to it

Identity-based by default (``credentials_type: None``): the datastore holds no secret; jobs use the
identity of whoever runs them, and the studio previews data with the workspace's managed identity
(``serviceDataAccessAuthIdentity``), which is why that identity gets Storage Blob Data Reader
(Storage File Data Privileged Reader on a share) at the container/share scope. Sources:
https://learn.microsoft.com/azure/machine-learning/how-to-datastore,
https://learn.microsoft.com/azure/machine-learning/how-to-identity-based-service-authentication.

A credential (account key, SAS token, service principal secret) is only accepted as a Pulumi
secret Output: the program reads it from secret configuration; a plain string is refused.
"""

import re
from typing import List, Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import authorization, storage
from pulumi_azure_native import machinelearningservices as ml
from typing_extensions import Required

from amlplatform.iac._base import check_args, child, token
from amlplatform.iac.access.access import RoleAssignmentSpec, WorkspaceAccess, assignment_guid, role_definition_id
from amlplatform.azure.roles import ROLES

DATASTORE_TYPES = {"blob": "AzureBlob", "adls_gen2": "AzureDataLakeGen2", "file_share": "AzureFile"}
_ACCOUNT_ID = re.compile(r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                         r"Microsoft\.Storage/storageAccounts/(?P<name>[^/]+)", re.IGNORECASE)
_DATASTORE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,254}")


def parse_account_id(account_id: str) -> Mapping[str, str]:
    """``{'subscription', 'resource_group', 'name'}`` of a storage account's ARM id."""
    m = _ACCOUNT_ID.fullmatch(account_id or "")
    if not m:
        raise ValueError(f"not the ARM id of a storage account: {account_id!r}")
    return {"subscription": m.group("sub"), "resource_group": m.group("rg"), "name": m.group("name")}


def data_scope(account_id: str, kind: str, container: str) -> str:
    """The narrowest ARM scope a data role can be granted on: the container (blob, ADLS Gen2 file
    system) or the file share (``.../fileServices/default/fileshares/<share>``, the scope Azure Files
    documents for share-level roles: https://learn.microsoft.com/azure/storage/files/storage-files-identity-assign-share-level-permissions)."""
    if kind == "file_share":
        return f"{account_id}/fileServices/default/fileshares/{container}"
    return f"{account_id}/blobServices/default/containers/{container}"


class DatastoreArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the workspace."""
    workspace_name: Required[pulumi.Input[str]]
    """Workspace that holds the datastore."""
    subscription_id: Required[pulumi.Input[str]]
    """Subscription of the role definitions."""
    datastore_name: Required[str]
    """Letters, digits and underscores, starting with a letter."""
    kind: str
    """blob (default), adls_gen2 or file_share."""
    storage_account_id: Required[pulumi.Input[str]]
    """ARM id of the storage account."""
    container: Required[str]
    """Blob container, ADLS Gen2 file system or file share."""
    create_container: bool
    """Create the container/share in the account (default False)."""
    credentials: str
    """none (identity-based, default), account_key, sas or service_principal."""
    secret: pulumi.Output
    """The credential, a Pulumi secret Output (never a plain string)."""
    client_id: str
    """Service principal application id."""
    tenant_id: pulumi.Input[str]
    """Service principal tenant."""
    service_identity: str
    """Identity the service uses for data preview: WorkspaceSystemAssignedIdentity (default),
    WorkspaceUserAssignedIdentity or None."""
    workspace_principal_id: pulumi.Input[str]
    """Workspace identity that gets workspace_role on the container/share (omit to grant nothing)."""
    workspace_role_guid: str
    """Role of the workspace identity (default Storage Blob Data Reader)."""
    readers: List[RoleAssignmentSpec]
    """People/groups/apps that get a data role on the container/share."""
    description: str
    """Shown in the studio."""
    tags: Mapping[str, str]
    """Tags of the datastore."""


class Datastore(pulumi.ComponentResource):
    """A workspace datastore, identity-based by default, with its container and data roles."""

    id: pulumi.Output[str]
    """ARM id of the datastore."""
    name: pulumi.Output[str]
    """Name of the datastore in the workspace."""
    uri: pulumi.Output[str]
    """azureml:// URI of the datastore, for job inputs and outputs."""

    def __init__(self, name: str, args: DatastoreArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        if args.get("secret") is not None and not isinstance(args.get("secret"), pulumi.Output):
            # before the generic argument check: say why a plain value is wrong, not only its type
            raise ValueError(f"{name}: the datastore secret must be a Pulumi secret Output (read it with "
                             "pulumi.Config(...).require_secret); plain values are refused")
        check_args("Datastore", args, DatastoreArgs)
        super().__init__(token("Datastore"), name, None, opts)
        ds_name = args["datastore_name"]
        if not _DATASTORE_NAME.fullmatch(ds_name):
            raise ValueError(f"{name}: datastore name {ds_name!r} must be letters, digits and underscores, "
                             "starting with a letter")
        kind = args.get("kind", "blob")
        if kind not in DATASTORE_TYPES:
            raise ValueError(f"{name}: kind must be one of {', '.join(DATASTORE_TYPES)}, got {kind!r}")
        credentials = args.get("credentials", "none")
        if credentials not in ("none", "account_key", "sas", "service_principal"):
            raise ValueError(f"{name}: credentials must be none, account_key, sas or service_principal")
        secret = args.get("secret")
        if credentials != "none" and not isinstance(secret, pulumi.Output):
            raise ValueError(f"{name}: credentials {credentials} need the secret as a Pulumi secret Output "
                             "(read it with pulumi.Config(...).require_secret); plain values are refused")
        if credentials == "none" and secret is not None:
            raise ValueError(f"{name}: a secret is only used with credentials account_key, sas or service_principal")

        account_id = pulumi.Output.from_input(args["storage_account_id"])
        account = account_id.apply(parse_account_id)
        container_name: pulumi.Input[str] = args["container"]
        scope_of_data: pulumi.Output[str] = account_id.apply(lambda a: data_scope(a, kind, args["container"]))
        if args.get("create_container"):
            if kind == "file_share":
                share = storage.FileShare(
                    f"{name}-share", account_name=account["name"], resource_group_name=account["resource_group"],
                    share_name=args["container"], opts=child(self))
                # role scope in the form Azure Files documents (fileshares), waiting for the share
                container_name = share.name
                scope_of_data = pulumi.Output.all(account_id, share.name).apply(
                    lambda an: data_scope(an[0], kind, an[1]))
            else:
                container = storage.BlobContainer(
                    f"{name}-container", account_name=account["name"],
                    resource_group_name=account["resource_group"], container_name=args["container"],
                    public_access="None", opts=child(self))
                container_name, scope_of_data = container.name, container.id

        props: dict = {
            "datastore_type": DATASTORE_TYPES[kind],
            "account_name": account["name"],
            "endpoint": "core.windows.net",
            "protocol": "https",
            "resource_group": account["resource_group"],
            "subscription_id": account["subscription"],
            "credentials": _credentials(credentials, secret, args),
            "service_data_access_auth_identity": args.get("service_identity", "WorkspaceSystemAssignedIdentity"),
            "tags": dict(args.get("tags") or {}),
        }
        props[{"blob": "container_name", "adls_gen2": "filesystem", "file_share": "file_share_name"}[kind]] = \
            container_name
        if args.get("description"):
            props["description"] = args["description"]
        datastore = ml.Datastore(
            f"{name}-datastore", name=ds_name, resource_group_name=args["resource_group_name"],
            workspace_name=args["workspace_name"], properties=props, opts=child(self))

        subscription = pulumi.Output.from_input(args["subscription_id"])
        if args.get("workspace_principal_id") is not None:
            role = args.get("workspace_role_guid", ROLES["Storage Blob Data Reader"])
            principal = pulumi.Output.from_input(args["workspace_principal_id"])
            authorization.RoleAssignment(
                f"{name}-workspace-read",
                scope=scope_of_data,
                principal_id=principal,
                principal_type="ServicePrincipal",
                role_definition_id=subscription.apply(lambda sub: role_definition_id(sub, role)),
                role_assignment_name=pulumi.Output.all(scope_of_data, principal).apply(
                    lambda sp: assignment_guid(sp[0], sp[1], role)),
                description=f"workspace identity reads datastore {ds_name} (studio data preview)",
                opts=child(self))
        if args.get("readers"):
            WorkspaceAccess(f"{name}-readers", {"scope": scope_of_data, "subscription_id": subscription,
                                                "assignments": list(args["readers"])}, opts=child(self))

        self.id = datastore.id
        self.name = pulumi.Output.from_input(ds_name)
        self.uri = pulumi.Output.concat("azureml://datastores/", ds_name)
        self.register_outputs({"id": self.id, "name": self.name, "uri": self.uri})


def _credentials(kind: str, secret: Optional[pulumi.Output], args: Mapping) -> dict:
    if kind == "none":
        return {"credentials_type": "None"}
    if kind == "account_key":
        return {"credentials_type": "AccountKey", "secrets": {"secrets_type": "AccountKey", "key": secret}}
    if kind == "sas":
        return {"credentials_type": "Sas", "secrets": {"secrets_type": "Sas", "sas_token": secret}}
    if not args.get("client_id") or not args.get("tenant_id"):
        raise ValueError("service_principal credentials need client_id and tenant_id")
    return {"credentials_type": "ServicePrincipal", "client_id": args["client_id"], "tenant_id": args["tenant_id"],
            "secrets": {"secrets_type": "ServicePrincipal", "client_secret": secret}}
