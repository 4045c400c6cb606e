"""The stack program: validated settings -> components -> stack outputs.

``infra/__main__.py`` calls :func:`run`; everything here takes plain, validated values, so the
same mapping is what ``pulumi up`` deploys and what ``amlplatform plan`` evaluates offline.
"""

import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import pulumi
from pulumi_azure_native import authorization, resources

from amlplatform.access import IdentityAccess, RoleAssignmentSpec, WorkspaceAccess
from amlplatform.compute import ComputeCluster, ComputeInstance
from amlplatform.diagnostics import AKS_LOG_CATEGORIES, send_to_log_analytics
from amlplatform.environments import Environment
from amlplatform.errors import UserError, redact
from amlplatform.kubernetes import KubernetesInferenceTarget
from amlplatform.network import PlatformNetwork
from amlplatform.platform import MLWorkspace
from amlplatform.registry import registry_needed
from amlplatform.settings import StackSettings, derived_network, settings_from_pulumi
from amlplatform.settings.access import ROLE_GUIDS, STORAGE_DATA_ROLES
from amlplatform.settings.compute import DEFAULT_BASE_IMAGE, ClusterSettings, KubernetesSettings
from amlplatform.settings.network import GROUP_ZONES, private_endpoint_groups
from amlplatform import naming

PLATFORM_NAME = "ml"


def _role_specs(settings: StackSettings, scope: str) -> List[RoleAssignmentSpec]:
    out: List[RoleAssignmentSpec] = []
    if scope == "workspace":
        # access.data_scientists: the workspace role, under the same logical names a role_assignments
        # entry had (moving an entry from role_assignments to access keeps its URN)
        for i, person in enumerate(settings.access.data_scientists):
            spec: RoleAssignmentSpec = {
                "principal_id": person.principal_id, "principal_type": person.principal_type,
                "role_definition_guid": ROLE_GUIDS["AzureML Data Scientist"], "role_name": "AzureML Data Scientist",
            }
            if person.description:
                spec["description"] = person.description
            out.append(_secret_safe(settings, spec, f"access.data_scientists[{i}]"))
    for i, ra in enumerate(settings.role_assignments):
        if ra.scope != scope:
            continue
        spec = {
            "principal_id": ra.principal_id, "principal_type": ra.principal_type,
            "role_definition_guid": ra.role_definition_guid(), "role_name": ra.role,
        }
        if ra.description:
            spec["description"] = ra.description
        out.append(_secret_safe(settings, spec, f"role_assignments[{i}]"))
    return out


def _secret_safe(settings: StackSettings, spec: RoleAssignmentSpec, where: str) -> RoleAssignmentSpec:
    """``spec`` with a ``name_label`` when its principal id is a secret: the logical name then holds a
    hash of ``where`` (the setting), not the id's characters (naming.name_part)."""
    if settings.holds_secret(spec["principal_id"]):
        spec["name_label"] = naming.name_part(spec["principal_id"], secret=True, where=where)
    return spec


def network_args(settings: StackSettings, *, resource_group_name: pulumi.Input[str]) -> Optional[Dict[str, Any]]:
    """The ``PlatformNetworkArgs`` for ``settings`` (None without a network; pure mapping)."""
    net = settings.network
    if net.mode == "none":
        return None
    zones = sorted({z for groups in private_endpoint_groups(settings).values() for g in groups for z in GROUP_ZONES[g]})
    args: Dict[str, Any] = {
        "resource_group_name": resource_group_name, "location": settings.location, "zones": zones,
        "existing_zone_ids": dict(net.private_dns.existing_zone_ids),
        "link_vnet_ids": list(net.private_dns.link_vnet_ids), "tags": settings.all_tags(),
    }
    if net.vnet is not None:
        names = naming.network_names(settings.naming.workload, settings.naming.environment, vnet=net.vnet.name)
        vnet: Dict[str, Any] = {
            "name": names.virtual_network, "address_space": list(net.vnet.address_space),
            "private_endpoints_subnet": {"name": names.private_endpoints_subnet,
                                         "prefix": net.vnet.private_endpoints_subnet,
                                         "nsg_name": names.private_endpoints_nsg},
        }
        if net.vnet.aks_subnet:
            vnet["aks_subnet"] = {"name": names.aks_subnet, "prefix": net.vnet.aks_subnet, "nsg_name": names.aks_nsg}
        args["vnet"] = vnet
    else:
        assert net.existing_subnets is not None
        args["private_endpoints_subnet_id"] = net.existing_subnets.private_endpoints
        if net.existing_subnets.aks:
            args["aks_subnet_id"] = net.existing_subnets.aks
    return args


