"""Typed settings for Kubernetes inference targets (stack key ``amlplatform:kubernetes``): the AKS
cluster and its node pools, the Azure ML extension, the instance types.

Declares no resources; the defaults are the components' own (amlplatform.iac._base.defaults).
"""

import re
from typing import Annotated, Dict, List, Literal, Mapping, Optional

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from amlplatform.azure import naming
from amlplatform.azure.kubernetes import LOCAL_ACCOUNTS_DOC
from amlplatform.azure.rules import extension_problems
from amlplatform.errors import Problems
from amlplatform.spec import cidr
from amlplatform.spec.core import Guid, Model, arm_id
from amlplatform.spec.datastores import SecretKey
from amlplatform.spec.values import K8sName, KubernetesComputeName, SubnetId, Taints, VmSize, _max_not_below_min

# ---------------------------------------------------------------------------- Kubernetes

class NodePoolSettings(Model):
    """An AKS node pool (autoscaled)."""

    name: str = Field(pattern=r"^(?:[a-z][a-z0-9]{0,11})$", description="1-12 lowercase letters/digits")
    vm_size: VmSize = "Standard_D4ds_v5"
    """VM size of the pool's nodes"""
    min_count: int = Field(1, ge=0, le=1000)
    """Autoscaler minimum"""
    max_count: int = Field(3, ge=1, le=1000)
    """Autoscaler maximum; at least min_count"""
    labels: Dict[str, str] = Field(default_factory=dict)
    """Kubernetes node labels"""
    taints: Taints = Field(default_factory=list)
    """Kubernetes node taints (`key=value:Effect`)"""
    zones: List[str] = Field(default_factory=list, description="Availability zones, e.g. ['1','2','3']")
    os_disk_type: Literal["Ephemeral", "Managed"] = Field(
        "Ephemeral", description="Ephemeral: the OS disk lives on the VM's local storage (the VM size "
        "needs a cache or temp disk at least as large as the OS disk)")
    os_disk_size_gb: Optional[int] = Field(None, ge=30, le=2048)
    """OS disk size; an ephemeral disk must fit the VM's cache or temp disk"""
    max_pods: int = Field(110, ge=50, le=250, description="Pods per node")
    encryption_at_host: Optional[bool] = Field(
        None, description="Encrypt temp disks and caches on the host; default: the target's "
        "encryption_at_host_registered (the subscription needs the Microsoft.Compute/EncryptionAtHost feature)")

    _check_max = field_validator("max_count")(_max_not_below_min("min_count"))


def _system_pool() -> NodePoolSettings:
    return NodePoolSettings(name="system", vm_size="Standard_D4ds_v5", min_count=2, max_count=3)


INFERENCE_POOL_LABEL = "amlplatform.io/pool"
# Azure ML's own workloads tolerate this taint (reference-kubernetes, "supported Azure Machine
# Learning taints and tolerations"); anything else stays off the inference nodes.
AML_TAINT = "ml.azure.com/amlarc=true:NoSchedule"


def _inference_pool() -> NodePoolSettings:
    return NodePoolSettings(name="inference", vm_size="Standard_D8ds_v5", min_count=1, max_count=5,
                            labels={INFERENCE_POOL_LABEL: "inference"}, taints=[AML_TAINT])


_CPU = re.compile(r"(?P<n>[0-9]+(?:\.[0-9]+)?)(?P<unit>m?)")
_MEMORY = re.compile(r"(?P<n>[0-9]+)(?P<unit>Ki|Mi|Gi|Ti)?")
_BINARY = {None: 1, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40}


def cpu_millicores(quantity: str) -> Optional[float]:
    """A Kubernetes CPU quantity (``2``, ``0.5``, ``500m``) in millicores; None if it is not one."""
    m = _CPU.fullmatch(quantity)
    if not m:
        return None
    return float(m.group("n")) * (1 if m.group("unit") else 1000)


def memory_bytes(quantity: str) -> Optional[int]:
    """A Kubernetes memory quantity (``4Gi``, ``512Mi``, bytes) in bytes; None if it is not one."""
    m = _MEMORY.fullmatch(quantity)
    if not m:
        return None
    return int(m.group("n")) * _BINARY[m.group("unit")]


