"""Typed settings for datastores (stack key ``amlplatform:datastores``): how the workspace reaches
data in a blob container, an ADLS Gen2 file system or an Azure file share without credentials in
code.

Identity-based by default: the datastore holds no secret, jobs use the identity of whoever runs
them (the user or the compute's managed identity), and the studio previews data with the
workspace's managed identity (``serviceDataAccessAuthIdentity``). The shipped stacks turn shared
keys off, so identity-based access is the only kind that works against the stack's own storage.
The data-plane roles identity-based access needs are declared with the datastore, at the
container / file share scope (least privilege):

* the workspace's managed identity: Storage Blob Data Reader (blob, ADLS Gen2) or Storage File
  Data Privileged Reader (file share), for the studio's data preview and service-side reads;
* each listed reader: Storage Blob Data Reader (Contributor when ``writable``), or Storage File
  Data Privileged Reader (Contributor when ``writable``).

Sources: https://learn.microsoft.com/azure/machine-learning/how-to-datastore (identity-based
datastores), https://learn.microsoft.com/azure/machine-learning/how-to-identity-based-service-authentication
("Scenario: Azure Storage account / identity-based data access": the workspace identity needs
Storage Blob Data Reader for the studio), https://learn.microsoft.com/azure/machine-learning/how-to-administrate-data-authentication
(credential-based datastores: whoever reads them needs ``datastores/listsecrets/action``),
https://learn.microsoft.com/azure/storage/files/authorize-oauth-rest (file shares over OAuth:
Storage File Data Privileged Reader/Contributor).

Credential-based datastores (``account_key``, ``sas``, ``service_principal``) take their secret
from Pulumi *secret* configuration only: the setting names a config key (``<namespace>:<key>``,
set with ``pulumi config set --secret``); a plain value, or a key that is not a secret, is refused.

Declares no resources; the defaults are the components' own (amlplatform.iac._base.defaults).
"""

import re
from typing import Annotated, List, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from amlplatform.azure.roles import ROLES as BUILTIN
from amlplatform.errors import Problems
from amlplatform.spec.core import Guid, Model, Tags, arm_id

# Azure ML datastore names: letters, digits and underscores (the azureml SDK refuses others:
# "Datastore name can only contain alphanumeric characters and underscores").
_DATASTORE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,254}")
# Blob container / ADLS Gen2 file system: 3-63 lowercase letters, digits and single hyphens,
# starting and ending with a letter or digit. File share: the same rule.
# https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata
# https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-shares--directories--files--and-metadata
_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_SECRET_KEY = re.compile(r"(?P<ns>[A-Za-z0-9_.-]+):(?P<key>[A-Za-z0-9_.\[\]-]+)")

# the storage data roles a datastore grants (their GUIDs: amlplatform.azure.roles)
ROLES = {name: BUILTIN[name] for name in (
    "Storage Blob Data Reader", "Storage Blob Data Contributor", "Storage File Data Privileged Reader",
    "Storage File Data Privileged Contributor")}


def _datastore_name(value: str) -> str:
    if not _DATASTORE_NAME.fullmatch(value):
        raise ValueError("must be 1-255 letters, digits and underscores, starting with a letter")
    if value.lower().startswith("workspace") or value.lower().startswith("azureml"):
        raise ValueError("must not start with 'workspace' or 'azureml': the workspace's own datastores "
                         "(workspaceblobstore, workspaceartifactstore, ...) use those names")
    return value


def _container(value: str) -> str:
    if not _CONTAINER.fullmatch(value):
        raise ValueError("must be 3-63 lowercase letters, digits and single hyphens, starting and ending with a "
                         "letter or digit (Azure Storage naming rule)")
    return value


def secret_key_problems(value: str) -> List[str]:
    """Problems of a secret config key name (``<namespace>:<key>``, outside ``amlplatform:``)."""
    m = _SECRET_KEY.fullmatch(value or "")
    if not m:
        return ["must name a Pulumi config key as <namespace>:<key>, e.g. datastores:raw-account-key (set it with "
                "`pulumi config set --secret`); never the secret itself"]
    if m.group("ns") == "amlplatform":
        return ["must be outside the amlplatform: namespace (every amlplatform: key is a setting), e.g. "
                "datastores:raw-account-key"]
    return []


def _secret_key(value: str) -> str:
    problems = secret_key_problems(value)
    if problems:
        raise Problems(problems)
    return value


DatastoreName = Annotated[str, AfterValidator(_datastore_name)]
ContainerName = Annotated[str, AfterValidator(_container)]
SecretKey = Annotated[str, AfterValidator(_secret_key)]


