"""MLPlatform's decisions about the workspace and what it depends on: the network, the arguments of
MLWorkspace (firewalls and public access derived from the workspace's network, private endpoint
groups, customer-managed key, locks, diagnostics, registry mode) and the data-plane roles of people
and compute identities. Pure mappings from the validated platform model to component arguments.
"""

from typing import Any, Dict, List, Optional

import pulumi

from amlplatform.azure import naming
from amlplatform.iac.access.access import RoleAssignmentSpec
from amlplatform.azure.kubernetes import AKS_FQDN_TAG, EXTENSION_FQDNS, api_server_zone
from amlplatform.iac.options.locks import LockKind, LockSpec
from amlplatform.azure.private_dns import GROUP_ZONES
from amlplatform.azure.roles import BATCH_STORAGE_ROLES, ROLES, STORAGE_DATA_ROLES, read_only_containers_condition
from amlplatform.iac.workspace.mlworkspace import MLWorkspace
from amlplatform.iac.workspace.registry import registry_needed
from amlplatform.spec.core import derived_network
from amlplatform.spec.network import monitoring_network, monitoring_private_link, private_endpoint_groups
from amlplatform.spec.platform import StackSettings


def _role_specs(settings: StackSettings, scope: str) -> List[RoleAssignmentSpec]:
    out: List[RoleAssignmentSpec] = []
    if scope == "workspace":
        # access.data_scientists: the workspace role, under the same logical names a role_assignments
        # entry had (moving an entry from role_assignments to access keeps its URN)
        for i, person in enumerate(settings.access.data_scientists):
            spec: RoleAssignmentSpec = {
                "principal_id": person.principal_id, "principal_type": person.principal_type,
                "role_definition_guid": ROLES["AzureML Data Scientist"], "role_name": "AzureML Data Scientist",
            }
            if person.description:
                spec["description"] = person.description
            out.append(secret_safe(settings, spec, f"access.data_scientists[{i}]"))
    for i, ra in enumerate(settings.role_assignments):
        if ra.scope != scope:
            continue
        spec = {
            "principal_id": ra.principal_id, "principal_type": ra.principal_type,
            "role_definition_guid": ra.role_definition_guid(), "role_name": ra.role,
        }
        if ra.description:
            spec["description"] = ra.description
        out.append(secret_safe(settings, spec, f"role_assignments[{i}]"))
    return out


def secret_safe(settings: StackSettings, spec: RoleAssignmentSpec, where: str) -> RoleAssignmentSpec:
    """``spec`` with a ``name_label`` when its principal id is a secret: the logical name then holds a
    hash of ``where`` (the setting), not the id's characters (naming.name_part)."""
    if settings.holds_secret(spec["principal_id"]):
        spec["name_label"] = naming.name_part(spec["principal_id"], secret=True, where=where)
    return spec


def egress_firewall_args(settings: StackSettings, names: Any) -> Dict[str, Any]:
    """``EgressFirewallSpec`` of ``network.egress_firewall`` (pure): the AKS subnet is the source; the hosts
    allowed are the Azure ML extension's (amlplatform.azure.kubernetes) and the stack's own."""
    fw, vnet = settings.network.egress_firewall, settings.network.vnet
    assert fw is not None and vnet is not None and vnet.aks_subnet and vnet.firewall_subnet
    region = settings.location.lower().replace(" ", "")
    hosts = {h.replace("<region>", region) for h in EXTENSION_FQDNS} | set(fw.allowed_fqdns)
    return {"subnet_prefix": vnet.firewall_subnet, "firewall_name": names.firewall,
            "policy_name": names.firewall_policy, "public_ip_name": names.firewall_public_ip,
            "route_table_name": names.aks_route_table, "source_prefixes": [vnet.aks_subnet],
            "fqdn_tags": [AKS_FQDN_TAG], "application_fqdns": sorted(hosts),
            "sku_tier": fw.sku_tier, "threat_intel_mode": fw.threat_intel_mode}


