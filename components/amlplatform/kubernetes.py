"""``KubernetesInferenceTarget``: an AKS cluster (created, or an existing one) serving models for a
workspace.

Resource graph (architecture.md, "Kubernetes inference target")::

    AKS cluster ──> Azure ML extension ──┐
         │                               ├──> Kubernetes compute (attach) ──> InstanceType CRs
         └──> Reader for the workspace ──┤
    workspace ───────────────────────────┘

The AKS cluster does not wait for the workspace: the cluster (~6 min) and the workspace
(~5.5 min) are created side by side, and only the attach waits for both.
"""

import base64
import os
import re
from typing import Dict, List, Mapping, Optional

import pulumi
import yaml
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization, containerservice, kubernetesconfiguration
from pulumi_azure_native import machinelearningservices as ml
from typing_extensions import Required, TypedDict

from amlplatform import naming
from amlplatform._component import check_args, child, token
from amlplatform.access import assignment_guid, role_definition_id
from amlplatform.settings.compute import extension_problems

EXTENSION_TYPE = "microsoft.azureml.kubernetes"
RELEASE_NAMESPACE = "azureml"
INSTANCE_TYPE_API = "amlarc.azureml.com/v1alpha1"
READER_ROLE = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
# AKS Trusted Access role through which Azure ML reaches a cluster without local accounts
TRUSTED_ACCESS_ROLE = "Microsoft.MachineLearningServices/workspaces/mlworkload"

_CLUSTER_ID = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.ContainerService"
    r"/managedClusters/(?P<name>[^/]+)", re.IGNORECASE)


def parse_cluster_id(cluster_id: str) -> Dict[str, str]:
    """``{'resource_group': ..., 'name': ...}`` of an AKS cluster's ARM id."""
    m = _CLUSTER_ID.fullmatch(cluster_id or "")
    if not m:
        raise ValueError(f"not the ARM id of an AKS cluster: {cluster_id!r}")
    return {"resource_group": m.group("rg"), "name": m.group("name")}


def _flag(value: bool) -> str:
    return "True" if value else "False"


def extension_settings(extension: Mapping, *, cluster_id: pulumi.Input[str],
                       cluster_name: pulumi.Input[str], location: pulumi.Input[str]) -> Dict:
    """The extension's configuration settings, as Microsoft's template (Azure/AML-Kubernetes
    ``files/deployextension.json``) and the az CLI (``AzureMLKubernetes.py``) derive them."""
    purpose = extension.get("cluster_purpose", "FastProd")
    ha = extension.get("inference_router_ha")
    service_type = extension.get("inference_router_service_type", "LoadBalancer")
    insecure = extension.get("allow_insecure_connections", False)
    settings = {
        "enableInference": "True",
        "enableTraining": _flag(extension.get("enable_training", False)),
        "inferenceRouterServiceType": service_type,
        "inferenceRouterHA": _flag(purpose != "DevTest" if ha is None else ha),
        "allowInsecureConnections": _flag(insecure),
        "clusterPurpose": purpose,
        "installNvidiaDevicePlugin": _flag(extension.get("install_nvidia_device_plugin", False)),
        "cluster_name": cluster_id,
        "cluster_name_friendly": cluster_name,
        "clusterId": cluster_id,
        "prometheus.prometheusSpec.externalLabels.cluster_name": cluster_id,
        "location": location,
        "jobSchedulerLocation": location,
        "domain": pulumi.Output.from_input(location).apply(lambda loc: f"{loc}.cloudapp.azure.com"),
        # an AKS cluster talks to Azure ML directly: no Service Bus or Relay (those are for Arc)
        "servicebus.enabled": "false",
        "relayserver.enabled": "false",
    }
    if service_type == "NodePort":
        settings["scoringFe.serviceType.nodePort"] = "true"
    elif service_type == "LoadBalancer" and extension.get("internal_load_balancer", True):
        # the provider name alone does not make the router's service internal: the chart reads this
        settings["internalLoadBalancerProvider"] = "azure"
        settings["scoringFe.serviceType.internalLoadBalancer"] = "true"
    if not insecure:
        if extension.get("ssl_cname"):
            settings["sslCname"] = extension["ssl_cname"]
        if extension.get("ssl_secret"):
            settings["scoringFe.sslSecret"] = extension["ssl_secret"]
    return settings