class DataReader(Model):
    """Someone who reads (or writes) the datastore's data with their own identity."""

    principal_id: Guid = Field(description="Entra object id of the user, group or service principal")
    principal_type: Literal["User", "Group", "ServicePrincipal"] = "Group"
    """Kind of principal"""
    description: Optional[str] = None
    """Why they have access"""


class DatastoreSettings(Model):
    """A datastore: blob container, ADLS Gen2 file system or file share; identity-based by default."""

    name: DatastoreName = Field(description="Datastore name: letters, digits, underscores; starts with a letter")
    kind: Literal["blob", "adls_gen2", "file_share"] = Field("blob", description="blob, adls_gen2 or file_share")
    container: ContainerName = Field(description="Blob container, ADLS Gen2 file system or file share name")
    storage_account_id: Annotated[Optional[str], arm_id("Microsoft.Storage/storageAccounts")] = Field(
        None, description="Storage account; default the stack's own storage account (not for adls_gen2: it has no "
        "hierarchical namespace)")
    create: Optional[bool] = Field(
        None, description="Create the container/file share; default true on the stack's own storage, false elsewhere")
    auth: Literal["identity", "account_key", "sas", "service_principal"] = Field(
        "identity", description="identity (default, no secret) or a credential from secret config")
    secret_config_key: Optional[SecretKey] = Field(
        None, description="With a credential: the Pulumi secret config key holding it (<namespace>:<key>)")
    client_id: Optional[Guid] = Field(None, description="With service_principal: the application (client) id")
    tenant_id: Optional[Guid] = Field(None, description="With service_principal: its tenant; default the stack's")
    readers: List[DataReader] = Field(default_factory=list)
    """Who gets a data role on the container/share (identity-based only)"""
    writable: bool = Field(False, description="readers get Contributor instead of Reader roles")
    workspace_preview: bool = Field(
        True, description="Grant the workspace identity read access so the studio previews data (identity only)")
    description: Optional[str] = None
    """Shown in the studio"""
    tags: Tags = Field(default_factory=dict)
    """Tags on the datastore"""

    @model_validator(mode="after")
    def _check(self) -> "DatastoreSettings":
        problems = []
        if self.kind == "adls_gen2" and not self.storage_account_id:
            problems.append("storage_account_id: required with kind adls_gen2 (the stack's storage account has no "
                            "hierarchical namespace, and it cannot be turned on later)")
        if self.auth == "identity":
            for f in ("secret_config_key", "client_id", "tenant_id"):
                if getattr(self, f) is not None:
                    problems.append(f"{f}: only used with a credential (auth is identity)")
        else:
            if not self.secret_config_key:
                problems.append(f"secret_config_key: required with auth {self.auth} (the Pulumi secret config key that "
                                "holds the credential)")
            if self.readers:
                problems.append("readers: data roles are for identity-based access; with a credential, readers need "
                                "the workspace role that lists datastore secrets (e.g. AzureML Data Scientist)")
            if self.auth == "sas" and self.kind == "adls_gen2":
                problems.append("auth: ADLS Gen2 datastores take identity or service_principal")
            if self.auth == "account_key" and self.kind == "adls_gen2":
                problems.append("auth: ADLS Gen2 datastores take identity or service_principal")
            if self.auth == "service_principal" and not self.client_id:
                problems.append("client_id: required with auth service_principal")
            if self.auth != "service_principal" and (self.client_id or self.tenant_id):
                problems.append("client_id/tenant_id: only used with auth service_principal")
            if self.auth == "service_principal" and self.kind == "file_share":
                problems.append("auth: file share datastores take identity, account_key or sas")
        if self.writable and not self.readers:
            problems.append("writable: only used with readers")
        if problems:
            raise Problems(problems)
        return self

    @property
    def on_stack_storage(self) -> bool:
        return self.storage_account_id is None

    @property
    def creates_container(self) -> bool:
        return self.create if self.create is not None else self.on_stack_storage

    def reader_role(self) -> str:
        if self.kind == "file_share":
            return "Storage File Data Privileged Contributor" if self.writable else "Storage File Data Privileged Reader"
        return "Storage Blob Data Contributor" if self.writable else "Storage Blob Data Reader"

    def workspace_role(self) -> str:
        return "Storage File Data Privileged Reader" if self.kind == "file_share" else "Storage Blob Data Reader"


