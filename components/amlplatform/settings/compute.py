"""Typed settings for compute: clusters, per-user instances, Kubernetes inference targets and
environments (stack keys ``amlplatform:clusters``, ``amlplatform:instances``,
``amlplatform:kubernetes``, ``amlplatform:environments``).

Every check that involves two fields is made on the *later* field (pydantic hands a field
validator the fields validated before it), so a bad block is reported in one error that names
every bad field - ``min_nodes > max_nodes``, a bad name and an unknown priority all at once -
instead of one problem per deploy attempt.

Pure: no Pulumi imports.
"""

import re
from typing import Annotated, Dict, List, Literal, Mapping, Optional

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from amlplatform import naming
from amlplatform.settings.core import Guid, Model, arm_id

# ---------------------------------------------------------------------------- value types


def _compute_name(kind: str):
    def check(value: str) -> str:
        problems = naming.compute_name_problems(value, kind)  # one rule per kind (naming.COMPUTE_RULES)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    return AfterValidator(check)


ComputeName = Annotated[str, _compute_name("cluster")]
InstanceName = Annotated[str, _compute_name("instance")]
KubernetesComputeName = Annotated[str, _compute_name("kubernetes")]

_VM_SIZE = re.compile(r"Standard_[A-Za-z0-9_]+")


def _vm_size(value: str) -> str:
    if not _VM_SIZE.fullmatch(value):
        raise ValueError("must be an Azure VM size like Standard_DS3_v2 (Standard_ + letters, digits, '_')")
    return value


VmSize = Annotated[str, AfterValidator(_vm_size)]

_DURATION = re.compile(r"P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?")


def duration_seconds(value: str) -> Optional[int]:
    """Seconds of an ISO-8601 duration made of days/hours/minutes/seconds (``PT120S``, ``PT1H30M``,
    ``P1D``); None when ``value`` is not one."""
    m = _DURATION.fullmatch(value or "")
    if not m or value in ("P", "PT") or value.endswith("T"):
        return None
    d, h, mi, s = (int(m.group(k) or 0) for k in "dhms")
    return ((d * 24 + h) * 60 + mi) * 60 + s


def _duration(low: int, high: int, words: str):
    def check(value: str) -> str:
        seconds = duration_seconds(value)
        if seconds is None:
            raise ValueError("must be an ISO-8601 duration like PT120S, PT60M or PT1H30M")
        if not low <= seconds <= high:
            raise ValueError(f"must be {words}")
        return value
    return AfterValidator(check)


# Cluster scale-down: below a minute nodes churn between back-to-back jobs; above a day an idle
# node costs more than a cold start ever saves.
ScaleDownDelay = Annotated[str, _duration(60, 86400, "between PT60S and P1D")]
# Compute instance idle shutdown: the service accepts 15 minutes to 3 days.
IdleShutdown = Annotated[str, _duration(15 * 60, 3 * 86400, "between PT15M and P3D (the service's range)")]

# (name, lowest, highest) of the five cron fields
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 6))
_CRON_ITEM = re.compile(r"(?:\*|(?P<a>[0-9]+)(?:-(?P<b>[0-9]+))?)(?:/(?P<step>[0-9]+))?")


def cron_problems(value: str) -> List[str]:
    """Problems of a 5-field cron expression (minute hour day month weekday): each field ``*``,
    a number, a range ``a-b``, any of them with a step ``/n``, or a comma list of those; numbers in
    the field's range. Empty when it is valid."""
    fields = value.split()
    if len(fields) != 5:
        return [f"has {len(fields)} fields, not 5"]
    problems = []
    for text, (label, low, high) in zip(fields, _CRON_FIELDS):
        for item in text.split(","):
            m = _CRON_ITEM.fullmatch(item)
            if not m:
                problems.append(f"{label} {item!r} is not *, a number, a range a-b or a step /n")
                continue
            numbers = [int(g) for g in (m.group("a"), m.group("b")) if g is not None]
            if any(not low <= n <= high for n in numbers):
                problems.append(f"{label} {item!r} is outside {low}-{high}")
            elif len(numbers) == 2 and numbers[0] > numbers[1]:
                problems.append(f"{label} range {item!r} runs backwards")
            if m.group("step") is not None and int(m.group("step")) == 0:
                problems.append(f"{label} step in {item!r} is 0")
    return problems


def _cron(value: str) -> str:
    problems = cron_problems(value.strip())
    if problems:
        raise ValueError("must be a 5-field cron expression like '0 8 * * 1-5' (minute 0-59, hour 0-23, "
                         "day 1-31, month 1-12, weekday 0-6): " + "; ".join(problems))
    return value.strip()


