"""``Asset``: a model, code or component (one container) and the versions of it that deployments
name, declared by the stack so that a first ``pulumi up`` creates each before the deployment.

Resource graph::

    asset store ──> blobs (the files, model and code) ──> container ──> version ──> deployments

* model: ``ModelContainer`` + ``ModelVersion`` with ``modelUri``
  ``azureml://subscriptions/<s>/resourcegroups/<rg>/workspaces/<ws>/datastores/<asset store>/paths/models/<name>/<version>/<folder or file>``:
  a datastore path ("Supported paths", https://learn.microsoft.com/azure/machine-learning/how-to-manage-models)
  in the long form azure-ai-ml sends for what it uploads (``LONG_URI_FORMAT``), so what the service
  stores is what the stack sent and a second ``pulumi up`` changes nothing.
  Azure ML mounts a model under ``AZUREML_MODEL_DIR/<last path segment>``, so a folder keeps its name
  (``model/`` -> ``$AZUREML_MODEL_DIR/model``, what examples/model/score.py reads).
* code: ``CodeContainer`` + ``CodeVersion`` with ``codeUri`` the https URL of the uploaded folder
  (what azure-ai-ml sends after its own upload; the REST example of Code Versions - Create Or Update
  shows ``"codeUri": "https://blobStorage/folderName"``).
* component: ``ComponentContainer`` + ``ComponentVersion`` with the component's YAML as
  ``componentSpec``; references to assets of the same stack are sent as ``azureml:<ARM id>``, as
  azure-ai-ml sends resolved references (``ARM_ID_PREFIX`` in azure/ai/ml/_utils/_arm_id_utils.py; a
  pipeline component's steps name theirs in ``componentId``:
  azure/ai/ml/entities/_component/pipeline_component.py, ``_resolve_sub_nodes``), and the version
  waits for each of them.

Versions are immutable on the service side: a change of files is a new ``version`` (a new resource).
"""

import json
from typing import Dict, List, Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import machinelearningservices as ml
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.iac._base import check_args, child, token, waits_for
from amlplatform.iac.data.assets import blob_path, upload

KINDS = ("model", "code", "component")
MODEL_TYPES = ("custom_model", "mlflow_model", "triton_model")
_FOLDERS = {"model": "models", "code": "codes"}


class AssetVersionSpec(TypedDict, total=False):
    version: Required[str]
    """Version (immutable)."""
    model_type: str
    """kind model: custom_model (default), mlflow_model or triton_model."""
    files: Dict[str, str]
    """kind model/code: path below the version's folder -> local file (uploaded by `pulumi up`)."""
    uri_path: str
    """kind model/code: the asset's path below its folder (the model folder or file, the code folder)."""
    component_spec: str
    """kind component: the component as JSON (its YAML, parsed); references listed in references are replaced."""
    references: Dict[str, pulumi.Input[str]]
    """kind component: azureml:<name>:<version> -> ARM id of that asset version (the version waits for each)."""
    description: str
    """Shown in the studio."""
    tags: Mapping[str, str]
    """Tags of the version."""


class AssetArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the workspace."""
    workspace_name: Required[pulumi.Input[str]]
    """Workspace that holds the asset."""
    kind: Required[str]
    """model, code or component."""
    asset_name: Required[str]
    """Asset name: letters, digits, '.', '_' and '-'."""
    versions: Required[List[AssetVersionSpec]]
    """The versions (one container holds them all)."""
    store_account_name: pulumi.Input[str]
    """kind model/code: storage account of the asset store."""
    store_resource_group_name: pulumi.Input[str]
    """kind model/code: its resource group."""
    store_container_name: pulumi.Input[str]
    """kind model/code: the asset container."""
    store_uri_prefix: pulumi.Input[str]
    """kind model: the asset store's azureml:// path prefix (AssetStore.uri_prefix)."""
    upload_waits_for: List[pulumi.Input[str]]
    """kind model/code: what uploads wait for (the deployer's data role)."""
    description: str
    """Of the container, shown in the studio."""
    tags: Mapping[str, str]
    """Tags of the container."""