def extension_protected_settings(extension: Mapping) -> Optional[pulumi.Output]:
    """``scoringFe.sslCert``/``scoringFe.sslKey`` (base64 of the PEM files, as the az CLI sends
    them) when the certificate is given inline; a secret. None otherwise."""
    if extension.get("allow_insecure_connections", False) or extension.get("ssl_secret"):
        return None
    if extension.get("ssl_cert_pem") is None or extension.get("ssl_key_pem") is None:
        return None

    def b64(value: str) -> str:
        return base64.b64encode(value.encode("utf-8")).decode("ascii")

    return pulumi.Output.secret(pulumi.Output.all(extension["ssl_cert_pem"], extension["ssl_key_pem"]).apply(
        lambda ck: {"scoringFe.sslCert": b64(ck[0]), "scoringFe.sslKey": b64(ck[1])}))


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


def _pool(pool: Mapping, mode: str, subnet_id: Optional[pulumi.Input[str]]) -> dict:
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
        "enable_encryption_at_host": pool.get("encryption_at_host", True),
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


class InstanceType(TypedDict, total=False):
    name: Required[str]
    """Kubernetes name of the instance type."""
    node_selector: Mapping[str, str]
    """Node labels the pods must match."""
    cpu_request: str
    """e.g. 1 or 500m."""
    memory_request: str
    """e.g. 4Gi."""
    cpu_limit: str
    """e.g. 2."""
    memory_limit: str
    """e.g. 8Gi."""
    gpu: int
    """nvidia.com/gpu limit (0: none)."""


def instance_type_spec(t: Mapping) -> dict:
    """The spec shared by the attach's ``instanceTypes`` and the ``InstanceType`` resource."""
    limits = {"cpu": t.get("cpu_limit", "2"), "memory": t.get("memory_limit", "8Gi")}
    if t.get("gpu"):
        limits["nvidia.com/gpu"] = str(t["gpu"])
    spec: dict = {"resources": {
        "requests": {"cpu": t.get("cpu_request", "1"), "memory": t.get("memory_request", "4Gi")},
        "limits": limits,
    }}
    if t.get("node_selector"):
        spec["nodeSelector"] = dict(t["node_selector"])
    return spec


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
    """Default False: the Azure ML extension needs local accounts unless Trusted Access is set up."""
    admin_group_object_ids: List[str]
    """Entra groups that administer the cluster."""
    tenant_id: pulumi.Input[str]
    """Entra tenant of the cluster's RBAC."""
    authorized_ip_ranges: List[str]
    """API server allow list."""
    private_cluster: bool
    """Private API server."""
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
    """Subnet of the nodes."""
    system_pool: Required[dict]
    """name, vm_size, min_count, max_count, labels, taints, zones, os_disk_size_gb."""
    inference_pool: Required[dict]
    """Same keys: the user pool that runs the models."""


class KubernetesInferenceTargetArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the workspace (and of a created cluster)."""
    location: Required[pulumi.Input[str]]
    """Azure region."""
    workspace_name: Required[pulumi.Input[str]]
    """The workspace to attach to."""
    subscription_id: Required[pulumi.Input[str]]
    """Subscription of the role definitions."""
    compute_name: Required[str]
    """Name of the Kubernetes compute in the workspace."""
    workspace_principal_id: pulumi.Input[str]
    """The workspace's identity: gets Reader on the cluster. Leave out when the identity already has it."""
    workspace_id: pulumi.Input[str]
    """The workspace's ARM id: needed with trusted_access."""
    trusted_access: bool
    """Bind the workspace to the cluster with AKS Trusted Access (default False)."""
    trusted_access_roles: List[str]
    """Default: Microsoft.MachineLearningServices/workspaces/mlworkload."""
    cluster: ClusterSpec
    """Create this AKS cluster (or give existing_cluster_id)."""
    existing_cluster_id: str
    """Attach this existing AKS cluster instead of creating one."""
    kubeconfig: pulumi.Input[str]
    """With existing_cluster_id: its kubeconfig (a secret)."""
    install_extension: bool
    """Install the Azure ML extension (default True)."""
    extension_name: str
    """Default azureml."""
    extension: dict
    """release_train, inference_router_service_type, internal_load_balancer, inference_router_ha,
    cluster_purpose, enable_training, allow_insecure_connections, install_nvidia_device_plugin,
    ssl_secret, ssl_cname, ssl_cert_pem, ssl_key_pem (HTTPS scoring needs ssl_secret or the PEM pair)."""
    kubelogin_mode: str
    """How kubelogin signs in with a created cluster's exec kubeconfig (disable_local_accounts):
    azurecli (default), workloadidentity, msi or spn; never the interactive device code."""
    attach: bool
    """Declare the attach (default True). The service's attach is not idempotent: False stops
    re-sending it once attached. The attach is retained on delete, so False never detaches."""
    namespace: str
    """Namespace of the endpoints (created when not 'default')."""
    instance_types: List[InstanceType]
    """Instance types (InstanceType custom resources and the attach's instanceTypes)."""
    default_instance_type: str
    """Default: the first instance type."""
    tags: Mapping[str, str]
    """Tags for the Azure resources."""


