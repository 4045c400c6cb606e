"""``MLPlatform``: a whole Azure ML platform from one set of arguments shaped like a stack file.

The arguments are the stack file's ``amlplatform:`` keys as plain values (``location``, ``naming``,
``workspace``, ``storage``, ``network``, ``clusters``, ``kubernetes``, ``datastores``,
``online_endpoints`` ...; docs/platform-component.md), validated once at the boundary with the same
models and the same field-naming errors as a stack file (:mod:`amlplatform.spec`). Every decision the
amlplatform program used to make lives here: firewalls and public access derived from the
workspace's network, private endpoints and their DNS zones, data-plane roles of people and of
compute identities, customer-managed key, locks, diagnostics, registry mode, computes, Kubernetes
targets, datastores and endpoints. The amlplatform program (``amlplatform.stack.program``) is its first
consumer: it reads the stack file and passes it on.

Children keep the logical names the amlplatform program always gave them (``resource-group``,
``network``, the workspace under this component's own name, ``cluster-<name>``, ...), so one
MLPlatform per stack. Stacks deployed before this component existed had those resources at the
stack root: when MLPlatform itself is at the root, its direct children carry an alias to the root
(and their descendants inherit it), so such a stack moves under the component without replacing
anything.
"""

from typing import Any, Dict, List, Mapping, Optional

import pulumi
from pulumi_azure_native import authorization, resources
from typing import TypedDict
from typing_extensions import Required

from amlplatform.iac._base import ComponentArgsError, check_args, token
from amlplatform.iac.access.access import IdentityAccess, WorkspaceAccess
from amlplatform.iac.compute.compute import ComputeCluster, ComputeInstance
from amlplatform.iac.data.assets import AssetStore, DataAsset
from amlplatform.iac.data.datastores import Datastore
from amlplatform.iac.serving.assets import Asset
from amlplatform.iac.options.diagnostics import AKS_LOG_CATEGORIES, send_to_log_analytics
from amlplatform.iac.serving.endpoints import BatchEndpoint, OnlineEndpoint
from amlplatform.iac.compute.environments import Environment
from amlplatform.errors import validation_problems
from amlplatform.iac.kubernetes.target import KubernetesInferenceTarget
from amlplatform.iac.platform import compute as compute_map
from amlplatform.iac.platform import serving as serving_map
from amlplatform.iac.platform import workspace as workspace_map
from amlplatform.iac.platform.args import (
    StackAccess, StackAssets, StackBatchEndpoint, StackDataAsset, StackCluster, StackDatastore, StackDiagnostics, StackEncryption, StackEnvironment,
    StackInstances, StackKeyVault, StackKubernetes, StackLocks, StackMonitoring, StackNaming, StackNetwork,
    StackOnlineEndpoint, StackPolicyException, StackRegistry, StackResourceGroup, StackRoleAssignment, StackStorage,
    StackWorkspace,
)
from amlplatform.iac.network.network import PlatformNetwork
from amlplatform.iac.workspace.mlworkspace import MLWorkspace
from amlplatform.spec.platform import StackSettings


