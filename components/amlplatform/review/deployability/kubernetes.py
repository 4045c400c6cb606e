"""Deployability rules of Kubernetes computes (AKS with the Azure ML extension): ids AMLD-030..039.

Each rule is a documented constraint of AKS or of the Azure ML extension that the recorded graph
shows (amlplatform.azure.kubernetes holds the facts and their sources); the unusable fixture
(tests/fixtures/unusable) fires every one, the shipped stacks none.
"""

from typing import Any, Iterable, List, Optional

from amlplatform.azure import kubernetes as k
from amlplatform.review.deployability import Finding, rule
from amlplatform.review.deployability import _graph as g


def _attached_clusters(graph: Any) -> List[Any]:
    """The stack's AKS clusters that a Kubernetes compute of the stack attaches."""
    out = []
    for compute in graph.of_type(g.COMPUTE):
        if g.compute_type(compute) != "Kubernetes":
            continue
        aks = g.by_id(graph, g.get(compute.inputs, "properties.resourceId"), g.AKS)
        if aks is not None and aks not in out:
            out.append(aks)
    return out


def _computes_on(graph: Any, aks: Any) -> List[Any]:
    return [c for c in graph.of_type(g.COMPUTE) if g.compute_type(c) == "Kubernetes"
            and g.same_id(g.get(c.inputs, "properties.resourceId"), g.resource_id(aks))]


@rule("AMLD-030", reason="Azure Machine Learning does not support AKS with local accounts disabled: the extension "
      "and the attach fail on such a cluster (Azure ML: deploy the Kubernetes extension, limitations)",
      doc=k.LOCAL_ACCOUNTS_DOC)
def attached_cluster_keeps_local_accounts(graph: Any) -> Iterable[Finding]:
    for aks in _attached_clusters(graph):
        if aks.inputs.get("disableLocalAccounts") is True:
            yield Finding("AMLD-030", aks.name,
                          "disableLocalAccounts is true on a cluster attached as a Kubernetes compute, which Azure ML "
                          "does not support: keep local accounts enabled (kubernetes[].disable_local_accounts: false) "
                          "and sign in with Entra ID")


@rule("AMLD-031", reason="a private cluster whose API server record goes to a private DNS zone of one's own needs a "
      "user-assigned control-plane identity holding Private DNS Zone Contributor on that zone before the cluster is "
      "created (AKS: private clusters, configure a private DNS zone)",
      doc=k.PRIVATE_CLUSTER_DOC)
def own_api_zone_has_its_identity_and_role(graph: Any) -> Iterable[Finding]:
    for aks in graph.of_type(g.AKS):
        zone = g.get(aks.inputs, "apiServerAccessProfile.privateDNSZone")
        if not isinstance(zone, str) or not zone.startswith("/"):
            continue
        identities = g.user_identities(aks)
        if "UserAssigned" not in str(g.get(aks.inputs, "identity.type") or "") or not identities:
            yield Finding("AMLD-031", aks.name,
                          f"the API server's record goes to the zone {zone.rsplit('/', 1)[-1]} but the cluster has no "
                          "user-assigned identity: AKS refuses a zone of one's own with a system-assigned identity")
            continue
        source = g.by_id(graph, identities[0], g.IDENTITY)
        if source is None:
            continue  # an identity made elsewhere: its roles are not declared here
        found = g.grants(graph, zone, (g.PRIVATE_DNS_ZONE_CONTRIBUTOR, g.OWNER), principal_from=source)
        if not found:
            yield Finding("AMLD-031", aks.name,
                          f"its control-plane identity {source.name} has no Private DNS Zone Contributor on "
                          f"{zone.rsplit('/', 1)[-1]}: the cluster cannot write its API server's record")
        elif not set(ra.urn for ra in found) & set(g.all_dependencies(graph, aks)):
            yield Finding("AMLD-031", aks.name,
                          f"does not wait for {found[0].name}: the cluster may be created before its identity can "
                          "write the API server's record, and the create fails")


@rule("AMLD-032", reason="on an HBI (high business impact) workspace the Kubernetes compute's identity needs Storage "
      "Account Contributor on the workspace's storage account besides its blob data role (Azure ML: attach a "
      "Kubernetes cluster, assign managed identity to the compute target)",
      doc="https://learn.microsoft.com/azure/machine-learning/how-to-attach-kubernetes-to-workspace")
def hbi_kubernetes_compute_manages_storage(graph: Any) -> Iterable[Finding]:
    for compute in graph.of_type(g.COMPUTE):
        if g.compute_type(compute) != "Kubernetes" or not g.has_system_identity(compute):
            continue
        ws = g.workspace_of(graph, compute)
        if ws is None or ws.inputs.get("hbiWorkspace") is not True:
            continue
        st = g.by_id(graph, ws.inputs.get("storageAccount"), g.STORAGE)
        if st is None:
            continue
        if not g.grants(graph, g.resource_id(st), (g.STORAGE_ACCOUNT_CONTRIBUTOR, g.OWNER), principal_from=compute):
            yield Finding("AMLD-032", compute.name,
                          f"the workspace {ws.name} is HBI but the Kubernetes compute's identity has no Storage Account "
                          f"Contributor on {st.name}")


