"""``KubernetesInferenceTarget``: an AKS cluster (created, or an existing one) serving models for a
workspace.

One module per Azure concern: the cluster (:mod:`amlplatform.iac.kubernetes.aks`), the Azure ML extension
(:mod:`amlplatform.iac.kubernetes.extension`), the attach and the instance types
(:mod:`amlplatform.iac.kubernetes.attach`); this component wires them and grants the roles.

Resource graph (architecture.md, "Kubernetes inference target")::

    AKS cluster ──> Azure ML extension ──┐
         │                               ├──> Kubernetes compute (attach) ──> InstanceType CRs
         ├──> Reader for the workspace ──┤
         │   workspace private endpoint ─┘
         └──> the deployer's roles ──> (extension) ──> namespace, InstanceType CRs
    workspace ───────────────────────────┘
    control-plane identity ──> Network Contributor (subnet), Private DNS Zone Contributor (API zone)
         └──> AKS cluster (a private API server's zone of one's own needs both first)
    extension ──> inference router service (read) ──> A record of the scoring name

The deployer (who runs ``pulumi up``) gets no cluster-wide admin: Azure Kubernetes Service RBAC
Admin on the endpoints' namespace, and a custom role on the cluster limited to namespaces and, by a
condition, to Azure ML's InstanceType objects (amlplatform.azure.kubernetes). Azure RBAC role
assignments take up to five minutes to reach the cluster: the extension (minutes to install) waits
for them, and the Kubernetes objects wait for the extension, so they are made only after that time.

The AKS cluster does not wait for the workspace: the cluster (~6 min) and the workspace
(~5.5 min) are created side by side, and only the attach waits for both.
"""

import uuid
from typing import List, Mapping, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization, containerservice, managedidentity, privatedns
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.iac._base import check_args, child, token, waits_for
from amlplatform.iac.access.access import assignment_guid, role_definition_id
from amlplatform.iac.kubernetes.aks import (  # noqa: F401  (re-exported: the module's public names before the split)
    KUBELOGIN_MODES, ClusterSpec, cluster_kubeconfig, container_insights_on, declare_cluster,
    declare_container_insights, dns_prefix, kubeconfig_with_login, parse_cluster_id,
)
from amlplatform.azure.kubernetes import (
    DEPLOYER_DATA_ACTIONS, ROUTER_SERVICE, instance_types_condition,
)
from amlplatform.iac.kubernetes.extension import (  # noqa: F401
    EXTENSION_TYPE, RELEASE_NAMESPACE, ExtensionSpec, declare_extension, extension_protected_settings,
    extension_settings,
)
from amlplatform.iac.kubernetes.attach import (  # noqa: F401
    INSTANCE_TYPE_API, InstanceType, attach_schema, declare_attach, declare_instance_types, instance_type_spec,
)
from amlplatform.azure.roles import ROLES
from amlplatform.azure.rules import extension_problems

READER_ROLE = ROLES["Reader"]
# "Azure Kubernetes Service RBAC Admin" on a namespace scope (<clusterId>/namespaces/<ns>): read and
# write of most objects in that namespace, no cluster-scoped objects, no resource quotas or the
# namespace itself (learn.microsoft.com/azure/role-based-access-control/built-in-roles/containers;
# learn.microsoft.com/azure/aks/entra-id-authorization). The deployer's role in the endpoints'
# namespace; the cluster-scoped namespace and InstanceType objects come from DEPLOYER_DATA_ACTIONS.
NAMESPACE_ADMIN_ROLE = ROLES["Azure Kubernetes Service RBAC Admin"]
# "Azure Kubernetes Service RBAC Reader" on the extension's namespace: reads services (the inference
# router's internal address), not secrets (the scoring TLS key)
NAMESPACE_READER_ROLE = ROLES["Azure Kubernetes Service RBAC Reader"]
# "Private DNS Zone Contributor": a private cluster's control-plane identity writes the API server's
# record into a zone of one's own (learn.microsoft.com/azure/aks/private-clusters)
PRIVATE_DNS_ZONE_CONTRIBUTOR_ROLE = ROLES["Private DNS Zone Contributor"]
DEPLOYER_ROLE_NAMESPACE = uuid.UUID("0c9a3e51-2f6d-4b8e-a7c4-5d1e9f2b3a60")
# "Network Contributor": a cluster in a subnet it does not own needs it on that subnet for its
# system-assigned identity (learn.microsoft.com/azure/aks/use-managed-identity, "Add role
# assignment": only the az CLI grants it by itself; templates and SDKs must grant it)
NETWORK_CONTRIBUTOR_ROLE = ROLES["Network Contributor"]
# AKS Trusted Access role through which Azure ML reaches a cluster without local accounts
TRUSTED_ACCESS_ROLE = "Microsoft.MachineLearningServices/workspaces/mlworkload"


