"""``PrivateLink``: one private endpoint for one sub-resource (group id) of a resource, with its DNS
zone group, so the resource's name resolves to the endpoint's address inside the VNet.

The AVM modules accept the same ``privateEndpoints`` option on every resource; here the storage
account, key vault, registry and workspace components take a :class:`PrivateEndpointsSpec` and call
:func:`declare_private_endpoints`. Which zones a group needs is documented in
learn.microsoft.com/azure/private-link/private-endpoint-dns (table in
`amlplatform.azure.private_dns.GROUP_ZONES`).
"""

from typing import Dict, List, Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import network
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.iac._base import check_args, child, token
from amlplatform.azure.private_dns import GROUP_ZONES

ZONE_GROUP_NAME = "default"


class PrivateEndpointsSpec(TypedDict, total=False):
    subnet_id: Required[pulumi.Input[str]]
    """Subnet that holds the endpoints."""
    dns_zone_ids: Required[Mapping[str, pulumi.Input[str]]]
    """Private DNS zone name -> zone id, for every zone of ``groups``."""
    groups: Required[List[str]]
    """Sub-resources that get an endpoint (amlworkspace, blob, file, queue, table, vault, registry)."""


def has_private_path(spec: Optional[Mapping]) -> bool:
    """Whether ``spec`` (a :class:`PrivateEndpointsSpec` or None) declares at least one endpoint."""
    return bool(spec) and bool(list(spec.get("groups") or []))


class PrivateLinkArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the endpoint."""
    location: Required[pulumi.Input[str]]
    """Region of the endpoint: the VNet's."""
    endpoint_name: Required[str]
    """Physical name (2-64 characters)."""
    resource_id: Required[pulumi.Input[str]]
    """The resource the endpoint connects to."""
    group_id: Required[str]
    """Its sub-resource (amlworkspace, blob, file, queue, table, vault, registry)."""
    subnet_id: Required[pulumi.Input[str]]
    """Subnet of the endpoint."""
    dns_zone_ids: Required[Mapping[str, pulumi.Input[str]]]
    """Zone name -> zone id; must hold every zone of the group."""
    tags: Mapping[str, str]
    """Tags of the endpoint."""


def zones_for(group_id: str) -> tuple:
    if group_id not in GROUP_ZONES:
        raise ValueError(f"no private DNS zone is known for group id {group_id!r} "
                         f"(known: {', '.join(sorted(GROUP_ZONES))})")
    return GROUP_ZONES[group_id]


class PrivateLink(pulumi.ComponentResource):
    """A private endpoint (auto-approved: the same identity owns both sides) and its DNS zone group."""

    endpoint_id: pulumi.Output[str]
    """ARM id of the private endpoint."""
    zone_group_id: pulumi.Output[str]
    """ARM id of its private DNS zone group."""

    def __init__(self, name: str, args: PrivateLinkArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("PrivateLink", args, PrivateLinkArgs)
        super().__init__(token("PrivateLink"), name, None, opts)
        group = args["group_id"]
        zones = zones_for(group)
        missing = [z for z in zones if z not in args["dns_zone_ids"]]
        if missing:
            raise ValueError(f"{name}: dns_zone_ids lacks {', '.join(missing)} (group {group})")
        endpoint_name = naming.ensure("private_endpoint", args["endpoint_name"])
        endpoint = network.PrivateEndpoint(
            f"{name}-endpoint",
            private_endpoint_name=endpoint_name,
            resource_group_name=args["resource_group_name"],
            location=args["location"],
            subnet={"id": args["subnet_id"]},
            # the NIC's name, stable instead of Azure's generated one
            custom_network_interface_name=f"{endpoint_name}-nic"[:80],
            private_link_service_connections=[{
                "name": endpoint_name,
                "private_link_service_id": args["resource_id"],
                "group_ids": [group],
            }],
            tags=dict(args.get("tags") or {}),
            opts=child(self),
        )
        zone_group = network.PrivateDnsZoneGroup(
            f"{name}-dns",
            private_endpoint_name=endpoint.name,
            resource_group_name=args["resource_group_name"],
            private_dns_zone_group_name=ZONE_GROUP_NAME,
            private_dns_zone_configs=[{"name": zone.replace(".", "-"), "private_dns_zone_id": args["dns_zone_ids"][zone]}
                                      for zone in zones],
            opts=child(self),
        )
        self.endpoint = endpoint
        self.zone_group = zone_group
        self.endpoint_id = endpoint.id
        self.zone_group_id = zone_group.id
        self.register_outputs({"endpoint_id": self.endpoint_id, "zone_group_id": self.zone_group_id})


def declare_private_endpoints(parent: pulumi.Resource, name: str, *, resource_id: pulumi.Input[str],
                              resource_name: str, spec: Optional[PrivateEndpointsSpec],
                              resource_group_name: pulumi.Input[str], location: pulumi.Input[str],
                              tags: Optional[Mapping[str, str]] = None) -> Dict[str, PrivateLink]:
    """A :class:`PrivateLink` per group of ``spec`` (logical names ``<name>-pe-<group>``), children
    of ``parent``; none when ``spec`` is None."""
    if not spec:
        return {}
    out: Dict[str, PrivateLink] = {}
    for group in spec["groups"]:
        out[group] = PrivateLink(f"{name}-pe-{group}", {
            "resource_group_name": resource_group_name, "location": location,
            "endpoint_name": naming.private_endpoint_name(resource_name, group),
            "resource_id": resource_id, "group_id": group, "subnet_id": spec["subnet_id"],
            "dns_zone_ids": spec["dns_zone_ids"], "tags": dict(tags or {}),
        }, opts=child(parent))
    return out
