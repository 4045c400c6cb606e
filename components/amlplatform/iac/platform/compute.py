"""MLPlatform's decisions about computes: clusters, instances, Kubernetes targets and environments
(node public IPs follow the network, instance types run on the inference pool, ...). Pure mappings
from the validated platform model to component arguments.
"""

from typing import Any, Dict, List, Mapping, Optional

from amlplatform.spec.compute import DEFAULT_BASE_IMAGE, ClusterSettings, KubernetesSettings
from amlplatform.spec.platform import StackSettings


def needed_files(settings: StackSettings) -> Dict[str, str]:
    """Setting -> path of every file the settings name (their content comes in MLPlatformArgs.files)."""
    out: Dict[str, str] = {}
    for i, env in enumerate(settings.environments):
        if env.conda_file:
            out[f"environments[{i}].conda_file"] = env.conda_file
    if settings.instances and settings.instances.setup_script:
        out["instances.setup_script.path"] = settings.instances.setup_script.path
    return out


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
        "extension": ext.model_dump(exclude={"install", "name", "ssl_cert_config_key", "ssl_key_config_key"}),
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
            "outbound_type": target.outbound_type,
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