class ScoringDns(TypedDict, total=False):
    """Where the scoring name's A record goes."""
    zone_name: Required[str]
    """The private DNS zone (a parent domain of extension.ssl_cname, e.g. fraud.internal)."""
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the zone."""
    zone_id: pulumi.Input[str]
    """The zone's id: the record waits for the zone (when the same stack creates it)."""


def record_name(cname: str, zone: str) -> str:
    """The relative record name of ``cname`` in ``zone`` (``@`` for the zone apex)."""
    cname, zone = cname.lower().rstrip("."), zone.lower().rstrip(".")
    if cname == zone:
        return "@"
    if not cname.endswith("." + zone):
        raise ValueError(f"{cname!r} is not a name in the zone {zone!r}")
    return cname[: -len(zone) - 1]


def deployer_role_guid(cluster_id: str) -> str:
    """The GUID of the deployer's custom role on one cluster (stable: a redeploy finds it again)."""
    return str(uuid.uuid5(DEPLOYER_ROLE_NAMESPACE, cluster_id.lower()))


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
    extension: ExtensionSpec
    """release_train, inference_router_service_type, internal_load_balancer, inference_router_ha,
    cluster_purpose, enable_training, allow_insecure_connections, install_nvidia_device_plugin,
    ssl_secret, ssl_cname, ssl_cert_pem, ssl_key_pem (HTTPS scoring needs ssl_secret or the PEM pair)."""
    kubelogin_mode: str
    """How kubelogin signs in with a created cluster's exec kubeconfig (Entra ID, always for a created cluster):
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
    deployer_principal_id: pulumi.Input[str]
    """Who runs the deploy (object id); required with a created cluster. Its Kubernetes provider signs
    in with Entra ID (Azure RBAC for Kubernetes authorization), and it is granted "Azure Kubernetes
    Service RBAC Admin" on the endpoints' namespace plus a custom role on the cluster limited to
    namespaces and InstanceType objects: never cluster admin. The program passes it from the
    settings or authorization.getClientConfig."""
    deployer_principal_type: str
    """User, Group or ServicePrincipal (default ServicePrincipal: azure-native would send User, and
    Azure refuses a type that does not match the principal)."""
    scoring_dns: ScoringDns
    """The private DNS zone that holds the scoring name (extension.ssl_cname): an A record of the
    name to the inference router's internal load balancer address is declared in it."""
    attach_waits_for: List[pulumi.Input[str]]
    """Outputs (e.g. ids) of what the attach waits for besides the cluster's own resources: the
    workspace's private endpoint and its DNS zone group, through which the extension in the cluster
    reaches a private workspace. The attach waits for the resources that produce them."""




