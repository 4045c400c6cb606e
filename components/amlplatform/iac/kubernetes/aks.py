"""The AKS cluster of a Kubernetes inference target: cluster, node pools, add-ons, API server
access and the kubeconfig the program's Kubernetes provider uses.

Every constraint comes with the AKS doc it is from; the component that declares the cluster is
:class:`amlplatform.iac.kubernetes.target.KubernetesInferenceTarget`.
"""

import base64
import os
import re
from typing import Dict, List, Mapping, Optional, TypedDict

import pulumi
import yaml
from pulumi_azure_native import containerservice, monitor
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.azure.kubernetes import CONTAINER_INSIGHTS_EXTENSION, CONTAINER_INSIGHTS_STREAM
from amlplatform.iac._base import child

# AKS defaults for overlay networking (learn.microsoft.com/azure/aks/azure-cni-overlay: pod CIDR
# 10.244.0.0/16; service CIDR 10.0.0.0/16 with the DNS service at 10.0.0.10). Neither may overlap
# the cluster's virtual network; settings/network.py checks that against the stack's VNet.
DEFAULT_POD_CIDR = "10.244.0.0/16"
DEFAULT_SERVICE_CIDR = "10.0.0.0/16"
DEFAULT_DNS_SERVICE_IP = "10.0.0.10"
API_SERVER_ACCESS = ("private", "authorized_ranges", "public")
# Host-based encryption needs the subscription feature Microsoft.Compute/EncryptionAtHost registered
# (learn.microsoft.com/azure/aks/enable-host-encryption, "Before you begin"); a subscription feature
# is not a resource of the stack, so a cluster whose stack states it is registered carries this tag
# (value "registered"). A tag is no proof of the registration: AMLD-011 asks for Azure's answer
# (amlplatform preflight --check) instead.
ENCRYPTION_AT_HOST_TAG = "amlplatform.io/encryption-at-host-feature"

_CLUSTER_ID = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.ContainerService"
    r"/managedClusters/(?P<name>[^/]+)", re.IGNORECASE)


def parse_cluster_id(cluster_id: str) -> Dict[str, str]:
    """``{'resource_group': ..., 'name': ...}`` of an AKS cluster's ARM id."""
    m = _CLUSTER_ID.fullmatch(cluster_id or "")
    if not m:
        raise ValueError(f"not the ARM id of an AKS cluster: {cluster_id!r}")
    return {"resource_group": m.group("rg"), "name": m.group("name")}


def api_server_profile(name: str, spec: Mapping) -> Optional[dict]:
    """``apiServerAccessProfile`` for the explicit choice ``spec['api_server_access']``.

    * private: the API server gets a private endpoint in the nodes' VNet. Its name resolves in
      ``spec['private_dns_zone_id']`` (a zone of one's own, privatelink.<region>.azmk8s.io, which the
      stack links to the deployer's network; it needs a user-assigned cluster identity) or, without
      one, in a zone AKS manages ("system") that is linked to the cluster's VNet only: the deployer
      must then run inside that VNet (learn.microsoft.com/azure/aks/private-clusters).
    * authorized_ranges: a public API server that answers only ``authorized_ip_ranges``
      (learn.microsoft.com/azure/aks/api-server-authorized-ip-ranges); the ranges must hold the
      deploy pipeline's egress addresses, so there is no default.
    * public: no restriction.
    """
    access = spec.get("api_server_access")
    ranges = list(spec.get("authorized_ip_ranges") or [])
    if access not in API_SERVER_ACCESS:
        raise ValueError(f"{name}: api_server_access must be one of {', '.join(API_SERVER_ACCESS)}, got {access!r}")
    if access == "authorized_ranges":
        if not ranges:
            raise ValueError(f"{name}: api_server_access authorized_ranges needs authorized_ip_ranges")
        return {"authorized_ip_ranges": ranges}
    if ranges:
        raise ValueError(f"{name}: authorized_ip_ranges are only used with api_server_access authorized_ranges")
    if access == "private":
        return {"enable_private_cluster": True, "private_dns_zone": spec.get("private_dns_zone_id") or "system",
                "enable_private_cluster_public_fqdn": False}
    return None


_DNS_PREFIX_MAX = 54


