"""Deployability rules of the platform: workspace, storage, key vault, registry, computes, AKS.

Ids AMLD-001..099. Each rule states what Azure documents, where, and what the stack must declare
for the deployed platform to be usable; the fixture tests/fixtures/unusable fires every one.
"""

from typing import Any, Dict, Iterable, List, Tuple

from amlplatform.azure.private_dns import GROUP_ZONES, REQUIRED_STORAGE_GROUPS
from amlplatform.review.deployability import Finding, rule
from amlplatform.review.deployability import _graph as g

# What a private resource needs: private endpoint group ids -> the private DNS zones their names
# resolve in (amlplatform.azure.private_dns; Azure ML: how-to-custom-dns lists both workspace zones).
PRIVATE_LINK: Dict[str, Dict[str, Tuple[str, ...]]] = {
    type_: {group: GROUP_ZONES[group] for group in groups}
    for type_, groups in ((g.WORKSPACE, ("amlworkspace",)), (g.STORAGE, REQUIRED_STORAGE_GROUPS),
                          (g.KEY_VAULT, ("vault",)), (g.REGISTRY, ("registry",)))
}


def _public_access(res: Any) -> Any:
    if res.type == g.KEY_VAULT:
        return g.get(res.inputs, "properties.publicNetworkAccess")
    return res.inputs.get("publicNetworkAccess")


