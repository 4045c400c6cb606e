"""The stack program: validated settings -> components -> stack outputs.

``infra/__main__.py`` calls :func:`run`; everything here takes plain, validated values, so the
same mapping is what ``pulumi up`` deploys and what ``amlplatform plan`` evaluates offline.
"""

from typing import Any, Dict, List

import pulumi
from pulumi_azure_native import authorization, resources

from amlplatform.access import RoleAssignmentSpec
from amlplatform.errors import UserError
from amlplatform.platform import MLWorkspace
from amlplatform.settings import StackSettings, derived_network, settings_from_pulumi

PLATFORM_NAME = "ml"


def _role_specs(settings: StackSettings, scope: str) -> List[RoleAssignmentSpec]:
    out: List[RoleAssignmentSpec] = []
    for ra in settings.role_assignments:
        if ra.scope != scope:
            continue
        spec: RoleAssignmentSpec = {
            "principal_id": ra.principal_id, "principal_type": ra.principal_type,
            "role_definition_guid": ra.role_definition_guid(), "role_name": ra.role,
        }
        if ra.description:
            spec["description"] = ra.description
        out.append(spec)
    return out


def platform_args(settings: StackSettings, *, resource_group_name: pulumi.Input[str],
                  resource_group_id: pulumi.Input[str], tenant_id: pulumi.Input[str],
                  subscription_id: pulumi.Input[str]) -> Dict[str, Any]:
    """The ``MLWorkspaceArgs`` for ``settings`` (pure mapping; defaults already applied)."""
    names = settings.naming.names()
    ws = settings.workspace
    st, kv, mon, reg = settings.storage, settings.key_vault, settings.monitoring, settings.registry

    if st.existing_id:
        storage: Dict[str, Any] = {"existing_id": st.existing_id}
    else:
        storage = {
            "sku": st.sku, "allow_shared_key_access": st.allow_shared_key_access,
            "network_default_action": derived_network(ws, st.network_default_action, "default_action"),
            "public_network_access": derived_network(ws, st.public_network_access, "public_access"),
            "blob_soft_delete_days": st.blob_soft_delete_days,
            "container_soft_delete_days": st.container_soft_delete_days,
            "versioning": st.versioning,
        }
    if kv.existing_id:
        key_vault: Dict[str, Any] = {"existing_id": kv.existing_id}
    else:
        key_vault = {
            "sku": kv.sku, "purge_protection": kv.purge_protection,
            "soft_delete_retention_days": kv.soft_delete_retention_days,
            "network_default_action": derived_network(ws, kv.network_default_action, "default_action"),
            "public_network_access": derived_network(ws, kv.public_network_access, "public_access"),
        }
    monitoring: Dict[str, Any] = {
        "retention_days": mon.retention_days,
        "app_insights_local_auth": mon.app_insights_local_auth,
        "public_ingestion": mon.public_ingestion, "public_query": mon.public_query,
    }
    if mon.daily_quota_gb:
        monitoring["daily_quota_gb"] = mon.daily_quota_gb
    if mon.existing_log_analytics_id:
        monitoring["existing_log_analytics_id"] = mon.existing_log_analytics_id
    if mon.existing_app_insights_id:
        monitoring["existing_app_insights_id"] = mon.existing_app_insights_id

    registry: Dict[str, Any] = {"existing_id": reg.existing_id} if reg.mode == "existing" else {
        "sku": reg.sku,
        "public_network_access": derived_network(ws, reg.public_network_access, "public_access"),
        "zone_redundancy": reg.zone_redundancy,
        "untagged_retention_days": reg.untagged_retention_days,
    }
    workspace: Dict[str, Any] = {
        "identity": ws.identity, "public_network_access": ws.public_network_access,
        "managed_network": ws.managed_network, "hbi_workspace": ws.hbi_workspace,
        "system_datastores_auth_mode": ws.system_datastores_auth_mode,
    }
    for optional in ("user_assigned_identity_id", "image_build_compute", "friendly_name", "description"):
        if getattr(ws, optional) is not None:
            workspace[optional] = getattr(ws, optional)

    return {
        "resource_group_name": resource_group_name,
        "resource_group_id": resource_group_id,
        "location": settings.location,
        "tenant_id": tenant_id,
        "subscription_id": subscription_id,
        "names": {
            "storage_account": names.storage_account, "key_vault": names.key_vault,
            "container_registry": names.container_registry, "workspace": names.workspace,
            "log_analytics": names.log_analytics, "app_insights": names.app_insights,
        },
        "tags": settings.all_tags(),
        "protect": settings.protect,
        "storage": storage,
        "key_vault": key_vault,
        "monitoring": monitoring,
        "registry_mode": reg.mode,
        "registry": registry,
        "needs_images": settings.needs_images(),
        "workspace": workspace,
        "role_assignments": _role_specs(settings, "workspace"),
        "resource_group_role_assignments": _role_specs(settings, "resource_group"),
        "diagnostics": settings.diagnostics.enabled,
    }


def declare(settings: StackSettings) -> Dict[str, Any]:
    """Declare every resource of the stack; returns the stack outputs."""
    client = authorization.get_client_config_output()
    tenant_id = settings.tenant_id or client.tenant_id
    names = settings.naming.names()
    rg_name = settings.resource_group.name or names.resource_group
    if settings.resource_group.existing:
        resource_group_name: pulumi.Input[str] = rg_name
        resource_group_id: pulumi.Input[str] = client.subscription_id.apply(
            lambda sub: f"/subscriptions/{sub}/resourceGroups/{rg_name}")
    else:
        group = resources.ResourceGroup(
            "resource-group", resource_group_name=rg_name, location=settings.location,
            tags=settings.all_tags())
        resource_group_name, resource_group_id = group.name, group.id

    platform = MLWorkspace(PLATFORM_NAME, platform_args(
        settings, resource_group_name=resource_group_name, resource_group_id=resource_group_id,
        tenant_id=tenant_id, subscription_id=client.subscription_id))

    return {
        "location": settings.location,
        "resource_group_name": resource_group_name,
        "workspace_id": platform.workspace_id,
        "workspace_name": platform.workspace_name,
        "discovery_url": platform.discovery_url,
        "mlflow_tracking_uri": platform.mlflow_tracking_uri,
        "workspace_principal_id": platform.principal_id,
        "storage_account_id": platform.storage_account_id,
        "key_vault_id": platform.key_vault_id,
        "app_insights_id": platform.app_insights_id,
        "log_analytics_id": platform.log_analytics_id,
        "container_registry_id": platform.container_registry_id,
        "registry_login_server": platform.registry_login_server,
        "compute_ids": {},
    }


def run() -> None:
    """Entry point of ``infra/__main__.py``: read, validate, declare, export."""
    try:
        settings = settings_from_pulumi()
    except UserError as exc:
        # RunError prints the message without a Python traceback, before any resource exists
        raise pulumi.RunError(str(exc)) from None
    for key, value in declare(settings).items():
        pulumi.export(key, value)