def network_args(settings: StackSettings, *, resource_group_name: pulumi.Input[str]) -> Optional[Dict[str, Any]]:
    """The ``PlatformNetworkArgs`` for ``settings`` (None without a network; pure mapping)."""
    net = settings.network
    if net.mode == "none":
        return None
    zones = sorted({z for groups in private_endpoint_groups(settings).values() for g in groups for z in GROUP_ZONES[g]}
                   | set(kubernetes_zones(settings)))
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
            route_tables = {t.route_table_id for t in settings.kubernetes
                            if t.route_table_id and t.subnet_id is None}
            if len(route_tables) > 1:
                raise ValueError("kubernetes[]: the targets in network.vnet.aks_subnet name different route_table_id "
                                 "values; one subnet has one route table")
            if route_tables:
                vnet["aks_route_table_id"] = route_tables.pop()
            if net.egress_firewall is not None and net.vnet.firewall_subnet:
                vnet["egress_firewall"] = egress_firewall_args(settings, names)
        args["vnet"] = vnet
        if net.flow_logs is not None:
            args["flow_logs"] = flow_log_args(settings, resource_group_name)
    else:
        assert net.existing_subnets is not None
        args["private_endpoints_subnet_id"] = net.existing_subnets.private_endpoints
        if net.existing_subnets.aks:
            args["aks_subnet_id"] = net.existing_subnets.aks
    return args


def scoring_zone(target: Any) -> Optional[str]:
    """The private DNS zone of a target's scoring name (extension.ssl_cname minus its first label) when
    the inference router is on the internal load balancer; None otherwise."""
    ext = target.extension
    if (not ext.install or ext.allow_insecure_connections or not ext.ssl_cname
            or ext.inference_router_service_type != "LoadBalancer" or not ext.internal_load_balancer):
        return None
    return ext.ssl_cname.lower().split(".", 1)[1]


def private_api_zone(settings: StackSettings, target: Any) -> Optional[str]:
    """The private DNS zone of a created private cluster's API server when the platform has a network
    to link it to (a zone of one's own: amlplatform.azure.kubernetes); None otherwise."""
    if settings.network.mode == "none" or not target.creates_cluster or target.api_server_access != "private":
        return None
    return api_server_zone(settings.location)


def kubernetes_zones(settings: StackSettings) -> List[str]:
    """The private DNS zones the Kubernetes targets need (API servers, scoring names)."""
    if settings.network.mode == "none":
        return []
    out = {private_api_zone(settings, t) for t in settings.kubernetes} | {scoring_zone(t) for t in settings.kubernetes}
    return sorted(z for z in out if z)

def flow_log_args(settings: StackSettings, resource_group_name: pulumi.Input[str]) -> Dict[str, Any]:
    """``FlowLogsSpec`` of ``network.flow_logs`` (pure): the auto-enabled watcher NetworkWatcher_<location>
    in NetworkWatcherRG (network-watcher/network-watcher-create), or one declared in the stack's group."""
    flow = settings.network.flow_logs
    assert flow is not None
    watcher = flow.network_watcher
    return {"storage_account_id": flow.storage_account_id, "retention_days": flow.retention_days,
            "network_watcher_name": watcher.name or f"NetworkWatcher_{settings.location}",
            "network_watcher_resource_group": watcher.resource_group or (
                resource_group_name if watcher.create else "NetworkWatcherRG"),
            "create_network_watcher": watcher.create}


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
            "soft_delete_retention_days": kv.soft_delete_retention_days, "create_mode": kv.create_mode,
            "network_default_action": derived_network(ws, kv.network_default_action, "default_action"),
            "public_network_access": derived_network(ws, kv.public_network_access, "public_access"),
        }
    monitoring: Dict[str, Any] = {
        "retention_days": mon.retention_days,
        "app_insights_local_auth": mon.app_insights_local_auth,
        "log_analytics_local_auth": mon.log_analytics_local_auth,
        **monitoring_network(settings),
    }
    if monitoring_private_link(settings):
        # an Azure Monitor Private Link Scope (its endpoint: private_endpoints' "monitoring" group);
        # ingestion only through private endpoints, queries as the stack says (docs/private-networking.md)
        monitoring["private_link_scope"] = {
            # derived from the workspace's name (CAF prefix ampls-), so it follows a workspace name override
            "scope_name": f"ampls-{settings.naming.names().workspace}",
            "ingestion_access_mode": "PrivateOnly", "query_access_mode": mon.query_access_mode}
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
        if settings.batch_endpoints:
            # batch endpoints / ParallelRunStep use the default storage's queues and tables; the managed
            # network reaches them only through PrivateEndpoint outbound rules (how-to-managed-network)
            workspace["default_storage_outbound"] = ["queue", "table"]
        if out.needs_firewall():
            workspace["firewall_sku"] = out.firewall_sku

    created = {"storage": storage, "key_vault": key_vault, "workspace": workspace, "log_analytics": monitoring}
    for part, spec in lock_args(settings).items():
        target = created[part]
        # a resource the stack only names (existing_*) is locked where it is created
        if not any(k.startswith("existing_") for k in target):
            target["lock"] = spec
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
        "customer_managed_key": cmk_args(settings),
    }