Cron = Annotated[str, AfterValidator(_cron)]

_K8S_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def _k8s_name(value: str) -> str:
    if not _K8S_NAME.fullmatch(value):
        raise ValueError("must be a Kubernetes name: 1-63 lowercase letters, digits and '-', "
                         "starting and ending with a letter or digit")
    return value


K8sName = Annotated[str, AfterValidator(_k8s_name)]

_TAINT = re.compile(r"[A-Za-z0-9./_-]+(=[A-Za-z0-9._-]*)?:(NoSchedule|PreferNoSchedule|NoExecute)")


def _taints(value: List[str]) -> List[str]:
    bad = [t for t in value if not _TAINT.fullmatch(t)]
    if bad:
        raise ValueError(f"taints must look like key=value:NoSchedule (effects NoSchedule, PreferNoSchedule, "
                         f"NoExecute); bad: {', '.join(map(repr, bad))}")
    return value


Taints = Annotated[List[str], AfterValidator(_taints)]

SubnetId = Annotated[Optional[str], arm_id("Microsoft.Network/virtualNetworks/subnets")]
IdentityId = Annotated[Optional[str], arm_id("Microsoft.ManagedIdentity/userAssignedIdentities")]


def _max_not_below_min(min_field: str):
    """A field validator for a maximum: it must not be below ``min_field`` (validated earlier)."""
    def check(value: int, info: ValidationInfo) -> int:
        low = info.data.get(min_field)
        if isinstance(low, int) and value < low:
            raise ValueError(f"must be at least {min_field} ({low})")
        return value
    return check


# ---------------------------------------------------------------------------- clusters

class ClusterSettings(Model):
    """An AmlCompute cluster: scales to zero, no public SSH, Entra ID only."""

    name: ComputeName = Field(description="Compute name: 2-16 letters, digits and '-', starting with a letter")
    vm_size: VmSize = "Standard_DS3_v2"
    """VM size: `Standard_` + letters, digits, `_`"""
    priority: Literal["Dedicated", "LowPriority"] = "Dedicated"
    """Dedicated, or LowPriority (cheaper, can be preempted)"""
    min_nodes: int = Field(0, ge=0, description="Nodes kept when idle; 0 (default) costs nothing when idle")
    max_nodes: int = Field(4, ge=1, le=1000)
    """Most nodes; at least min_nodes"""
    idle_time_before_scale_down: ScaleDownDelay = Field(
        "PT120S", description="ISO-8601 idle time before a node is released (PT60S-P1D)")
    subnet_id: SubnetId = Field(None, description="Subnet to join; then nodes get no public IP by default")
    node_public_ip: Optional[bool] = Field(
        None, description="Default: false with a subnet or a managed network, else true (no route otherwise)")
    remote_login_port_public_access: Literal["Disabled", "Enabled", "NotSpecified"] = "Disabled"
    """SSH from the internet to the nodes"""
    identity: Literal["SystemAssigned", "UserAssigned", "None"] = "SystemAssigned"
    """Managed identity of the nodes (UserAssigned needs user_assigned_identity_id)"""
    user_assigned_identity_id: IdentityId = None
    """With identity UserAssigned: the identity"""
    os_type: Literal["Linux", "Windows"] = "Linux"
    """Node operating system"""
    description: Optional[str] = None
    """Shown in the studio"""

    _check_max = field_validator("max_nodes")(_max_not_below_min("min_nodes"))

    @field_validator("user_assigned_identity_id")
    @classmethod
    def _identity(cls, value: Optional[str], info: ValidationInfo) -> Optional[str]:
        identity = info.data.get("identity")
        if identity == "UserAssigned" and not value:
            raise ValueError("is required when identity is 'UserAssigned'")
        if value and identity not in (None, "UserAssigned"):
            raise ValueError(f"needs identity 'UserAssigned' (identity is {identity!r})")
        return value

    @model_validator(mode="after")
    def _uai_required(self) -> "ClusterSettings":
        # a default (None) is not validated by the field validator above
        if self.identity == "UserAssigned" and not self.user_assigned_identity_id:
            raise ValueError("user_assigned_identity_id is required when identity is 'UserAssigned'")
        return self


# ---------------------------------------------------------------------------- instances

class ScheduleSettings(Model):
    """Start or stop a compute instance on a cron schedule."""

    action: Literal["Start", "Stop"]
    """Start or Stop the instance"""
    cron: Cron
    """When: a cron expression, minute (0-59) hour (0-23) day (1-31) month (1-12) weekday (0-6, Sunday 0),
    each `*`, a number, a range, a step or a list, like `0 19 * * 1-5`"""
    time_zone: str = Field("UTC", description="Windows time zone id, e.g. 'W. Europe Standard Time'")
    enabled: bool = True
    """Whether the schedule runs"""


