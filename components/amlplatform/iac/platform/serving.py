"""MLPlatform's decisions about datastores and endpoints (identity-based access, the deployments'
egress under a managed network, default instance types). Pure mappings from the validated platform
model to component arguments.
"""

import json
import posixpath
from typing import Any, Dict, List, Mapping, Optional

import yaml

from amlplatform.iac.platform.workspace import secret_safe
from amlplatform.spec.platform import StackSettings


# asset kind -> the ARM id segment of its versions (workspaces/<ws>/<segment>/<name>/versions/<v>)
FOLDERS = {"model": "models", "code": "codes", "component": "components"}


def placeholder(reference: str, kind: str) -> str:
    """The id the mappings below give ``azureml:<name>:<version>`` before the workspace id is known
    (``{workspace}/<kind>/<name>/versions/<version>``): the key MLPlatform replaces by the declaring
    resource's id."""
    from amlplatform.spec.endpoints import asset_id

    return asset_id(reference, "{workspace}", kind)


def uploaded_paths(settings: StackSettings) -> Dict[str, str]:
    """Setting -> project path of every file or folder the stack uploads (models, code, data)."""
    out: Dict[str, str] = {}
    for i, m in enumerate(settings.assets.models):
        if m.path:
            out[f"assets.models[{i}].path"] = m.path
    for i, c in enumerate(settings.assets.code):
        if c.path:
            out[f"assets.code[{i}].path"] = c.path
    for i, d in enumerate(settings.data_assets):
        if d.uploaded:
            out[f"data_assets[{i}].path"] = d.path
    return out


def _upload(path: str, listing: Mapping[str, str]) -> Dict[str, Any]:
    """``files`` and ``uri_path`` of an uploaded project path: a folder keeps its own name below the
    asset's folder (Azure ML mounts a model under its last path segment), a file is the asset."""
    base = posixpath.basename(path)
    if set(listing) == {""}:
        return {"files": {base: listing[""]}, "uri_path": base}
    return {"files": {f"{base}/{rel}": local for rel, local in listing.items()}, "uri_path": base}


def _references(spec: Any, found: Dict[str, str]) -> Dict[str, str]:
    """Every ``azureml:<name>:<version>`` a component YAML names in code/environment/component ->
    its kind (``codes``, ``environments``, ``components``)."""
    if isinstance(spec, Mapping):
        for field, kind in (("code", "codes"), ("environment", "environments"), ("component", "components")):
            value = spec.get(field)
            if isinstance(value, str) and value.startswith("azureml:") and not value.startswith("azureml:/"):
                found[value] = kind
        for step in (spec.get("jobs") or {}).values() if isinstance(spec.get("jobs"), Mapping) else ():
            _references(step, found)
    return found


def asset_version_args(settings: StackSettings, asset_files: Mapping[str, Mapping[str, str]],
                       files: Mapping[str, str]) -> List[Dict[str, Any]]:
    """``AssetVersionArgs`` (without workspace and asset store) of every declared model, code and
    component version, in an order where a component comes after what it names; components carry
    ``reference_kinds`` (reference -> kind) for MLPlatform to resolve."""
    out: List[Dict[str, Any]] = []
    tags = settings.all_tags()
    for kind, entries in (("model", settings.assets.models), ("code", settings.assets.code)):
        for e in entries:
            if e.existing:
                continue
            args: Dict[str, Any] = {"kind": kind, "asset_name": e.name, "version": e.version,
                                    "tags": {**tags, **e.tags}, "reference_kinds": {},
                                    **_upload(e.path, asset_files[e.path])}
            if kind == "model":
                args["model_type"] = e.type
            if e.description:
                args["description"] = e.description
            out.append(args)
    components = []
    for i, c in enumerate(settings.assets.components):
        if c.existing:
            continue
        try:
            spec = yaml.safe_load(files[c.file])
        except yaml.YAMLError as exc:
            raise ValueError(f"assets.components[{i}].file: {c.file} is not YAML: {exc}") from None
        if not isinstance(spec, dict):
            raise ValueError(f"assets.components[{i}].file: {c.file} is not a component (a YAML mapping)")
        for key in ("name", "version"):
            if key in spec and str(spec[key]) != getattr(c, key):
                raise ValueError(f"assets.components[{i}].{key}: {getattr(c, key)!r} but {c.file} says {spec[key]!r}")
        spec = {k: v for k, v in spec.items() if k != "$schema"}
        spec.update(name=c.name, version=c.version)
        args = {"kind": "component", "asset_name": c.name, "version": c.version, "tags": {**tags, **c.tags},
                "component_spec": json.dumps(spec, sort_keys=True), "reference_kinds": _references(spec, {})}
        if c.description:
            args["description"] = c.description
        components.append(args)
    # a pipeline component after the components its steps name
    done: List[str] = []
    pending = list(components)
    while pending:
        ready = [a for a in pending if all(k != "components" or r in done or r not in
                                           {f"azureml:{p['asset_name']}:{p['version']}" for p in pending}
                                           for r, k in a["reference_kinds"].items())]
        if not ready:
            names = ", ".join(f"{a['asset_name']}:{a['version']}" for a in pending)
            raise ValueError(f"assets.components: {names} name each other in a cycle")
        for a in ready:
            out.append(a)
            done.append(f"azureml:{a['asset_name']}:{a['version']}")
            pending.remove(a)
    known = {f"azureml:{e.name}:{e.version}" for e in [*settings.assets.models, *settings.assets.code,
                                                        *settings.assets.components] if not e.existing}
    known |= {f"azureml:{e.name}:{e.version}" for e in settings.environments}
    for a in out:
        for ref in a["reference_kinds"]:
            if ref not in known:
                raise ValueError(f"assets.components: {a['asset_name']}:{a['version']} names {ref}, which the stack "
                                 "does not declare (assets.code, assets.components, environments): the component "
                                 "version could not wait for it")
    return out