class MLPlatformArgs(TypedDict, total=False):
    location: Required[str]
    """Azure region of every resource."""
    naming: Required[StackNaming]
    """{workload, environment, overrides}: deterministic physical names (amlplatform.azure.naming)."""
    tenant_id: str
    """Entra tenant of the key vault; default: the deploying identity's."""
    resource_group: StackResourceGroup
    """{name, existing}: the resource group (created unless existing)."""
    tags: Dict[str, str]
    """Tags on every resource (plus workload and environment)."""
    protect: bool
    """Protect storage, key vault and workspace from deletion by Pulumi."""
    workspace: StackWorkspace
    """The workspace: identity, public_network_access, managed_network, hbi_workspace, ..."""
    storage: StackStorage
    """The workspace's storage account (or existing_id); its network follows the workspace's."""
    key_vault: StackKeyVault
    """The workspace's key vault (or existing_id); its network follows the workspace's."""
    monitoring: StackMonitoring
    """Log Analytics and Application Insights (or existing ids)."""
    registry: StackRegistry
    """Container registry: mode auto (created when something needs images), service, create, existing."""
    network: StackNetwork
    """vnet or existing_subnets (private endpoints for every created resource), private_dns, outbound."""
    role_assignments: List[StackRoleAssignment]
    """Roles (by built-in name or GUID) on the workspace or its resource group."""
    diagnostics: StackDiagnostics
    """{enabled}: resource logs to Log Analytics."""
    access: StackAccess
    """{data_scientists, instance_users, compute_identities}: data-plane roles."""
    encryption: StackEncryption
    """{customer_managed_key, key_name, key_size, identity_id}: customer-managed key."""
    locks: StackLocks
    """{enabled, resources, notes}: CanNotDelete locks."""
    policy_exceptions: List[StackPolicyException]
    """Reasoned exceptions for `amlplatform scan` (nothing is declared for them)."""
    clusters: List[StackCluster]
    """AmlCompute clusters."""
    instances: StackInstances
    """Compute instances, one per listed user."""
    kubernetes: List[StackKubernetes]
    """Kubernetes inference targets: new AKS clusters or attached ones."""
    environments: List[StackEnvironment]
    """Environments: an image as is, or a conda file on a base image."""
    datastores: List[StackDatastore]
    """Datastores: blob containers, ADLS Gen2 file systems, file shares."""
    data_assets: List[StackDataAsset]
    """Data assets, one version per entry: a datastore path or project files the stack uploads."""
    assets: StackAssets
    """Model, code and component versions the deployments use (uploaded and registered, or existing)."""
    online_endpoints: List[StackOnlineEndpoint]
    """Online endpoints and their deployments."""
    batch_endpoints: List[StackBatchEndpoint]
    """Batch endpoints and their deployments."""
    files: Dict[str, str]
    """Content of the files the arguments name (conda files, setup scripts) by the path they give
    (components never read files)."""
    asset_files: Dict[str, Dict[str, str]]
    """The files of each uploaded asset path (models, code, data): project path -> {path below it
    ('' for a file) -> local file} (components never read files; `pulumi up` uploads them)."""
    datastore_secrets: Dict[str, pulumi.Input[str]]
    """Credential of each datastore whose auth is not identity, by datastore name (a secret Output)."""
    kubernetes_tls: Dict[str, pulumi.Input[str]]
    """Scoring certificate and key (PEM, secret Outputs) of each Kubernetes target whose extension names
    them by config key, as ``<target>/cert`` and ``<target>/key``."""
    subscription_id: pulumi.Input[str]
    """Subscription of the platform; default: the deploying identity's."""
    deployer_object_id: pulumi.Input[str]
    """Object id of whoever runs the deployment (Kubernetes data-plane role when local accounts are
    off); default: the deploying identity."""
    secret_values: List[str]
    """Values among the arguments that are secret (a stack's secret config): a name that would be made of
    one (a role assignment's, a compute instance's) holds a hash of where it is set instead."""


# arguments that are not part of the platform's model (spec.platform.StackSettings)
_INPUTS = ("files", "asset_files", "datastore_secrets", "kubernetes_tls", "subscription_id", "deployer_object_id",
           "secret_values")


def validate(args: Mapping[str, Any]) -> StackSettings:
    """``args`` checked and read into the platform model; :class:`ComponentArgsError` lists every
    problem with its field (``args.storage.sku: ...``)."""
    from pydantic import ValidationError

    if not isinstance(args, Mapping):
        check_args("MLPlatform", args, MLPlatformArgs)  # says what it must be
    try:
        settings = StackSettings.model_validate({k: v for k, v in args.items() if k not in _INPUTS})
    except ValidationError as exc:
        problems = validation_problems(exc, "args", StackSettings)
        raise ComponentArgsError(f"MLPlatform: invalid arguments ({len(problems)} problem"
                                 f"{'s' if len(problems) != 1 else ''}):", problems) from None
    # the models took every value; the TypedDict adds where an Output may stand (the extra arguments)
    check_args("MLPlatform", args, MLPlatformArgs)
    settings._secret_texts = tuple(args.get("secret_values") or ())
    return settings


