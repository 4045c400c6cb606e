"""Assets as code: the container the stack uploads asset files into, and data assets.

Resource graph::

    storage account ──> asset container ──> datastore (identity-based)
                               └──> deployer: Storage Blob Data Contributor (scoped to the container)
                                          └──> blobs (one per file) ──> data / model / code version

``AssetStore``: a blob container on the workspace's storage account, registered as an
identity-based datastore, into which ``pulumi up`` itself uploads the files of the assets the stack
declares. The upload is ``azure-native:storage:Blob`` with a ``FileAsset`` source; azure-native (v3)
writes blobs through the data plane with the deployer's Microsoft Entra token
(``azblob.NewClient(accountURL, tokenCredential)`` in the provider's
``provider/pkg/resources/customresources/custom_storage_azidentity.go``), never with the account
key, so it works with shared keys off once the deployer holds a blob data role: the store grants
it Storage Blob Data Contributor on its container only (least privilege;
https://learn.microsoft.com/azure/storage/blobs/assign-azure-role-data-access) and every blob
waits for that grant. A private storage account is reached through its blob private endpoint,
from where the deploy runs (prod's runner is inside the VNet already: docs/private-networking.md).

``DataAsset``: a data container and one data version (``uri_file``, ``uri_folder`` or
``mltable``) whose ``dataUri`` is a datastore path (``azureml://datastores/<ds>/paths/<p>``, the
short form ``az ml data create`` takes: https://learn.microsoft.com/azure/machine-learning/how-to-create-data-assets)
or files the stack uploads into an ``AssetStore``.
"""

import re
from typing import Dict, List, Mapping, Optional, Sequence, TypedDict

import pulumi
from pulumi_azure_native import authorization, storage
from pulumi_azure_native import machinelearningservices as ml
from typing_extensions import Required

from amlplatform.azure.roles import ROLES
from amlplatform.iac._base import check_args, child, token, waits_for
from amlplatform.iac.access.access import assignment_guid, role_definition_id
from amlplatform.iac.data.datastores import parse_account_id

DEFAULT_CONTAINER = "amlplatform-assets"
DEFAULT_DATASTORE = "amlplatform_assets"
DATA_TYPES = {"uri_file": ml.UriFileDataVersionArgs, "uri_folder": ml.UriFolderDataVersionArgs,
              "mltable": ml.MLTableDataArgs}
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def blob_path(kind: str, name: str, version: str, relative: str = "") -> str:
    """Where an asset's file lives in the asset container: ``<kind>/<name>/<version>/<relative>``."""
    return "/".join(p for p in (kind, name, version, relative.strip("/")) if p)


def upload(owner: pulumi.Resource, name: str, *, account: pulumi.Output, container_name: pulumi.Input[str],
           prefix: str, files: Mapping[str, str], after: Optional[Sequence[pulumi.Input[str]]]) -> List[storage.Blob]:
    """One ``storage.Blob`` per file (``files``: path below ``prefix`` -> local file), each waiting for
    ``after`` (the deployer's data role). A changed file is a new blob content: the blob's source is
    replace-on-change, and a second ``pulumi up`` of the same files changes nothing (assets are
    compared by their hash)."""
    blobs = []
    for rel in sorted(files):
        blobs.append(storage.Blob(
            f"{name}-blob-{_SLUG.sub('-', rel).strip('-') or 'file'}",
            account_name=account["name"], resource_group_name=account["resource_group"],
            container_name=container_name, blob_name=f"{prefix}/{rel}".strip("/"), type="Block",
            source=pulumi.FileAsset(files[rel]), opts=child(owner, depends_on=waits_for(after))))
    return blobs


class AssetStoreArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the workspace."""
    workspace_name: Required[pulumi.Input[str]]
    """Workspace that registers the assets."""
    subscription_id: Required[pulumi.Input[str]]
    """Subscription of the role definition."""
    storage_account_id: Required[pulumi.Input[str]]
    """ARM id of the storage account (the workspace's own)."""
    deployer_principal_id: Required[pulumi.Input[str]]
    """Object id of whoever runs `pulumi up`: it uploads the files."""
    deployer_principal_type: str
    """User, Group or ServicePrincipal (default; a pipeline)."""
    container_name: str
    """Blob container (default amlplatform-assets)."""
    datastore_name: str
    """Datastore registering the container (default amlplatform_assets)."""
    service_identity: str
    """Identity the service reads the datastore with: WorkspaceSystemAssignedIdentity (default) or
    WorkspaceUserAssignedIdentity."""
    tags: Mapping[str, str]
    """Tags of the datastore."""


class AssetStore(pulumi.ComponentResource):
    """The blob container (and its datastore) that `pulumi up` uploads asset files into."""

    datastore_name: pulumi.Output[str]
    """Name of the datastore (azureml://datastores/<name>/paths/...)."""
    container_name: pulumi.Output[str]
    """Name of the blob container."""
    account_name: pulumi.Output[str]
    """Name of the storage account."""
    uri_prefix: pulumi.Output[str]
    """azureml://subscriptions/<s>/resourcegroups/<rg>/workspaces/<ws>/datastores/<ds>/paths/: the long form
    azure-ai-ml gives what it uploads (LONG_URI_FORMAT in azure/ai/ml/constants/_common.py)."""
    upload_ready: pulumi.Output[str]
    """Id of the deployer's data role on the container, known once the datastore exists too: uploads wait for it."""

    def __init__(self, name: str, args: AssetStoreArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("AssetStore", args, AssetStoreArgs)
        super().__init__(token("AssetStore"), name, None, opts)
        principal_type = args.get("deployer_principal_type", "ServicePrincipal")
        if principal_type not in ("User", "Group", "ServicePrincipal"):
            raise ValueError(f"{name}: deployer_principal_type must be User, Group or ServicePrincipal")
        container_name = args.get("container_name", DEFAULT_CONTAINER)
        ds_name = args.get("datastore_name", DEFAULT_DATASTORE)
        account_id = pulumi.Output.from_input(args["storage_account_id"])
        account = account_id.apply(parse_account_id)
        container = storage.BlobContainer(
            f"{name}-container", account_name=account["name"], resource_group_name=account["resource_group"],
            container_name=container_name, public_access="None", opts=child(self))
        datastore = ml.Datastore(
            f"{name}-datastore", name=ds_name, resource_group_name=args["resource_group_name"],
            workspace_name=args["workspace_name"], properties={
                "datastore_type": "AzureBlob", "account_name": account["name"], "container_name": container.name,
                "endpoint": "core.windows.net", "protocol": "https", "resource_group": account["resource_group"],
                "subscription_id": account["subscription"], "credentials": {"credentials_type": "None"},
                "service_data_access_auth_identity": args.get("service_identity", "WorkspaceSystemAssignedIdentity"),
                "description": "Asset files uploaded by pulumi up (models, code, data the stack declares)",
                "tags": dict(args.get("tags") or {})},
            opts=child(self))
        role = ROLES["Storage Blob Data Contributor"]
        principal = pulumi.Output.from_input(args["deployer_principal_id"])
        subscription = pulumi.Output.from_input(args["subscription_id"])
        grant = authorization.RoleAssignment(
            f"{name}-deployer-upload", scope=container.id, principal_id=principal, principal_type=principal_type,
            role_definition_id=subscription.apply(lambda sub: role_definition_id(sub, role)),
            role_assignment_name=pulumi.Output.all(container.id, principal).apply(
                lambda sp: assignment_guid(sp[0], sp[1], role)),
            description="the deployer uploads the stack's asset files (shared keys are off)", opts=child(self))
        self.datastore_name = datastore.name
        self.container_name = container.name
        self.account_name = account["name"]
        self.uri_prefix = pulumi.Output.concat(
            "azureml://subscriptions/", args["subscription_id"], "/resourcegroups/", args["resource_group_name"],
            "/workspaces/", args["workspace_name"], "/datastores/", datastore.name, "/paths/")
        # uploads wait for the grant *and* the datastore (which waits for the workspace): a new role
        # assignment takes effect after a delay ("up to 10 minutes":
        # https://learn.microsoft.com/azure/role-based-access-control/troubleshooting#symptom---role-assignment-changes-are-not-being-detected),
        # and the grant is made in parallel with the workspace (~5.5 minutes), so the first upload does
        # not race it; the asset versions need the workspace anyway
        self.upload_ready = pulumi.Output.all(grant.id, datastore.id).apply(lambda ids: ids[0])
        self.register_outputs({"datastore_name": self.datastore_name, "container_name": self.container_name,
                               "account_name": self.account_name, "uri_prefix": self.uri_prefix,
                               "upload_ready": self.upload_ready})


class DataVersionSpec(TypedDict, total=False):
    version: Required[str]
    """Version (immutable)."""
    path: pulumi.Input[str]
    """azureml://datastores/<ds>/paths/<p> of data already on a datastore (or give files)."""
    files: Dict[str, str]
    """Path below the version's folder -> local file, uploaded into the asset store (or give path)."""
    uri_path: str
    """With files: the data's path below the version's folder (a file for uri_file; 'name/' for a folder)."""
    description: str
    """Shown in the studio."""
    tags: Mapping[str, str]
    """Tags of the version."""


class DataAssetArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the workspace."""
    workspace_name: Required[pulumi.Input[str]]
    """Workspace that holds the data asset."""
    data_name: Required[str]
    """Asset name."""
    data_type: str
    """uri_folder (default), uri_file or mltable: of every version."""
    versions: Required[List[DataVersionSpec]]
    """The versions (one container holds them all)."""
    store_account_name: pulumi.Input[str]
    """With files: storage account of the asset store."""
    store_resource_group_name: pulumi.Input[str]
    """With files: its resource group."""
    store_container_name: pulumi.Input[str]
    """With files: the asset container."""
    store_uri_prefix: pulumi.Input[str]
    """With files: the asset store's azureml:// path prefix (AssetStore.uri_prefix)."""
    upload_waits_for: List[pulumi.Input[str]]
    """With files: what uploads wait for (the deployer's data role)."""
    waits_for: List[pulumi.Input[str]]
    """Ids the versions wait for (the datastores their paths name, when the same stack declares them)."""
    description: str
    """Of the container, shown in the studio."""
    tags: Mapping[str, str]
    """Tags of the container."""


class DataAsset(pulumi.ComponentResource):
    """A data container and its versions (datastore paths, or files the stack uploads)."""

    version_ids: pulumi.Output[Dict[str, str]]
    """Version -> ARM id of the data version."""
    name: pulumi.Output[str]
    """Asset name (job inputs: azureml:<name>:<version>)."""

    def __init__(self, name: str, args: DataAssetArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("DataAsset", args, DataAssetArgs)
        super().__init__(token("DataAsset"), name, None, opts)
        data_type = args.get("data_type", "uri_folder")
        if data_type not in DATA_TYPES:
            raise ValueError(f"{name}: data_type must be one of {', '.join(DATA_TYPES)}, got {data_type!r}")
        versions = list(args["versions"])
        labels = [v["version"] for v in versions]
        if not versions or len({v.lower() for v in labels}) != len(labels):
            raise ValueError(f"{name}: versions must be given, each once ({', '.join(labels) or 'none'})")
        ws = {"resource_group_name": args["resource_group_name"], "workspace_name": args["workspace_name"]}
        # one container per asset name, holding every version
        container = ml.DataContainer(
            f"{name}-container", name=args["data_name"], properties={
                "data_type": data_type, "tags": dict(args.get("tags") or {}), **_described(args)},
            opts=child(self), **ws)
        ids: Dict[str, pulumi.Output[str]] = {}
        for spec in versions:
            ids[spec["version"]] = self._declare_version(name, container, data_type, spec, args, ws).id
        self.version_ids = pulumi.Output.all(**ids)
        self.name = container.name
        self._ids = ids
        self.register_outputs({"version_ids": self.version_ids, "name": self.name})

    def _declare_version(self, name: str, container: ml.DataContainer, data_type: str, spec: Mapping, args: Mapping,
                 ws: Mapping) -> ml.DataVersion:
        version = spec["version"]
        logical = f"{name}-{version.lower()}"
        files = dict(spec.get("files") or {})
        if bool(files) == (spec.get("path") is not None):
            raise ValueError(f"{name}: version {version}: give exactly one of path (a datastore path) or files "
                             "(uploaded by the stack)")
        blobs: List[storage.Blob] = []
        if files:
            missing = [k for k in ("store_account_name", "store_resource_group_name", "store_container_name",
                                   "store_uri_prefix") if args.get(k) is None]
            if missing:
                raise ValueError(f"{name}: files need {', '.join(missing)} (the asset store)")
            prefix = blob_path("data", args["data_name"], version)
            account = pulumi.Output.from_input({"name": args["store_account_name"],
                                                "resource_group": args["store_resource_group_name"]})
            blobs = upload(self, logical, account=account, container_name=args["store_container_name"], prefix=prefix,
                           files=files, after=args.get("upload_waits_for"))
            rel = spec.get("uri_path", "")
            uri: pulumi.Input[str] = pulumi.Output.concat(args["store_uri_prefix"],
                                                          f"{prefix}/{rel}" if rel else f"{prefix}/")
        else:
            uri = spec["path"]
        tags = dict(spec.get("tags") or {})
        return ml.DataVersion(
            f"{logical}-version", name=container.name, version=version,
            properties=DATA_TYPES[data_type](data_type=data_type, data_uri=uri, tags=tags, **_described(spec)),
            opts=child(self, depends_on=[*blobs, *(waits_for(args.get("waits_for")) or [])]), **ws)


def _described(args: Mapping) -> dict:
    return {"description": args["description"]} if args.get("description") else {}


__all__ = ["AssetStore", "AssetStoreArgs", "DataAsset", "DataAssetArgs", "DataVersionSpec", "blob_path", "upload"]
