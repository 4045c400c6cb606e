"""Typed settings for compute: AmlCompute clusters and per-user compute instances (stack keys
``amlplatform:clusters``, ``amlplatform:instances``), and the checks across compute blocks.

Kubernetes inference targets live in :mod:`amlplatform.spec.kubernetes`, environments in
:mod:`amlplatform.spec.environments`, the value types they share in
:mod:`amlplatform.spec.values`; their names are re-exported here so existing imports keep working.

Every check that involves two fields is made on the *later* field (pydantic hands a field
validator the fields validated before it), so a bad block is reported in one error that names
every bad field - ``min_nodes > max_nodes``, a bad name and an unknown priority all at once -
instead of one problem per deploy attempt.

Declares no resources; the defaults are the components' own (amlplatform.iac._base.defaults).
"""

from typing import Dict, List, Literal, Optional

from pydantic import Field, ValidationInfo, field_validator, model_validator

# the components' own defaults, written once beside their Args (amlplatform.iac._base.defaults)
from amlplatform.iac.compute.compute import CLUSTER_DEFAULTS as CLUSTER, INSTANCE_DEFAULTS as INSTANCE, \
    SCHEDULE_DEFAULTS as SCHEDULE
from amlplatform.azure import naming
from amlplatform.spec.core import Guid, Model
from amlplatform.spec.environments import DEFAULT_BASE_IMAGE, EnvironmentSettings  # noqa: F401
from amlplatform.spec.kubernetes import (  # noqa: F401
    AML_TAINT, INFERENCE_POOL_LABEL, NETWORK_POLICIES_BY_PLUGIN, ExtensionSettings, InstanceTypeSettings,
    KubernetesSettings, NodePoolSettings, cpu_millicores, extension_problems, memory_bytes,
)
from amlplatform.spec.values import (  # noqa: F401
    ComputeName, Cron, IdentityId, InstanceName, IdleShutdown, K8sName, ScaleDownDelay, SubnetId, Taints, VmSize,
    _max_not_below_min, cron_problems, duration_seconds,
)

# ---------------------------------------------------------------------------- clusters

class ClusterSettings(Model):
    """An AmlCompute cluster: scales to zero, no public SSH, Entra ID only."""

    name: ComputeName = Field(description="Compute name: 2-16 letters, digits and '-', starting with a letter")
    vm_size: VmSize = CLUSTER["vm_size"]
    """VM size: `Standard_` + letters, digits, `_`"""
    priority: Literal["Dedicated", "LowPriority"] = CLUSTER["priority"]
    """Dedicated, or LowPriority (cheaper, can be preempted)"""
    min_nodes: int = Field(CLUSTER["min_nodes"], ge=0, description="Nodes kept when idle; 0 costs nothing when idle")
    max_nodes: int = Field(CLUSTER["max_nodes"], ge=1, le=1000)
    """Most nodes; at least min_nodes"""
    idle_time_before_scale_down: ScaleDownDelay = Field(
        CLUSTER["idle_time_before_scale_down"], description="ISO-8601 idle time before a node is released (PT60S-P1D)")
    subnet_id: SubnetId = Field(None, description="Subnet to join; then nodes get no public IP by default")
    node_public_ip: Optional[bool] = Field(
        None, description="Default: false with a subnet or a managed network, else true (no route otherwise)")
    remote_login_port_public_access: Literal["Disabled", "Enabled", "NotSpecified"] = CLUSTER[
        "remote_login_port_public_access"]
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
    time_zone: str = Field(SCHEDULE["time_zone"], description="Windows time zone id, e.g. 'W. Europe Standard Time'")
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
    vm_size: VmSize = INSTANCE["vm_size"]
    """VM size of every instance (each user may override it)"""
    idle_shutdown: bool = Field(True, description="Shut an idle instance down")
    idle_time_before_shutdown: IdleShutdown = Field(INSTANCE["idle_time_before_shutdown"], description="PT15M-P3D")
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

    def instance_name(self, user: InstanceUser, scope: str, secret: bool = False) -> str:
        """The user's instance name. Instance names are unique per Azure region across
        workspaces, so the hash covers the stack's ``scope`` (workload/environment) as well as
        the user: the same person in dev and prod gets two names. When the user's object id is a
        secret, the hash covers the user's place in the list instead (naming.name_part says why)."""
        if user.name:
            return user.name
        if secret:
            where = f"instances.users[{self.users.index(user)}]"
            return naming.instance_name(self.prefix, f"{scope}/" + naming.name_part(user.object_id, secret=True,
                                                                                    where=where))
        return naming.instance_name(self.prefix, f"{scope}/{user.object_id}")

    def names(self, scope: str) -> List[str]:
        return [self.instance_name(u, scope) for u in self.users]


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