def platform_args(settings: StackSettings, *, resource_group_name: pulumi.Input[str],
                  resource_group_id: pulumi.Input[str], tenant_id: pulumi.Input[str],
                  subscription_id: pulumi.Input[str],
                  private_endpoints: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The ``MLWorkspaceArgs`` for ``settings`` (pure mapping; defaults already applied).
    ``private_endpoints`` is ``{'subnet_id', 'dns_zone_ids'}`` of the stack's network, if any."""
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
            "soft_delete_retention_days": kv.soft_delete_retention_days, "create_mode": kv.create_mode,
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
    if ws.managed_network != "Disabled":
        out = settings.network.outbound
        workspace["provision_network_now"] = out.provision_now
        rules = out.outbound_rules()
        if rules:
            workspace["outbound_rules"] = rules
        if out.needs_firewall():
            workspace["firewall_sku"] = out.firewall_sku

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
        **({"private_endpoints": {**private_endpoints, "groups": private_endpoint_groups(settings)}}
           if private_endpoints else {}),
        "customer_managed_key": cmk_args(settings),
        "locks": lock_args(settings),
    }


def cmk_args(settings: StackSettings) -> Dict[str, Any]:
    """CustomerManagedKeyArgs without the vault coordinates; empty when the stack has no CMK (pure)."""
    enc = settings.encryption
    if not enc.customer_managed_key:
        return {}
    # a premium vault keeps the key in an HSM (RSA-HSM); standard vaults offer software keys only
    out: Dict[str, Any] = {"key_name": enc.key_name, "key_size": enc.key_size,
                           "hsm": settings.key_vault.sku == "premium"}
    if enc.identity_id:
        out["existing_identity_id"] = enc.identity_id
    else:
        # derived from the workspace's name (CAF prefix id-), so it follows a workspace name override
        out["identity_name"] = f"id-{settings.naming.names().workspace}-cmk"
    return out


def lock_args(settings: StackSettings) -> Dict[str, Any]:
    """Which created resources get a CanNotDelete lock (pure)."""
    locks = settings.locks
    if not locks.enabled:
        return {}
    return {**{r: True for r in locks.resources}, "notes": locks.notes}


def declare(settings: StackSettings, files: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """Declare every resource of the stack; returns the stack outputs.

    ``files`` maps the project-relative paths the settings name (conda files, setup scripts) to
    their content; by default they are read from the project folder."""
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

    net_args = network_args(settings, resource_group_name=resource_group_name)
    network = PlatformNetwork("network", net_args) if net_args is not None else None
    endpoints = None if network is None else {"subnet_id": network.private_endpoints_subnet_id,
                                              "dns_zone_ids": network.zone_id_inputs}
    platform = MLWorkspace(PLATFORM_NAME, platform_args(
        settings, resource_group_name=resource_group_name, resource_group_id=resource_group_id,
        tenant_id=tenant_id, subscription_id=client.subscription_id, private_endpoints=endpoints))

    declare_data_access(settings, platform, subscription_id=client.subscription_id)
    if files is None:
        files = read_project_files(settings, project_dir())
    compute_ids = declare_compute(settings, platform, files=files, resource_group_name=resource_group_name,
                                  tenant_id=tenant_id, subscription_id=client.subscription_id,
                                  aks_subnet_id=network.aks_subnet_input if network is not None else None,
                                  deployer_object_id=client.object_id)
    serving = declare_serving(settings, platform, compute_ids, resource_group_name=resource_group_name,
                              tenant_id=tenant_id, subscription_id=client.subscription_id)

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
        "compute_ids": compute_ids,
        **({"vnet_id": network.vnet_id, "private_endpoints_subnet_id": network.private_endpoints_subnet_id}
           if network is not None else {}),
        **serving,
    }