class SetupScriptSettings(Model):
    """A script run on the instance, read from a file of the project by the program."""

    path: str = Field(description="Shell script, relative to the project folder (Pulumi.yaml)")
    when: Literal["creation", "startup"] = Field(
        "creation", description="creation: once when the instance is made; startup: at every start")
    arguments: Optional[str] = None
    """Arguments passed to the script"""
    timeout: str = Field("10m", pattern=r"^(?:[0-9]+[smh])$", description="e.g. 10m")


class InstanceUser(Model):
    """One person who gets their own compute instance."""

    object_id: Guid = Field(description="Entra object id of the user")
    tenant_id: Optional[Guid] = Field(None, description="Defaults to the stack's tenant")
    name: Optional[InstanceName] = Field(None, description="Instance name (3-24 characters); default <prefix>-<hash of the user>")
    vm_size: Optional[VmSize] = Field(None, description="Overrides instances.vm_size")


class InstancesSettings(Model):
    """Per-user compute instances: one per listed user, personal, idle shutdown on, no SSH."""

    prefix: str = Field("ci", pattern=r"^(?:[A-Za-z][A-Za-z0-9]{0,8})$",
                        description="Start of generated instance names (1-9 letters/digits)")
    vm_size: VmSize = "Standard_DS3_v2"
    """Default VM size of every instance"""
    idle_shutdown: bool = Field(True, description="Shut an idle instance down")
    idle_time_before_shutdown: IdleShutdown = Field("PT60M", description="PT15M-P3D")
    schedules: List[ScheduleSettings] = Field(default_factory=list)
    """Start/stop schedules of every instance: `{action: Start|Stop, cron, time_zone}`"""
    setup_script: Optional[SetupScriptSettings] = None
    """A script run at creation or startup (`path` relative to the project, read by the program)"""
    subnet_id: SubnetId = None
    """Subnet of the instances; then no public IP"""
    node_public_ip: Optional[bool] = Field(
        None, description="Default: false with a subnet or a managed network, else true")
    users: List[InstanceUser] = Field(default_factory=list)
    """One instance per user: object_id (required), tenant_id, name, vm_size"""

    @field_validator("users")
    @classmethod
    def _distinct_users(cls, users: List[InstanceUser]) -> List[InstanceUser]:
        seen: Dict[str, int] = {}
        for i, user in enumerate(users):
            if user.object_id in seen:
                raise ValueError(f"users[{i}] repeats users[{seen[user.object_id]}] (same object_id)")
            seen[user.object_id] = i
        return users

    def instance_name(self, user: InstanceUser, scope: str) -> str:
        """The user's instance name. Instance names are unique per Azure region across
        workspaces, so the hash covers the stack's ``scope`` (workload/environment) as well as
        the user: the same person in dev and prod gets two names."""
        return user.name or naming.instance_name(self.prefix, f"{scope}/{user.object_id}")

    def names(self, scope: str) -> List[str]:
        return [self.instance_name(u, scope) for u in self.users]


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
    encryption_at_host: bool = Field(
        True, description="Encrypt temp disks and caches on the host (the subscription needs the "
        "Microsoft.Compute/EncryptionAtHost feature registered)")

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


def _has_certificate(extension: Mapping) -> bool:
    return bool(extension.get("ssl_secret")) or (
        extension.get("ssl_cert_pem") is not None and extension.get("ssl_key_pem") is not None)


