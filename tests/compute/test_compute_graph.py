"""The recorded graph of compute: secure defaults, exact dependency edges, the lazy registry,
attach modes, environments and idempotency."""

import base64
import json

import pytest

from amlplatform.errors import UserError
from amlplatform.offline.engine import UNKNOWN, evaluate_stack

COMPUTE = "azure-native:machinelearningservices:Compute"
AKS = "azure-native:containerservice:ManagedCluster"
EXT = "azure-native:kubernetesconfiguration:Extension"
ROLE = "azure-native:authorization:RoleAssignment"
MLW = "azure-native:machinelearningservices:Workspace"
ACR = "azure-native:containerregistry:Registry"
RG = "azure-native:resources:ResourceGroup"
LAW = "azure-native:operationalinsights:Workspace"
ENVC = "azure-native:machinelearningservices:EnvironmentContainer"
ENVV = "azure-native:machinelearningservices:EnvironmentVersion"
ITYPE = "kubernetes:amlarc.azureml.com/v1alpha1:InstanceType"
NS = "kubernetes:core/v1:Namespace"
K8S_PROVIDER = "pulumi:providers:kubernetes"

BASE = {"amlplatform:location": "westeurope",
        "amlplatform:naming": {"workload": "fraud", "environment": "tst"},
        "amlplatform:workspace": {"public_network_access": "Enabled", "managed_network": "Disabled"}}
USER = "3f1c9a52-6d7e-4b8f-a012-5c6d7e8f9a0b"
AKS_ID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-shared"
          "/providers/Microsoft.ContainerService/managedClusters/aks-shared")
SUBNET = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-net/providers"
          "/Microsoft.Network/virtualNetworks/vnet/subnets/ml")


def dep_types(graph, res):
    by_urn = graph.by_urn()
    return sorted({by_urn[u].type for u in graph.resource_dependencies(res)})


def dep_names(graph, res):
    by_urn = graph.by_urn()
    return sorted(by_urn[u].name for u in graph.resource_dependencies(res))


def computes(graph, kind):
    return [r for r in graph.of_type(COMPUTE) if r.inputs["properties"]["computeType"] == kind]