class KubernetesInferenceTarget(pulumi.ComponentResource):
    """A Kubernetes compute for online endpoints: AKS with secure defaults (or an existing cluster),
    the Azure ML extension, the workspace's Reader role, the attach and the instance types."""

    cluster_id: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    compute_id: pulumi.Output[Optional[str]]
    extension_id: pulumi.Output[Optional[str]]

    def __init__(self, name: str, args: KubernetesInferenceTargetArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("KubernetesInferenceTarget", args, KubernetesInferenceTargetArgs)
        super().__init__(token("KubernetesInferenceTarget"), name, None, opts)
        compute_name = naming.compute_name(args["compute_name"], "kubernetes")
        tags = dict(args.get("tags") or {})
        location = args["location"]

        extension_args = dict(args.get("extension") or {})
        if args.get("install_extension", True):
            problems = extension_problems(extension_args)
            if problems:
                raise ValueError(f"{name}: extension: " + "; ".join(problems))
        kubelogin_mode = args.get("kubelogin_mode", "azurecli")
        if kubelogin_mode not in KUBELOGIN_MODES:
            raise ValueError(f"{name}: kubelogin_mode must be one of {', '.join(KUBELOGIN_MODES)}")

        existing = args.get("existing_cluster_id")
        if existing and args.get("cluster"):
            raise ValueError(f"{name}: give cluster or existing_cluster_id, not both")
        if existing:
            parsed = parse_cluster_id(existing)
            if args.get("kubeconfig") is None:
                raise ValueError(f"{name}: kubeconfig is required with existing_cluster_id")
            cluster_id: pulumi.Input[str] = existing
            cluster_name: pulumi.Input[str] = parsed["name"]
            cluster_rg: pulumi.Input[str] = parsed["resource_group"]
            kubeconfig = pulumi.Output.secret(args["kubeconfig"])
        elif args.get("cluster"):
            aks = self._cluster(name, args["cluster"], args["resource_group_name"], location, tags)
            cluster_id, cluster_name, cluster_rg = aks.id, aks.name, args["resource_group_name"]
            kubeconfig = self._kubeconfig(args["resource_group_name"], aks.name,
                                          admin=not args["cluster"].get("disable_local_accounts", False),
                                          login=kubelogin_mode)
        else:
            raise ValueError(f"{name}: give cluster (to create one) or existing_cluster_id")

        extension = None
        if args.get("install_extension", True):
            extension = kubernetesconfiguration.Extension(
                f"{name}-extension",
                resource_group_name=cluster_rg,
                cluster_rp="Microsoft.ContainerService",
                cluster_resource_name="managedClusters",
                cluster_name=cluster_name,
                extension_name=args.get("extension_name", "azureml"),
                extension_type=EXTENSION_TYPE,
                auto_upgrade_minor_version=True,
                release_train=extension_args.get("release_train", "stable"),
                scope={"cluster": {"release_namespace": RELEASE_NAMESPACE}},
                identity={"type": "SystemAssigned"},
                configuration_settings=extension_settings(
                    extension_args, cluster_id=cluster_id, cluster_name=cluster_name, location=location),
                configuration_protected_settings=extension_protected_settings(extension_args),
                opts=child(self),
            )

        reader = None
        principal = args.get("workspace_principal_id")
        if principal is not None:
            scope = pulumi.Output.from_input(cluster_id)
            subscription = pulumi.Output.from_input(args["subscription_id"])
            reader = authorization.RoleAssignment(
                f"{name}-workspace-reader",
                scope=scope,
                principal_id=principal,
                principal_type="ServicePrincipal",
                role_definition_id=subscription.apply(lambda sub: role_definition_id(sub, READER_ROLE)),
                role_assignment_name=pulumi.Output.all(scope, principal).apply(
                    lambda sp: assignment_guid(sp[0], sp[1] or "", READER_ROLE)),
                description="Azure ML workspace reads the Kubernetes cluster it deploys to",
                opts=child(self),
            )

        trusted = None
        if args.get("trusted_access", False):
            if args.get("workspace_id") is None:
                raise ValueError(f"{name}: trusted_access needs workspace_id")
            trusted = containerservice.TrustedAccessRoleBinding(
                f"{name}-trusted-access",
                resource_group_name=cluster_rg,
                resource_name_=cluster_name,
                trusted_access_role_binding_name=f"azureml-{compute_name.lower()}",
                source_resource_id=args["workspace_id"],
                roles=list(args.get("trusted_access_roles") or [TRUSTED_ACCESS_ROLE]),
                opts=child(self),
            )

        provider = k8s.Provider(f"{name}-k8s", kubeconfig=kubeconfig, opts=child(self))
        namespace = args.get("namespace", "azureml-endpoints")
        namespace_resource = None
        if namespace != "default":
            namespace_resource = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata={"name": namespace, "labels": {"app.kubernetes.io/managed-by": "amlplatform"}},
                opts=child(self, provider=provider))

        types = list(args.get("instance_types") or [])
        default_type = args.get("default_instance_type") or (types[0]["name"] if types else None)
        attach = None
        if args.get("attach", True):
            properties: dict = {"namespace": namespace}
            if types:
                properties["instance_types"] = {t["name"]: _schema(t) for t in types}
                properties["default_instance_type"] = default_type
            # The attach reads nothing from the extension, the role assignment or the trusted
            # access binding, but the service refuses a cluster without the extension and reaches
            # the cluster through the workspace (its identity, or the binding): wait for all three
            # (the role assignment and the binding take seconds, made while the extension installs).
            # The attach names the endpoints' namespace, which must exist before it (Kubernetes
            # compute reference: "the namespace must exist"): wait for it too.
            waits = [r for r in (extension, reader, trusted, namespace_resource) if r is not None]
            attach = _attach(name, args, compute_name, cluster_id, properties, tags, self, waits)

        # InstanceType is a custom resource whose definition the extension installs; without a
        # data dependency on either, wait for the attach (which itself waits for the extension) -
        # or, when the attach is skipped, for the extension.
        crd_source = attach if attach is not None else extension
        for t in types:
            k8s.apiextensions.CustomResource(
                f"{name}-instancetype-{t['name']}",
                api_version=INSTANCE_TYPE_API,
                kind="InstanceType",
                # the service may write the same object from the attach's instanceTypes: take
                # ownership of its fields instead of failing on a server-side apply conflict
                metadata={"name": t["name"], "labels": {"app.kubernetes.io/managed-by": "amlplatform"},
                          "annotations": {"pulumi.com/patchForce": "true"}},
                spec=instance_type_spec(t),
                opts=child(self, provider=provider,
                           depends_on=[crd_source] if crd_source is not None else None),
            )

        self.cluster_id = pulumi.Output.from_input(cluster_id)
        self.cluster_name = pulumi.Output.from_input(cluster_name)
        self.compute_id = attach.id if attach is not None else pulumi.Output.from_input(None)
        self.extension_id = extension.id if extension is not None else pulumi.Output.from_input(None)
        self.register_outputs({"cluster_id": self.cluster_id, "cluster_name": self.cluster_name,
                               "compute_id": self.compute_id, "extension_id": self.extension_id})

    def _cluster(self, name: str, spec: ClusterSpec, resource_group_name: pulumi.Input[str],
                 location: pulumi.Input[str], tags: dict) -> containerservice.ManagedCluster:
        aks_name = naming.ensure("aks", spec["aks_name"])
        subnet = spec.get("subnet_id")
        network: dict = {"network_plugin": spec.get("network_plugin", "azure"), "load_balancer_sku": "standard",
                         "outbound_type": "loadBalancer"}
        if network["network_plugin"] == "azure":
            network["network_plugin_mode"] = "overlay"
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
        api_server: dict = {}
        if spec.get("authorized_ip_ranges"):
            api_server["authorized_ip_ranges"] = list(spec["authorized_ip_ranges"])
        if spec.get("private_cluster"):
            api_server["enable_private_cluster"] = True
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
            identity={"type": "SystemAssigned"},
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
            agent_pool_profiles=[_pool(spec["system_pool"], "System", subnet),
                                 _pool(spec["inference_pool"], "User", subnet)],
            tags=tags,
            opts=child(self),
        )

    def _kubeconfig(self, resource_group_name: pulumi.Input[str], cluster_name: pulumi.Input[str], *,
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


def _addons(spec: Mapping) -> dict:
    addons: dict = {"azurepolicy": {"enabled": spec.get("azure_policy", True)}}
    if spec.get("key_vault_secrets_provider", True):
        addons["azureKeyvaultSecretsProvider"] = {
            "enabled": True, "config": {"enableSecretRotation": "true", "rotationPollInterval": "2m"}}
    if spec.get("container_insights", True) and spec.get("log_analytics_workspace_id") is not None:
        addons["omsagent"] = {"enabled": True, "config": {
            "logAnalyticsWorkspaceResourceID": spec["log_analytics_workspace_id"], "useAADAuth": "true"}}
    return addons


def _schema(t: Mapping) -> dict:
    spec = instance_type_spec(t)
    out: dict = {"resources": spec["resources"]}
    if "nodeSelector" in spec:
        out["node_selector"] = spec["nodeSelector"]
    return out


def _attach(name: str, args: Mapping, compute_name: str, cluster_id: pulumi.Input[str], properties: dict,
            tags: dict, parent: pulumi.Resource, waits: List[pulumi.Resource]) -> ml.Compute:
    return ml.Compute(
        f"{name}-attach",
        resource_group_name=args["resource_group_name"],
        workspace_name=args["workspace_name"],
        compute_name=compute_name,
        location=args["location"],
        identity={"type": "SystemAssigned"},
        properties={
            "compute_type": "Kubernetes",
            "resource_id": cluster_id,
            "disable_local_auth": True,
            "description": "Kubernetes inference target (managed by amlplatform)",
            "properties": properties,
        },
        tags=tags,
        # Pulumi must never detach on its own: setting attach false (the service's attach is not
        # idempotent) or removing the target makes Pulumi forget the compute, not detach it
        opts=child(parent, depends_on=waits or None, retain_on_delete=True),
    )