def datastores_problems(datastores: List[DatastoreSettings], *, shared_key_access: bool) -> List[str]:
    """Problems across the datastores of a stack: names unique (case-insensitive); a key or SAS
    credential on the stack's own storage needs shared key access, which the stacks turn off."""
    problems = []
    seen = {}
    for i, ds in enumerate(datastores):
        key = ds.name.lower()
        if key in seen:
            problems.append(f"datastores[{i}].name: {ds.name!r} is already used by datastores[{seen[key]}]")
        seen.setdefault(key, i)
        if ds.on_stack_storage and ds.auth in ("account_key", "sas") and not shared_key_access:
            problems.append(f"datastores[{i}].auth: {ds.auth} needs shared key access on the stack's storage "
                            "(storage.allow_shared_key_access is false); use identity")
    return problems


# ---------------------------------------------------------------------------- data assets

# azureml://datastores/<datastore>/paths/<path> (the short form az ml data create takes:
# https://learn.microsoft.com/azure/machine-learning/how-to-create-data-assets, "Supported paths")
_DATASTORE_URI = re.compile(r"azureml://datastores/(?P<ds>[A-Za-z][A-Za-z0-9_]{0,254})/paths/(?P<path>[^?#]*)")


class DataAssetSettings(Model):
    """A data asset version (stack key ``amlplatform:data_assets``), with the fields of the YAML
    ``az ml data create --file`` takes: name, version, type, path, description, tags. ``path`` is a
    datastore URI (``azureml://datastores/<datastore>/paths/<path>``: one of the stack's datastores, or
    the workspace's own ``workspaceblobstore``), or a file/folder of the project that the stack uploads."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$",
                      description="Asset name: letters, digits, '.', '_' and '-'")
    version: str = Field(pattern=r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,29})$",
                         description="Version (immutable: a new path is a new version)")
    type: Literal["uri_file", "uri_folder", "mltable"] = Field(
        "uri_folder", description="uri_file (one file), uri_folder (a folder) or mltable (a folder with an MLTable file)")
    path: str = Field(description="azureml://datastores/<datastore>/paths/<path>, or a project-relative file or "
                      "folder the stack uploads")
    description: Optional[str] = None
    """Shown in the studio"""
    tags: Tags = Field(default_factory=dict)
    """Tags on the data version"""

    @model_validator(mode="after")
    def _path(self) -> "DataAssetSettings":
        from amlplatform.spec.assets import project_path_problems

        if self.path.startswith("azureml://"):
            m = _DATASTORE_URI.fullmatch(self.path)
            if not m:
                raise ValueError("path: a datastore path is azureml://datastores/<datastore>/paths/<path>")
            if self.type == "uri_file" and (not m.group("path") or m.group("path").endswith("/")):
                raise ValueError("path: a uri_file names a file, not a folder (no trailing '/')")
        elif "://" in self.path:
            raise ValueError("path: azureml://datastores/<datastore>/paths/<path>, or a project-relative path")
        else:
            problems = project_path_problems(self.path)
            if problems:
                raise Problems([f"path: {p}" for p in problems])
        return self

    @property
    def datastore(self) -> Optional[str]:
        m = _DATASTORE_URI.fullmatch(self.path)
        return m.group("ds") if m else None

    @property
    def uploaded(self) -> bool:
        return not self.path.startswith("azureml://")


# the datastores the service creates with every workspace (azure-ai-ml's workspace defaults)
WORKSPACE_DATASTORES = ("workspaceblobstore", "workspacefilestore", "workspaceartifactstore",
                        "workspaceworkingdirectory")


def data_assets_problems(assets: List[DataAssetSettings], datastores: List[str]) -> List[str]:
    """Versions unique per name; a datastore path names one of the stack's datastores or the workspace's own."""
    problems = []
    seen = {}
    for i, d in enumerate(assets):
        key = (d.name.lower(), d.version.lower())
        if key in seen:
            problems.append(f"data_assets[{i}]: {d.name}:{d.version} is already data_assets[{seen[key]}]")
        seen.setdefault(key, i)
        ds = d.datastore
        if ds is not None and ds not in datastores and ds not in WORKSPACE_DATASTORES:
            problems.append(f"data_assets[{i}].path: datastore {ds!r} is not one of the stack's datastores "
                            f"({', '.join(datastores) or 'none'}) nor the workspace's own ({', '.join(WORKSPACE_DATASTORES)})")
    return problems


__all__ = ["DatastoreSettings", "DataReader", "DataAssetSettings", "datastores_problems", "data_assets_problems",
           "secret_key_problems"]