def asset_args(settings: StackSettings, asset_files: Mapping[str, Mapping[str, str]],
               files: Mapping[str, str]) -> List[Dict[str, Any]]:
    """``AssetArgs`` (without workspace and asset store) per asset name: its versions in the order of
    :func:`asset_version_args` (a component after what it names)."""
    groups: Dict[tuple, Dict[str, Any]] = {}
    for args in asset_version_args(settings, asset_files, files):
        key = (args.pop("kind"), args.pop("asset_name"))
        group = groups.setdefault(key, {"kind": key[0], "asset_name": key[1], "tags": settings.all_tags(),
                                        "versions": []})
        group["versions"].append(args)
    return list(groups.values())


def data_asset_args(settings: StackSettings, asset_files: Mapping[str, Mapping[str, str]]) -> List[Dict[str, Any]]:
    """``DataAssetArgs`` (without workspace and asset store) per data asset name, one version per entry;
    ``datastores``: the datastores its paths name (MLPlatform makes the versions wait for those it declares)."""
    groups: Dict[str, Dict[str, Any]] = {}
    for d in settings.data_assets:
        group = groups.setdefault(d.name, {"data_name": d.name, "data_type": d.type, "tags": settings.all_tags(),
                                           "versions": [], "datastores": []})
        if group["data_type"] != d.type:
            raise ValueError(f"data asset {d.name}: every version has one type ({group['data_type']}, not {d.type})")
        if d.datastore and d.datastore not in group["datastores"]:
            group["datastores"].append(d.datastore)
        args: Dict[str, Any] = {"version": d.version, "tags": {**settings.all_tags(), **d.tags}}
        if d.uploaded:
            upload = _upload(d.path, asset_files[d.path])
            if d.type == "uri_file" and set(asset_files[d.path]) != {""}:
                raise ValueError(f"data asset {d.name}:{d.version}: type uri_file needs a file, {d.path} is a folder")
            if d.type != "uri_file" and set(asset_files[d.path]) == {""}:
                raise ValueError(f"data asset {d.name}:{d.version}: type {d.type} needs a folder, {d.path} is a file")
            if d.type != "uri_file":
                upload["uri_path"] += "/"
            args.update(upload)
        else:
            args["path"] = d.path
        if d.description:
            args["description"] = d.description
        group["versions"].append(args)
    return list(groups.values())


def _existing(settings: StackSettings, refs: List[Optional[str]], kinds: List[str]) -> List[str]:
    """The references among ``refs`` that the stack acknowledges as registered outside it."""
    from amlplatform.spec.assets import declared_references

    known = declared_references(settings)
    return sorted({r for r, k in zip(refs, kinds) if r and known[k].get(r) == "existing"})


def datastore_args(settings: StackSettings, index: int) -> Dict[str, Any]:
    """``DatastoreArgs`` of ``datastores[index]`` without workspace coordinates, storage id, principal
    and secret (pure mapping)."""
    from amlplatform.spec.datastores import ROLES

    ds = settings.datastores[index]
    args: Dict[str, Any] = {
        "datastore_name": ds.name, "kind": ds.kind, "container": ds.container,
        "create_container": ds.creates_container,
        "credentials": "none" if ds.auth == "identity" else ds.auth,
        "service_identity": ("WorkspaceSystemAssignedIdentity" if settings.workspace.identity == "SystemAssigned"
                             else "WorkspaceUserAssignedIdentity"),
        "tags": {**ds.tags},
        "readers": [secret_safe(settings, {"principal_id": r.principal_id, "principal_type": r.principal_type,
                                           "role_definition_guid": ROLES[ds.reader_role()],
                                           "role_name": ds.reader_role(),
                                           **({"description": r.description} if r.description else {})},
                                f"datastores[{index}].readers[{j}]") for j, r in enumerate(ds.readers)],
    }
    if ds.auth == "identity" and ds.workspace_preview:
        args["workspace_role_guid"] = ROLES[ds.workspace_role()]
    for optional in ("client_id", "description"):
        if getattr(ds, optional) is not None:
            args[optional] = getattr(ds, optional)
    return args


