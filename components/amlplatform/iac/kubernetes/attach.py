"""Attaching a Kubernetes cluster to a workspace (``computeType: Kubernetes``) and the Azure ML
instance types on it (``InstanceType`` custom resources, ``amlarc.azureml.com/v1alpha1``)."""

from typing import List, Mapping, TypedDict

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import machinelearningservices as ml
from typing_extensions import Required

from amlplatform.iac._base import child

INSTANCE_TYPE_API = "amlarc.azureml.com/v1alpha1"


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


def attach_schema(t: Mapping) -> dict:
    spec = instance_type_spec(t)
    out: dict = {"resources": spec["resources"]}
    if "nodeSelector" in spec:
        out["node_selector"] = spec["nodeSelector"]
    return out


def declare_attach(name: str, args: Mapping, compute_name: str, cluster_id: pulumi.Input[str], properties: dict,
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


def declare_instance_types(parent: pulumi.Resource, name: str, types: List[Mapping], *,
                           provider: pulumi.ProviderResource, waits: List[pulumi.Resource]) -> None:
    """One ``InstanceType`` per entry (logical names ``<name>-instancetype-<type>``)."""
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
            opts=child(parent, provider=provider, depends_on=waits or None),
        )