@pytest.fixture(scope="module")
def attached_graph(tmp_path_factory):
    """An existing cluster, its kubeconfig a secret in the stack file, attach skipped."""
    import shutil

    from conftest import ROOT

    project = tmp_path_factory.mktemp("attached") / "project"
    (project / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copytree(ROOT / "infra", project / "infra")
    (project / "stacks" / "Pulumi.att.yaml").write_text(
        "config:\n"
        "  amlplatform:location: westeurope\n"
        "  amlplatform:naming: {workload: fraud, environment: att}\n"
        "  amlplatform:workspace: {public_network_access: Enabled}\n"
        "  amlplatform:kubernetes:\n"
        "    - name: shared\n"
        f"      existing_id: {AKS_ID}\n"
        "      attach: false\n"
        "      instance_types: [{name: small}]\n"
        "      kubeconfig:\n"
        "        secure: v1:AAAABBBBCCCC\n"
        "      extension:\n"
        "        ssl_cname: scoring.shared.internal\n"
        "        ssl_cert_pem:\n"
        "          secure: v1:CERTCERTCERT\n"
        "        ssl_key_pem:\n"
        "          secure: v1:KEYKEYKEYKEY\n")
    return evaluate_stack("att", project_dir=project)


# ---------------------------------------------------------------------------- clusters, instances

def test_prod_clusters_have_secure_defaults(stack_graph):
    clusters = computes(stack_graph("prod"), "AmlCompute")
    assert sorted(c.inputs["computeName"] for c in clusters) == ["cpu", "gpu"]
    for c in clusters:
        props = c.inputs["properties"]
        assert props["disableLocalAuth"] is True
        assert c.inputs["identity"] == {"type": "SystemAssigned"}
        inner = props["properties"]
        assert inner["scaleSettings"]["minNodeCount"] == 0
        assert inner["remoteLoginPortPublicAccess"] == "Disabled"
        assert inner["vmPriority"] == "Dedicated"
        # prod's workspace has a managed network: no public IPs on nodes
        assert inner["enableNodePublicIp"] is False
    idle = {c.inputs["computeName"]: c.inputs["properties"]["properties"]["scaleSettings"]
            ["nodeIdleTimeBeforeScaleDown"] for c in clusters}
    assert idle == {"cpu": "PT120S", "gpu": "PT600S"}


def test_dev_has_a_cluster_scaling_to_zero_and_one_personal_instance(stack_graph):
    g = stack_graph("dev")
    (cluster,) = computes(g, "AmlCompute")
    assert cluster.inputs["properties"]["properties"]["scaleSettings"]["minNodeCount"] == 0
    (instance,) = computes(g, "ComputeInstance")
    props = instance.inputs["properties"]
    assert props["disableLocalAuth"] is True
    inner = props["properties"]
    assert inner["idleTimeBeforeShutdown"] == "PT30M"
    assert inner["sshSettings"] == {"sshPublicAccess": "Disabled"}
    assert inner["computeInstanceAuthorizationType"] == "personal"
    assigned = inner["personalComputeInstanceSettings"]["assignedUser"]
    assert assigned["objectId"] == USER and len(assigned["tenantId"]) == 36
    assert inner["schedules"]["computeStartStop"][0]["action"] == "Stop"
    assert g.of_type(AKS) == [] and g.of_type(ACR) == []


def test_computes_wait_only_for_the_workspace(shipped_graph):
    for c in computes(shipped_graph, "AmlCompute") + computes(shipped_graph, "ComputeInstance"):
        assert dep_types(shipped_graph, c) == [MLW, RG], c.name


def test_cluster_and_instance_defaults_in_a_small_stack(make_stack, tmp_path):
    project = make_stack({
        **BASE,
        "amlplatform:clusters": [{"name": "cpu"}, {"name": "low", "priority": "LowPriority", "subnet_id": SUBNET}],
        "amlplatform:instances": {"users": [{"object_id": USER}],
                                  "setup_script": {"path": "setup/ci.sh", "when": "startup"}},
    })
    (project / "setup").mkdir()
    (project / "setup" / "ci.sh").write_text("#!/bin/bash\necho ready\n")
    g = evaluate_stack("fixture", project_dir=project)
    by_name = {c.inputs["computeName"]: c.inputs["properties"]["properties"] for c in computes(g, "AmlCompute")}
    # no managed network and no subnet: nodes need a public IP to reach storage
    assert by_name["cpu"]["enableNodePublicIp"] is True
    assert by_name["cpu"]["scaleSettings"] == {"minNodeCount": 0, "maxNodeCount": 4,
                                               "nodeIdleTimeBeforeScaleDown": "PT120S"}
    assert by_name["low"]["enableNodePublicIp"] is False and by_name["low"]["subnet"] == {"id": SUBNET}
    assert by_name["low"]["vmPriority"] == "LowPriority"
    (instance,) = computes(g, "ComputeInstance")
    inner = instance.inputs["properties"]["properties"]
    assert inner["idleTimeBeforeShutdown"] == "PT60M"
    script = inner["setupScripts"]["scripts"]["startupScript"]
    assert script["scriptSource"] == "inline"
    assert base64.b64decode(script["scriptData"]).decode() == "#!/bin/bash\necho ready\n"
    assert g.of_type(ACR) == []  # clusters and instances need no registry
    assert sorted(g.outputs["compute_ids"]) == ["cpu", "low"]


def test_missing_project_files_are_one_user_error(make_stack):
    project = make_stack({
        **BASE,
        "amlplatform:instances": {"users": [{"object_id": USER}], "setup_script": {"path": "nope.sh"}},
        "amlplatform:environments": [{"name": "built", "conda_file": "env/conda.yml"}],
    })
    with pytest.raises(UserError) as err:
        evaluate_stack("fixture", project_dir=project)
    text = str(err.value)
    assert "environments[0].conda_file: no file 'env/conda.yml'" in text
    assert "instances.setup_script.path: no file 'nope.sh'" in text


# ---------------------------------------------------------------------------- Kubernetes

def test_prod_aks_has_secure_defaults(stack_graph):
    g = stack_graph("prod")
    aks = g.one(AKS).inputs
    # a user-assigned control-plane identity: it holds its roles on the API server's zone and the
    # subnet before the cluster exists (a zone of one's own needs it: aks/private-clusters)
    identity = g.named("k8s-inference-identity")
    assert aks["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity.id]}
    assert aks["enableRBAC"] is True
    assert aks["aadProfile"]["managed"] is True and aks["aadProfile"]["enableAzureRBAC"] is True
    # Azure ML does not support AKS without local accounts (how-to-deploy-kubernetes-extension, Limitations)
    assert aks["disableLocalAccounts"] is False
    # the API server's name resolves in the platform's zone, linked to the VNet and the deployer's networks
    zone = g.named("network-zone-privatelink-westeurope-azmk8s-io")
    assert aks["apiServerAccessProfile"] == {"enablePrivateCluster": True, "privateDNSZone": zone.id,
                                             "enablePrivateClusterPublicFQDN": False}
    # egress through the stack's own firewall: its route table on the nodes' subnet, there before the cluster
    assert aks["networkProfile"]["outboundType"] == "userDefinedRouting"
    subnet = g.named("network-subnet-aks")
    assert subnet.inputs["routeTable"]["id"] == g.named("network-route-table").id
    assert subnet.urn in g.resource_dependencies(g.one(AKS))
    assert aks["autoUpgradeProfile"]["upgradeChannel"] == "stable"
    assert aks["networkProfile"]["networkPolicy"] == "cilium"
    addons = aks["addonProfiles"]
    assert addons["azurepolicy"] == {"enabled": True}
    assert addons["azureKeyvaultSecretsProvider"]["config"]["enableSecretRotation"] == "true"
    assert addons["omsagent"]["config"]["logAnalyticsWorkspaceResourceID"] == stack_graph("prod").one(LAW).id
    assert "kubeDashboard" not in addons  # gone from current API versions
    assert aks["securityProfile"]["defender"]["securityMonitoring"] == {"enabled": True}
    system, inference = aks["agentPoolProfiles"]
    assert system["mode"] == "System" and "CriticalAddonsOnly=true:NoSchedule" in system["nodeTaints"]
    assert inference["mode"] == "User" and inference["nodeLabels"] == {"amlplatform.io/pool": "inference"}
    assert inference["nodeTaints"] == ["ml.azure.com/amlarc=true:NoSchedule"]
    for pool in (system, inference):
        assert pool["enableAutoScaling"] and pool["enableNodePublicIP"] is False
        assert pool["osDiskType"] == "Ephemeral" and pool["enableEncryptionAtHost"] is True
        assert pool["maxPods"] >= 50


CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
INLINE_TLS = {"ssl_cert_pem": CERT, "ssl_key_pem": KEY, "ssl_cname": "scoring.example.com"}


def test_trusted_access_binds_the_workspace_to_the_cluster(make_stack):
    project = make_stack({**BASE, "amlplatform:kubernetes": [{
        "name": "inference", "api_server_access": "public", "trusted_access": True, "extension": INLINE_TLS}]})
    g = evaluate_stack("fixture", project_dir=project)
    binding = g.named("k8s-inference-trusted-access")
    assert binding.inputs["sourceResourceId"] == g.one(MLW).id
    assert binding.inputs["roles"] == ["Microsoft.MachineLearningServices/workspaces/mlworkload"]
    assert binding.inputs["resourceName"] == g.one(AKS).inputs["resourceName"]
    assert dep_names(g, binding) == ["k8s-inference-aks", "ml-workspace-workspace", "resource-group"]


def test_default_cluster_keeps_local_accounts_for_the_extension(make_stack):
    project = make_stack({**BASE, "amlplatform:kubernetes": [{"name": "serve", "api_server_access": "public", "extension": INLINE_TLS}]})
    g = evaluate_stack("fixture", project_dir=project)
    aks = g.one(AKS).inputs
    assert aks["disableLocalAccounts"] is False
    assert aks["aadProfile"]["managed"] is True and aks["aadProfile"]["enableAzureRBAC"] is True
    assert aks["autoUpgradeProfile"]["upgradeChannel"] == "stable"
    assert aks["networkProfile"]["networkPolicy"] == "azure"
    assert aks["sku"] == {"name": "Base", "tier": "Standard"}
    assert [p["mode"] for p in aks["agentPoolProfiles"]] == ["System", "User"]
    assert "defender" not in aks["securityProfile"]
    assert not [r for r in g.resources if r.name.endswith("trusted-access")]
    ext = g.one(EXT).inputs["configurationSettings"]
    assert ext["inferenceRouterHA"] == "True" and ext["internalLoadBalancerProvider"] == "azure"
    # the chart makes the router's service internal from this key, not from the provider name
    assert ext["scoringFe.serviceType.internalLoadBalancer"] == "true"
    assert ext["enableTraining"] == "False"
    assert ext["sslCname"] == "scoring.example.com" and "scoringFe.sslSecret" not in ext
    # the certificate goes as protected settings (a secret), never in the plain settings
    assert CERT not in json.dumps(g.one(EXT).inputs)
    assert g.one(EXT).inputs["configurationProtectedSettings"] == {"scoringFe.sslCert": "[secret]", "scoringFe.sslKey": "[secret]"}
    assert g.one(NS).inputs["metadata"]["name"] == "azureml-endpoints"
    assert g.of_type(ITYPE) == []  # no instance types declared: the service's default one only
    assert len(g.of_type(ACR)) == 1


def test_prod_extension_and_attach(stack_graph):
    g = stack_graph("prod")
    ext = g.one(EXT).inputs
    assert ext["extensionType"] == "microsoft.azureml.kubernetes"
    assert ext["releaseTrain"] == "stable"
    assert ext["scope"] == {"cluster": {"releaseNamespace": "azureml"}}
    settings = ext["configurationSettings"]
    assert settings["enableInference"] == "True" and settings["inferenceRouterHA"] == "True"
    assert settings["inferenceRouterServiceType"] == "LoadBalancer"
    # what Microsoft's template (AML-Kubernetes deployextension.json) sends for an AKS cluster
    assert settings["scoringFe.serviceType.internalLoadBalancer"] == "true"
    assert settings["servicebus.enabled"] == "false" and settings["relayserver.enabled"] == "false"
    assert settings["domain"] == "westeurope.cloudapp.azure.com"
    assert settings["prometheus.prometheusSpec.externalLabels.cluster_name"] == g.one(AKS).id
    # HTTPS scoring with the certificate from the stack's secret config keys, sent as protected
    # settings in the same run (no Kubernetes secret made by hand)
    assert settings["allowInsecureConnections"] == "False"
    assert "scoringFe.sslSecret" not in settings
    assert settings["sslCname"] == "scoring.fraud.internal"
    assert ext["configurationProtectedSettings"] == {"scoringFe.sslCert": "[secret]", "scoringFe.sslKey": "[secret]"}
    (attach,) = computes(g, "Kubernetes")
    props = attach.inputs["properties"]
    assert props["resourceId"] == g.one(AKS).id
    assert props["properties"]["namespace"] == "azureml-endpoints"
    assert sorted(props["properties"]["instanceTypes"]) == ["cpu-large", "cpu-small"]
    assert g.outputs["compute_ids"]["inference"] == attach.id
    types = g.of_type(ITYPE)
    assert sorted(t.inputs["metadata"]["name"] for t in types) == ["cpu-large", "cpu-small"]
    for t in types:
        assert t.inputs["apiVersion"] == "amlarc.azureml.com/v1alpha1" and t.inputs["kind"] == "InstanceType"
        assert t.inputs["spec"] == props["properties"]["instanceTypes"][t.inputs["metadata"]["name"]]


def test_kubernetes_edges(stack_graph):
    """AKS does not wait for the workspace; extension after AKS; attach after extension and
    workspace; instance types after the attach."""
    g = stack_graph("prod")
    aks, ext = g.one(AKS), g.one(EXT)
    (attach,) = computes(g, "Kubernetes")
    reader = g.named("k8s-inference-workspace-reader")
    # Log Analytics only because prod turns Defender on
    # nodes in the stack's subnet; the control-plane identity's roles on the subnet and the API zone first
    assert dep_names(g, aks) == ["k8s-inference-api-zone-contributor", "k8s-inference-identity",
                                 "k8s-inference-subnet-network-contributor", "ml-monitoring-logs", "network-subnet-aks",
                                 "network-zone-privatelink-westeurope-azmk8s-io", "resource-group"]
    # the deployer's roles propagate (Azure RBAC: up to five minutes) while the extension installs
    deployer_roles = ["k8s-inference-deployer-instance-types", "k8s-inference-deployer-namespace-admin",
                      "k8s-inference-deployer-router-reader"]
    assert dep_names(g, ext) == sorted(["k8s-inference-aks", "k8s-inference-subnet-network-contributor",
                                        "resource-group", *deployer_roles])
    assert dep_types(g, reader) == [AKS, MLW]
    # the attach names the endpoints' namespace, which must exist first
    # ... and, the workspace being private, for its private endpoint and DNS records: the
    # extension in the cluster reaches the workspace only through them
    assert dep_names(g, attach) == sorted(["k8s-inference-aks", "k8s-inference-extension",
                                           "k8s-inference-namespace",
                                           "ml-workspace-pe-amlworkspace-dns", "ml-workspace-pe-amlworkspace-endpoint",
                                           "k8s-inference-workspace-reader",
                                           "ml-workspace-workspace", "resource-group"])
    provider = g.one(K8S_PROVIDER)
    assert dep_types(g, provider) == [AKS, RG]
    # the deployer's roles exist, and had the extension's install time to propagate, before any Kubernetes object
    for t in g.of_type(ITYPE):
        assert dep_names(g, t) == sorted(["k8s-inference-attach", *deployer_roles])
        assert t.provider.split("::")[-1].startswith(provider.urn.split("::")[-1])
    assert dep_names(g, g.one(NS)) == sorted(["k8s-inference-extension", *deployer_roles])


def test_insecure_scoring_sends_no_certificate_and_node_port_no_load_balancer(make_stack):
    project = make_stack({**BASE, "amlplatform:kubernetes": [{"name": "serve", "api_server_access": "public", "extension": {
        "allow_insecure_connections": True, "inference_router_service_type": "NodePort"}}]})
    g = evaluate_stack("fixture", project_dir=project)
    ext = g.one(EXT).inputs
    settings = ext["configurationSettings"]
    assert settings["allowInsecureConnections"] == "True"
    assert settings["scoringFe.serviceType.nodePort"] == "true"
    assert not {"internalLoadBalancerProvider", "scoringFe.serviceType.internalLoadBalancer", "sslCname",
                "scoringFe.sslSecret"} & set(settings)
    assert "configurationProtectedSettings" not in ext


def test_aks_dns_prefix_is_derived_from_the_name(make_stack):
    name = "aks_fraud_" + "x" * 44 + "-tail"  # 59 characters with '_': not a valid DNS prefix
    project = make_stack({**BASE, "amlplatform:kubernetes": [
        {"name": "serve", "api_server_access": "public", "aks_name": name, "extension": INLINE_TLS}]})
    aks = evaluate_stack("fixture", project_dir=project).one(AKS).inputs
    assert aks["resourceName"] == name
    assert aks["dnsPrefix"] == ("aks-fraud-" + "x" * 44)[:54]


def test_prod_aks_api_server_is_private(stack_graph):
    # the deployer resolves the API server through the platform's zone (linked to the VNet and the
    # deployer's networks), not AKS's "system" zone, which only the cluster's VNet resolves
    g = stack_graph("prod")
    aks = g.one(AKS).inputs
    assert aks["apiServerAccessProfile"]["privateDNSZone"] == g.named("network-zone-privatelink-westeurope-azmk8s-io").id
    assert aks["dnsPrefix"] == aks["resourceName"]  # a shipped name is its own prefix: no replacement


def test_workspace_reader_role_on_the_cluster(stack_graph):
    g = stack_graph("prod")
    reader = g.named("k8s-inference-workspace-reader").inputs
    assert reader["scope"] == g.one(AKS).id
    assert reader["roleDefinitionId"].endswith("/acdd72a7-3385-48ef-bd42-f606fba81ae7")
    # the workspace's principal id (and the GUID derived from it) exist once Azure made the identity
    assert reader["principalId"] == g.outputs["workspace_principal_id"] == UNKNOWN
    assert g.one(MLW).urn in g.named("k8s-inference-workspace-reader").property_dependencies["principalId"]
    assert reader["principalType"] == "ServicePrincipal" and reader["roleAssignmentName"] == UNKNOWN


def test_registry_follows_what_needs_images(stack_graph, make_stack):
    assert len(stack_graph("prod").of_type(ACR)) == 1
    assert len(stack_graph("staging").of_type(ACR)) == 1
    assert stack_graph("dev").of_type(ACR) == []
    ws = stack_graph("prod").one(MLW)
    assert ACR in dep_types(stack_graph("prod"), ws)


def test_attached_cluster_with_secret_kubeconfig_and_attach_skipped(attached_graph):
    g = attached_graph
    assert g.of_type(AKS) == [] and computes(g, "Kubernetes") == []
    ext = g.one(EXT)
    assert ext.inputs["clusterName"] == "aks-shared" and ext.inputs["resourceGroupName"] == "rg-shared"
    assert g.one(K8S_PROVIDER).inputs["kubeconfig"] == "[secret]"
    # the certificate from stack secrets: protected settings, a secret in the state
    assert ext.inputs["configurationProtectedSettings"] == {"scoringFe.sslCert": "[secret]", "scoringFe.sslKey": "[secret]"}
    # Pulumi keeps secrets per key: amlplatform:kubernetes holds a secret, so every input made from
    # its values is a secret too (settings/pulumi_yaml.py, program.mark_secrets)
    assert ext.inputs["configurationSettings"]["sslCname"] == "[secret]"
    assert ext.inputs["configurationSettings"]["location"] == "westeurope"  # only what holds it
    (t,) = g.of_type(ITYPE)
    # no attach declared: the CRD still comes from the extension
    assert dep_names(g, t) == ["k8s-shared-extension"]
    assert g.named("k8s-shared-workspace-reader").inputs["scope"] == "[secret]"  # AKS_ID, from the secret key
    # the compute id is still exported (it was attached on an earlier deploy)
    ws_id = g.one(MLW).id
    assert g.outputs["compute_ids"] == {"shared": ws_id + "/computes/shared"}
    assert len(g.of_type(ACR)) == 1  # Kubernetes inference needs images


# ---------------------------------------------------------------------------- environments

def test_environment_from_an_image(stack_graph):
    g = stack_graph("prod")
    container, version = g.one(ENVC), g.one(ENVV)
    assert container.inputs["name"] == version.inputs["name"] == "fraud-scoring"
    assert version.inputs["version"] == "1"
    assert version.inputs["properties"]["image"].startswith("mcr.microsoft.com/azureml/")
    assert "condaFile" not in version.inputs["properties"]
    assert dep_types(g, container) == [MLW, RG]
    assert dep_types(g, version) == [ENVC, MLW, RG]


def test_conda_environment_builds_on_a_base_image_and_creates_the_registry(make_stack):
    project = make_stack({**BASE, "amlplatform:environments": [
        {"name": "train", "version": "3", "conda_file": "env/conda.yml"}]})
    (project / "env").mkdir()
    conda = "name: train\ndependencies:\n  - python=3.11\n"
    (project / "env" / "conda.yml").write_text(conda)
    g = evaluate_stack("fixture", project_dir=project)
    props = g.one(ENVV).inputs["properties"]
    assert props["condaFile"] == conda
    assert props["image"] == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    assert len(g.of_type(ACR)) == 1


def test_image_environment_alone_needs_no_registry(make_stack):
    project = make_stack({**BASE, "amlplatform:environments": [
        {"name": "ready", "image": "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:latest"}]})
    g = evaluate_stack("fixture", project_dir=project)
    assert g.of_type(ACR) == [] and len(g.of_type(ENVV)) == 1


# ---------------------------------------------------------------------------- stability

def test_evaluating_twice_gives_identical_inputs(stack_graph, project_root):
    first = stack_graph("prod")
    again = evaluate_stack("prod", project_dir=project_root)

    def snapshot(g):
        return json.dumps([(r.urn, r.inputs, r.dependencies, r.provider) for r in g.resources], sort_keys=True)

    assert snapshot(again) == snapshot(first)
    assert again.outputs["compute_ids"] == first.outputs["compute_ids"]


def test_lazy_registry_and_attach_are_retained_on_delete(project_root, monkeypatch):
    """Registry mode auto: removing the last thing that needs images must not delete the images."""
    from amlplatform.offline import engine

    retained = {}
    register = engine.RecordingMonitor.RegisterResource

    def record(self, request):
        retained[request.name] = request.retainOnDelete
        return register(self, request)

    monkeypatch.setattr(engine.RecordingMonitor, "RegisterResource", record)
    evaluate_stack("staging", project_dir=project_root)
    # the attach too: setting attach false must make Pulumi forget it, never detach it
    assert sorted(name for name, keep in retained.items() if keep) == ["k8s-inference-attach",
                                                                        "ml-registry-registry"]


def test_compute_instances_are_replaced_never_updated(project_root, monkeypatch):
    """The service refuses an in-place update of an instance: Pulumi must replace it, deleting the
    old one first (its name is fixed)."""
    from amlplatform.offline import engine

    seen = {}
    register = engine.RecordingMonitor.RegisterResource

    def record(self, request):
        seen[request.name] = (list(request.replaceOnChanges), bool(request.deleteBeforeReplace))
        return register(self, request)

    monkeypatch.setattr(engine.RecordingMonitor, "RegisterResource", record)
    g = evaluate_stack("dev", project_dir=project_root)
    (instance,) = computes(g, "ComputeInstance")
    assert seen[instance.name] == (["properties"], True)
    (cluster,) = computes(g, "AmlCompute")
    # a cluster's VM size, priority, subnet (and type, OS) are create-only; its scale settings update
    # in place, so they are not among the replacement paths
    replace, delete_first = seen[cluster.name]
    assert {"properties.properties.vmSize", "properties.properties.vmPriority",
            "properties.properties.subnet"} <= set(replace) and delete_first
    assert not any(p.startswith("properties.properties.scaleSettings") or p == "properties.properties"
                   for p in replace)


def test_app_insights_retention_comes_from_log_analytics(stack_graph):
    g = stack_graph("prod")
    assert g.one(LAW).inputs["retentionInDays"] == 90
    insights = g.one("azure-native:applicationinsights:Component").inputs
    assert "retentionInDays" not in insights  # 90 is not even a value App Insights accepts alone
    assert insights["workspaceResourceId"] == g.one(LAW).id


def test_exec_kubeconfig_is_converted_to_a_non_interactive_login(project_root, monkeypatch, make_stack):
    """prod has no local accounts: its exec kubeconfig would ask for a device code (blocking CI)."""
    from amlplatform.iac.kubernetes import aks as kubernetes

    calls = []
    convert = kubernetes.kubeconfig_with_login

    def record(text, mode="azurecli"):
        out = convert(text, mode)
        calls.append((mode, out))
        return out

    monkeypatch.setattr(kubernetes, "kubeconfig_with_login", record)
    evaluate_stack("prod", project_dir=project_root)
    assert [mode for mode, _ in calls] == ["azurecli"]
    assert "devicecode" not in calls[0][1]

    # a pipeline with workload identity says so in the stack
    import yaml
    config = yaml.safe_load((project_root / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    config["amlplatform:kubernetes"][0]["kubelogin_mode"] = "workloadidentity"
    project = make_stack(config, name="wi")
    calls.clear()
    evaluate_stack("wi", project_dir=project)
    assert [mode for mode, _ in calls] == ["workloadidentity"]  # the rewrite itself: test_compute_rules


def test_kubernetes_compute_identity_pulls_images_and_reads_data(stack_graph):
    """The Kubernetes compute's identity: AcrPull on the private registry (admin user off), blob data on
    the storage (shared keys off) and, prod being HBI, Storage Account Contributor
    (how-to-attach-kubernetes-to-workspace; how-to-secure-kubernetes-inferencing-environment)."""
    from amlplatform.azure.roles import ROLES

    g = stack_graph("prod")
    (attach,) = computes(g, "Kubernetes")
    granted = {}
    for ra in g.of_type("azure-native:authorization:RoleAssignment"):
        if ra.name.startswith("k8s-inference-access-"):
            assert attach.urn in ra.property_dependencies["principalId"]
            granted[ra.inputs["roleDefinitionId"].rsplit("/", 1)[-1]] = ra.inputs["scope"]
    assert granted == {ROLES["AcrPull"]: g.one(ACR).id,
                       ROLES["Storage Blob Data Contributor"]: g.one("azure-native:storage:StorageAccount").id,
                       ROLES["Storage Account Contributor"]: g.one("azure-native:storage:StorageAccount").id}


def test_container_insights_has_its_data_collection_rule(stack_graph):
    """omsagent with useAADAuth collects through a DCR associated with the cluster
    (azure-monitor/containers/kubernetes-monitoring-enable, ARM template)."""
    g = stack_graph("prod")
    aks = g.one(AKS)
    assert aks.inputs["addonProfiles"]["omsagent"]["config"]["useAADAuth"] == "true"
    dcr = g.one("azure-native:monitor:DataCollectionRule").inputs
    (ext,) = dcr["dataSources"]["extensions"]
    assert ext["extensionName"] == "ContainerInsights" and ext["streams"] == ["Microsoft-ContainerInsights-Group-Default"]
    assert dcr["destinations"]["logAnalytics"] == [{"name": "ciworkspace", "workspaceResourceId": g.one(LAW).id}]
    assert dcr["dataFlows"] == [{"streams": ["Microsoft-ContainerInsights-Group-Default"], "destinations": ["ciworkspace"]}]
    dcra = g.one("azure-native:monitor:DataCollectionRuleAssociation")
    assert dcra.inputs["resourceUri"] == aks.id and dcra.inputs["associationName"] == "ContainerInsightsExtension"
    assert dcra.inputs["dataCollectionRuleId"] == g.one("azure-native:monitor:DataCollectionRule").id


def test_scoring_name_resolves_to_the_router(stack_graph):
    g = stack_graph("prod")
    record = g.named("k8s-inference-scoring-record")
    assert record.inputs["privateZoneName"] == "fraud.internal" and record.inputs["relativeRecordSetName"] == "scoring"
    assert record.inputs["recordType"] == "A"
    # the router's address is Azure's to give: known after deploy, read from the azureml-fe service
    assert record.inputs["aRecords"] == [{"ipv4Address": UNKNOWN}]
    zone = g.named("network-zone-fraud-internal")
    assert zone.urn in g.resource_dependencies(record)
    assert g.named("network-zone-fraud-internal-link").inputs["virtualNetwork"]["id"] == g.one(
        "azure-native:network:VirtualNetwork").id


def test_record_name_of_the_scoring_name():
    from amlplatform.iac.kubernetes.target import record_name

    assert record_name("scoring.fraud.internal", "fraud.internal") == "scoring"
    assert record_name("a.b.fraud.internal", "fraud.internal") == "a.b"
    assert record_name("fraud.internal", "fraud.internal") == "@"
    with pytest.raises(ValueError, match="not a name in the zone"):
        record_name("scoring.other.internal", "fraud.internal")


def test_scoring_certificate_from_secret_config_keys(make_stack):
    config = {**BASE, "amlplatform:kubernetes": [{"name": "serve", "api_server_access": "public", "extension": {
        "ssl_cname": "scoring.example.com", "ssl_cert_config_key": "scoring:tls-cert",
        "ssl_key_config_key": "scoring:tls-key"}}],
        "scoring:tls-cert": {"secure": "v1:Y2VydA=="}, "scoring:tls-key": {"secure": "v1:a2V5"}}
    g = evaluate_stack("fixture", project_dir=make_stack(config))
    ext = g.one(EXT).inputs
    assert ext["configurationProtectedSettings"] == {"scoringFe.sslCert": "[secret]", "scoringFe.sslKey": "[secret]"}
    assert "scoringFe.sslSecret" not in ext["configurationSettings"]
    # a plain (not secret) config key is refused, naming the setting and never echoing the value
    plain = {**config, "scoring:tls-key": "-----BEGIN PRIVATE KEY-----plain"}
    with pytest.raises(UserError, match=r"kubernetes\[0\].extension.ssl_key_config_key: config key 'scoring:tls-key' "
                                        r"is not a secret") as err:
        evaluate_stack("plain", project_dir=make_stack(plain, name="plain"))
    assert "BEGIN PRIVATE KEY" not in str(err.value)


def test_cluster_spec_refuses_an_own_api_zone_without_a_user_assigned_identity():
    from amlplatform.iac.kubernetes.aks import api_server_profile

    assert api_server_profile("t", {"api_server_access": "private", "private_dns_zone_id": "/zones/z"})[
        "private_dns_zone"] == "/zones/z"
    assert api_server_profile("t", {"api_server_access": "private"})["private_dns_zone"] == "system"

    def declare():
        import pulumi

        from amlplatform.iac.kubernetes.aks import declare_cluster

        parent = pulumi.ComponentResource("test:index:Parent", "p")
        declare_cluster(parent, "t", {"aks_name": "aks-t", "api_server_access": "private",
                                      "private_dns_zone_id": "/zones/z", "system_pool": {"name": "system"},
                                      "inference_pool": {"name": "inference"}}, "rg", "westeurope", {})
    from amlplatform.offline.engine import evaluate

    with pytest.raises(Exception, match="private_dns_zone_id needs identity_id"):
        evaluate(declare, project="amlplatform", stack="t")