def _check_inputs(settings: StackSettings, args: Mapping[str, Any]) -> None:
    files, secrets = dict(args.get("files") or {}), dict(args.get("datastore_secrets") or {})
    problems = [f"args.files: needs the content of {rel!r} ({field})"
                for field, rel in compute_map.needed_files(settings).items() if rel not in files]
    uploads = dict(args.get("asset_files") or {})
    problems += [f"args.asset_files: needs the files of {path!r} ({field})"
                 for field, path in serving_map.uploaded_paths(settings).items() if not uploads.get(path)]
    problems += [f"args.datastore_secrets: needs the credential of datastore {ds.name!r} (auth {ds.auth})"
                 for ds in settings.datastores if ds.auth != "identity" and ds.name not in secrets]
    tls = dict(args.get("kubernetes_tls") or {})
    problems += [f"args.kubernetes_tls: needs {t.name}/{part} (kubernetes {t.name!r} extension.ssl_{part}_config_key)"
                 for t in settings.kubernetes for part in ("cert", "key")
                 if getattr(t.extension, f"ssl_{part}_config_key") and f"{t.name}/{part}" not in tls]
    if problems:
        raise ComponentArgsError(f"MLPlatform: invalid arguments ({len(problems)} problem"
                                 f"{'s' if len(problems) != 1 else ''}):", problems)