def dns_prefix(aks_name: str) -> str:
    """The cluster's DNS prefix from its name: letters, digits and '-', 1-54 characters, starting
    and ending with a letter or digit (the AKS name may also hold '_' and run to 63). Create-only
    on the service, so it depends on nothing but the name."""
    prefix = re.sub(r"[^A-Za-z0-9-]", "-", aks_name)[:_DNS_PREFIX_MAX].strip("-")
    if not prefix:
        raise ValueError(f"no DNS prefix can be made from the AKS name {aks_name!r}")
    return prefix


KUBELOGIN_MODES = ("azurecli", "workloadidentity", "msi", "spn")
# flags of `kubelogin get-token` that belong to the device-code login AKS writes by default:
# --client-id there is the AKS client application, which spn/msi would misread as their own
_DROPPED_FLAGS = ("--login", "-l", "--client-id")


def kubeconfig_with_login(kubeconfig: str, mode: str = "azurecli") -> str:
    """The kubeconfig with every kubelogin exec set to a non-interactive login.

    ``listManagedClusterUserCredentials(format=exec)`` writes ``--login devicecode``
    (pulumi/pulumi-azure-native#2399), which blocks a deploy waiting for a browser; this does what
    ``kubelogin convert-kubeconfig -l <mode>`` does to the exec args. Pure: other users, clusters
    and contexts are kept as they are."""
    if mode not in KUBELOGIN_MODES:
        raise ValueError(f"kubelogin mode must be one of {', '.join(KUBELOGIN_MODES)}, got {mode!r}")
    config = yaml.safe_load(kubeconfig)
    if not isinstance(config, dict):
        return kubeconfig
    changed = False
    for user in config.get("users") or []:
        exec_ = ((user or {}).get("user") or {}).get("exec")
        if not isinstance(exec_, dict) or os.path.basename(str(exec_.get("command", ""))) != "kubelogin":
            continue
        args = [str(a) for a in exec_.get("args") or []]
        kept: List[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            flag = arg.split("=", 1)[0]
            if flag in _DROPPED_FLAGS:
                i += 1 if "=" in arg else 2
                continue
            kept.append(arg)
            i += 1
        exec_["args"] = kept + ["--login", mode]
        changed = True
    return yaml.safe_dump(config, sort_keys=False) if changed else kubeconfig


def node_pool_profile(pool: Mapping, mode: str, subnet_id: Optional[pulumi.Input[str]]) -> dict:
    profile = {
        "name": pool["name"],
        "mode": mode,
        "vm_size": pool.get("vm_size", "Standard_D4ds_v5"),
        "os_type": "Linux",
        "os_sku": "AzureLinux",
        "type": "VirtualMachineScaleSets",
        "enable_auto_scaling": True,
        "min_count": pool.get("min_count", 1),
        "max_count": pool.get("max_count", 3),
        "count": max(pool.get("min_count", 1), 1),
        "enable_node_public_ip": False,
        "node_labels": dict(pool.get("labels") or {}),
        "node_taints": list(pool.get("taints") or []),
        "upgrade_settings": {"max_surge": "33%"},
        "os_disk_type": pool.get("os_disk_type", "Ephemeral"),
        "max_pods": pool.get("max_pods", 110),
        # needs the subscription feature Microsoft.Compute/EncryptionAtHost registered (AKS docs,
        # "Host-based encryption on AKS"); the settings only turn it on when the stack says it is
        "enable_encryption_at_host": pool.get("encryption_at_host", False),
    }
    if mode == "System":
        # keep application pods (and the Azure ML components) off the system nodes
        profile["node_taints"] = ["CriticalAddonsOnly=true:NoSchedule", *profile["node_taints"]]
    if pool.get("zones"):
        profile["availability_zones"] = list(pool["zones"])
    if pool.get("os_disk_size_gb"):
        profile["os_disk_size_gb"] = pool["os_disk_size_gb"]
    if subnet_id is not None:
        profile["vnet_subnet_id"] = subnet_id
    return profile




class NodePoolSpec(TypedDict, total=False):
    """An autoscaled AKS node pool (see :func:`node_pool_profile` for the defaults)."""
    name: Required[str]
    """1-12 lowercase letters and digits."""
    vm_size: str
    """VM size of the nodes; default Standard_D4ds_v5."""
    min_count: int
    """Autoscaler minimum; default 1."""
    max_count: int
    """Autoscaler maximum; default 3."""
    labels: Mapping[str, str]
    """Kubernetes node labels."""
    taints: List[str]
    """Kubernetes node taints (key=value:Effect)."""
    zones: List[str]
    """Availability zones, e.g. ['1', '2', '3']."""
    os_disk_type: str
    """Ephemeral (default) or Managed."""
    os_disk_size_gb: Optional[int]
    """OS disk size; leave out for the VM size's default."""
    max_pods: int
    """Pods per node; default 110."""
    encryption_at_host: Optional[bool]
    """Encrypt temp disks and caches on the host (needs Microsoft.Compute/EncryptionAtHost); default False."""


class ClusterSpec(TypedDict, total=False):
    aks_name: Required[str]
    """Physical AKS name (1-63 characters)."""
    kubernetes_version: str
    """Leave out for the default version."""
    sku_tier: str
    """Free, Standard (default: uptime SLA) or Premium."""
    upgrade_channel: str
    """Automatic upgrades: stable (default), patch, rapid, node-image or none."""
    node_os_upgrade_channel: str
    """NodeImage (default), SecurityPatch, Unmanaged or None."""
    network_plugin: str
    """azure (default), kubenet or none."""
    network_policy: str
    """azure (default), calico, cilium or none."""
    disable_local_accounts: bool
    """Default False. Azure ML does not support AKS with local accounts disabled
    (how-to-deploy-kubernetes-extension, "Limitations"): True is for clusters that serve no Azure ML."""
    identity_id: pulumi.Input[str]
    """A user-assigned control-plane identity (needed with private_dns_zone_id: it must hold its roles
    before the cluster exists); default: a system-assigned identity."""
    private_dns_zone_id: pulumi.Input[str]
    """With api_server_access private: the private DNS zone (privatelink.<region>.azmk8s.io) the API
    server's name goes to; default "system" (a zone AKS links to the cluster's VNet only)."""
    outbound_type: str
    """loadBalancer (default: the AKS load balancer's public IP, the whole internet) or
    userDefinedRouting (the nodes' subnet's route table sends 0.0.0.0/0 to a firewall; the subnet
    must have the route table before the cluster: learn.microsoft.com/azure/aks/egress-udr)."""
    admin_group_object_ids: List[str]
    """Entra groups that administer the cluster."""
    tenant_id: pulumi.Input[str]
    """Entra tenant of the cluster's RBAC."""
    api_server_access: Required[str]
    """private (API server on a private endpoint in the nodes' VNet), authorized_ranges (public API
    server limited to authorized_ip_ranges) or public (no restriction: dev only)."""
    authorized_ip_ranges: List[str]
    """API server allow list (with api_server_access authorized_ranges)."""
    defender: bool
    """Microsoft Defender for Containers."""
    log_analytics_workspace_id: pulumi.Input[str]
    """Where Defender and container insights report (required with defender)."""
    azure_policy: bool
    """Azure Policy add-on (default True)."""
    container_insights: bool
    """Container insights add-on reporting to log_analytics_workspace_id (default True when given)."""
    key_vault_secrets_provider: bool
    """Secrets Store CSI driver add-on with secret rotation (default True)."""
    subnet_id: pulumi.Input[str]
    """Subnet of the nodes (Azure CNI overlay: only nodes take addresses from it)."""
    pod_cidr: str
    """Overlay range of the pods (default 10.244.0.0/16); must not overlap the VNet."""
    service_cidr: str
    """Range of Kubernetes services (default 10.0.0.0/16); must not overlap the VNet."""
    dns_service_ip: str
    """Cluster DNS address inside service_cidr (default 10.0.0.10)."""
    system_pool: Required[NodePoolSpec]
    """name, vm_size, min_count, max_count, labels, taints, zones, os_disk_size_gb."""
    inference_pool: Required[NodePoolSpec]
    """Same keys: the user pool that runs the models."""
    encryption_at_host_registered: bool
    """The subscription has Microsoft.Compute/EncryptionAtHost registered: the cluster carries
    :data:`ENCRYPTION_AT_HOST_TAG` (what a pool's ``encryption_at_host`` needs)."""


OUTBOUND_TYPES = ("loadBalancer", "userDefinedRouting")


def declare_cluster(parent: pulumi.Resource, name: str, spec: ClusterSpec, resource_group_name: pulumi.Input[str],
                    location: pulumi.Input[str], tags: dict,
                    waits: Optional[List[pulumi.Resource]] = None) -> containerservice.ManagedCluster:
    """The AKS cluster (logical name ``<name>-aks``), a child of ``parent``; ``waits``: what must
    exist first (the control-plane identity's role assignments)."""
    aks_name = naming.ensure("aks", spec["aks_name"])
    if spec.get("encryption_at_host_registered"):
        tags = {**tags, ENCRYPTION_AT_HOST_TAG: "registered"}
    subnet = spec.get("subnet_id")
    outbound = spec.get("outbound_type", "loadBalancer")
    if outbound not in OUTBOUND_TYPES:
        raise ValueError(f"{name}: outbound_type must be one of {', '.join(OUTBOUND_TYPES)}, got {outbound!r}")
    network: dict = {"network_plugin": spec.get("network_plugin", "azure"), "load_balancer_sku": "standard",
                     "outbound_type": outbound}
    if network["network_plugin"] == "azure":
        # Azure CNI overlay: only nodes take addresses from the subnet, pods get theirs from pod_cidr
        # (learn.microsoft.com/azure/aks/azure-cni-overlay)
        network["network_plugin_mode"] = "overlay"
        network["pod_cidr"] = spec.get("pod_cidr", DEFAULT_POD_CIDR)
    network["service_cidr"] = spec.get("service_cidr", DEFAULT_SERVICE_CIDR)
    network["dns_service_ip"] = spec.get("dns_service_ip", DEFAULT_DNS_SERVICE_IP)
    policy = spec.get("network_policy", "azure")
    if policy != "none":
        network["network_policy"] = policy
        if policy == "cilium":
            network["network_dataplane"] = "cilium"
    aad: dict = {"managed": True, "enable_azure_rbac": True}
    if spec.get("admin_group_object_ids"):
        aad["admin_group_object_ids"] = list(spec["admin_group_object_ids"])
    if spec.get("tenant_id") is not None:
        aad["tenant_id"] = spec["tenant_id"]
    api_server = api_server_profile(name, spec)
    if spec.get("private_dns_zone_id") is not None and spec.get("identity_id") is None:
        # AKS refuses a zone of one's own with a system-assigned identity (private-clusters,
        # "Configure a private DNS zone"): the identity must hold its role on the zone first
        raise ValueError(f"{name}: private_dns_zone_id needs identity_id (a user-assigned control-plane identity)")
    identity: dict = ({"type": "UserAssigned", "user_assigned_identities": [spec["identity_id"]]}
                      if spec.get("identity_id") is not None else {"type": "SystemAssigned"})
    security: dict = {"workload_identity": {"enabled": True}, "image_cleaner": {"enabled": True,
                                                                               "interval_hours": 48}}
    if spec.get("defender"):
        if spec.get("log_analytics_workspace_id") is None:
            raise ValueError(f"{name}: defender needs log_analytics_workspace_id")
        security["defender"] = {"log_analytics_workspace_resource_id": spec["log_analytics_workspace_id"],
                                "security_monitoring": {"enabled": True}}
    return containerservice.ManagedCluster(
        f"{name}-aks",
        resource_name_=aks_name,
        resource_group_name=resource_group_name,
        location=location,
        dns_prefix=dns_prefix(aks_name),
        kubernetes_version=spec.get("kubernetes_version"),
        sku={"name": "Base", "tier": spec.get("sku_tier", "Standard")},
        # managed identity: the Azure ML extension does not support service principals
        identity=identity,
        enable_rbac=True,
        aad_profile=aad,
        disable_local_accounts=spec.get("disable_local_accounts", False),
        auto_upgrade_profile={"upgrade_channel": spec.get("upgrade_channel", "stable"),
                              "node_os_upgrade_channel": spec.get("node_os_upgrade_channel", "NodeImage")},
        network_profile=network,
        api_server_access_profile=api_server or None,
        oidc_issuer_profile={"enabled": True},
        security_profile=security,
        # the dashboard add-on is gone from current API versions; nothing to disable
        addon_profiles=_addons(spec),
        agent_pool_profiles=[node_pool_profile(spec["system_pool"], "System", subnet),
                             node_pool_profile(spec["inference_pool"], "User", subnet)],
        tags=tags,
        opts=child(parent, depends_on=waits or None),
    )


def cluster_kubeconfig(resource_group_name: pulumi.Input[str], cluster_name: pulumi.Input[str], *,
                       admin: bool, login: str = "azurecli") -> pulumi.Output[str]:
    """The created cluster's kubeconfig, a secret. With local accounts (the default, which the
    extension needs) the admin credentials; otherwise the Entra ID user credentials in exec
    format (kubelogin on the deploying machine, and an AKS RBAC role for the deployer), with
    the exec's device-code login replaced by ``login`` (a value transform, no resource)."""
    if admin:
        creds = containerservice.list_managed_cluster_admin_credentials_output(
            resource_group_name=resource_group_name, resource_name=cluster_name)
    else:
        creds = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=resource_group_name, resource_name=cluster_name, format="exec")
    text = creds.kubeconfigs.apply(lambda ks: base64.b64decode(ks[0].value).decode("utf-8"))
    if not admin:
        text = text.apply(lambda k: kubeconfig_with_login(k, login))
    return pulumi.Output.secret(text)