def extension_problems(extension: Mapping) -> List[str]:
    """Problems of an extension block: HTTPS scoring needs a certificate, which the az CLI also
    refuses to go without ("Provide ssl certificate and key. Otherwise explicitly allow insecure
    connection")."""
    problems = []
    insecure = extension.get("allow_insecure_connections", False)
    pem = [k for k in ("ssl_cert_pem", "ssl_key_pem") if extension.get(k) is not None]
    if len(pem) == 1:
        problems.append("ssl_cert_pem and ssl_key_pem go together")
    if extension.get("ssl_secret") and pem:
        problems.append("give ssl_secret or ssl_cert_pem/ssl_key_pem, not both")
    if not insecure and not _has_certificate(extension):
        problems.append("allow_insecure_connections false (HTTPS scoring) needs a certificate: ssl_secret "
                        "(a Kubernetes TLS secret in the azureml namespace) or ssl_cert_pem + ssl_key_pem")
    if not insecure and _has_certificate(extension) and not extension.get("ssl_cname"):
        problems.append("a scoring certificate needs ssl_cname (the name the certificate is issued for)")
    if insecure and (extension.get("ssl_secret") or pem or extension.get("ssl_cname")):
        problems.append("ssl_* settings are only used with allow_insecure_connections false")
    return problems


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
        "Microsoft.MachineLearningServices/workspaces/mlworkload), so local accounts can be disabled")
    disable_local_accounts: bool = Field(
        False, description="The Azure ML extension needs local accounts unless trusted_access is on")
    kubelogin_mode: Literal["azurecli", "workloadidentity", "msi", "spn"] = Field(
        "azurecli", description="Without local accounts, how the deploying machine's kubelogin signs in "
        "(AKS hands out a device-code kubeconfig, which would block a pipeline)")
    admin_group_object_ids: List[Guid] = Field(default_factory=list, description="Cluster admins (Entra)")
    authorized_ip_ranges: List[str] = Field(default_factory=list, description="API server allow list (CIDRs)")
    private_cluster: bool = False
    """API server on a private endpoint only"""
    defender: bool = Field(False, description="Microsoft Defender for Containers (needs Log Analytics)")
    azure_policy: bool = True
    """Azure Policy add-on"""
    container_insights: bool = Field(True, description="Container logs and metrics to the stack's Log Analytics")
    key_vault_secrets_provider: bool = Field(
        True, description="Secrets Store CSI driver add-on, with secret rotation")
    subnet_id: SubnetId = None
    """Subnet of the node pools"""
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
                raise ValueError("; ".join(problems))
        return value

    @field_validator("disable_local_accounts")
    @classmethod
    def _local_accounts(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("trusted_access") is False:
            raise ValueError("needs trusted_access: true (the Azure ML extension reaches the cluster "
                             "through local accounts otherwise)")
        return value

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

    @property
    def creates_cluster(self) -> bool:
        return self.existing_id is None


# ---------------------------------------------------------------------------- environments

def _asset_name(value: str) -> str:
    problems = naming.check("environment_asset", value)
    if problems:
        raise ValueError("; ".join(problems))
    return value


DEFAULT_BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"


class EnvironmentSettings(Model):
    """An Azure ML environment: a Docker image as is, or a conda file built on a base image."""

    name: Annotated[str, AfterValidator(_asset_name)]
    """Environment name: letters, digits, '.', '_' and '-'"""
    version: str = Field("1", pattern=r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,29})$")
    """Version; immutable: change it with the image or conda file"""
    image: Optional[str] = Field(None, description="Docker image used as is (no build)")
    conda_file: Optional[str] = Field(
        None, description="conda YAML, relative to the project folder; built on base_image")
    base_image: Optional[str] = Field(None, description=f"With conda_file; default {DEFAULT_BASE_IMAGE}")
    description: Optional[str] = None
    """Shown in the studio"""
    os_type: Literal["Linux", "Windows"] = "Linux"
    """Operating system of the image"""
    tags: Dict[str, str] = Field(default_factory=dict)
    """Tags on the environment version"""

    @model_validator(mode="after")
    def _one_source(self) -> "EnvironmentSettings":
        if bool(self.image) == bool(self.conda_file):
            raise ValueError("give exactly one of image (used as is) or conda_file (built on base_image)")
        if self.base_image and not self.conda_file:
            raise ValueError("base_image is only used with conda_file (image is used as is)")
        return self

    @property
    def builds_image(self) -> bool:
        """A conda file on a base image makes Azure ML build an image, which needs a registry."""
        return self.conda_file is not None


# ---------------------------------------------------------------------------- across blocks

def repeated_compute_names(groups: Dict[str, List[str]]) -> List[str]:
    """Problems for compute names used twice across clusters, instances and Kubernetes targets.

    ``groups`` maps a label (``clusters``) to the names it declares, in order.
    """
    seen: Dict[str, str] = {}
    problems: List[str] = []
    for label, names in groups.items():
        for i, name in enumerate(names):
            where = f"{label}[{i}]"
            key = name.lower()  # compute names are case-insensitive in a workspace
            if key in seen:
                problems.append(f"compute name {name!r} of {where} is already used by {seen[key]}")
            else:
                seen[key] = where
    return problems


__all__ = [
    "ClusterSettings", "InstancesSettings", "InstanceUser", "ScheduleSettings", "SetupScriptSettings",
    "KubernetesSettings", "NodePoolSettings", "InstanceTypeSettings", "ExtensionSettings",
    "EnvironmentSettings", "DEFAULT_BASE_IMAGE", "INFERENCE_POOL_LABEL", "AML_TAINT",
    "duration_seconds", "repeated_compute_names", "cron_problems", "cpu_millicores", "memory_bytes",
    "extension_problems",
]