class InstanceTypeSettings(Model):
    """An Azure ML instance type on the cluster (an ``InstanceType`` custom resource)."""

    name: K8sName
    """Instance type name (a Kubernetes name), used by deployments"""
    node_selector: Optional[Dict[str, str]] = Field(
        None, description="Default: the inference pool's labels")
    cpu_request: str = Field("1", pattern=r"^(?:[0-9]+(\.[0-9]+)?m?)$")
    """Kubernetes CPU request of a model pod"""
    memory_request: str = Field("4Gi", pattern=r"^(?:[0-9]+(Ki|Mi|Gi|Ti)?)$")
    """Kubernetes memory request of a model pod"""
    cpu_limit: str = Field("2", pattern=r"^(?:[0-9]+(\.[0-9]+)?m?)$")
    """Kubernetes CPU limit of a model pod; at least cpu_request"""
    memory_limit: str = Field("8Gi", pattern=r"^(?:[0-9]+(Ki|Mi|Gi|Ti)?)$")
    """Kubernetes memory limit of a model pod; at least memory_request"""
    gpu: int = Field(0, ge=0, le=16, description="nvidia.com/gpu limit")

    @model_validator(mode="after")
    def _requests_within_limits(self) -> "InstanceTypeSettings":
        # a model validator: the defaults (cpu_limit 2, memory_limit 8Gi) count too
        problems = []
        for kind, parse in (("cpu", cpu_millicores), ("memory", memory_bytes)):
            request, limit = getattr(self, f"{kind}_request"), getattr(self, f"{kind}_limit")
            r, l_ = parse(request), parse(limit)
            if r is not None and l_ is not None and r > l_:
                problems.append(f"{kind}_request ({request}) is above {kind}_limit ({limit})")
        if problems:
            raise ValueError("; ".join(problems) + ": Kubernetes refuses a request above its limit")
        return self


class ExtensionSettings(Model):
    """The Azure ML cluster extension (``microsoft.azureml.kubernetes``)."""

    install: bool = Field(True, description="false when the attached cluster already has it")
    name: str = Field("azureml", pattern=r"^(?:[a-z0-9][a-z0-9-]{0,252})$")
    """Name of the extension resource"""
    release_train: Literal["stable", "preview"] = "stable"
    """Release train of the extension"""
    inference_router_service_type: Literal["LoadBalancer", "NodePort", "ClusterIP"] = "LoadBalancer"
    """How the inference router is exposed (LoadBalancer is internal)"""
    internal_load_balancer: bool = Field(True, description="Azure internal load balancer for the router")
    inference_router_ha: Optional[bool] = Field(
        None, description="3 router replicas; default true unless cluster_purpose is DevTest")
    cluster_purpose: Literal["FastProd", "DevTest"] = "FastProd"
    """FastProd (router HA by default) or DevTest"""
    enable_training: bool = False
    """Also use the cluster for training jobs"""
    allow_insecure_connections: bool = Field(
        False, description="HTTP scoring endpoints (never in prod); false needs a certificate: ssl_secret, "
        "or ssl_cert_pem + ssl_key_pem")
    install_nvidia_device_plugin: bool = False
    """Install NVIDIA's device plugin (GPU pools)"""
    ssl_secret: Optional[K8sName] = Field(
        None, description="Kubernetes TLS secret in the azureml namespace with the scoring certificate "
        "(keys cert.pem and key.pem); create it outside the stack")
    ssl_cname: Optional[str] = Field(
        None, pattern=r"^(?:[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)$",
        description="Host name the scoring certificate is issued for (required with a certificate)")
    ssl_cert_pem: Optional[str] = Field(
        None, description="Scoring certificate (PEM) as a secret ({secure: ...}); sent as a protected setting")
    ssl_key_pem: Optional[str] = Field(
        None, description="Its private key (PEM) as a secret ({secure: ...}); sent as a protected setting")
    ssl_cert_config_key: Optional[SecretKey] = Field(
        None, description="The Pulumi secret config key (namespace:name) holding the scoring certificate (PEM): "
        "the certificate reaches the extension as a protected setting in the same run, and the kubernetes "
        "block itself stays plain (a secret inside it would make the whole block secret)")
    ssl_key_config_key: Optional[SecretKey] = Field(
        None, description="The Pulumi secret config key holding its private key (PEM); with ssl_cert_config_key")


def _cidr(value: str) -> str:
    cidr.parse(value)
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]


def _api_range(value: str) -> str:
    cidr.parse(value)
    doc = cidr.documentation_range(value)
    if doc:
        raise ValueError(f"{value} is in the documentation range {doc} (RFC 5737), which no real client "
                         "comes from: it would block the deploy pipeline; give its egress CIDRs")
    return value