@rule("AMLD-033", reason="an AKS cluster with outbound type loadBalancer egresses to the whole internet through its "
      "public outbound IP; attached to a workspace that allows only approved outbound, its scoring pods escape "
      "the platform's egress control: route through a firewall (userDefinedRouting) or state why not "
      "(AKS: control egress with user-defined routing)",
      doc=k.EGRESS_DOC)
def kubernetes_egress_follows_the_workspace(graph: Any) -> Iterable[Finding]:
    for aks in _attached_clusters(graph):
        outbound = g.get(aks.inputs, "networkProfile.outboundType") or "loadBalancer"
        if outbound != "loadBalancer":
            continue
        for compute in _computes_on(graph, aks):
            ws = g.workspace_of(graph, compute)
            if ws is not None and g.get(ws.inputs, "managedNetwork.isolationMode") == "AllowOnlyApprovedOutbound":
                yield Finding("AMLD-033", aks.name,
                              f"outboundType loadBalancer (any internet destination) while the workspace {ws.name} "
                              "allows only approved outbound: set kubernetes[].outbound_type userDefinedRouting with "
                              "route_table_id (a firewall with the AKS and Azure ML extension FQDNs), or except AMLD-033 "
                              "with the reason")
                break


@rule("AMLD-034", reason="outbound type userDefinedRouting needs the nodes' subnet associated with a route table "
      "(0.0.0.0/0 to a firewall or appliance) before the cluster is created, or the create fails "
      "(AKS: egress with user-defined routing, prerequisites)",
      doc=k.EGRESS_DOC)
def user_defined_routing_has_its_route_table(graph: Any) -> Iterable[Finding]:
    for aks in graph.of_type(g.AKS):
        if g.get(aks.inputs, "networkProfile.outboundType") != "userDefinedRouting":
            continue
        subnets = [p.get("vnetSubnetID") for p in aks.inputs.get("agentPoolProfiles") or []]
        if not subnets or any(not s for s in subnets):
            yield Finding("AMLD-034", aks.name,
                          "outboundType userDefinedRouting but node pools are in no subnet of the stack's: AKS needs a "
                          "subnet with a route table")
            continue
        waits = set(g.all_dependencies(graph, aks))
        for sid in sorted(set(subnets)):
            subnet = g.by_id(graph, sid, g.SUBNET)
            if subnet is None:
                continue  # an existing subnet: its route table is its owner's
            if not g.get(subnet.inputs, "routeTable.id"):
                yield Finding("AMLD-034", aks.name,
                              f"outboundType userDefinedRouting but the nodes' subnet {subnet.name} has no route table")
            elif subnet.urn not in waits:
                yield Finding("AMLD-034", aks.name,
                              f"does not wait for the subnet {subnet.name} and its route table")


@rule("AMLD-035", reason="a permanent Azure Kubernetes Service RBAC Cluster Admin for an application (the deploy "
      "pipeline) reads every secret of the cluster, the scoring TLS key included; the deployer needs only its "
      "namespace and the cluster-scoped instance types (AKS: Entra ID authorization, namespace scope and custom "
      "resource conditions)",
      doc=k.AKS_RBAC_DOC)
def deployer_is_not_cluster_admin(graph: Any) -> Iterable[Finding]:
    for aks in graph.of_type(g.AKS):
        rid = g.resource_id(aks)
        for ra in g.grants(graph, rid, (g.AKS_RBAC_CLUSTER_ADMIN,), principal_types=("ServicePrincipal",)):
            yield Finding("AMLD-035", ra.name,
                              f"a service principal holds Azure Kubernetes Service RBAC Cluster Admin on {aks.name}: "
                              "grant Azure Kubernetes Service RBAC Admin on the namespace and a role limited to "
                              "InstanceType objects instead (what the Kubernetes target grants its deployer)")


@rule("AMLD-036", reason="Container insights with managed identity authentication (omsagent useAADAuth) collects "
      "through a data collection rule associated with the cluster, which a template must declare; without it no "
      "container log or metric arrives (Azure Monitor: enable Container insights, ARM template)",
      doc=k.CONTAINER_INSIGHTS_DOC)
def container_insights_has_a_data_collection_rule(graph: Any) -> Iterable[Finding]:
    for aks in graph.of_type(g.AKS):
        addon = (aks.inputs.get("addonProfiles") or {}).get("omsagent") or {}
        config = addon.get("config") or {}
        if addon.get("enabled") is not True or str(config.get("useAADAuth", "")).lower() != "true":
            continue
        rid = g.resource_id(aks)
        associated = [a for a in graph.of_type(g.DCR_ASSOCIATION)
                      if g.same_id(a.inputs.get("resourceUri"), rid) or aks.urn in a.dependencies]
        if not associated:
            yield Finding("AMLD-036", aks.name,
                          "omsagent uses managed identity authentication (useAADAuth) but no data collection rule is "
                          "associated with the cluster: declare the Container insights DCR and its association, or "
                          "turn container_insights off")