class MLPlatform(pulumi.ComponentResource):
    """A whole Azure ML platform: resource group, network, workspace with its dependencies, data
    access, computes, Kubernetes targets, environments, datastores and endpoints."""

    workspace_id: pulumi.Output[str]
    """ARM id of the workspace."""
    workspace_name: pulumi.Output[str]
    """Name of the workspace."""
    resource_group_name: pulumi.Output[str]
    """Resource group of the platform."""
    discovery_url: pulumi.Output[str]
    """The workspace's discovery URL."""
    mlflow_tracking_uri: pulumi.Output[str]
    """MLflow tracking URI of the workspace."""
    principal_id: pulumi.Output[Optional[str]]
    """The workspace's system-assigned identity."""
    storage_account_id: pulumi.Output[str]
    """The workspace's storage account."""
    key_vault_id: pulumi.Output[str]
    """The workspace's key vault."""
    app_insights_id: pulumi.Output[str]
    """Application Insights of the workspace."""
    log_analytics_id: pulumi.Output[Optional[str]]
    """Log Analytics workspace (when one is created or given)."""
    container_registry_id: pulumi.Output[Optional[str]]
    """Container registry (when the platform has one)."""
    registry_login_server: pulumi.Output[Optional[str]]
    """Login server of a created registry."""
    compute_ids: pulumi.Output[Dict[str, str]]
    """Compute name -> ARM id of what jobs and deployments target (clusters, Kubernetes computes)."""
    vnet_id: pulumi.Output[Optional[str]]
    """The VNet the platform created (none without a network, or with existing subnets)."""
    private_endpoints_subnet_id: pulumi.Output[Optional[str]]
    """Subnet of the private endpoints (none without a network): for private endpoints of one's own."""

    def __init__(self, name: str, args: MLPlatformArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        settings = validate(args)
        _check_inputs(settings, args)
        super().__init__(token("MLPlatform"), name, None, opts)
        # resources of stacks deployed before MLPlatform existed sat at the stack root (module docstring)
        at_root = opts is None or opts.parent is None
        self._aliases = [pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)] if at_root else None
        files, secrets = dict(args.get("files") or {}), dict(args.get("datastore_secrets") or {})

        # who deploys, for what an argument leaves out (one invoke, and none when everything is given)
        given = {"subscription_id": args.get("subscription_id"), "object_id": args.get("deployer_object_id"),
                 "tenant_id": settings.tenant_id}
        if not all(given.values()):
            client = authorization.get_client_config_output(opts=pulumi.InvokeOptions(parent=self))
            given = {key: value or getattr(client, key) for key, value in given.items()}
        subscription_id, deployer_object_id = given["subscription_id"], given["object_id"]
        tenant_id: pulumi.Input[str] = given["tenant_id"]

        names = settings.naming.names()
        rg_name = settings.resource_group.name or names.resource_group
        if settings.resource_group.existing:
            resource_group_name: pulumi.Input[str] = rg_name
            resource_group_id: pulumi.Input[str] = pulumi.Output.from_input(subscription_id).apply(
                lambda sub: f"/subscriptions/{sub}/resourceGroups/{rg_name}")
        else:
            group = resources.ResourceGroup(
                "resource-group", resource_group_name=rg_name, location=settings.location,
                tags=settings.all_tags(), opts=self._child())
            resource_group_name, resource_group_id = group.name, group.id

        net_args = workspace_map.network_args(settings, resource_group_name=resource_group_name)
        self.network = PlatformNetwork("network", net_args, opts=self._child()) if net_args is not None else None
        endpoints = None if self.network is None else {"subnet_id": self.network.private_endpoints_subnet_id,
                                                       "dns_zone_ids": self.network.zone_id_inputs}
        platform = MLWorkspace(name, workspace_map.platform_args(
            settings, resource_group_name=resource_group_name, resource_group_id=resource_group_id,
            tenant_id=tenant_id, subscription_id=subscription_id, private_endpoints=endpoints),
            opts=self._child())
        self.workspace = platform

        specs = workspace_map.storage_role_specs(settings)
        if specs:
            # people's data-plane roles on the storage account (spec/access.py says why)
            WorkspaceAccess("storage-access", {"scope": platform.storage_account_id,
                                               "subscription_id": subscription_id, "assignments": specs},
                            opts=self._child())
        compute_ids = self._declare_compute(
            settings, platform, files=files, resource_group_name=resource_group_name, tenant_id=tenant_id,
            subscription_id=subscription_id, deployer_object_id=deployer_object_id,
            kubernetes_tls=args.get("kubernetes_tls"))
        self.serving = self._declare_serving(
            settings, platform, compute_ids, secrets, files=files, asset_files=dict(args.get("asset_files") or {}),
            resource_group_name=resource_group_name, tenant_id=tenant_id, subscription_id=subscription_id,
            deployer_object_id=deployer_object_id)

        self.resource_group_name = pulumi.Output.from_input(resource_group_name)
        self.workspace_id = platform.workspace_id
        self.workspace_name = platform.workspace_name
        self.discovery_url = platform.discovery_url
        self.mlflow_tracking_uri = platform.mlflow_tracking_uri
        self.principal_id = platform.principal_id
        self.storage_account_id = platform.storage_account_id
        self.key_vault_id = platform.key_vault_id
        self.app_insights_id = platform.app_insights_id
        self.log_analytics_id = platform.log_analytics_id
        self.container_registry_id = platform.container_registry_id
        self.registry_login_server = platform.registry_login_server
        self.compute_id_inputs = compute_ids
        self.compute_ids = pulumi.Output.from_input(compute_ids)
        self.vnet_id = pulumi.Output.from_input(self.network.vnet_id if self.network is not None else None)
        self.private_endpoints_subnet_id = pulumi.Output.from_input(
            self.network.private_endpoints_subnet_id if self.network is not None else None)
        self.register_outputs({
            "workspace_id": self.workspace_id, "workspace_name": self.workspace_name,
            "resource_group_name": self.resource_group_name, "discovery_url": self.discovery_url,
            "mlflow_tracking_uri": self.mlflow_tracking_uri, "principal_id": self.principal_id,
            "storage_account_id": self.storage_account_id, "key_vault_id": self.key_vault_id,
            "app_insights_id": self.app_insights_id, "log_analytics_id": self.log_analytics_id,
            "container_registry_id": self.container_registry_id,
            "registry_login_server": self.registry_login_server, "compute_ids": self.compute_ids,
            "vnet_id": self.vnet_id, "private_endpoints_subnet_id": self.private_endpoints_subnet_id,
        })

    def _child(self) -> pulumi.ResourceOptions:
        """Options of a direct child: parented here, aliased to the stack root (module docstring)."""
        return pulumi.ResourceOptions(parent=self, aliases=list(self._aliases) if self._aliases else None)

    # ------------------------------------------------------------------------------ computes

    def _declare_compute(self, settings: StackSettings, platform: MLWorkspace, *, files: Mapping[str, str],
                         resource_group_name: pulumi.Input[str], tenant_id: pulumi.Input[str],
                         subscription_id: pulumi.Input[str],
                         deployer_object_id: pulumi.Input[str],
                         kubernetes_tls: Optional[Mapping[str, Any]] = None) -> Dict[str, pulumi.Output[str]]:
        """Clusters, instances, Kubernetes targets and environments; returns compute name -> ARM id of
        what jobs and deployments target (clusters and Kubernetes computes; instances are personal)."""
        ws = {"resource_group_name": resource_group_name, "workspace_name": platform.workspace_name}
        location = settings.location
        self._cluster_roles: Dict[str, List[pulumi.Output[str]]] = {}
        aks_subnet_id = self.network.aks_subnet_input if self.network is not None else None
        compute_ids: Dict[str, pulumi.Output[str]] = {}
        for cluster in settings.clusters:
            created = ComputeCluster(f"cluster-{cluster.name.lower()}",
                                     {**ws, "location": location, **compute_map.cluster_args(settings, cluster)},
                                     opts=self._child())
            compute_ids[cluster.name] = created.id
            if settings.access.compute_identities and cluster.identity == "SystemAssigned":
                access = IdentityAccess(f"cluster-{cluster.name.lower()}-access", {
                    "subscription_id": subscription_id,
                    "principal_id": created.principal_id,
                    "grants": workspace_map.compute_identity_grants(settings, platform, cluster.name)},
                    opts=self._child())
                # batch deployments on this cluster wait for its data roles (queue, table, blob)
                self._cluster_roles[cluster.name] = [a.id for a in access.assignments]
        for args in compute_map.instance_args(settings, files):
            args.setdefault("user_tenant_id", tenant_id)
            ComputeInstance(f"instance-{args['compute_name'].lower()}", {**ws, "location": location, **args},
                            opts=self._child())
        for target in settings.kubernetes:
            args = {**ws, "location": location, "subscription_id": subscription_id,
                    **compute_map.kubernetes_args(settings, target)}
            if settings.workspace.identity == "SystemAssigned":
                # with a user-assigned identity, that identity must already hold Reader on the cluster
                args["workspace_principal_id"] = platform.principal_id
            if target.trusted_access:
                args["workspace_id"] = platform.workspace_id
            mon = settings.monitoring
            has_log_analytics = mon.existing_app_insights_id is None or mon.existing_log_analytics_id is not None
            if "cluster" in args:
                args["cluster"]["tenant_id"] = tenant_id
                if "subnet_id" not in args["cluster"] and aks_subnet_id is not None:
                    args["cluster"]["subnet_id"] = aks_subnet_id  # the platform's VNet (spec/network.py)
                # the program's Kubernetes provider signs in as the deployer (Entra ID + Azure RBAC), which gets
                # the namespace and instance-type roles (never cluster admin: KubernetesInferenceTarget)
                args["deployer_principal_id"] = target.deployer_object_id or deployer_object_id
                # azure-native sends principalType User when none is given, and Azure refuses a type that
                # does not match the principal (UnmatchedPrincipalType): the kind is a setting, default
                # ServicePrincipal (a pipeline); a person running `pulumi up` sets User
                args["deployer_principal_type"] = target.deployer_principal_type
                api_zone = workspace_map.private_api_zone(settings, target)
                if api_zone is not None and self.network is not None:
                    # a zone of the platform, linked to its VNet and network.private_dns.link_vnet_ids (the
                    # deployer's network): the deployer resolves the private API server (aks.api_server_profile)
                    args["cluster"]["private_dns_zone_id"] = self.network.zone_id_inputs[api_zone]
                if has_log_analytics and (target.defender or target.container_insights):
                    args["cluster"]["log_analytics_workspace_id"] = platform.log_analytics_id
            zone = workspace_map.scoring_zone(target)
            if zone is not None and self.network is not None:
                # the scoring name resolves to the inference router's internal load balancer
                args["scoring_dns"] = {"zone_name": zone, "resource_group_name": resource_group_name,
                                       "zone_id": self.network.zone_id_inputs[zone]}
            tls = dict(kubernetes_tls or {})
            if f"{target.name}/cert" in tls:
                # the certificate named by secret config keys: a protected setting of the extension, this run
                args["extension"]["ssl_cert_pem"] = tls[f"{target.name}/cert"]
                args["extension"]["ssl_key_pem"] = tls[f"{target.name}/key"]
            if platform.workspace_private_path:
                args["attach_waits_for"] = [r.id for r in platform.workspace_private_path]
            created_target = KubernetesInferenceTarget(f"k8s-{target.name.lower()}", args, opts=self._child())
            if target.attach and settings.access.compute_identities:
                # the Kubernetes compute's identity pulls images and reads models and data for the deployments
                # (registry private with its admin user off, storage without shared keys)
                IdentityAccess(f"k8s-{target.name.lower()}-access", {
                    "subscription_id": subscription_id,
                    "principal_id": created_target.compute_principal_id,
                    "grants": workspace_map.kubernetes_identity_grants(settings, platform)}, opts=self._child())
            if "cluster" in args and settings.diagnostics.enabled and has_log_analytics:
                # control-plane logs of the created cluster (diagnostics.AKS_LOG_CATEGORIES says which)
                send_to_log_analytics(created_target, f"k8s-{target.name.lower()}-diagnostics",
                                      resource_id=created_target.cluster_id,
                                      log_analytics_workspace_id=platform.log_analytics_id,
                                      log_categories=AKS_LOG_CATEGORIES)
            if target.attach:
                compute_ids[target.name] = created_target.compute_id
            else:
                # attached on an earlier deploy: its id is known without declaring the attach again
                compute_ids[target.name] = pulumi.Output.concat(platform.workspace_id, "/computes/", target.name)
        self._environment_ids: Dict[str, pulumi.Output[str]] = {}
        for args in compute_map.environment_args(settings, files):
            env = Environment(f"env-{args['environment_name'].lower()}", {**ws, **args}, opts=self._child())
            self._environment_ids[f"azureml:{args['environment_name']}:{args.get('version', '1')}"] = env.id
        return compute_ids

    # --------------------------------------------------------------------- datastores, serving

    def _declare_serving(self, settings: StackSettings, platform: MLWorkspace,
                         compute_ids: Mapping[str, pulumi.Output[str]], secrets: Mapping[str, Any], *,
                         files: Mapping[str, str], asset_files: Mapping[str, Mapping[str, str]],
                         resource_group_name: pulumi.Input[str], tenant_id: pulumi.Input[str],
                         subscription_id: pulumi.Input[str],
                         deployer_object_id: pulumi.Input[str]) -> Dict[str, Dict[str, pulumi.Output[str]]]:
        """Datastores, assets, online and batch endpoints; returns their ids by name (empty when none)."""
        if not (settings.datastores or settings.data_assets or settings.online_endpoints
                or settings.batch_endpoints or settings.assets.models or settings.assets.code
                or settings.assets.components):
            return {}
        ws = {"resource_group_name": resource_group_name, "workspace_name": platform.workspace_name}
        datastores: Dict[str, pulumi.Output[str]] = {}
        for i, ds in enumerate(settings.datastores):
            args = {**ws, "subscription_id": subscription_id, **serving_map.datastore_args(settings, i),
                    "storage_account_id": ds.storage_account_id or platform.storage_account_id}
            if "workspace_role_guid" in args and settings.workspace.identity == "SystemAssigned":
                args["workspace_principal_id"] = platform.principal_id
            else:
                args.pop("workspace_role_guid", None)  # a user-assigned identity brings its own roles
            if ds.auth != "identity":
                args["secret"] = secrets[ds.name]
            if ds.auth == "service_principal":
                args["tenant_id"] = ds.tenant_id or tenant_id
            datastores[ds.name] = Datastore(f"datastore-{ds.name.lower()}", args, opts=self._child()).id

        # assets the deployments use: uploaded by this run into the asset store, registered, waited for
        # (docs/assets.md); ids by the placeholder id the mapping gives a reference
        declared: Dict[str, pulumi.Output[str]] = {
            serving_map.placeholder(ref, "environments"): env_id for ref, env_id in self._environment_ids.items()}
        store_args: Dict[str, Any] = {}
        data: Dict[str, pulumi.Output[str]] = {}
        if serving_map.uploaded_paths(settings):
            store = AssetStore("asset-store", {
                **ws, "subscription_id": subscription_id, "storage_account_id": platform.storage_account_id,
                "deployer_principal_id": deployer_object_id,
                "deployer_principal_type": settings.assets.deployer_principal_type,
                "service_identity": ("WorkspaceSystemAssignedIdentity" if settings.workspace.identity == "SystemAssigned"
                                     else "WorkspaceUserAssignedIdentity"),
                "tags": settings.all_tags()}, opts=self._child())
            store_args = {"store_account_name": store.account_name, "store_resource_group_name": resource_group_name,
                          "store_container_name": store.container_name, "store_uri_prefix": store.uri_prefix,
                          "upload_waits_for": [store.upload_ready]}
        for group in serving_map.asset_args(settings, asset_files, files):
            for spec in group["versions"]:
                kinds = spec.pop("reference_kinds")
                missing = [r for r, k in kinds.items() if serving_map.placeholder(r, k) not in declared]
                if missing:
                    raise ValueError(f"assets.components: {group['asset_name']}:{spec['version']} names "
                                     f"{', '.join(missing)}, declared after it: give each component its own name")
                if kinds:
                    spec["references"] = {r: declared[serving_map.placeholder(r, k)] for r, k in kinds.items()}
            kind, asset_name = group["kind"], group["asset_name"]
            uploads = store_args if kind in ("model", "code") else {}
            created = Asset(f"asset-{kind}-{asset_name.lower()}", {**ws, **group, **uploads}, opts=self._child())
            for version, version_id in created._ids.items():
                declared[serving_map.placeholder(f"azureml:{asset_name}:{version}", serving_map.FOLDERS[kind])] = \
                    version_id
        for group in serving_map.data_asset_args(settings, asset_files):
            uploads = store_args if any(v.get("files") for v in group["versions"]) else {}
            waits = [datastores[ds] for ds in group.pop("datastores") if ds in datastores]
            if waits:
                group["waits_for"] = waits  # paths on datastores of this stack
            created = DataAsset(f"data-{group['data_name'].lower()}", {**ws, **group, **uploads}, opts=self._child())
            for version, version_id in created._ids.items():
                data[f"{group['data_name']}:{version}"] = version_id

        def resolved(spec: Dict[str, Any], keys: List[str]) -> None:
            # an asset the stack declares: its resource's id (the deployment waits for it); otherwise the
            # id is resolved inside an apply of the workspace id (plain strings, no resources)
            for key in keys:
                value = spec.get(key)
                if isinstance(value, str) and value in declared:
                    spec[key] = declared[value]
                elif isinstance(value, str) and value.startswith("{workspace}"):
                    spec[key] = platform.workspace_id.apply(lambda w, v=value: v.replace("{workspace}", w))
            build = settings.workspace.image_build_compute
            if build and build in compute_ids:
                # a private registry: Azure ML builds the deployment's image on this cluster
                spec["waits_for"] = [compute_ids[build]]

        online: Dict[str, pulumi.Output[str]] = {}
        for i, ep in enumerate(settings.online_endpoints):
            args = serving_map.online_endpoint_args(settings, i, "{workspace}")
            for spec in args["deployments"]:
                resolved(spec, ["model", "environment_id", "code_id"])
            if ep.kind == "kubernetes":
                args["compute_id"] = compute_ids[ep.compute or ""]
            # telemetry with Entra ID: the endpoint's identity publishes to the workspace's App Insights
            args.update(app_insights_id=platform.app_insights_id, subscription_id=subscription_id)
            online[ep.name] = OnlineEndpoint(f"online-{ep.name.lower()}",
                                             {**ws, "location": settings.location, **args}, opts=self._child()).id
        batch: Dict[str, pulumi.Output[str]] = {}
        for i, ep in enumerate(settings.batch_endpoints):
            args = serving_map.batch_endpoint_args(settings, i, "{workspace}")
            for spec in args["deployments"]:
                resolved(spec, ["model", "environment_id", "code_id", "component_id"])
                cluster = spec.pop("compute_name")
                spec["compute_id"] = compute_ids[cluster]
                if self._cluster_roles.get(cluster):
                    spec["identity_roles"] = list(self._cluster_roles[cluster])
            batch[ep.name] = BatchEndpoint(f"batch-{ep.name.lower()}", {**ws, "location": settings.location, **args},
                                           opts=self._child()).id
        out: Dict[str, Dict[str, pulumi.Output[str]]] = {
            "datastore_ids": datastores, "online_endpoint_ids": online, "batch_endpoint_ids": batch}
        if data:
            out["data_asset_ids"] = data
        return out


__all__ = ["MLPlatform", "MLPlatformArgs", "validate"]
