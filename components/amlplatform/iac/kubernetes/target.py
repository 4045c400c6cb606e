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
         └──> cluster admin for the deployer ──> namespace, InstanceType CRs
    workspace ───────────────────────────┘

The AKS cluster does not wait for the workspace: the cluster (~6 min) and the workspace
(~5.5 min) are created side by side, and only the attach waits for both.
"""

from typing import List, Mapping, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization, containerservice
from typing_extensions import Required

from amlplatform.azure import naming
from amlplatform.iac._base import check_args, child, token, waits_for
from amlplatform.iac.access.access import assignment_guid, role_definition_id
from amlplatform.iac.kubernetes.aks import (  # noqa: F401  (re-exported: the module's public names before the split)
    KUBELOGIN_MODES, ClusterSpec, cluster_kubeconfig, declare_cluster, dns_prefix, kubeconfig_with_login,
    parse_cluster_id,
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
# "Azure Kubernetes Service RBAC Cluster Admin" (learn.microsoft.com/azure/role-based-access-control/
# built-in-roles/containers): full Kubernetes data-plane access under Entra ID + Azure RBAC, which the
# deployer needs to create the namespace and the InstanceType objects once local accounts are off
# (learn.microsoft.com/azure/aks/manage-azure-rbac).
CLUSTER_ADMIN_ROLE = ROLES["Azure Kubernetes Service RBAC Cluster Admin"]
# "Network Contributor": a cluster in a subnet it does not own needs it on that subnet for its
# system-assigned identity (learn.microsoft.com/azure/aks/use-managed-identity, "Add role
# assignment": only the az CLI grants it by itself; templates and SDKs must grant it)
NETWORK_CONTRIBUTOR_ROLE = ROLES["Network Contributor"]
# AKS Trusted Access role through which Azure ML reaches a cluster without local accounts
TRUSTED_ACCESS_ROLE = "Microsoft.MachineLearningServices/workspaces/mlworkload"


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
    """How kubelogin signs in with a created cluster's exec kubeconfig (disable_local_accounts):
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
    """Who runs the deploy (object id). With local accounts disabled it is granted "Azure Kubernetes
    Service RBAC Cluster Admin" on a created cluster, so the program can create the namespace and the
    instance types. The program passes it from the settings or authorization.getClientConfig."""
    deployer_principal_type: str
    """User, Group or ServicePrincipal (default ServicePrincipal: azure-native would send User, and
    Azure refuses a type that does not match the principal)."""
    attach_waits_for: List[pulumi.Input[str]]
    """Outputs (e.g. ids) of what the attach waits for besides the cluster's own resources: the
    workspace's private endpoint and its DNS zone group, through which the extension in the cluster
    reaches a private workspace. The attach waits for the resources that produce them."""