def _extension_settings(ext: Any) -> dict:
    value = ext.inputs.get("configurationSettings")
    return value if isinstance(value, dict) else {}


def _record_for(graph: Any, name: str) -> Optional[Any]:
    name = name.lower().rstrip(".")
    for record in graph.of_type(g.RECORD_SET):
        zone = str(record.inputs.get("privateZoneName") or "").lower()
        rel = str(record.inputs.get("relativeRecordSetName") or "").lower()
        full = zone if rel == "@" else f"{rel}.{zone}"
        if full == name and str(record.inputs.get("recordType", "A")).upper() in ("A", "CNAME"):
            return record
    return None


@rule("AMLD-037", reason="HTTPS scoring through the inference router's internal load balancer is called by its "
      "certificate's name (sslCname); without a private DNS record of that name to the router's address no client "
      "reaches the endpoints (Azure ML: secure Kubernetes online endpoints; extension config settings)",
      doc=k.SCORING_DOC)
def scoring_name_has_a_record(graph: Any) -> Iterable[Finding]:
    for ext in graph.of_type(g.EXTENSION):
        settings = _extension_settings(ext)
        cname = settings.get("sslCname")
        if not cname or settings.get("allowInsecureConnections") == "True":
            continue
        if str(settings.get("scoringFe.serviceType.internalLoadBalancer", "")).lower() != "true":
            continue
        if _record_for(graph, str(cname)) is None:
            yield Finding("AMLD-037", ext.name,
                          f"scoring is called at {cname} but no private DNS record of that name is declared: add it "
                          "(the Kubernetes target declares it in the platform's zone of the name's domain)")


@rule("AMLD-038", reason="a scoring certificate given as a Kubernetes secret (sslSecret) must exist in the azureml "
      "namespace before the inference router starts; a secret made outside the stack is a hand step in the middle "
      "of a first run, against the cluster's API: pass the certificate as the extension's protected settings "
      "(Azure ML: secure Kubernetes online endpoints)",
      doc=k.SCORING_DOC)
def scoring_certificate_comes_with_the_run(graph: Any) -> Iterable[Finding]:
    secrets = {(str((s.inputs.get("metadata") or {}).get("namespace") or ""),
                str((s.inputs.get("metadata") or {}).get("name") or ""))
               for s in graph.resources if s.type == "kubernetes:core/v1:Secret"}
    for ext in graph.of_type(g.EXTENSION):
        name = _extension_settings(ext).get("scoringFe.sslSecret")
        if name and ("azureml", str(name)) not in secrets:
            yield Finding("AMLD-038", ext.name,
                          f"the scoring certificate is the Kubernetes secret {name!r}, which the stack does not declare: "
                          "a first run stops for kubectl. Give kubernetes[].extension.ssl_cert_config_key and "
                          "ssl_key_config_key (Pulumi secrets) instead")


@rule("AMLD-039", reason="Azure RBAC role assignments take up to five minutes to reach an AKS cluster: a Kubernetes "
      "object made right after its deployer's role assignment is refused (403); make it wait for something that "
      "takes longer, such as the Azure ML extension's install (AKS: Entra ID authorization, before you begin)",
      doc=k.AKS_RBAC_DOC)
def kubernetes_objects_wait_for_role_propagation(graph: Any) -> Iterable[Finding]:
    for obj in graph.resources:
        if not obj.custom or not obj.type.startswith("kubernetes:") or obj.type.startswith("pulumi:providers:"):
            continue
        provider = g.provider_of(graph, obj)
        if provider is None:
            continue
        clusters = [graph.by_urn().get(u) for u in g.all_dependencies(graph, provider)]
        aks = next((c for c in clusters if c is not None and c.type == g.AKS), None)
        if aks is None or not g.get(aks.inputs, "aadProfile.enableAzureRBAC"):
            continue
        waits = g.all_dependencies(graph, obj)
        by_urn = graph.by_urn()
        roles = [by_urn[u] for u in waits if u in by_urn and by_urn[u].type == g.ROLE_ASSIGNMENT
                 and g.covers(g.resource_id(aks), str(by_urn[u].inputs.get("scope") or ""))]
        if not roles:
            continue  # no deployer role of the stack: AMLD-010 says so
        extensions = [by_urn[u] for u in waits if u in by_urn and by_urn[u].type == g.EXTENSION]
        if not any(set(r.urn for r in roles) & set(g.all_dependencies(graph, e)) for e in extensions):
            yield Finding("AMLD-039", obj.name,
                          f"waits for the deployer's role assignment ({roles[0].name}) but for nothing that takes the "
                          "propagation's five minutes: the create may be refused. Make it wait for the Azure ML "
                          "extension, which itself waits for the role assignment")
