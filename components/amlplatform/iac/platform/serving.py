"""MLPlatform's decisions about datastores and endpoints (identity-based access, the deployments'
egress under a managed network, default instance types). Pure mappings from the validated platform
model to component arguments.
"""

from typing import Any, Dict, Optional

from amlplatform.iac.platform.workspace import secret_safe
from amlplatform.spec.platform import StackSettings


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
        deployments.append(spec)
    args: Dict[str, Any] = {"endpoint_name": ep.name, "tags": {**settings.all_tags(), **ep.tags},
                            "deployments": deployments}
    if ep.effective_default:
        args["default_deployment"] = ep.effective_default
    if ep.description:
        args["description"] = ep.description
    return args