def _egress(settings: StackSettings, explicit: Optional[str]) -> Optional[str]:
    """A managed deployment's egress flag: not sent with a workspace managed network (outbound follows
    its rules; "the egress_public_network_access flag for the deployment no longer applies",
    https://learn.microsoft.com/azure/machine-learning/concept-secure-network-traffic-flow; the SDK
    then records its own default, Enabled, which the service ignores), else the workspace's public
    access (the legacy per-deployment isolation)."""
    if explicit is not None:
        return explicit
    if settings.workspace.managed_network != "Disabled":
        return None
    return settings.workspace.public_network_access


def online_endpoint_args(settings: StackSettings, index: int, workspace_id: str) -> Dict[str, Any]:
    """``OnlineEndpointArgs`` of ``online_endpoints[index]`` without workspace coordinates and compute
    id (pure mapping; asset references resolved against ``workspace_id``)."""
    from amlplatform.spec.endpoints import asset_id

    ep = settings.online_endpoints[index]
    target = next((k for k in settings.kubernetes if k.name == ep.compute), None)
    default_type = None
    if target is not None:
        default_type = target.default_instance_type or (target.instance_types[0].name if target.instance_types else None)
    deployments = []
    for d in ep.deployments:
        spec: Dict[str, Any] = {
            "name": d.name, "model": asset_id(d.model, workspace_id, "models"),
            "instance_count": d.instance_count, "app_insights": d.app_insights,
            "liveness_probe": d.liveness_probe.model_dump(), "readiness_probe": d.readiness_probe.model_dump(),
            "request": d.request.model_dump(), "instance_type": d.instance_type or default_type,
        }
        if d.scale is not None:
            spec["scale"] = d.scale.model_dump()
        if d.environment:
            spec["environment_id"] = asset_id(d.environment, workspace_id, "environments")
        if d.code:
            spec["code_id"] = asset_id(d.code, workspace_id, "codes")
            spec["scoring_script"] = d.scoring_script
        if d.environment_variables:
            spec["environment_variables"] = dict(d.environment_variables)
        if d.description:
            spec["description"] = d.description
        existing = _existing(settings, [d.model, d.environment, d.code], ["models", "environments", "codes"])
        if existing:
            spec["existing_assets"] = existing
        if ep.kind == "managed":
            egress = _egress(settings, d.egress_public_network_access)
            if egress is not None:
                spec["egress_public_network_access"] = egress
        deployments.append(spec)
    args: Dict[str, Any] = {
        "endpoint_name": ep.name, "kind": ep.kind, "auth_mode": ep.effective_auth_mode,
        "public_network_access": ep.public_network_access or settings.workspace.public_network_access,
        "tags": {**settings.all_tags(), **ep.tags}, "deployments": deployments,
        "traffic": ep.effective_traffic, "mirror_traffic": dict(ep.mirror_traffic),
    }
    for optional in ("key_auth_reason", "description"):
        if getattr(ep, optional) is not None:
            args[optional] = getattr(ep, optional)
    return args


def batch_endpoint_args(settings: StackSettings, index: int, workspace_id: str) -> Dict[str, Any]:
    """``BatchEndpointArgs`` of ``batch_endpoints[index]`` without workspace coordinates and cluster ids."""
    from amlplatform.spec.endpoints import asset_id

    ep = settings.batch_endpoints[index]
    deployments = []
    for d in ep.deployments:
        spec: Dict[str, Any] = {"name": d.name, "kind": d.kind, "compute_name": d.compute}
        if d.kind == "pipeline":
            spec["component_id"] = asset_id(d.component or "", workspace_id, "components")
            if d.settings:
                spec["settings"] = dict(d.settings)
        else:
            spec.update({"model": asset_id(d.model or "", workspace_id, "models"),
                         "instance_count": d.instance_count,
                         "max_concurrency_per_instance": d.max_concurrency_per_instance,
                         "mini_batch_size": d.mini_batch_size, "retries": d.retries,
                         "retry_timeout": d.retry_timeout, "error_threshold": d.error_threshold,
                         "output_action": d.output_action})
            if d.environment:
                spec["environment_id"] = asset_id(d.environment, workspace_id, "environments")
            if d.code:
                spec["code_id"] = asset_id(d.code, workspace_id, "codes")
                spec["scoring_script"] = d.scoring_script
        if d.description:
            spec["description"] = d.description
        existing = _existing(settings, [d.model, d.environment, d.code, d.component],
                             ["models", "environments", "codes", "components"])
        if existing:
            spec["existing_assets"] = existing
        deployments.append(spec)
    args: Dict[str, Any] = {"endpoint_name": ep.name, "tags": {**settings.all_tags(), **ep.tags},
                            "deployments": deployments}
    if ep.effective_default:
        args["default_deployment"] = ep.effective_default
    if ep.description:
        args["description"] = ep.description
    return args