@rule("AMLD-001", reason="a workspace, storage account, key vault or registry without public network access is "
      "reachable only through a private endpoint whose name resolves in a private DNS zone "
      "(Azure ML: configure a private endpoint for a workspace; Private Link DNS zone values)",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-configure-private-link")
def private_resources_have_an_inbound_path(graph: Any) -> Iterable[Finding]:
    for type_, groups in PRIVATE_LINK.items():
        for res in graph.of_type(type_):
            if _public_access(res) != "Disabled":
                continue
            rid = g.resource_id(res)
            endpoints = g.private_endpoints_to(graph, rid) if rid else []
            for group_id, zones in groups.items():
                with_group = [e["endpoint"] for e in endpoints if group_id in e["group_ids"]]
                if not with_group:
                    yield Finding("AMLD-001", res.name,
                                  f"public network access is Disabled but no private endpoint with group id "
                                  f"'{group_id}' connects to it: nobody (studio, SDK, CI, computes outside the "
                                  "managed network) can reach it")
                    continue
                for pe in with_group:
                    found = g.dns_zones_of(graph, pe)
                    if found is None:
                        yield Finding("AMLD-001", res.name,
                                      f"private endpoint {pe.name} ('{group_id}') has no private DNS zone group: "
                                      f"names do not resolve to it (needs {', '.join(zones)})")
                        continue
                    missing = [z for z in zones if z not in found and g.UNKNOWN not in found]
                    if missing:
                        yield Finding("AMLD-001", res.name,
                                      f"private endpoint {pe.name} ('{group_id}') has no DNS zone for "
                                      f"{', '.join(missing)}")


def _shared_key_off(graph: Any) -> List[Any]:
    return [s for s in graph.of_type(g.STORAGE) if s.inputs.get("allowSharedKeyAccess") is False]


@rule("AMLD-002", reason="with shared key access off, people reach the workspace's storage (code upload, data, "
      "studio previews) only with a Storage Blob Data role on it (Azure ML: use a storage account without "
      "shared keys)",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-disable-local-auth-storage")
def people_have_blob_data_access(graph: Any) -> Iterable[Finding]:
    for st in _shared_key_off(graph):
        rid = g.resource_id(st)
        if not g.grants(graph, rid, (g.STORAGE_BLOB_DATA_CONTRIBUTOR, g.STORAGE_BLOB_DATA_OWNER, g.OWNER),
                        principal_types=("User", "Group")):
            yield Finding("AMLD-002", st.name,
                          "allowSharedKeyAccess is false but no user or group holds Storage Blob Data "
                          "Contributor on this account (or its resource group): data scientists cannot upload "
                          "code or read data; list them under access.data_scientists")


@rule("AMLD-003", reason="notebooks on compute instances live on the storage account's file share; with shared "
      "keys off the instance users need Storage File Data Privileged Contributor (Azure ML: use a storage "
      "account without shared keys)",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-disable-local-auth-storage")
def instance_users_have_file_access(graph: Any) -> Iterable[Finding]:
    for st in _shared_key_off(graph):
        instances = [c for c in graph.of_type(g.COMPUTE)
                     if g.compute_type(c) == "ComputeInstance" and _uses(graph, c, st, "storageAccount")]
        if instances and not g.grants(graph, g.resource_id(st), (g.STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR, g.OWNER),
                        principal_types=("User", "Group")):
            yield Finding("AMLD-003", st.name,
                          f"{len(instances)} compute instance(s) but no user or group holds Storage File Data "
                          "Privileged Contributor on this account: notebooks cannot mount the file share")


def _uses(graph: Any, compute: Any, target: Any, link: str) -> bool:
    """The compute's workspace uses ``target`` (its ``link`` input: storageAccount,
    containerRegistry). When that is not known (the workspace is not in the graph, or the input
    is not a recorded id), the compute may use anything: the rule stays strict."""
    ws = g.workspace_of(graph, compute)
    ref = ws.inputs.get(link) if ws is not None else None
    return not (isinstance(ref, str) and ref.startswith("/")) or g.same_id(ref, g.resource_id(target))


def _compute_identity_grants(graph: Any, rule_id: str, target: Any, roles: Iterable[str],
                             what: str, link: str) -> Iterable[Finding]:
    rid = g.resource_id(target)
    roles = tuple(roles)
    for compute in graph.of_type(g.COMPUTE):
        if g.compute_type(compute) not in ("AmlCompute", "ComputeInstance", "Kubernetes"):
            continue  # a Kubernetes compute's identity pulls images and reads models and data for its deployments
        if not _uses(graph, compute, target, link):
            continue  # another workspace's storage or registry: jobs here do not read it
        if g.has_system_identity(compute):
            if not g.grants(graph, rid, roles, principal_from=compute):
                yield Finding(rule_id, compute.name,
                              f"its managed identity has no {what} on {target.name}")
        for uai in g.user_identities(compute):
            source = g.by_id(graph, uai, g.IDENTITY)
            if source is None or not g.grants(graph, rid, roles, principal_from=source):
                yield Finding(rule_id, compute.name,
                              f"its user-assigned identity {uai.rsplit('/', 1)[-1]} has no {what} on "
                              f"{target.name} in this stack (if it was granted elsewhere, except {rule_id} "
                              "for this compute with the reason)")


@rule("AMLD-004", reason="jobs on clusters and instances, and deployments on a Kubernetes compute, read and write "
      "the workspace's storage with the compute's managed identity when shared keys are off: it needs Storage Blob "
      "Data Contributor (Azure ML: identity-based data access; attach a Kubernetes cluster, assign managed identity)",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-identity-based-service-authentication")
def compute_identities_have_blob_data_access(graph: Any) -> Iterable[Finding]:
    for st in _shared_key_off(graph):
        yield from _compute_identity_grants(graph, "AMLD-004", st,
                                            (g.STORAGE_BLOB_DATA_CONTRIBUTOR, g.STORAGE_BLOB_DATA_OWNER, g.OWNER),
                                            "Storage Blob Data Contributor", "storageAccount")


@rule("AMLD-005", reason="with the registry's admin user off, computes (clusters, instances, Kubernetes computes) "
      "pull environment images with their managed identity, which needs AcrPull on the registry (Azure ML: "
      "identity-based service authentication; how-to-attach-kubernetes-to-workspace)",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-identity-based-service-authentication")
def compute_identities_can_pull_images(graph: Any) -> Iterable[Finding]:
    for reg in graph.of_type(g.REGISTRY):
        if reg.inputs.get("adminUserEnabled") is True:
            continue
        yield from _compute_identity_grants(graph, "AMLD-005", reg, (g.ACR_PULL, g.OWNER), "AcrPull",
                                            "containerRegistry")


@rule("AMLD-006", reason="a workspace whose registry is behind a private endpoint cannot build environment "
      "images on Azure's shared build service: imageBuildCompute must name one of its compute clusters "
      "(Azure ML: secure a workspace, enable Azure Container Registry)",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-secure-workspace-vnet#enable-azure-container-registry-acr")
def private_registry_has_image_build_compute(graph: Any) -> Iterable[Finding]:
    for ws in graph.of_type(g.WORKSPACE):
        reg = g.by_id(graph, ws.inputs.get("containerRegistry"), g.REGISTRY)
        if reg is None or reg.inputs.get("publicNetworkAccess") != "Disabled":
            continue
        build = ws.inputs.get("imageBuildCompute")
        clusters = {c.inputs.get("computeName") for c in graph.of_type(g.COMPUTE)
                    if g.compute_type(c) == "AmlCompute"
                    and c.inputs.get("workspaceName") == ws.inputs.get("workspaceName")}
        if not build:
            yield Finding("AMLD-006", ws.name,
                          f"registry {reg.name} is private but the workspace has no imageBuildCompute: "
                          "environment image builds fail")
        elif build not in clusters:
            yield Finding("AMLD-006", ws.name,
                          f"imageBuildCompute {build!r} is not a compute cluster of this workspace "
                          f"(clusters: {', '.join(sorted(clusters)) or 'none'})")


# Package sources a job's pip/conda reach (Azure ML: managed network, "scenario: allow only approved
# outbound" lists these FQDNs for Python packages and conda)
PACKAGE_SOURCES = {
    "pypi": ("pypi.org", "files.pythonhosted.org", "*.pythonhosted.org", "*.pypi.org"),
    "conda": ("conda.anaconda.org", "*.anaconda.org", "*.anaconda.com", "repo.anaconda.com"),
}


# the outbound rules of network.outbound.package_mirrors (spec.network.package_rule_name("mirror", host))
MIRROR_RULE_PREFIX = "pkg-mirror-"


def _outbound_destinations(ws: Any) -> List[str]:
    rules = g.get(ws.inputs, "managedNetwork.outboundRules") or {}
    values = rules.values() if isinstance(rules, dict) else rules
    out = []
    for r in values:
        if isinstance(r, dict) and str(r.get("type", "")).upper() == "FQDN":
            dest = r.get("destination")
            out += [str(d).lower() for d in (dest if isinstance(dest, list) else [dest]) if d]
    return out


@rule("AMLD-007", reason="under AllowOnlyApprovedOutbound Azure adds rules for its own services only: pip and "
      "conda installs fail unless FQDN rules allow the package sources, or the stack states it installs "
      "no internet packages (Azure ML: managed network, allow only approved outbound)",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-managed-network#scenario-allow-only-approved-outbound")
def approved_outbound_reaches_package_sources(graph: Any) -> Iterable[Finding]:
    for ws in graph.of_type(g.WORKSPACE):
        if g.get(ws.inputs, "managedNetwork.isolationMode") != "AllowOnlyApprovedOutbound":
            continue
        destinations = set(_outbound_destinations(ws))
        if any(destinations & set(hosts) for hosts in PACKAGE_SOURCES.values()):
            continue
        rules = g.get(ws.inputs, "managedNetwork.outboundRules") or {}
        if isinstance(rules, dict) and any(str(n).startswith(MIRROR_RULE_PREFIX) for n in rules):
            continue  # network.outbound.package_mirrors: pip and conda install from an internal mirror
        yield Finding("AMLD-007", ws.name,
                      "managed network allows only approved outbound but no FQDN rule reaches PyPI or conda "
                      "(pypi.org, files.pythonhosted.org, conda.anaconda.org): pip/conda installs fail. Add "
                      "the package-source outbound rules (or an internal mirror's, named pkg-mirror-*), or except AMLD-007 stating that images carry every "
                      "package (no internet packages)")


@rule("AMLD-008", reason="a managed network is created lazily on the first compute unless provisioned up front "
      "(provisionNetworkNow); the first compute then waits up to ~30 minutes or times out (Azure ML: "
      "managed network, manually provision a managed VNet)",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-managed-network#manually-provision-a-managed-vnet")
def managed_network_is_provisioned_up_front(graph: Any) -> Iterable[Finding]:
    for ws in graph.of_type(g.WORKSPACE):
        mode = g.get(ws.inputs, "managedNetwork.isolationMode")
        if mode in ("AllowInternetOutbound", "AllowOnlyApprovedOutbound") and ws.inputs.get("provisionNetworkNow") is not True:
            has_compute = any(c.inputs.get("workspaceName") == ws.inputs.get("workspaceName")
                              for c in graph.of_type(g.COMPUTE))
            if has_compute:
                yield Finding("AMLD-008", ws.name,
                              f"managed network {mode} is not provisioned up front (provisionNetworkNow): the "
                              "stack's first compute waits for the network to be built, or times out")


def _cluster_for(graph: Any, compute: Any) -> Any:
    return g.by_id(graph, g.get(compute.inputs, "properties.resourceId"), g.AKS)


def _pool_subnets(graph: Any, aks: Any) -> List[Any]:
    subnets = [p.get("vnetSubnetID") for p in aks.inputs.get("agentPoolProfiles") or []]
    for pool in graph.of_type(g.AGENT_POOL):
        if pool.inputs.get("resourceName") == aks.inputs.get("resourceName"):
            subnets.append(pool.inputs.get("vnetSubnetID"))
    return subnets


def _private_dependencies(graph: Any, ws: Any) -> List[Tuple[Any, str]]:
    """(resource, group id) of the workspace and each of its storage account, key vault and registry
    that is reachable only through a private endpoint."""
    out: List[Tuple[Any, str]] = []
    if ws.inputs.get("publicNetworkAccess") == "Disabled":
        out.append((ws, "amlworkspace"))
    for key, type_, groups in (("storageAccount", g.STORAGE, ("blob", "file")), ("keyVault", g.KEY_VAULT, ("vault",)),
                               ("containerRegistry", g.REGISTRY, ("registry",))):
        dep = g.by_id(graph, ws.inputs.get(key), type_)
        if dep is not None and _public_access(dep) == "Disabled":
            out += [(dep, group) for group in groups]
    return out


@rule("AMLD-009", reason="Kubernetes computes are not supported inside an Azure ML managed virtual network (its "
      "private endpoints serve managed computes only): an AKS cluster reaches a private workspace, and its private "
      "storage, key vault and registry, only from nodes in a VNet of its own with private endpoints to each "
      "(Azure ML: managed network, limitations; secure a Kubernetes inferencing environment)",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-managed-network#limitations")
def kubernetes_reaches_private_workspace(graph: Any) -> Iterable[Finding]:
    for compute in graph.of_type(g.COMPUTE):
        if g.compute_type(compute) != "Kubernetes":
            continue
        ws = g.workspace_of(graph, compute)
        if ws is None:
            continue
        private = _private_dependencies(graph, ws)
        if not private:
            continue
        aks = _cluster_for(graph, compute)
        if aks is None:
            continue  # an existing cluster: its network is not declared here
        managed = g.get(ws.inputs, "managedNetwork.isolationMode") not in (None, "Disabled")
        why = (" (the workspace's managed network does not carry Kubernetes computes: how-to-managed-network, "
               "Limitations)") if managed else ""
        subnets = _pool_subnets(graph, aks)
        if not subnets or any(not s for s in subnets):
            yield Finding("AMLD-009", aks.name,
                          f"the workspace {ws.name} or its dependencies are private but the cluster's node pools are in "
                          f"no subnet (vnetSubnetID): the Azure ML extension cannot reach them{why}")
            continue
        node_vnets = {g.vnet_of(s) for s in subnets}
        if g.UNKNOWN in str(node_vnets):
            continue
        for target, group in private:
            vnets = {g.vnet_of(g.get(e["endpoint"].inputs, "subnet.id"))
                     for e in g.private_endpoints_to(graph, g.resource_id(target) or "") if group in e["group_ids"]}
            if g.UNKNOWN in str(vnets):
                continue
            if not (node_vnets & vnets):
                yield Finding("AMLD-009", aks.name,
                              f"no private endpoint ('{group}') of {target.name} is in the nodes' virtual network "
                              f"({', '.join(sorted(v for v in node_vnets if v))}){why}")


def _data_plane_grant(graph: Any, aks: Any) -> bool:
    """Someone holds a Kubernetes data-plane role on the cluster or a namespace of it: a built-in AKS
    RBAC role, or a custom role of the stack with managedClusters data actions."""
    rid = g.resource_id(aks)
    custom = {str(d.inputs.get("roleDefinitionId") or "").lower() for d in graph.of_type(g.ROLE_DEFINITION)
              if any(str(a).startswith("Microsoft.ContainerService/managedClusters/")
                     for p in d.inputs.get("permissions") or [] for a in p.get("dataActions") or [])}
    wanted = {g.AKS_RBAC_CLUSTER_ADMIN, g.AKS_RBAC_ADMIN, g.AKS_RBAC_WRITER} | custom
    for ra in g.role_assignments(graph):
        if g.role_guid(ra.inputs.get("roleDefinitionId")) not in wanted:
            continue
        scope = str(ra.inputs.get("scope") or "")
        if g.covers(scope, rid) or g.covers(rid, scope):
            return True
    return False


@rule("AMLD-010", reason="with Entra ID and Azure RBAC for Kubernetes authorization, whoever runs the Kubernetes "
      "provider (namespace, instance types) must resolve and reach the API server and hold a Kubernetes data-plane "
      "role on the cluster or the namespace; a private API server in AKS's own (system) zone resolves only in the "
      "cluster's VNet (AKS: Azure RBAC for Kubernetes authorization; private clusters, private DNS zone)",
      doc="https://learn.microsoft.com/azure/aks/private-clusters#configure-a-private-dns-zone")
def deployer_can_reach_kubernetes_api(graph: Any) -> Iterable[Finding]:
    if not any(r.type.startswith("kubernetes:") and not r.type.startswith("pulumi:providers:")
               for r in graph.resources):
        return
    for aks in graph.of_type(g.AKS):
        if not g.get(aks.inputs, "aadProfile.enableAzureRBAC"):
            continue
        if not _data_plane_grant(graph, aks):
            yield Finding("AMLD-010", aks.name,
                          "Kubernetes authorization is Azure RBAC, but nobody is granted a Kubernetes data-plane role "
                          "(Azure Kubernetes Service RBAC Admin on the namespace, a custom role) on the cluster: the "
                          "deploy cannot create the namespace and instance types")
        access = aks.inputs.get("apiServerAccessProfile") or {}
        if access.get("enablePrivateCluster") is True:
            zone = access.get("privateDNSZone")
            if zone in (None, "system", "none", "None", "System"):
                yield Finding("AMLD-010", aks.name,
                              f"the API server is private and its name is in AKS's own zone ({zone or 'system'}), "
                              "linked to the cluster's VNet only: a deployer anywhere else cannot resolve it. Give the "
                              "cluster a zone of the stack (privatelink.<region>.azmk8s.io) linked to the deployer's "
                              "network, or except AMLD-010 naming the runner subnet in the cluster's VNet")
                continue
            declared = next((z for z in graph.of_type(g.PRIVATE_ZONE) if g.same_id(g.resource_id(z), zone)), None)
            if declared is not None and not [l for l in graph.of_type(g.VNET_LINK)
                                             if l.inputs.get("privateZoneName") == declared.inputs.get("privateZoneName")]:
                yield Finding("AMLD-010", aks.name,
                              f"the API server's private zone {declared.name} is linked to no virtual network: "
                              "nobody resolves the API server")


@rule("AMLD-011", reason="encryption at host is refused unless the subscription has the preview feature "
      "Microsoft.Compute/EncryptionAtHost Registered, which only Azure's answer proves (amlplatform preflight --check) "
      "(AKS: host-based encryption)",
      doc="https://learn.microsoft.com/azure/aks/enable-host-encryption")
def encryption_at_host_feature_is_registered(graph: Any) -> Iterable[Finding]:
    """Fires for every cluster whose node pools use encryption at host: a plan cannot prove a
    subscription's feature state. A tag or a setting is the stack's own word (the cluster's
    ``amlplatform.io/encryption-at-host-feature`` tag is no longer read), and a declared
    ``features:SubscriptionFeatureRegistration`` is no proof either (AMLD-201). The proof is the
    feature's state as Azure answers it (Features_Get, what ``amlplatform preflight --check`` reads);
    once a platform engineer has seen it Registered, the stack records that as a policy exception for
    AMLD-011 whose reason names the check, which the scan shows EXCEPTED, never PASSED."""
    for aks in graph.of_type(g.AKS):
        pools = list(aks.inputs.get("agentPoolProfiles") or [])
        pools += [p.inputs for p in graph.of_type(g.AGENT_POOL) if p.inputs.get("resourceName") == aks.inputs.get("resourceName")]
        if any(p.get("enableEncryptionAtHost") is True for p in pools):
            yield Finding("AMLD-011", aks.name,
                          "node pools use encryption at host: the first deploy fails unless the subscription has "
                          "the preview feature Microsoft.Compute/EncryptionAtHost Registered, and an offline plan "
                          "cannot know that (a tag or a stack setting is no proof). Proof is Azure's answer: "
                          f"`amlplatform preflight --stack {graph.stack} --check` (or `az feature show --namespace "
                          "Microsoft.Compute --name EncryptionAtHost --query properties.state` answering "
                          "\"Registered\"); register with `az feature register --namespace Microsoft.Compute --name "
                          "EncryptionAtHost`, then `az provider register --namespace Microsoft.Compute`. Once the "
                          "check passed, record it: a policy exception for AMLD-011 whose reason names the check")


def _cmk_users(graph: Any) -> Iterable[Tuple[Any, Any, Any]]:
    """(encrypted resource, key vault id or uri, identity id) for every CMK-encrypted resource."""
    for ws in graph.of_type(g.WORKSPACE):
        if g.get(ws.inputs, "encryption.status") == "Enabled":
            yield (ws, g.get(ws.inputs, "encryption.keyVaultProperties.keyVaultArmId"),
                   g.get(ws.inputs, "encryption.identity.userAssignedIdentity"))
    for st in graph.of_type(g.STORAGE):
        if str(g.get(st.inputs, "encryption.keySource") or "").lower() == "microsoft.keyvault":
            yield (st, g.get(st.inputs, "encryption.keyVaultProperties.keyVaultUri"),
                   g.get(st.inputs, "encryption.encryptionIdentity.encryptionUserAssignedIdentity"))


def _vault_for(graph: Any, ref: Any) -> Any:
    text = str(ref or "").lower()
    for vault in graph.of_type(g.KEY_VAULT):
        name = str(vault.inputs.get("vaultName") or "").lower()
        if g.same_id(g.resource_id(vault), ref) or (name and text.startswith(f"https://{name}.")):
            return vault
    return None


@rule("AMLD-012", reason="a customer-managed key must live in a key vault with soft delete and purge protection, "
      "or the workspace and storage refuse it (Azure ML: customer-managed keys, prerequisites)",
      doc="https://learn.microsoft.com/azure/machine-learning/concept-customer-managed-keys")
def cmk_vault_has_purge_protection(graph: Any) -> Iterable[Finding]:
    for res, vault_ref, _ in _cmk_users(graph):
        vault = _vault_for(graph, vault_ref)
        if vault is None:
            continue  # an existing vault: not declared here
        props = vault.inputs.get("properties") or {}
        if props.get("enablePurgeProtection") is not True or props.get("enableSoftDelete") is False:
            yield Finding("AMLD-012", res.name,
                          f"encrypted with a key in {vault.name}, which has no purge protection "
                          "(key_vault.purge_protection: true)")


@rule("AMLD-013", reason="the identity that encrypts with a customer-managed key needs Key Vault Crypto Service "
      "Encryption User on the vault (RBAC vaults) before the encrypted resource is created, or the create fails "
      "(Storage: customer-managed keys with a user-assigned identity)",
      doc="https://learn.microsoft.com/azure/storage/common/customer-managed-keys-configure-new-account")
def cmk_identity_can_use_the_key(graph: Any) -> Iterable[Finding]:
    for res, vault_ref, identity_id in _cmk_users(graph):
        vault = _vault_for(graph, vault_ref)
        if vault is None or not identity_id:
            continue
        identity = g.by_id(graph, identity_id, g.IDENTITY)
        roles = (g.KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER, g.KEY_VAULT_CRYPTO_OFFICER, g.KEY_VAULT_ADMINISTRATOR)
        found = g.grants(graph, g.resource_id(vault), roles, principal_from=identity) if identity else []
        if not found:
            yield Finding("AMLD-013", res.name,
                          f"identity {str(identity_id).rsplit('/', 1)[-1]} has no Key Vault Crypto Service Encryption "
                          f"User on {vault.name} in this stack (if granted elsewhere, except AMLD-013 with the reason)")
            continue
        waits_for = set(graph.resource_dependencies(res))
        if not any(ra.urn in waits_for for ra in found):
            yield Finding("AMLD-013", res.name,
                          f"does not wait for the key role assignment ({found[0].name}): it may be created before "
                          "its identity can use the key, and the create fails")


def _firewall(res: Any) -> Any:
    """The storage account's network rule set or the key vault's network ACLs (a mapping, or None)."""
    return g.get(res.inputs, "properties.networkAcls") if res.type == g.KEY_VAULT else res.inputs.get("networkRuleSet")


def _managed_network_reaches(graph: Any, rid: str) -> bool:
    """A workspace with a managed network uses ``rid`` as its storage account or key vault: Azure adds
    private endpoints to them in the managed network (how-to-managed-network, "Required rules")."""
    for ws in graph.of_type(g.WORKSPACE):
        mode = g.get(ws.inputs, "managedNetwork.isolationMode")
        if mode in (None, "Disabled"):
            continue
        if any(g.same_id(ws.inputs.get(key), rid) for key in ("storageAccount", "keyVault")):
            return True
    return False


@rule("AMLD-014", reason="a storage account or key vault whose firewall denies by default is reachable only "
      "through an IP rule, a VNet rule or a private endpoint (trusted Azure services bypass it, people, CI and "
      "computes do not): with none of them nobody can reach its data (Storage: configure network access rules; "
      "Key Vault: network security)",
      doc="https://learn.microsoft.com/azure/storage/common/storage-network-security")
def denying_firewall_has_a_private_path(graph: Any) -> Iterable[Finding]:
    for type_ in (g.STORAGE, g.KEY_VAULT):
        for res in graph.of_type(type_):
            if _public_access(res) == "Disabled":
                continue  # no public path at all: AMLD-001 asks for the private endpoint
            rules = _firewall(res)
            if not isinstance(rules, dict) or rules.get("defaultAction") != "Deny":
                continue
            if rules.get("ipRules") or rules.get("virtualNetworkRules"):
                continue
            rid = g.resource_id(res)
            if rid and (g.private_endpoints_to(graph, rid) or _managed_network_reaches(graph, rid)):
                continue
            kind = "storage account" if type_ == g.STORAGE else "key vault"
            yield Finding("AMLD-014", res.name,
                          f"the {kind}'s firewall denies by default and nothing gets through it: no IP rule, no "
                          "VNet rule, no private endpoint (and no workspace managed network uses it); allow by "
                          "default, add a rule, or give it a private endpoint")