def run() -> None:
    """Entry point of ``infra/__main__.py``: read, validate, declare, export."""
    secrets: List[str] = []
    try:
        settings, secrets = settings_from_pulumi()
        files = read_project_files(settings, project_dir())
    except UserError as exc:
        # RunError prints the message without a Python traceback, before any resource exists;
        # secret values never (settings_from_pulumi redacts its own problems, this the rest)
        raise pulumi.RunError(redact(str(exc), secrets)) from None
    mark_secrets(secrets)
    try:
        outputs = declare(settings, files)
    except ValueError as exc:
        # components check their arguments (names, combinations) before declaring children
        raise pulumi.RunError(redact(f"invalid settings: {exc}", secrets)) from None
    for key, value in outputs.items():
        pulumi.export(key, _secret_if_contains(value, secrets))


# ------------------------------------------------------------------------------------ secrets

# A secret shorter than this is matched only as a whole value: a short text ("k8s") inside a
# longer one is more likely a coincidence than the secret.
_CONTAINED_MIN = 8


def _holds_secret(value: Any, secrets: Sequence[str]) -> bool:
    if isinstance(value, str):
        return any(value == s or (len(s) >= _CONTAINED_MIN and s in value) for s in secrets)
    if isinstance(value, Mapping):
        return any(_holds_secret(v, secrets) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_secret(v, secrets) for v in value)
    if _is_input_type(value):
        return any(_holds_secret(v, secrets) for v in vars(value).values())
    return False


def _is_input_type(value: Any) -> bool:
    from pulumi import _types

    return _types.is_input_type(type(value))