def cmk_args(settings: StackSettings) -> Dict[str, Any]:
    """CustomerManagedKeyArgs without the vault coordinates; empty when the stack has no CMK (pure)."""
    enc = settings.encryption
    if not enc.customer_managed_key:
        return {}
    # a premium vault keeps the key in an HSM (RSA-HSM); standard vaults offer software keys only
    out: Dict[str, Any] = {"key_name": enc.key_name, "key_size": enc.key_size,
                           "hsm": settings.key_vault.sku == "premium"}
    if enc.identity_id:
        out["existing_identity_id"] = enc.identity_id
    else:
        # derived from the workspace's name (CAF prefix id-), so it follows a workspace name override
        out["identity_name"] = f"id-{settings.naming.names().workspace}-cmk"
    return out


def lock_args(settings: StackSettings) -> Dict[str, LockSpec]:
    """The lock of each created resource that gets one, by the stack's name for it (pure)."""
    locks = settings.locks
    if not locks.enabled:
        return {}
    return {r: {"kind": LockKind.CAN_NOT_DELETE.value, "notes": locks.notes} for r in locks.resources}


def read_only_containers(settings: StackSettings) -> List[str]:
    """Blob containers of the stack's own storage account that its datastores declare read-only
    (``writable`` false): the account-wide Storage Blob Data Contributor of people and compute
    identities carries a condition that keeps writes and deletes out of them (pure)."""
    return sorted({ds.container for ds in settings.datastores
                   if ds.storage_account_id is None and ds.kind != "file_share" and not ds.writable})


def _blob_contributor_condition(settings: StackSettings) -> Dict[str, Any]:
    condition = read_only_containers_condition(read_only_containers(settings))
    return {"condition": condition} if condition else {}


def storage_role_specs(settings: StackSettings) -> List[RoleAssignmentSpec]:
    """Data-plane roles of people on the storage account (pure): data scientists, and each compute
    instance user (notebooks live on the account's file share). One entry per (principal, role).

    Least privilege: Storage Blob Data Contributor is granted on the account (Azure ML writes code
    snapshots, outputs and artifacts to containers it names after the workspace's id, known only once it
    exists) with an ABAC condition that denies blob writes and deletes in the read-only datastores'
    containers (:func:`read_only_containers`; amlplatform.azure.roles.read_only_containers_condition).
    Storage File Data Privileged Contributor (notebooks on the file share with identity access:
    how-to-disable-local-auth-storage) stays on the account: the notebooks' share is created and named
    by Azure ML, and Azure ABAC does not cover Azure Files (storage-auth-abac-attributes), so there is no
    narrower scope or condition that works; it is granted only with ``access.notebooks``, and the settings
    (and AMLD-040) refuse a read-only file share datastore on this account that it would shadow."""
    people: Dict[str, Dict[str, Any]] = {}
    for i, person in enumerate(settings.access.data_scientists):
        people.setdefault(person.principal_id, {"type": person.principal_type,
                                                "description": person.description or "data scientist",
                                                "where": f"access.data_scientists[{i}]"})
    if settings.access.instance_users and settings.instances:
        for i, user in enumerate(settings.instances.users):
            people.setdefault(user.object_id, {"type": "User", "description": "compute instance user (notebooks)",
                                               "where": f"instances.users[{i}]"})
    condition = _blob_contributor_condition(settings)
    roles = [r for r in STORAGE_DATA_ROLES
             if settings.access.notebooks or r != "Storage File Data Privileged Contributor"]
    out: List[RoleAssignmentSpec] = []
    for principal, info in people.items():
        for role in roles:
            spec: RoleAssignmentSpec = {"principal_id": principal, "principal_type": info["type"],
                                        "role_definition_guid": ROLES[role], "role_name": role,
                                        "description": info["description"]}
            if role == "Storage Blob Data Contributor":
                spec.update(condition)  # type: ignore[typeddict-item]
            out.append(secret_safe(settings, spec, info["where"]))
    return out


