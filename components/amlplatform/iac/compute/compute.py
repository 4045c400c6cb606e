"""Compute clusters (AmlCompute) and per-user compute instances of a workspace.

Both wait only for the workspace (their ``workspace_name`` input); nothing else. Secure
defaults: Entra ID only (``disableLocalAuth``), no public SSH, clusters scale to zero with an
idle scale-down delay, instances are personal and shut down when idle.
"""

import base64
from typing import List, Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import machinelearningservices as ml
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.iac._base import check_args, child, defaults, token


# AmlCompute inputs (wire names) that cannot change in place: a change replaces the cluster
CLUSTER_REPLACE_ON_CHANGES = ["properties.computeType", "properties.properties.vmSize",
                              "properties.properties.vmPriority", "properties.properties.subnet",
                              "properties.properties.osType"]


def _identity(kind: str, user_assigned_identity_id: Optional[str]) -> Optional[dict]:
    if kind == "None":
        return None
    identity: dict = {"type": kind}
    if kind == "UserAssigned":
        if not user_assigned_identity_id:
            raise ValueError("user_assigned_identity_id is required with identity UserAssigned")
        identity["user_assigned_identities"] = [user_assigned_identity_id]
    return identity


def _without_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


class ComputeClusterArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the workspace."""
    workspace_name: Required[pulumi.Input[str]]
    """Workspace the cluster belongs to (the only thing the cluster waits for)."""
    location: Required[pulumi.Input[str]]
    """Azure region."""
    compute_name: Required[str]
    """Compute name: 3-16 letters, digits and '-', starting with a letter."""
    vm_size: str
    """VM size."""
    priority: str
    """Dedicated or LowPriority."""
    min_nodes: int
    """Nodes kept when idle."""
    max_nodes: int
    """Most nodes."""
    idle_time_before_scale_down: str
    """ISO-8601 duration."""
    subnet_id: pulumi.Input[str]
    """Subnet to join (then no public IP by default)."""
    node_public_ip: bool
    """Public IPs on nodes; default False with a subnet, else True."""
    remote_login_port_public_access: str
    """Disabled, Enabled or NotSpecified."""
    identity: str
    """SystemAssigned, UserAssigned or None."""
    user_assigned_identity_id: pulumi.Input[str]
    """With identity UserAssigned."""
    os_type: str
    """Linux or Windows."""
    description: str
    """Shown in the studio."""
    tags: Mapping[str, str]
    """Tags for the compute."""


# every default of ComputeClusterArgs, written once (amlplatform.iac._base.defaults)
CLUSTER_DEFAULTS = defaults(ComputeClusterArgs, vm_size="Standard_DS3_v2", priority="Dedicated", min_nodes=0,
                            max_nodes=4, idle_time_before_scale_down="PT120S",
                            remote_login_port_public_access="Disabled", identity="SystemAssigned",
                            os_type="Linux")


class ComputeCluster(pulumi.ComponentResource):
    """An AmlCompute cluster that scales to zero and accepts Entra ID only."""

    id: pulumi.Output[str]
    """ARM id of the compute cluster."""
    name: pulumi.Output[str]
    """Name of the compute in the workspace."""
    principal_id: pulumi.Output[Optional[str]]
    """Object id of the cluster's system-assigned identity (none without one)."""

    def __init__(self, name: str, args: ComputeClusterArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("ComputeCluster", args, ComputeClusterArgs)
        super().__init__(token("ComputeCluster"), name, None, opts)
        args = {**CLUSTER_DEFAULTS, **args}  # type: ignore[assignment]
        compute_name = naming.compute_name(args["compute_name"])
        min_nodes, max_nodes = args["min_nodes"], args["max_nodes"]
        if not 0 <= min_nodes <= max_nodes:
            raise ValueError(f"{name}: need 0 <= min_nodes <= max_nodes, got {min_nodes} and {max_nodes}")
        subnet = args.get("subnet_id")
        public_ip = args.get("node_public_ip", subnet is None)
        properties = {
            "vm_size": args["vm_size"],
            "vm_priority": args["priority"],
            "os_type": args["os_type"],
            "scale_settings": {
                "min_node_count": min_nodes,
                "max_node_count": max_nodes,
                "node_idle_time_before_scale_down": args["idle_time_before_scale_down"],
            },
            "remote_login_port_public_access": args["remote_login_port_public_access"],
            "enable_node_public_ip": public_ip,
        }
        if subnet is not None:
            properties["subnet"] = {"id": subnet}
        compute = ml.Compute(
            f"{name}-compute",
            resource_group_name=args["resource_group_name"],
            workspace_name=args["workspace_name"],
            compute_name=compute_name,
            location=args["location"],
            identity=_identity(args["identity"], args.get("user_assigned_identity_id")),
            properties=_without_none({
                "compute_type": "AmlCompute",
                "disable_local_auth": True,
                "description": args.get("description"),
                "properties": properties,
            }),
            tags=dict(args.get("tags") or {}),
            # --- create-only properties: Azure ML ignores (or refuses) changing a cluster's VM size, VM
            # priority and subnet in place ("you can't change the VM size of a compute cluster after
            # creation", learn.microsoft.com/azure/machine-learning/how-to-create-attach-compute-cluster);
            # declared so previews show the replacement. The name is fixed, so the old one goes first.
            opts=child(self, replace_on_changes=CLUSTER_REPLACE_ON_CHANGES, delete_before_replace=True),
        )
        self.id = compute.id
        self.name = compute.name
        self.principal_id = compute.identity.apply(lambda i: i.principal_id if i else None)
        self.register_outputs({"id": self.id, "name": self.name, "principal_id": self.principal_id})


class InstanceSchedule(TypedDict, total=False):
    action: Required[str]
    """Start or Stop."""
    cron: Required[str]
    """5-field cron expression."""
    time_zone: str
    """Time zone id."""
    enabled: bool
    """Whether the schedule runs."""


# every default of InstanceSchedule, written once (amlplatform.iac._base.defaults)
SCHEDULE_DEFAULTS = defaults(InstanceSchedule, time_zone="UTC", enabled=True)


class SetupScript(TypedDict, total=False):
    content: Required[str]
    """The script itself (the program reads the file; components never read files)."""
    when: str
    """creation (once) or startup (every start)."""
    arguments: str
    """Command line arguments."""
    timeout: str
    """e.g. 10m."""


# every default of SetupScript, written once (amlplatform.iac._base.defaults)
SCRIPT_DEFAULTS = defaults(SetupScript, when="creation")


class ComputeInstanceArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the workspace."""
    workspace_name: Required[pulumi.Input[str]]
    """Workspace the instance belongs to."""
    location: Required[pulumi.Input[str]]
    """Azure region."""
    compute_name: Required[str]
    """Instance name: 3-16 characters, unique in the region."""
    user_object_id: Required[str]
    """Entra object id of the only user of the instance."""
    user_tenant_id: Required[pulumi.Input[str]]
    """Entra tenant of that user."""
    vm_size: str
    """VM size."""
    idle_time_before_shutdown: str
    """ISO-8601 duration; empty string turns idle shutdown off."""
    schedules: List[InstanceSchedule]
    """Start/stop schedules."""
    setup_script: SetupScript
    """A script run at creation or at every start."""
    subnet_id: pulumi.Input[str]
    """Subnet to join."""
    node_public_ip: bool
    """Public IP; default False with a subnet, else True."""
    description: str
    """Shown in the studio."""
    tags: Mapping[str, str]
    """Tags for the instance."""


# every default of ComputeInstanceArgs, written once (amlplatform.iac._base.defaults)
INSTANCE_DEFAULTS = defaults(ComputeInstanceArgs, vm_size="Standard_DS3_v2",
                             idle_time_before_shutdown="PT60M")


class ComputeInstance(pulumi.ComponentResource):
    """A personal compute instance: assigned to one user, idle shutdown, no SSH, Entra ID only.

    Instance properties are create-only on the service side: changing any of them replaces the
    instance (deleted first, then created again: its local disk is lost)."""

    id: pulumi.Output[str]
    """ARM id of the compute instance."""
    name: pulumi.Output[str]
    """Name of the compute in the workspace."""

    def __init__(self, name: str, args: ComputeInstanceArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("ComputeInstance", args, ComputeInstanceArgs)
        super().__init__(token("ComputeInstance"), name, None, opts)
        args = {**INSTANCE_DEFAULTS, **args}  # type: ignore[assignment]
        compute_name = naming.compute_name(args["compute_name"], "instance")
        subnet = args.get("subnet_id")
        properties: dict = {
            "vm_size": args["vm_size"],
            "compute_instance_authorization_type": "personal",
            "personal_compute_instance_settings": {
                "assigned_user": {"object_id": args["user_object_id"], "tenant_id": args["user_tenant_id"]},
            },
            "ssh_settings": {"ssh_public_access": "Disabled"},
            "enable_node_public_ip": args.get("node_public_ip", subnet is None),
            "enable_sso": True,
            "application_sharing_policy": "Personal",
        }
        idle = args["idle_time_before_shutdown"]
        if idle:
            properties["idle_time_before_shutdown"] = idle
        if subnet is not None:
            properties["subnet"] = {"id": subnet}
        schedules = args.get("schedules") or []
        if schedules:
            properties["schedules"] = {"compute_start_stop": [{
                "action": s["action"],
                "trigger_type": "Cron",
                "cron": {"expression": s["cron"], "time_zone": s.get("time_zone", SCHEDULE_DEFAULTS["time_zone"])},
                "status": "Enabled" if s.get("enabled", SCHEDULE_DEFAULTS["enabled"]) else "Disabled",
            } for s in schedules]}
        script = args.get("setup_script")
        if script:
            reference = {
                "script_source": "inline",
                "script_data": base64.b64encode(script["content"].encode("utf-8")).decode("ascii"),
                "timeout": script.get("timeout", "10m"),
            }
            if script.get("arguments"):
                reference["script_arguments"] = script["arguments"]
            key = "startup_script" if script.get("when", SCRIPT_DEFAULTS["when"]) == "startup" else "creation_script"
            properties["setup_scripts"] = {"scripts": {key: reference}}
        compute = ml.Compute(
            f"{name}-compute",
            resource_group_name=args["resource_group_name"],
            workspace_name=args["workspace_name"],
            compute_name=compute_name,
            location=args["location"],
            properties=_without_none({
                "compute_type": "ComputeInstance",
                "disable_local_auth": True,
                "description": args.get("description"),
                "properties": properties,
            }),
            tags=dict(args.get("tags") or {}),
            # the service refuses an in-place PUT to an existing instance: any change to its
            # properties replaces it, and because its name is fixed (unique per region) the old
            # one must go first
            opts=child(self, replace_on_changes=["properties"], delete_before_replace=True),
        )
        self.id = compute.id
        self.name = compute.name
        self.register_outputs({"id": self.id, "name": self.name})