# the network policies AKS accepts with each network plugin
NETWORK_POLICIES_BY_PLUGIN = {
    "azure": ("azure", "calico", "cilium", "none"),
    "kubenet": ("calico", "none"),
    "none": ("none",),
}


class KubernetesSettings(Model):
    """A Kubernetes inference target: a new AKS cluster, or an existing one by id."""

    name: KubernetesComputeName = Field(description="Name of the Kubernetes compute in the workspace (2-16 characters)")
    existing_id: Annotated[Optional[str], arm_id("Microsoft.ContainerService/managedClusters")] = Field(
        None, description="Attach this cluster instead of creating one")
    kubeconfig: Optional[str] = Field(
        None, description="With existing_id: the cluster's kubeconfig, as a secret ({secure: ...})")
    attach: bool = Field(True, description="Attach to the workspace. Set false on redeploys where the "
                         "compute is already attached: the service's attach is not idempotent")
    namespace: K8sName = Field("azureml-endpoints", description="Namespace of the endpoints (not the "
                               "extension's own 'azureml' namespace)")
    aks_name: Optional[str] = Field(None, description="AKS name; default aks-<workload>-<environment>")
    kubernetes_version: Optional[str] = Field(None, pattern=r"^(?:[0-9]+\.[0-9]+(\.[0-9]+)?)$")
    """AKS version; the service's default when not given"""
    sku_tier: Literal["Free", "Standard", "Premium"] = "Standard"
    """AKS tier (Standard has an uptime SLA)"""
    upgrade_channel: Literal["stable", "patch", "rapid", "node-image", "none"] = "stable"
    """Automatic Kubernetes upgrades"""
    node_os_upgrade_channel: Literal["NodeImage", "SecurityPatch", "Unmanaged", "None"] = "NodeImage"
    """Automatic node image upgrades"""
    network_plugin: Literal["azure", "kubenet", "none"] = "azure"
    """Network plugin (azure: CNI overlay)"""
    network_policy: Literal["azure", "calico", "cilium", "none"] = "azure"
    """Network policy engine: with kubenet only calico or none; cilium needs azure; plugin none: none"""
    trusted_access: bool = Field(
        False, description="Bind the workspace to the cluster with AKS Trusted Access (role "
        "Microsoft.MachineLearningServices/workspaces/mlworkload; a preview that needs sign-up)")
    disable_local_accounts: bool = Field(
        False, description="Must stay false: Azure ML does not support AKS with local accounts disabled "
        "(how-to-deploy-kubernetes-extension, Limitations). The program never uses the local admin account: "
        "it signs in with Entra ID and Azure RBAC")
    kubelogin_mode: Literal["azurecli", "workloadidentity", "msi", "spn"] = Field(
        "azurecli", description="How the deploying machine's kubelogin signs in to a created cluster (Entra ID; "
        "AKS hands out a device-code kubeconfig, which would block a pipeline)")
    outbound_type: Literal["loadBalancer", "userDefinedRouting"] = Field(
        "loadBalancer", description="Egress of the nodes: loadBalancer (AKS's public outbound IP, the whole "
        "internet) or userDefinedRouting (route_table_id on the nodes' subnet sends 0.0.0.0/0 to a firewall; "
        "learn.microsoft.com/azure/aks/egress-udr)")
    route_table_id: Annotated[Optional[str], arm_id("Microsoft.Network/routeTables")] = Field(
        None, description="With outbound_type userDefinedRouting and the platform's AKS subnet: the route table "
        "(0.0.0.0/0 to the hub firewall) the subnet is associated with before the cluster is created")
    admin_group_object_ids: List[Guid] = Field(default_factory=list, description="Cluster admins (Entra)")
    api_server_access: Optional[Literal["private", "authorized_ranges", "public"]] = Field(
        None, description="Required for a created cluster, an explicit choice: private (API server on a private "
        "endpoint in the nodes' VNet; the deploy runs from inside or a peered VNet), authorized_ranges (public "
        "API server answering only authorized_ip_ranges, which must hold the pipeline's egress) or public")
    authorized_ip_ranges: List[Annotated[str, AfterValidator(_api_range)]] = Field(
        default_factory=list, description="With api_server_access authorized_ranges: the CIDRs that may reach the "
        "API server (no documentation ranges)")
    deployer_object_id: Optional[Guid] = Field(
        None, description="Who runs the deploy; on a created cluster it gets Azure Kubernetes Service RBAC Admin "
        "on the namespace and a custom role limited to namespaces and InstanceType objects (never cluster "
        "admin). Default: the identity running pulumi (getClientConfig)")
    deployer_principal_type: Literal["User", "Group", "ServicePrincipal"] = Field(
        "ServicePrincipal", description="Kind of the deployer (deployer_object_id, or the identity running "
        "pulumi): ServicePrincipal for a pipeline, User for a person; Azure refuses a mismatch")
    encryption_at_host_registered: bool = Field(
        False, description="The subscription has the feature Microsoft.Compute/EncryptionAtHost registered "
        "(az feature register --namespace Microsoft.Compute --name EncryptionAtHost); turns on host "
        "encryption of the node pools")
    pod_cidr: Cidr = Field("10.244.0.0/16", description="Overlay range of the pods; must not overlap the VNet")
    service_cidr: Cidr = Field("10.0.0.0/16", description="Range of Kubernetes services; must not overlap the VNet")
    dns_service_ip: str = Field("10.0.0.10", description="Cluster DNS address, inside service_cidr")
    defender: bool = Field(False, description="Microsoft Defender for Containers (needs Log Analytics)")
    azure_policy: bool = True
    """Azure Policy add-on"""
    container_insights: bool = Field(True, description="Container logs and metrics to the stack's Log Analytics")
    key_vault_secrets_provider: bool = Field(
        True, description="Secrets Store CSI driver add-on, with secret rotation")
    subnet_id: SubnetId = None
    """Subnet of the node pools; default: network.vnet.aks_subnet or network.existing_subnets.aks"""
    system_pool: NodePoolSettings = Field(default_factory=_system_pool)
    """System pool (always tainted CriticalAddonsOnly)"""
    inference_pool: NodePoolSettings = Field(default_factory=_inference_pool)
    """Pool where model pods run (tainted ml.azure.com/amlarc=true:NoSchedule)"""
    extension: ExtensionSettings = ExtensionSettings()
    """The AzureML cluster extension"""
    instance_types: List[InstanceTypeSettings] = Field(default_factory=list)
    """InstanceType resources: name, node_selector, cpu/memory requests and limits, gpu"""
    default_instance_type: Optional[str] = Field(None, description="Default: the first instance type")

    @field_validator("namespace")
    @classmethod
    def _not_the_extension_namespace(cls, value: str) -> str:
        if value == "azureml":
            raise ValueError("must not be 'azureml': the extension's own components live there")
        return value

    @field_validator("aks_name")
    @classmethod
    def _aks_name(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            problems = naming.check("aks", value)
            if problems:
                raise Problems(problems)
        return value

    @field_validator("disable_local_accounts")
    @classmethod
    def _local_accounts(cls, value: bool) -> bool:
        if value:
            raise ValueError("must be false: \"Disabling local accounts for AKS is not supported by Azure Machine "
                             f"Learning\" ({LOCAL_ACCOUNTS_DOC}); the program signs in with Entra ID and Azure RBAC "
                             "and never uses the local admin account")
        return value

    @model_validator(mode="after")
    def _egress(self) -> "KubernetesSettings":
        if self.outbound_type == "userDefinedRouting" and not self.creates_cluster:
            raise ValueError("outbound_type is for a created cluster (existing_id's egress is its owner's)")
        if self.route_table_id and self.outbound_type != "userDefinedRouting":
            raise ValueError("route_table_id is only used with outbound_type userDefinedRouting")
        return self

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig(cls, value: Optional[str], info: ValidationInfo) -> Optional[str]:
        if value is not None and not info.data.get("existing_id"):
            raise ValueError("is only used with existing_id (a created cluster's kubeconfig is read from Azure)")
        return value

    @field_validator("instance_types")
    @classmethod
    def _distinct_types(cls, value: List[InstanceTypeSettings]) -> List[InstanceTypeSettings]:
        names = [t.name for t in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"instance type names repeat: {', '.join(repeated)}")
        return value

    @field_validator("default_instance_type")
    @classmethod
    def _default_type(cls, value: Optional[str], info: ValidationInfo) -> Optional[str]:
        types = info.data.get("instance_types")
        if value is not None and types is not None and value not in [t.name for t in types]:
            raise ValueError(f"must be one of instance_types ({', '.join(t.name for t in types) or 'none'})")
        return value

    @model_validator(mode="after")
    def _network(self) -> "KubernetesSettings":
        # a model validator: network_policy's default (azure) must be checked against the plugin too
        plugin, policy = self.network_plugin, self.network_policy
        allowed = NETWORK_POLICIES_BY_PLUGIN[plugin]
        if policy not in allowed:
            raise ValueError(
                f"network_policy {policy!r} does not work with network_plugin {plugin!r}: with {plugin!r} "
                f"network_policy must be {' or '.join(map(repr, allowed))} (AKS: kubenet takes calico only, "
                "cilium needs the azure plugin, plugin none takes no policy)")
        return self

    @model_validator(mode="after")
    def _extension(self) -> "KubernetesSettings":
        # here rather than on ExtensionSettings, so that a block without `extension` is checked too
        problems = extension_problems(self.extension.model_dump()) if self.extension.install else []
        if problems:
            raise ValueError("extension: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _existing(self) -> "KubernetesSettings":
        if self.existing_id and not self.kubeconfig:
            raise ValueError("kubeconfig is required with existing_id (a secret: "
                             "pulumi config set --path --secret 'amlplatform:kubernetes[0].kubeconfig' ...)")
        return self

    @model_validator(mode="after")
    def _api_server(self) -> "KubernetesSettings":
        # AKS: a private cluster or authorized ranges (learn.microsoft.com/azure/aks/private-clusters,
        # api-server-authorized-ip-ranges); no default, because the right answer depends on where the
        # deploy pipeline runs and a wrong one leaves the instance types uncreatable
        if not self.creates_cluster:
            if self.api_server_access or self.authorized_ip_ranges:
                raise ValueError("api_server_access and authorized_ip_ranges are for a created cluster "
                                 "(existing_id's API server is configured by its owner)")
            return self
        if self.api_server_access is None:
            raise ValueError("api_server_access is required for a created cluster: private (the deploy runs in "
                             "or peered to the cluster's VNet), authorized_ranges (with authorized_ip_ranges: the "
                             "pipeline's egress CIDRs) or public")
        if self.api_server_access == "authorized_ranges" and not self.authorized_ip_ranges:
            raise ValueError("api_server_access authorized_ranges needs authorized_ip_ranges (the CIDRs of the "
                             "deploy pipeline's egress and the operators)")
        if self.api_server_access != "authorized_ranges" and self.authorized_ip_ranges:
            raise ValueError(f"authorized_ip_ranges are only used with api_server_access authorized_ranges "
                             f"(api_server_access is {self.api_server_access!r})")
        return self

    @model_validator(mode="after")
    def _encryption_at_host(self) -> "KubernetesSettings":
        bad = [p.name for p in (self.system_pool, self.inference_pool)
               if p.encryption_at_host and not self.encryption_at_host_registered]
        if bad:
            raise ValueError(
                f"node pools {', '.join(bad)}: encryption_at_host needs the subscription feature "
                "Microsoft.Compute/EncryptionAtHost (learn.microsoft.com/azure/aks/enable-host-encryption): register "
                "it with `az feature register --namespace Microsoft.Compute --name EncryptionAtHost` and "
                "`az provider register --namespace Microsoft.Compute`, then set encryption_at_host_registered: true")
        return self

    @model_validator(mode="after")
    def _service_range(self) -> "KubernetesSettings":
        import ipaddress

        problems = []
        if cidr.overlaps(self.pod_cidr, self.service_cidr):
            problems.append(f"pod_cidr {self.pod_cidr} overlaps service_cidr {self.service_cidr}")
        try:
            dns_ip = ipaddress.ip_address(self.dns_service_ip)
        except ValueError:
            problems.append(f"dns_service_ip {self.dns_service_ip!r} is not an IPv4 address")
        else:
            service = cidr.parse(self.service_cidr)
            # AKS: inside the service range, and not its first address (kube-apiserver takes .1)
            if dns_ip not in service or int(dns_ip) <= int(service.network_address) + 1:
                problems.append(f"dns_service_ip {self.dns_service_ip} must be inside service_cidr "
                                f"{self.service_cidr} and not its first two addresses")
        if problems:
            raise ValueError("; ".join(problems) + " (learn.microsoft.com/azure/aks/azure-cni-overlay)")
        return self

    def pool_encryption_at_host(self, pool: NodePoolSettings) -> bool:
        return self.encryption_at_host_registered if pool.encryption_at_host is None else pool.encryption_at_host

    @property
    def creates_cluster(self) -> bool:
        return self.existing_id is None