class KubernetesInferenceTarget(pulumi.ComponentResource):
    """A Kubernetes compute for online endpoints: AKS with secure defaults (or an existing cluster),
    the Azure ML extension, the workspace's Reader role, the deployer's cluster-admin role, the
    attach and the instance types."""

    cluster_id: pulumi.Output[str]
    """ARM id of the AKS cluster (created or existing)."""
    cluster_name: pulumi.Output[str]
    """Name of the AKS cluster."""
    compute_id: pulumi.Output[Optional[str]]
    """ARM id of the Kubernetes compute in the workspace (none when attach is False)."""
    extension_id: pulumi.Output[Optional[str]]
    """ARM id of the Azure ML extension (none when it is not installed)."""

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
        local_accounts = True
        network_role = None
        if existing:
            parsed = parse_cluster_id(existing)
            if args.get("kubeconfig") is None:
                raise ValueError(f"{name}: kubeconfig is required with existing_cluster_id")
            cluster_id: pulumi.Input[str] = existing
            cluster_name: pulumi.Input[str] = parsed["name"]
            cluster_rg: pulumi.Input[str] = parsed["resource_group"]
            kubeconfig = pulumi.Output.secret(args["kubeconfig"])
        elif args.get("cluster"):
            aks = declare_cluster(self, name, args["cluster"], args["resource_group_name"], location, tags)
            cluster_id, cluster_name, cluster_rg = aks.id, aks.name, args["resource_group_name"]
            subnet_id = args["cluster"].get("subnet_id")
            if subnet_id is not None:
                cluster_principal = aks.identity.apply(lambda i: i.principal_id if i else None)
                network_role = self._role(f"{name}-subnet-network-contributor", subnet_id,
                           pulumi.Output.from_input(args["subscription_id"]), cluster_principal, "ServicePrincipal",
                           NETWORK_CONTRIBUTOR_ROLE, "the AKS cluster manages its nodes' and load balancers' "
                           "addresses in the stack's subnet")
            local_accounts = not args["cluster"].get("disable_local_accounts", False)
            kubeconfig = cluster_kubeconfig(args["resource_group_name"], aks.name,
                                            admin=local_accounts, login=kubelogin_mode)
        else:
            raise ValueError(f"{name}: give cluster (to create one) or existing_cluster_id")

        extension = None
        if args.get("install_extension", True):
            extension = declare_extension(
                self, name, extension=extension_args, extension_name=args.get("extension_name", "azureml"),
                cluster_rg=cluster_rg, cluster_name=cluster_name, cluster_id=cluster_id, location=location,
                # the inference router's internal load balancer takes an address in the subnet
                waits=[network_role] if network_role is not None else None)

        subscription = pulumi.Output.from_input(args["subscription_id"])
        reader = None
        principal = args.get("workspace_principal_id")
        if principal is not None:
            reader = self._role(f"{name}-workspace-reader", cluster_id, subscription, principal, "ServicePrincipal",
                                READER_ROLE, "Azure ML workspace reads the Kubernetes cluster it deploys to")

        # Without local accounts the program's Kubernetes provider signs in with the deployer's Entra
        # identity; under Azure RBAC it may do nothing on the cluster until a data-plane role is
        # granted. Only for a cluster this component creates: an existing cluster's owner grants it.
        deployer_admin = None
        deployer = args.get("deployer_principal_id")
        if not local_accounts and not existing:
            if deployer is None:
                raise ValueError(f"{name}: a cluster without local accounts needs deployer_principal_id (who runs "
                                 "the deploy gets Azure Kubernetes Service RBAC Cluster Admin)")
            deployer_admin = self._role(
                f"{name}-deployer-cluster-admin", cluster_id, subscription, deployer,
                args.get("deployer_principal_type", "ServicePrincipal"), CLUSTER_ADMIN_ROLE,
                "the deploying identity creates the endpoints' namespace and the instance types")

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
        k8s_waits = [deployer_admin] if deployer_admin is not None else []
        namespace = args.get("namespace", "azureml-endpoints")
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
                               waits=[r for r in (crd_source, deployer_admin) if r is not None])

        self.cluster_id = pulumi.Output.from_input(cluster_id)
        self.cluster_name = pulumi.Output.from_input(cluster_name)
        self.compute_id = attach.id if attach is not None else pulumi.Output.from_input(None)
        self.extension_id = extension.id if extension is not None else pulumi.Output.from_input(None)
        self.register_outputs({"cluster_id": self.cluster_id, "cluster_name": self.cluster_name,
                               "compute_id": self.compute_id, "extension_id": self.extension_id})

    def _role(self, logical: str, cluster_id: pulumi.Input[str], subscription: pulumi.Output,  # scope
              principal: pulumi.Input[str], principal_type: Optional[str], role: str,
              description: str) -> authorization.RoleAssignment:
        scope = pulumi.Output.from_input(cluster_id)
        return authorization.RoleAssignment(
            logical,
            scope=scope,
            principal_id=principal,
            principal_type=principal_type,
            role_definition_id=subscription.apply(lambda sub: role_definition_id(sub, role)),
            role_assignment_name=pulumi.Output.all(scope, principal).apply(
                lambda sp: assignment_guid(sp[0], sp[1] or "", role)),
            description=description,
            opts=child(self),
        )