def container_insights_on(spec: Mapping) -> bool:
    return bool(spec.get("container_insights", True) and spec.get("log_analytics_workspace_id") is not None)


def declare_container_insights(parent: pulumi.Resource, name: str, cluster: containerservice.ManagedCluster, *,
                               spec: Mapping, resource_group_name: pulumi.Input[str],
                               location: pulumi.Input[str], tags: dict) -> monitor.DataCollectionRuleAssociation:
    """The data collection rule of Container insights with managed identity authentication and its
    association with the cluster (logical names ``<name>-insights-dcr``/``-dcra``).

    The omsagent add-on with ``useAADAuth`` collects through a data collection rule that sends the
    stream Microsoft-ContainerInsights-Group-Default to the Log Analytics workspace, associated with
    the cluster under the name ContainerInsightsExtension; the portal and the CLI create both, a
    template must declare them (learn.microsoft.com/azure/azure-monitor/containers/
    kubernetes-monitoring-enable, "ARM template": the DCR and the association)."""
    aks_name = naming.ensure("aks", spec["aks_name"])
    dcr = monitor.DataCollectionRule(
        f"{name}-insights-dcr",
        # the name the CLI gives it (MSCI-<region>-<cluster>), within the 64 characters a DCR name takes
        data_collection_rule_name=pulumi.Output.from_input(location).apply(
            lambda loc: f"MSCI-{loc}-{aks_name}"[:64].rstrip("-")),
        resource_group_name=resource_group_name,
        location=location,
        kind="Linux",
        description="Container insights of the Kubernetes inference target (managed identity authentication)",
        data_sources={"extensions": [{
            "name": "ContainerInsightsExtension",
            "extension_name": CONTAINER_INSIGHTS_EXTENSION,
            "streams": [CONTAINER_INSIGHTS_STREAM],
            "extension_settings": {"dataCollectionSettings": {
                "interval": "1m", "namespaceFilteringMode": "Off", "enableContainerLogV2": True}},
        }]},
        destinations={"log_analytics": [{"name": "ciworkspace",
                                         "workspace_resource_id": spec["log_analytics_workspace_id"]}]},
        data_flows=[{"streams": [CONTAINER_INSIGHTS_STREAM], "destinations": ["ciworkspace"]}],
        tags=tags,
        opts=child(parent),
    )
    return monitor.DataCollectionRuleAssociation(
        f"{name}-insights-dcra",
        association_name="ContainerInsightsExtension",
        resource_uri=cluster.id,
        data_collection_rule_id=dcr.id,
        description="Container insights of this cluster go through this rule",
        opts=child(parent),
    )


def _addons(spec: Mapping) -> dict:
    addons: dict = {"azurepolicy": {"enabled": spec.get("azure_policy", True)}}
    if spec.get("key_vault_secrets_provider", True):
        addons["azureKeyvaultSecretsProvider"] = {
            "enabled": True, "config": {"enableSecretRotation": "true", "rotationPollInterval": "2m"}}
    if container_insights_on(spec):
        # managed identity authentication: collection goes through the data collection rule
        # declare_container_insights adds
        addons["omsagent"] = {"enabled": True, "config": {
            "logAnalyticsWorkspaceResourceID": spec["log_analytics_workspace_id"], "useAADAuth": "true"}}
    return addons