class Asset(pulumi.ComponentResource):
    """A model, code or component container and its versions."""

    version_ids: pulumi.Output[Dict[str, str]]
    """Version -> ARM id of the asset version: what deployments send."""
    name: pulumi.Output[str]
    """Asset name."""

    def __init__(self, name: str, args: AssetArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("Asset", args, AssetArgs)
        super().__init__(token("Asset"), name, None, opts)
        kind = args["kind"]
        if kind not in KINDS:
            raise ValueError(f"{name}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        asset_name = naming.ensure("environment_asset", args["asset_name"])
        versions = list(args["versions"])
        labels = [v["version"] for v in versions]
        if not versions or len({v.lower() for v in labels}) != len(labels):
            raise ValueError(f"{name}: versions must be given, each once ({', '.join(labels) or 'none'})")
        ws = {"resource_group_name": args["resource_group_name"], "workspace_name": args["workspace_name"]}
        container_props = {"tags": dict(args.get("tags") or {}),
                           **({"description": args["description"]} if args.get("description") else {})}
        container_type = {"model": ml.ModelContainer, "code": ml.CodeContainer, "component": ml.ComponentContainer}[kind]
        # one container per asset name: every version belongs to it (a second resource for the same
        # container would make deleting one version's resource delete them all)
        container = container_type(f"{name}-container", name=asset_name, properties=container_props,
                                   opts=child(self), **ws)
        ids: Dict[str, pulumi.Output[str]] = {}
        for spec in versions:
            ids[spec["version"]] = self._declare_version(name, kind, asset_name, container, spec, args, ws).id
        self.version_ids = pulumi.Output.all(**ids)
        self.name = container.name
        self._ids = ids
        self.register_outputs({"version_ids": self.version_ids, "name": self.name})

    def _declare_version(self, name: str, kind: str, asset_name: str, container: pulumi.CustomResource,
                 spec: Mapping, args: Mapping, ws: Mapping) -> pulumi.CustomResource:
        version = spec["version"]
        logical = f"{name}-{version.lower()}"
        tags = dict(spec.get("tags") or {})
        described = {"description": spec["description"]} if spec.get("description") else {}
        if kind in ("model", "code"):
            files = dict(spec.get("files") or {})
            if not files:
                raise ValueError(f"{name}: version {version} needs files (the project files `pulumi up` uploads)")
            needed = ["store_account_name", "store_resource_group_name", "store_container_name"]
            needed += ["store_uri_prefix"] if kind == "model" else []
            missing = [k for k in needed if args.get(k) is None]
            if missing:
                raise ValueError(f"{name}: files need {', '.join(missing)} (the asset store)")
            prefix = blob_path(_FOLDERS[kind], asset_name, version)
            account = pulumi.Output.from_input({"name": args["store_account_name"],
                                                "resource_group": args["store_resource_group_name"]})
            blobs = upload(self, logical, account=account, container_name=args["store_container_name"],
                           prefix=prefix, files=files, after=args.get("upload_waits_for"))
            tail = "/".join(p for p in (prefix, spec.get("uri_path", "").strip("/")) if p)
            if kind == "model":
                model_type = spec.get("model_type", "custom_model")
                if model_type not in MODEL_TYPES:
                    raise ValueError(f"{name}: model_type must be one of {', '.join(MODEL_TYPES)}")
                uri = pulumi.Output.concat(args["store_uri_prefix"], tail)
                return ml.ModelVersion(
                    f"{logical}-version", name=container.name, version=version,
                    properties={"model_type": model_type, "model_uri": uri, "tags": tags, **described},
                    opts=child(self, depends_on=blobs), **ws)
            uri = pulumi.Output.concat("https://", args["store_account_name"], ".blob.core.windows.net/",
                                       args["store_container_name"], "/", tail)
            return ml.CodeVersion(f"{logical}-version", name=container.name, version=version,
                                  properties={"code_uri": uri, "tags": tags, **described},
                                  opts=child(self, depends_on=blobs), **ws)
        if spec.get("files"):
            raise ValueError(f"{name}: a component is its spec (component_spec); files are for models and code")
        if not spec.get("component_spec"):
            raise ValueError(f"{name}: version {version} needs component_spec")
        parsed = json.loads(spec["component_spec"])
        if not isinstance(parsed, dict):
            raise ValueError(f"{name}: component_spec must be a JSON object")
        references = dict(spec.get("references") or {})
        resolve_references(parsed, {r: "" for r in references}) if references else resolve_references(parsed, {})
        resolved = pulumi.Output.all(**references).apply(lambda ids: resolve_references(parsed, ids)) \
            if references else pulumi.Output.from_input(resolve_references(parsed, {}))
        return ml.ComponentVersion(
            f"{logical}-version", name=container.name, version=version,
            properties={"component_spec": resolved, "tags": tags, **described},
            opts=child(self, depends_on=waits_for(list(references.values()))), **ws)


# component fields that name another asset, and the REST name a step's component goes under
_REFERENCE_FIELDS = ("code", "environment")


def resolve_references(spec: Mapping, ids: Mapping[str, str]) -> dict:
    """``spec`` with each ``azureml:<name>:<version>`` of ``ids`` in ``code``/``environment`` (the
    component's and its steps') replaced by ``azureml:<ARM id>``, and each step's ``component`` sent as
    ``componentId`` (the pipeline component's REST shape). A reference not in ``ids`` is refused: the
    version could not wait for it."""
    def ref(value, where: str) -> str:
        if isinstance(value, str) and value.startswith("azureml:") and not value.startswith("azureml:/"):
            if value not in ids:
                raise ValueError(f"component {where}: {value} is not an asset of this stack (declare it, so the "
                                 "component version waits for it)")
            return "azureml:" + ids[value]
        return value

    out = dict(spec)
    for field in _REFERENCE_FIELDS:
        if field in out:
            out[field] = ref(out[field], field)
    jobs = out.get("jobs")
    if isinstance(jobs, Mapping):
        resolved_jobs = {}
        for step, job in jobs.items():
            job = dict(job)
            for field in _REFERENCE_FIELDS:
                if field in job:
                    job[field] = ref(job[field], f"jobs.{step}.{field}")
            if "component" in job:
                if not isinstance(job["component"], str):
                    raise ValueError(f"component jobs.{step}.component: an inline component cannot be registered "
                                     "by the stack; declare it under assets.components and name it "
                                     "azureml:<name>:<version>")
                job["componentId"] = ref(job.pop("component"), f"jobs.{step}.component")
            resolved_jobs[step] = job
        out["jobs"] = resolved_jobs
    return out


__all__ = ["Asset", "AssetArgs", "AssetVersionSpec", "resolve_references"]