class KubernetesInferenceTarget(pulumi.ComponentResource):
    """A Kubernetes compute for online endpoints: AKS with secure defaults (or an existing cluster),
    the Azure ML extension, the workspace's Reader role, the deployer's namespace and instance-type roles, the
    attach and the instance types."""

    cluster_id: pulumi.Output[str]
    """ARM id of the AKS cluster (created or existing)."""
    cluster_name: pulumi.Output[str]
    """Name of the AKS cluster."""
    compute_id: pulumi.Output[Optional[str]]
    """ARM id of the Kubernetes compute in the workspace (none when attach is False)."""
    extension_id: pulumi.Output[Optional[str]]
    """ARM id of the Azure ML extension (none when it is not installed)."""
    compute_principal_id: pulumi.Output[Optional[str]]
    """Object id of the Kubernetes compute's system-assigned identity (none when attach is False):
    what pulls images and reads models and data for the deployments on the cluster."""

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
        subscription = pulumi.Output.from_input(args["subscription_id"])
        network_role = None
        cluster_resource: Optional[containerservice.ManagedCluster] = None
        if existing:
            parsed = parse_cluster_id(existing)
            if args.get("kubeconfig") is None:
                raise ValueError(f"{name}: kubeconfig is required with existing_cluster_id")
            cluster_id: pulumi.Input[str] = existing
            cluster_name: pulumi.Input[str] = parsed["name"]
            cluster_rg: pulumi.Input[str] = parsed["resource_group"]
            kubeconfig = pulumi.Output.secret(args["kubeconfig"])
        elif args.get("cluster"):
            spec = dict(args["cluster"])
            subnet_id = spec.get("subnet_id")
            before_cluster: List[pulumi.Resource] = []
            if spec.get("private_dns_zone_id") is not None and spec.get("identity_id") is None:
                # a zone of one's own needs a user-assigned control-plane identity holding Private DNS
                # Zone Contributor on it (and Network Contributor on the subnet) before the cluster is
                # created (learn.microsoft.com/azure/aks/private-clusters, "Configure a private DNS zone")
                uai = managedidentity.UserAssignedIdentity(
                    f"{name}-identity", resource_name_=f"id-{naming.ensure('aks', spec['aks_name'])}",
                    resource_group_name=args["resource_group_name"], location=location, tags=tags,
                    opts=child(self))
                spec["identity_id"] = uai.id
                control_plane: Optional[pulumi.Input[str]] = uai.principal_id
                before_cluster.append(self._role(
                    f"{name}-api-zone-contributor", spec["private_dns_zone_id"], subscription, uai.principal_id,
                    "ServicePrincipal", PRIVATE_DNS_ZONE_CONTRIBUTOR_ROLE,
                    "the private AKS cluster writes its API server's record into the stack's private DNS zone"))
            else:
                control_plane = None
            if subnet_id is not None and control_plane is not None:
                network_role = self._role(f"{name}-subnet-network-contributor", subnet_id, subscription, control_plane,
                                          "ServicePrincipal", NETWORK_CONTRIBUTOR_ROLE,
                                          "the AKS cluster manages its nodes' and load balancers' addresses in the "
                                          "stack's subnet")
                before_cluster.append(network_role)
            aks = declare_cluster(self, name, spec, args["resource_group_name"], location, tags, waits=before_cluster)
            cluster_resource = aks
            cluster_id, cluster_name, cluster_rg = aks.id, aks.name, args["resource_group_name"]
            if subnet_id is not None and control_plane is None:
                cluster_principal = aks.identity.apply(lambda i: i.principal_id if i else None)
                network_role = self._role(f"{name}-subnet-network-contributor", subnet_id, subscription,
                                          cluster_principal, "ServicePrincipal", NETWORK_CONTRIBUTOR_ROLE,
                                          "the AKS cluster manages its nodes' and load balancers' addresses in the "
                                          "stack's subnet")
            if container_insights_on(spec):
                declare_container_insights(self, name, aks, spec=spec, resource_group_name=args["resource_group_name"],
                                           location=location, tags=tags)
            # Entra ID + Azure RBAC (every created cluster): the Kubernetes provider signs in as the deployer,
            # whose data-plane roles are below; the local admin account stays (Azure ML needs local accounts
            # enabled) but the program never uses it
            kubeconfig = cluster_kubeconfig(args["resource_group_name"], aks.name, admin=False, login=kubelogin_mode)
        else:
            raise ValueError(f"{name}: give cluster (to create one) or existing_cluster_id")

        namespace = args.get("namespace", "azureml-endpoints")
        deployer_roles: List[pulumi.Resource] = []
        deployer = args.get("deployer_principal_id")
        scoring = args.get("scoring_dns")
        if not existing:
            if deployer is None:
                raise ValueError(f"{name}: a created cluster needs deployer_principal_id (who runs the deploy gets "
                                 "Azure Kubernetes Service RBAC Admin on the namespace and the instance-type role)")
            deployer_roles = self._deployer_roles(name, cluster_id, subscription, deployer,
                                                  args.get("deployer_principal_type", "ServicePrincipal"), namespace,
                                                  read_router=scoring is not None)

        extension = None
        if args.get("install_extension", True):
            # the inference router's internal load balancer takes an address in the subnet; the
            # deployer's roles propagate while the extension installs (module docstring)
            ext_waits = [r for r in [network_role, *deployer_roles] if r is not None]
            extension = declare_extension(
                self, name, extension=extension_args, extension_name=args.get("extension_name", "azureml"),
                cluster_rg=cluster_rg, cluster_name=cluster_name, cluster_id=cluster_id, location=location,
                waits=ext_waits or None)

        reader = None
        principal = args.get("workspace_principal_id")
        if principal is not None:
            reader = self._role(f"{name}-workspace-reader", cluster_id, subscription, principal, "ServicePrincipal",
                                READER_ROLE, "Azure ML workspace reads the Kubernetes cluster it deploys to")

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
        # Kubernetes objects: after the deployer's roles have had the extension's install time to
        # propagate (Azure RBAC: up to five minutes), and after the extension (InstanceType's CRD)
        k8s_waits = [r for r in (extension, *deployer_roles) if r is not None]
        namespace_resource = None
        if namespace != "default":
            namespace_resource = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata={"name": namespace, "labels": {"app.kubernetes.io/managed-by": "amlplatform"}},
                opts=child(self, provider=provider, depends_on=k8s_waits or None))

        types = list(args.get("instance_types") or [])
        default_type = args.get("default_instance_type") or (types[0]["name"] if types else None)
        attach = None
        if args.get("attach", True):
            properties: dict = {"namespace": namespace}
            if types:
                properties["instance_types"] = {t["name"]: attach_schema(t) for t in types}
                properties["default_instance_type"] = default_type
            # The attach reads nothing from the extension, the role assignment or the trusted
            # access binding, but the service refuses a cluster without the extension and reaches
            # the cluster through the workspace (its identity, or the binding): wait for all three
            # (the role assignment and the binding take seconds, made while the extension installs).
            # The attach names the endpoints' namespace, which must exist before it (Kubernetes
            # compute reference: "the namespace must exist"): wait for it too. With a private
            # workspace the extension reaches it only through the workspace's private endpoint and
            # its DNS records (attach_waits_for).
            waits = [r for r in (extension, reader, trusted, namespace_resource) if r is not None]
            waits += waits_for(args.get("attach_waits_for")) or []
            attach = declare_attach(name, args, compute_name, cluster_id, properties, tags, self, waits)

        # InstanceType is a custom resource whose definition the extension installs; without a
        # data dependency on either, wait for the attach (which itself waits for the extension) -
        # or, when the attach is skipped, for the extension.
        crd_source = attach if attach is not None else extension
        declare_instance_types(self, name, types, provider=provider,
                               waits=[r for r in (crd_source, *deployer_roles) if r is not None])

        if scoring is not None:
            self._scoring_record(name, scoring, extension_args, provider,
                                 [r for r in (extension, attach, *deployer_roles) if r is not None])

        self.cluster_id = pulumi.Output.from_input(cluster_id)
        self.cluster_name = pulumi.Output.from_input(cluster_name)
        self.compute_id = attach.id if attach is not None else pulumi.Output.from_input(None)
        self.compute_principal_id = (attach.identity.apply(lambda i: i.principal_id if i else None)
                                     if attach is not None else pulumi.Output.from_input(None))
        self.extension_id = extension.id if extension is not None else pulumi.Output.from_input(None)
        self.register_outputs({"cluster_id": self.cluster_id, "cluster_name": self.cluster_name,
                               "compute_id": self.compute_id, "extension_id": self.extension_id,
                               "compute_principal_id": self.compute_principal_id})

    def _deployer_roles(self, name: str, cluster_id: pulumi.Input[str], subscription: pulumi.Output,
                        deployer: pulumi.Input[str], principal_type: str, namespace: str, *,
                        read_router: bool) -> List[pulumi.Resource]:
        """The deployer's data-plane roles: Azure Kubernetes Service RBAC Admin on the endpoints'
        namespace, and a custom role on the cluster with the namespace and custom-resource data
        actions, the latter limited by a condition to Azure ML's InstanceType objects
        (amlplatform.azure.kubernetes; learn.microsoft.com/azure/aks/entra-id-authorization)."""
        cluster = pulumi.Output.from_input(cluster_id)
        out: List[pulumi.Resource] = [self._role(
            f"{name}-deployer-namespace-admin", cluster.apply(lambda c: f"{c}/namespaces/{namespace}"), subscription,
            deployer, principal_type, NAMESPACE_ADMIN_ROLE,
            f"the deploying identity manages the endpoints' namespace {namespace}")]
        guid = cluster.apply(deployer_role_guid)
        definition = authorization.RoleDefinition(
            f"{name}-deployer-role",
            role_definition_id=guid,
            # created in the cluster's resource group (where the deployer holds its ARM role), assignable
            # on the cluster only
            scope=cluster.apply(lambda c: c.split("/providers/", 1)[0]),
            # role names are unique in the tenant: the cluster's id makes it so
            role_name=cluster.apply(lambda c: f"amlplatform deployer ({c.rsplit('/', 1)[-1]}, {deployer_role_guid(c)[:8]})"),
            description="Creates the Azure ML endpoints' namespace and the InstanceType objects of one cluster "
                        "(amlplatform); the assignment's condition limits custom resources to InstanceTypes",
            permissions=[{"actions": [], "not_actions": [], "data_actions": list(DEPLOYER_DATA_ACTIONS),
                          "not_data_actions": []}],
            assignable_scopes=[cluster],
            opts=child(self),
        )
        out.append(self._role(
            f"{name}-deployer-instance-types", cluster, subscription, deployer, principal_type,
            guid, "the deploying identity creates the endpoints' namespace and Azure ML's InstanceType objects",
            condition=instance_types_condition(), waits=[definition]))
        if read_router:
            out.append(self._role(
                f"{name}-deployer-router-reader", cluster.apply(lambda c: f"{c}/namespaces/{RELEASE_NAMESPACE}"),
                subscription, deployer, principal_type, NAMESPACE_READER_ROLE,
                "the deploying identity reads the inference router's internal address (not secrets)"))
        return out

    def _scoring_record(self, name: str, scoring: Mapping, extension: Mapping, provider: pulumi.ProviderResource,
                        waits: List[pulumi.Resource]) -> privatedns.PrivateRecordSet:
        """An A record of the scoring name (ssl_cname) to the inference router's internal load
        balancer address, read from the router's service once the extension runs."""
        cname = extension.get("ssl_cname")
        if not cname:
            raise ValueError(f"{name}: scoring_dns needs extension.ssl_cname (the scoring name)")
        relative = record_name(cname, scoring["zone_name"])
        router = k8s.core.v1.Service.get(
            f"{name}-router-service", f"{RELEASE_NAMESPACE}/{ROUTER_SERVICE}",
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=waits or None))

        def address(status) -> Optional[str]:
            ingress = ((status or {}).get("load_balancer") or {}).get("ingress") if isinstance(status, dict) else (
                getattr(getattr(status, "load_balancer", None), "ingress", None))
            for entry in ingress or []:
                ip = entry.get("ip") if isinstance(entry, dict) else getattr(entry, "ip", None)
                if ip:
                    return ip
            return None

        record_waits = waits_for([scoring["zone_id"]]) if scoring.get("zone_id") is not None else None
        return privatedns.PrivateRecordSet(
            f"{name}-scoring-record",
            private_zone_name=scoring["zone_name"],
            resource_group_name=scoring["resource_group_name"],
            record_type="A",
            relative_record_set_name=relative,
            ttl=300,
            a_records=[{"ipv4_address": router.status.apply(address)}],
            opts=child(self, depends_on=record_waits),
        )

    def _role(self, logical: str, cluster_id: pulumi.Input[str], subscription: pulumi.Output,  # scope
              principal: pulumi.Input[str], principal_type: Optional[str], role: pulumi.Input[str],
              description: str, *, condition: Optional[str] = None,
              waits: Optional[List[pulumi.Resource]] = None) -> authorization.RoleAssignment:
        scope = pulumi.Output.from_input(cluster_id)
        role_out = pulumi.Output.from_input(role)
        return authorization.RoleAssignment(
            logical,
            scope=scope,
            principal_id=principal,
            principal_type=principal_type,
            role_definition_id=pulumi.Output.all(subscription, role_out).apply(
                lambda sr: role_definition_id(sr[0], sr[1])),
            role_assignment_name=pulumi.Output.all(scope, principal, role_out).apply(
                lambda spr: assignment_guid(spr[0], spr[1] or "", spr[2])),
            description=description,
            condition=condition,
            condition_version="2.0" if condition else None,
            opts=child(self, depends_on=waits),
        )