def _secret_if_contains(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` as a secret Output when it holds a secret text (plain, or once an Output resolves)."""
    if not secrets:
        return value
    if isinstance(value, pulumi.Output):
        return value.apply(lambda v: pulumi.Output.secret(v) if _holds_secret(v, secrets) else v)
    if _holds_secret(value, secrets):
        return pulumi.Output.secret(value)
    return value


def _wrap_secrets(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` with each part that holds a secret text made a secret Output, the rest untouched
    (a secret tenant id hides the vault's tenantId, not all of its properties)."""
    if isinstance(value, pulumi.Output):
        return _secret_if_contains(value, secrets)
    if not _holds_secret(value, secrets):
        return value
    if isinstance(value, str):
        return pulumi.Output.secret(value)
    if isinstance(value, Mapping):
        return {k: _wrap_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wrap_secrets(v, secrets) for v in value]
    if _is_input_type(value):
        import copy

        clone = copy.copy(value)
        clone.__dict__.update({k: _wrap_secrets(v, secrets) for k, v in vars(value).items()})
        return clone
    return pulumi.Output.secret(value)


def mark_secrets(secrets: Sequence[str]) -> None:
    """Every resource input that holds the text of a secret config value becomes a Pulumi secret.

    ``pulumi config set --secret`` marks the key secret (PULUMI_CONFIG_SECRET_KEYS) but the
    program receives its plain text; settings are plain values, so the secret-ness is restored
    where the values reach resources: a stack transformation wraps each input property that
    holds a secret text (equal to it, or containing it when it is at least 8 characters) in
    ``pulumi.Output.secret`` (only the parts of a structured input that hold it) - so it is
    encrypted in the state and masked in previews. Nothing is registered when the stack has no
    secrets.
    """
    texts = [s for s in secrets if s]
    if not texts:
        return

    def transform(args: pulumi.ResourceTransformationArgs) -> Optional[pulumi.ResourceTransformationResult]:
        props = dict(args.props)
        changed = False
        for key, value in props.items():
            if isinstance(value, pulumi.Output) or _holds_secret(value, texts):
                props[key] = _wrap_secrets(value, texts)
                changed = True
        if (args.type_ == "azure-native:authorization:RoleAssignment" and props.get("role_assignment_name") is not None
                and _holds_secret(args.props.get("principal_id"), texts)):
            # the assignment's GUID derives from the secret principal: a secret too (so a preview
            # masks it, and offline - where only a stand-in is known - no made-up GUID is shown)
            props["role_assignment_name"] = pulumi.Output.secret(props["role_assignment_name"])
            changed = True
        return pulumi.ResourceTransformationResult(props, args.opts) if changed else None

    pulumi.runtime.register_stack_transformation(transform)


# ------------------------------------------------------------------------------- data access

def storage_role_specs(settings: StackSettings) -> List[RoleAssignmentSpec]:
    """Data-plane roles of people on the storage account (pure): data scientists, and each compute
    instance user (notebooks live on the account's file share). One entry per (principal, role)."""
    people: Dict[str, Dict[str, Any]] = {}
    for i, person in enumerate(settings.access.data_scientists):
        people.setdefault(person.principal_id, {"type": person.principal_type,
                                                "description": person.description or "data scientist",
                                                "where": f"access.data_scientists[{i}]"})
    if settings.access.instance_users and settings.instances:
        for i, user in enumerate(settings.instances.users):
            people.setdefault(user.object_id, {"type": "User", "description": "compute instance user (notebooks)",
                                               "where": f"instances.users[{i}]"})
    out: List[RoleAssignmentSpec] = []
    for principal, info in people.items():
        for role in STORAGE_DATA_ROLES:
            out.append(_secret_safe(settings, {"principal_id": principal, "principal_type": info["type"],
                                               "role_definition_guid": ROLE_GUIDS[role], "role_name": role,
                                               "description": info["description"]}, info["where"]))
    return out


def has_registry(settings: StackSettings) -> bool:
    reg = settings.registry
    return reg.mode == "existing" or registry_needed(reg.mode, settings.needs_images())


def declare_data_access(settings: StackSettings, platform: MLWorkspace, *,
                        subscription_id: pulumi.Input[str]) -> None:
    """People's data-plane roles on the storage account (settings/access.py says why)."""
    specs = storage_role_specs(settings)
    if specs:
        WorkspaceAccess("storage-access", {"scope": platform.storage_account_id,
                                           "subscription_id": subscription_id, "assignments": specs})


def compute_identity_grants(settings: StackSettings, platform: MLWorkspace) -> List[Dict[str, Any]]:
    """What a compute's managed identity needs for jobs: blob data on the storage account, AcrPull on
    the registry (learn.microsoft.com/azure/machine-learning/how-to-identity-based-service-authentication)."""
    grants: List[Dict[str, Any]] = [{
        "scope": platform.storage_account_id, "scope_label": "storage",
        "roles": [{"principal_id": "", "principal_type": "ServicePrincipal",
                   "role_definition_guid": ROLE_GUIDS["Storage Blob Data Contributor"],
                   "role_name": "Storage Blob Data Contributor",
                   "description": "jobs read and write the workspace's data with the compute's identity"}]}]
    if has_registry(settings):
        grants.append({"scope": platform.container_registry_id, "scope_label": "registry",
                       "roles": [{"principal_id": "", "principal_type": "ServicePrincipal",
                                  "role_definition_guid": ROLE_GUIDS["AcrPull"], "role_name": "AcrPull",
                                  "description": "computes pull environment images with their identity"}]})
    return grants


# ------------------------------------------------------------------------------------ compute

def project_dir() -> Path:
    """The folder of ``Pulumi.yaml``: above the running program (``infra/__main__.py``), else the
    working directory."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    starts = [Path(main_file).resolve().parent] if main_file else []
    starts.append(Path.cwd().resolve())
    for start in starts:
        for folder in (start, *start.parents):
            if (folder / "Pulumi.yaml").is_file():
                return folder
    return Path.cwd()


def project_paths(settings: StackSettings) -> Dict[str, str]:
    """Setting -> project-relative path of every file the settings name."""
    out: Dict[str, str] = {}
    for i, env in enumerate(settings.environments):
        if env.conda_file:
            out[f"environments[{i}].conda_file"] = env.conda_file
    if settings.instances and settings.instances.setup_script:
        out["instances.setup_script.path"] = settings.instances.setup_script.path
    return out


def read_project_files(settings: StackSettings, root: Path) -> Dict[str, str]:
    """The content of every file the settings name, read at settings time (components never read
    files). A missing file is a :class:`UserError` naming the setting."""
    contents: Dict[str, str] = {}
    problems: List[str] = []
    base = root.resolve()
    for field, rel in project_paths(settings).items():
        path = (base / rel).resolve()
        if base not in path.parents:
            problems.append(f"{field}: {rel!r} must be inside the project folder {base}")
            continue
        try:
            contents[rel] = path.read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError):
            problems.append(f"{field}: no file {rel!r} in the project folder {base}")
        except UnicodeDecodeError:
            problems.append(f"{field}: {rel!r} is not UTF-8 text")
    if problems:
        raise UserError(f"files named in the stack settings ({len(problems)} problem"
                        f"{'s' if len(problems) != 1 else ''}):", problems)
    return contents


def _public_ip(settings: StackSettings, explicit: Optional[bool], subnet: Optional[str]) -> bool:
    """Nodes get no public IP in a subnet or a managed network; otherwise they need one to reach
    the workspace's dependencies."""
    if explicit is not None:
        return explicit
    return subnet is None and settings.workspace.managed_network == "Disabled"


def cluster_args(settings: StackSettings, cluster: ClusterSettings) -> Dict[str, Any]:
    """``ComputeClusterArgs`` without the workspace coordinates (pure mapping)."""
    args: Dict[str, Any] = {
        "compute_name": cluster.name, "vm_size": cluster.vm_size, "priority": cluster.priority,
        "min_nodes": cluster.min_nodes, "max_nodes": cluster.max_nodes,
        "idle_time_before_scale_down": cluster.idle_time_before_scale_down,
        "node_public_ip": _public_ip(settings, cluster.node_public_ip, cluster.subnet_id),
        "remote_login_port_public_access": cluster.remote_login_port_public_access,
        "identity": cluster.identity, "os_type": cluster.os_type, "tags": settings.all_tags(),
    }
    for optional in ("subnet_id", "user_assigned_identity_id", "description"):
        if getattr(cluster, optional) is not None:
            args[optional] = getattr(cluster, optional)
    return args


def instance_args(settings: StackSettings, files: Mapping[str, str]) -> List[Dict[str, Any]]:
    """``ComputeInstanceArgs`` per listed user, without workspace coordinates and tenant."""
    inst = settings.instances
    if inst is None:
        return []
    out = []
    for user in inst.users:
        args: Dict[str, Any] = {
            "compute_name": inst.instance_name(user, settings.naming.scope(), secret=settings.holds_secret(user.object_id)),
            "user_object_id": user.object_id,
            "vm_size": user.vm_size or inst.vm_size,
            "idle_time_before_shutdown": inst.idle_time_before_shutdown if inst.idle_shutdown else "",
            "node_public_ip": _public_ip(settings, inst.node_public_ip, inst.subnet_id),
            "schedules": [s.model_dump() for s in inst.schedules],
            "tags": settings.all_tags(),
        }
        if user.tenant_id:
            args["user_tenant_id"] = user.tenant_id
        if inst.subnet_id:
            args["subnet_id"] = inst.subnet_id
        if inst.setup_script:
            script = inst.setup_script
            args["setup_script"] = {"content": files[script.path], "when": script.when, "timeout": script.timeout}
            if script.arguments:
                args["setup_script"]["arguments"] = script.arguments
        out.append(args)
    return out


def kubernetes_args(settings: StackSettings, target: KubernetesSettings) -> Dict[str, Any]:
    """``KubernetesInferenceTargetArgs`` without workspace coordinates (pure mapping)."""
    ext = target.extension
    pools = {key: {**pool.model_dump(), "encryption_at_host": target.pool_encryption_at_host(pool)}
             for key, pool in (("system_pool", target.system_pool), ("inference_pool", target.inference_pool))}
    args: Dict[str, Any] = {
        "compute_name": target.name, "attach": target.attach, "namespace": target.namespace,
        "trusted_access": target.trusted_access,
        "install_extension": ext.install, "extension_name": ext.name,
        "extension": ext.model_dump(exclude={"install", "name"}),
        "instance_types": [{k: v for k, v in t.model_dump().items() if v is not None}
                           for t in target.instance_types],
        "tags": settings.all_tags(),
    }
    # an instance type without a node selector runs on the inference pool
    for t in args["instance_types"]:
        if "node_selector" not in t and target.inference_pool.labels:
            t["node_selector"] = dict(target.inference_pool.labels)
    if target.default_instance_type:
        args["default_instance_type"] = target.default_instance_type
    if target.existing_id:
        args["existing_cluster_id"] = target.existing_id
        args["kubeconfig"] = target.kubeconfig
    else:
        cluster: Dict[str, Any] = {
            "aks_name": target.aks_name or settings.naming.names().aks,
            "sku_tier": target.sku_tier, "upgrade_channel": target.upgrade_channel,
            "node_os_upgrade_channel": target.node_os_upgrade_channel,
            "network_plugin": target.network_plugin, "network_policy": target.network_policy,
            "disable_local_accounts": target.disable_local_accounts,
            "admin_group_object_ids": list(target.admin_group_object_ids),
            "api_server_access": target.api_server_access,
            "authorized_ip_ranges": list(target.authorized_ip_ranges),
            "pod_cidr": target.pod_cidr, "service_cidr": target.service_cidr,
            "dns_service_ip": target.dns_service_ip, "defender": target.defender,
            "azure_policy": target.azure_policy, "container_insights": target.container_insights,
            "key_vault_secrets_provider": target.key_vault_secrets_provider, **pools,
            "encryption_at_host_registered": target.encryption_at_host_registered,
        }
        for optional in ("kubernetes_version", "subnet_id"):
            if getattr(target, optional) is not None:
                cluster[optional] = getattr(target, optional)
        args["cluster"] = cluster
        args["kubelogin_mode"] = target.kubelogin_mode
    return args


def environment_args(settings: StackSettings, files: Mapping[str, str]) -> List[Dict[str, Any]]:
    out = []
    for env in settings.environments:
        args: Dict[str, Any] = {"environment_name": env.name, "version": env.version, "os_type": env.os_type,
                                "tags": {**env.tags}}
        if env.image:
            args["image"] = env.image
        else:
            args["conda_file"] = files[env.conda_file]
            args["base_image"] = env.base_image or DEFAULT_BASE_IMAGE
        if env.description:
            args["description"] = env.description
        out.append(args)
    return out


def declare_compute(settings: StackSettings, platform: MLWorkspace, *, files: Mapping[str, str],
                    resource_group_name: pulumi.Input[str], tenant_id: pulumi.Input[str],
                    subscription_id: pulumi.Input[str], aks_subnet_id: Optional[pulumi.Input[str]] = None,
                    deployer_object_id: Optional[pulumi.Input[str]] = None) -> Dict[str, pulumi.Output[str]]:
    """Clusters, instances, Kubernetes targets and environments; returns compute name -> ARM id of
    what jobs and deployments target (clusters and Kubernetes computes; instances are personal)."""
    ws = {"resource_group_name": resource_group_name, "workspace_name": platform.workspace_name}
    location = settings.location
    compute_ids: Dict[str, pulumi.Output[str]] = {}
    for cluster in settings.clusters:
        created = ComputeCluster(f"cluster-{cluster.name.lower()}",
                                 {**ws, "location": location, **cluster_args(settings, cluster)})
        compute_ids[cluster.name] = created.id
        if settings.access.compute_identities and cluster.identity == "SystemAssigned":
            IdentityAccess(f"cluster-{cluster.name.lower()}-access", {
                "subscription_id": subscription_id,
                "principal_id": created.principal_id,
                "grants": compute_identity_grants(settings, platform)})
    for args in instance_args(settings, files):
        args.setdefault("user_tenant_id", tenant_id)
        ComputeInstance(f"instance-{args['compute_name'].lower()}", {**ws, "location": location, **args})
    for target in settings.kubernetes:
        args = {**ws, "location": location, "subscription_id": subscription_id, **kubernetes_args(settings, target)}
        if settings.workspace.identity == "SystemAssigned":
            # with a user-assigned identity, that identity must already hold Reader on the cluster
            args["workspace_principal_id"] = platform.principal_id
        if target.trusted_access:
            args["workspace_id"] = platform.workspace_id
        mon = settings.monitoring
        has_log_analytics = mon.existing_app_insights_id is None or mon.existing_log_analytics_id is not None
        if "cluster" in args:
            args["cluster"]["tenant_id"] = tenant_id
            if "subnet_id" not in args["cluster"] and aks_subnet_id is not None:
                args["cluster"]["subnet_id"] = aks_subnet_id  # the stack's VNet (settings/network.py)
            if target.disable_local_accounts:
                args["deployer_principal_id"] = target.deployer_object_id or deployer_object_id
                # azure-native sends principalType User when none is given, and Azure refuses a type that
                # does not match the principal (UnmatchedPrincipalType): the kind is a setting, default
                # ServicePrincipal (a pipeline); a person running `pulumi up` sets User
                args["deployer_principal_type"] = target.deployer_principal_type
            if has_log_analytics and (target.defender or target.container_insights):
                args["cluster"]["log_analytics_workspace_id"] = platform.log_analytics_id
        if platform.workspace_private_path:
            args["attach_waits_for"] = [r.id for r in platform.workspace_private_path]
        created_target = KubernetesInferenceTarget(f"k8s-{target.name.lower()}", args)
        if "cluster" in args and settings.diagnostics.enabled and has_log_analytics:
            # control-plane logs of the created cluster (diagnostics.AKS_LOG_CATEGORIES says which)
            send_to_log_analytics(created_target, f"k8s-{target.name.lower()}-diagnostics",
                                  resource_id=created_target.cluster_id,
                                  log_analytics_workspace_id=platform.log_analytics_id,
                                  log_categories=AKS_LOG_CATEGORIES)
        if target.attach:
            compute_ids[target.name] = created_target.compute_id
        else:
            # attached on an earlier deploy: its id is known without declaring the attach again
            compute_ids[target.name] = pulumi.Output.concat(platform.workspace_id, "/computes/", target.name)
    for args in environment_args(settings, files):
        Environment(f"env-{args['environment_name'].lower()}", {**ws, **args})
    return compute_ids


# ------------------------------------------------------------------------ datastores and serving

def datastore_secret(settings: StackSettings, index: int) -> Optional[pulumi.Output]:
    """The credential of ``datastores[index]`` from Pulumi *secret* configuration (None when the
    datastore is identity-based). A missing key, or one that is not a secret, is refused naming the
    setting: a credential never comes from plain configuration."""
    from pulumi.runtime.config import get_config, get_config_secret_keys_env, is_config_secret

    ds = settings.datastores[index]
    if ds.auth == "identity" or ds.secret_config_key is None:
        return None
    key = ds.secret_config_key
    namespace, _, name = key.partition(":")
    field = f"datastores[{index}].secret_config_key"
    if get_config(key) is None:  # (Config.get would read a secret in the clear)
        raise ValueError(f"{field}: the stack has no config key {key!r}; set it with "
                         f"`pulumi config set --secret {key} <value>`")
    if not (is_config_secret(key) or key in get_config_secret_keys_env()):
        raise ValueError(f"{field}: config key {key!r} is not a secret; plain values are refused, set it with "
                         f"`pulumi config set --secret {key} <value>`")
    return pulumi.Config(namespace).require_secret(name)


def datastore_args(settings: StackSettings, index: int) -> Dict[str, Any]:
    """``DatastoreArgs`` of ``datastores[index]`` without workspace coordinates, storage id, principal
    and secret (pure mapping)."""
    from amlplatform.settings.datastores import ROLES

    ds = settings.datastores[index]
    args: Dict[str, Any] = {
        "datastore_name": ds.name, "kind": ds.kind, "container": ds.container,
        "create_container": ds.creates_container,
        "credentials": "none" if ds.auth == "identity" else ds.auth,
        "service_identity": ("WorkspaceSystemAssignedIdentity" if settings.workspace.identity == "SystemAssigned"
                             else "WorkspaceUserAssignedIdentity"),
        "tags": {**ds.tags},
        "readers": [_secret_safe(settings, {"principal_id": r.principal_id, "principal_type": r.principal_type,
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
    from amlplatform.settings.endpoints import asset_id

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
    from amlplatform.settings.endpoints import asset_id

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


def declare_serving(settings: StackSettings, platform: MLWorkspace, compute_ids: Mapping[str, pulumi.Output[str]], *,
                    resource_group_name: pulumi.Input[str], tenant_id: pulumi.Input[str],
                    subscription_id: pulumi.Input[str]) -> Dict[str, Any]:
    """Datastores, online and batch endpoints; returns their stack outputs (empty when none)."""
    from amlplatform.datastores import Datastore
    from amlplatform.endpoints import BatchEndpoint, OnlineEndpoint

    if not (settings.datastores or settings.online_endpoints or settings.batch_endpoints):
        return {}
    ws = {"resource_group_name": resource_group_name, "workspace_name": platform.workspace_name}
    datastores: Dict[str, pulumi.Output[str]] = {}
    for i, ds in enumerate(settings.datastores):
        args = {**ws, "subscription_id": subscription_id, **datastore_args(settings, i),
                "storage_account_id": ds.storage_account_id or platform.storage_account_id}
        if "workspace_role_guid" in args and settings.workspace.identity == "SystemAssigned":
            args["workspace_principal_id"] = platform.principal_id
        else:
            args.pop("workspace_role_guid", None)  # a user-assigned identity brings its own roles
        secret = datastore_secret(settings, i)
        if secret is not None:
            args["secret"] = secret
        if ds.auth == "service_principal":
            args["tenant_id"] = ds.tenant_id or tenant_id
        datastores[ds.name] = Datastore(f"datastore-{ds.name.lower()}", args).id

    online: Dict[str, pulumi.Output[str]] = {}
    for i, ep in enumerate(settings.online_endpoints):
        # asset ids are resolved inside an apply of the workspace id (plain strings, no resources)
        args = online_endpoint_args(settings, i, "{workspace}")
        for spec in args["deployments"]:
            for key in ("model", "environment_id", "code_id"):
                if isinstance(spec.get(key), str) and spec[key].startswith("{workspace}"):
                    spec[key] = platform.workspace_id.apply(lambda w, v=spec[key]: v.replace("{workspace}", w))
        if ep.kind == "kubernetes":
            args["compute_id"] = compute_ids[ep.compute or ""]
        online[ep.name] = OnlineEndpoint(f"online-{ep.name.lower()}", {**ws, "location": settings.location,
                                                                       **args}).id
    batch: Dict[str, pulumi.Output[str]] = {}
    for i, ep in enumerate(settings.batch_endpoints):
        args = batch_endpoint_args(settings, i, "{workspace}")
        for spec in args["deployments"]:
            for key in ("model", "environment_id", "code_id", "component_id"):
                if isinstance(spec.get(key), str) and spec[key].startswith("{workspace}"):
                    spec[key] = platform.workspace_id.apply(lambda w, v=spec[key]: v.replace("{workspace}", w))
            spec["compute_id"] = compute_ids[spec.pop("compute_name")]
        batch[ep.name] = BatchEndpoint(f"batch-{ep.name.lower()}", {**ws, "location": settings.location, **args}).id
    return {"datastore_ids": datastores, "online_endpoint_ids": online, "batch_endpoint_ids": batch}
