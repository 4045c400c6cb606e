"""The stack program: validated settings -> components -> stack outputs.

``infra/__main__.py`` calls :func:`run`; everything here takes plain, validated values, so the
same mapping is what ``pulumi up`` deploys and what ``amlplatform plan`` evaluates offline.
"""

import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import pulumi
from pulumi_azure_native import authorization, resources

from amlplatform.access import RoleAssignmentSpec
from amlplatform.compute import ComputeCluster, ComputeInstance
from amlplatform.environments import Environment
from amlplatform.errors import UserError
from amlplatform.kubernetes import KubernetesInferenceTarget
from amlplatform.network import PlatformNetwork
from amlplatform.platform import MLWorkspace
from amlplatform.settings import StackSettings, derived_network, settings_from_pulumi
from amlplatform.settings.compute import DEFAULT_BASE_IMAGE, ClusterSettings, KubernetesSettings
from amlplatform.settings.network import GROUP_ZONES, private_endpoint_groups
from amlplatform import naming

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
    }


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

    if files is None:
        files = read_project_files(settings, project_dir())
    compute_ids = declare_compute(settings, platform, files=files, resource_group_name=resource_group_name,
                                  tenant_id=tenant_id, subscription_id=client.subscription_id,
                                  aks_subnet_id=network.aks_subnet_input if network is not None else None,
                                  deployer_object_id=client.object_id)

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
    }


def run() -> None:
    """Entry point of ``infra/__main__.py``: read, validate, declare, export."""
    try:
        settings = settings_from_pulumi()
        files = read_project_files(settings, project_dir())
    except UserError as exc:
        # RunError prints the message without a Python traceback, before any resource exists
        raise pulumi.RunError(str(exc)) from None
    try:
        outputs = declare(settings, files)
    except ValueError as exc:
        # components check their arguments (names, combinations) before declaring children
        raise pulumi.RunError(f"invalid settings: {exc}") from None
    for key, value in outputs.items():
        pulumi.export(key, value)


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
            "compute_name": inst.instance_name(user, settings.naming.scope()), "user_object_id": user.object_id,
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
        if platform.workspace_private_path:
            args["attach_waits_for"] = list(platform.workspace_private_path)
            mon = settings.monitoring
            has_log_analytics = mon.existing_app_insights_id is None or mon.existing_log_analytics_id is not None
            if has_log_analytics and (target.defender or target.container_insights):
                args["cluster"]["log_analytics_workspace_id"] = platform.log_analytics_id
        created_target = KubernetesInferenceTarget(f"k8s-{target.name.lower()}", args)
        if target.attach:
            compute_ids[target.name] = created_target.compute_id
        else:
            # attached on an earlier deploy: its id is known without declaring the attach again
            compute_ids[target.name] = pulumi.Output.concat(platform.workspace_id, "/computes/", target.name)
    for args in environment_args(settings, files):
        Environment(f"env-{args['environment_name'].lower()}", {**ws, **args})
    return compute_ids