def batch_clusters(settings: StackSettings) -> List[str]:
    """Names of the clusters batch deployments run on (pure)."""
    return sorted({d.compute for ep in settings.batch_endpoints for d in ep.deployments if d.compute})


def has_registry(settings: StackSettings) -> bool:
    reg = settings.registry
    return reg.mode == "existing" or registry_needed(reg.mode, settings.needs_images())


def kubernetes_identity_grants(settings: StackSettings, platform: MLWorkspace) -> List[Dict[str, Any]]:
    """What a Kubernetes compute's identity needs: the grants of every compute identity (blob data on
    the storage account with shared keys off, AcrPull on the registry with the admin user off), and on
    an HBI workspace Storage Account Contributor on the storage account too
    (learn.microsoft.com/azure/machine-learning/how-to-attach-kubernetes-to-workspace, "Assign managed
    identity to the compute target"; how-to-secure-kubernetes-inferencing-environment)."""
    grants = compute_identity_grants(settings, platform)
    if settings.workspace.hbi_workspace:
        grants.append({"scope": platform.storage_account_id, "scope_label": "storage-account",
                       "roles": [{"principal_id": "", "principal_type": "ServicePrincipal",
                                  "role_definition_guid": ROLES["Storage Account Contributor"],
                                  "role_name": "Storage Account Contributor",
                                  "description": "an HBI workspace's Kubernetes compute manages its storage "
                                                 "account's data access"}]})
    return grants


def compute_identity_grants(settings: StackSettings, platform: MLWorkspace,
                            cluster: Optional[str] = None) -> List[Dict[str, Any]]:
    """What a compute's managed identity needs for jobs: blob data on the storage account (with the
    read-only containers' condition, as for people), AcrPull on the registry
    (learn.microsoft.com/azure/machine-learning/how-to-identity-based-service-authentication); a cluster
    that batch deployments run on (``cluster``) also gets Storage Queue and Table Data Contributor on the
    account (BATCH_STORAGE_ROLES: the queues and tables are named by the service at run time, so the
    account is the narrowest scope that works)."""
    roles: List[Dict[str, Any]] = [{"principal_id": "", "principal_type": "ServicePrincipal",
                                    "role_definition_guid": ROLES["Storage Blob Data Contributor"],
                                    "role_name": "Storage Blob Data Contributor",
                                    "description": "jobs read and write the workspace's data with the compute's identity",
                                    **_blob_contributor_condition(settings)}]
    if cluster is not None and cluster in batch_clusters(settings):
        roles += [{"principal_id": "", "principal_type": "ServicePrincipal", "role_definition_guid": ROLES[role],
                   "role_name": role, "description": "batch deployments coordinate mini-batches in the default "
                   "storage's queues and tables with the cluster's identity"} for role in BATCH_STORAGE_ROLES]
    grants: List[Dict[str, Any]] = [{"scope": platform.storage_account_id, "scope_label": "storage", "roles": roles}]
    if has_registry(settings):
        grants.append({"scope": platform.container_registry_id, "scope_label": "registry",
                       "roles": [{"principal_id": "", "principal_type": "ServicePrincipal",
                                  "role_definition_guid": ROLES["AcrPull"], "role_name": "AcrPull",
                                  "description": "computes pull environment images with their identity"}]})
    return grants
