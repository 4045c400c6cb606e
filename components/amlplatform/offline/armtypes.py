"""azure-native type tokens -> ARM resource types, id templates and REST API versions.

One table, used by the mock engine (to give each resource the id ARM would) and by the ARM
exporter. The API version is read from the azure-native class itself (each class states the REST
API version it uses), so upgrading the provider cannot leave a stale version here.
"""

import functools
import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Dict, Mapping, Optional

RG = "/subscriptions/{subscription}/resourceGroups/{resourceGroupName}"
GENERIC_RESOURCE = "azure-native:resources:Resource"


@dataclass(frozen=True)
class ArmType:
    token: str
    arm_type: str  # exact casing as ARM and scanners expect it
    id_template: str  # {inputName} placeholders, plus {subscription}

    @property
    def name_input(self) -> str:
        """The input that holds the resource's own (last) name segment."""
        return re.findall(r"\{(\w+)\}", self.id_template)[-1]

    def resource_id(self, inputs: Mapping[str, object], subscription: str) -> Optional[str]:
        values = {"subscription": subscription, **{k: v for k, v in inputs.items() if isinstance(v, str)}}
        try:
            return self.id_template.format(**values)
        except KeyError:
            return None

    @property
    def api_version(self) -> Optional[str]:
        return api_version(self.token)


def _t(token: str, arm_type: str, template: str) -> ArmType:
    return ArmType(token, arm_type, template)


TYPES: Dict[str, ArmType] = {t.token: t for t in (
    _t("azure-native:resources:ResourceGroup", "Microsoft.Resources/resourceGroups", RG),
    _t("azure-native:storage:StorageAccount", "Microsoft.Storage/storageAccounts",
       RG + "/providers/Microsoft.Storage/storageAccounts/{accountName}"),
    _t("azure-native:storage:BlobServiceProperties", "Microsoft.Storage/storageAccounts/blobServices",
       RG + "/providers/Microsoft.Storage/storageAccounts/{accountName}/blobServices/{blobServicesName}"),
    _t("azure-native:keyvault:Vault", "Microsoft.KeyVault/vaults",
       RG + "/providers/Microsoft.KeyVault/vaults/{vaultName}"),
    _t("azure-native:operationalinsights:Workspace", "Microsoft.OperationalInsights/workspaces",
       RG + "/providers/Microsoft.OperationalInsights/workspaces/{workspaceName}"),
    _t("azure-native:applicationinsights:Component", "Microsoft.Insights/components",
       RG + "/providers/Microsoft.Insights/components/{resourceName}"),
    _t("azure-native:containerregistry:Registry", "Microsoft.ContainerRegistry/registries",
       RG + "/providers/Microsoft.ContainerRegistry/registries/{registryName}"),
    _t("azure-native:machinelearningservices:Workspace", "Microsoft.MachineLearningServices/workspaces",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}"),
    _t("azure-native:machinelearningservices:Compute", "Microsoft.MachineLearningServices/workspaces/computes",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/computes/{computeName}"),
    _t("azure-native:machinelearningservices:EnvironmentContainer",
       "Microsoft.MachineLearningServices/workspaces/environments",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/environments/{name}"),
    _t("azure-native:machinelearningservices:EnvironmentVersion",
       "Microsoft.MachineLearningServices/workspaces/environments/versions",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/environments/{name}"
       "/versions/{version}"),
    _t("azure-native:containerservice:ManagedCluster", "Microsoft.ContainerService/managedClusters",
       RG + "/providers/Microsoft.ContainerService/managedClusters/{resourceName}"),
    _t("azure-native:containerservice:AgentPool", "Microsoft.ContainerService/managedClusters/agentPools",
       RG + "/providers/Microsoft.ContainerService/managedClusters/{resourceName}/agentPools/{agentPoolName}"),
    _t("azure-native:containerservice:TrustedAccessRoleBinding",
       "Microsoft.ContainerService/managedClusters/trustedAccessRoleBindings",
       RG + "/providers/Microsoft.ContainerService/managedClusters/{resourceName}"
       "/trustedAccessRoleBindings/{trustedAccessRoleBindingName}"),
    _t("azure-native:kubernetesconfiguration:Extension", "Microsoft.KubernetesConfiguration/extensions",
       RG + "/providers/{clusterRp}/{clusterResourceName}/{clusterName}"
       "/providers/Microsoft.KubernetesConfiguration/extensions/{extensionName}"),
    _t("azure-native:authorization:RoleAssignment", "Microsoft.Authorization/roleAssignments",
       "{scope}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}"),
    _t("azure-native:monitor:DiagnosticSetting", "Microsoft.Insights/diagnosticSettings",
       "{resourceUri}/providers/Microsoft.Insights/diagnosticSettings/{name}"),
    # network (amlplatform.iac.network.network, amlplatform.iac.network.privatelink)
    _t("azure-native:network:VirtualNetwork", "Microsoft.Network/virtualNetworks",
       RG + "/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}"),
    _t("azure-native:network:Subnet", "Microsoft.Network/virtualNetworks/subnets",
       RG + "/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}"),
    _t("azure-native:network:NetworkSecurityGroup", "Microsoft.Network/networkSecurityGroups",
       RG + "/providers/Microsoft.Network/networkSecurityGroups/{networkSecurityGroupName}"),
    _t("azure-native:network:PrivateEndpoint", "Microsoft.Network/privateEndpoints",
       RG + "/providers/Microsoft.Network/privateEndpoints/{privateEndpointName}"),
    _t("azure-native:network:PrivateDnsZoneGroup", "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
       RG + "/providers/Microsoft.Network/privateEndpoints/{privateEndpointName}"
       "/privateDnsZoneGroups/{privateDnsZoneGroupName}"),
    _t("azure-native:privatedns:PrivateZone", "Microsoft.Network/privateDnsZones",
       RG + "/providers/Microsoft.Network/privateDnsZones/{privateZoneName}"),
    _t("azure-native:privatedns:VirtualNetworkLink", "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
       RG + "/providers/Microsoft.Network/privateDnsZones/{privateZoneName}"
       "/virtualNetworkLinks/{virtualNetworkLinkName}"),
    _t("azure-native:keyvault:Key", "Microsoft.KeyVault/vaults/keys",
       RG + "/providers/Microsoft.KeyVault/vaults/{vaultName}/keys/{keyName}"),
    _t("azure-native:authorization:ManagementLockByScope", "Microsoft.Authorization/locks",
       "{scope}/providers/Microsoft.Authorization/locks/{lockName}"),
    # the egress firewall (amlplatform.iac.network.egress)
    _t("azure-native:network:PublicIPAddress", "Microsoft.Network/publicIPAddresses",
       RG + "/providers/Microsoft.Network/publicIPAddresses/{publicIpAddressName}"),
    _t("azure-native:network:FirewallPolicy", "Microsoft.Network/firewallPolicies",
       RG + "/providers/Microsoft.Network/firewallPolicies/{firewallPolicyName}"),
    _t("azure-native:network:FirewallPolicyRuleCollectionGroup", "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
       RG + "/providers/Microsoft.Network/firewallPolicies/{firewallPolicyName}/ruleCollectionGroups/{ruleCollectionGroupName}"),
    _t("azure-native:network:AzureFirewall", "Microsoft.Network/azureFirewalls",
       RG + "/providers/Microsoft.Network/azureFirewalls/{azureFirewallName}"),
    _t("azure-native:network:RouteTable", "Microsoft.Network/routeTables",
       RG + "/providers/Microsoft.Network/routeTables/{routeTableName}"),
    # virtual network flow logs (network.py)
    _t("azure-native:network:NetworkWatcher", "Microsoft.Network/networkWatchers",
       RG + "/providers/Microsoft.Network/networkWatchers/{networkWatcherName}"),
    _t("azure-native:network:FlowLog", "Microsoft.Network/networkWatchers/flowLogs",
       RG + "/providers/Microsoft.Network/networkWatchers/{networkWatcherName}/flowLogs/{flowLogName}"),
    # Azure Monitor Private Link Scope over Log Analytics and Application Insights (monitoring.py)
    _t("azure-native:monitor:PrivateLinkScope", "Microsoft.Insights/privateLinkScopes",
       RG + "/providers/Microsoft.Insights/privateLinkScopes/{scopeName}"),
    _t("azure-native:monitor:PrivateLinkScopedResource", "Microsoft.Insights/privateLinkScopes/scopedResources",
       RG + "/providers/Microsoft.Insights/privateLinkScopes/{scopeName}/scopedResources/{name}"),
    # datastores and serving (datastores.py, endpoints.py)
    _t("azure-native:storage:BlobContainer", "Microsoft.Storage/storageAccounts/blobServices/containers",
       RG + "/providers/Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{containerName}"),
    _t("azure-native:storage:FileShare", "Microsoft.Storage/storageAccounts/fileServices/shares",
       RG + "/providers/Microsoft.Storage/storageAccounts/{accountName}/fileServices/default/shares/{shareName}"),
    _t("azure-native:machinelearningservices:Datastore", "Microsoft.MachineLearningServices/workspaces/datastores",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/datastores/{name}"),
    _t("azure-native:machinelearningservices:OnlineEndpoint",
       "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/onlineEndpoints/{endpointName}"),
    _t("azure-native:machinelearningservices:OnlineDeployment",
       "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/onlineEndpoints/{endpointName}"
       "/deployments/{deploymentName}"),
    _t("azure-native:machinelearningservices:BatchEndpoint",
       "Microsoft.MachineLearningServices/workspaces/batchEndpoints",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/batchEndpoints/{endpointName}"),
    _t("azure-native:machinelearningservices:BatchDeployment",
       "Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/batchEndpoints/{endpointName}"
       "/deployments/{deploymentName}"),
    # asset versions the deployments use (serving/assets.py, data/assets.py)
    _t("azure-native:machinelearningservices:ModelContainer", "Microsoft.MachineLearningServices/workspaces/models",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/models/{name}"),
    _t("azure-native:machinelearningservices:ModelVersion", "Microsoft.MachineLearningServices/workspaces/models/versions",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/models/{name}/versions/{version}"),
    _t("azure-native:machinelearningservices:CodeContainer", "Microsoft.MachineLearningServices/workspaces/codes",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/codes/{name}"),
    _t("azure-native:machinelearningservices:CodeVersion", "Microsoft.MachineLearningServices/workspaces/codes/versions",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/codes/{name}/versions/{version}"),
    _t("azure-native:machinelearningservices:ComponentContainer", "Microsoft.MachineLearningServices/workspaces/components",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/components/{name}"),
    _t("azure-native:machinelearningservices:ComponentVersion", "Microsoft.MachineLearningServices/workspaces/components/versions",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/components/{name}/versions/{version}"),
    _t("azure-native:machinelearningservices:DataContainer", "Microsoft.MachineLearningServices/workspaces/data",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/data/{name}"),
    _t("azure-native:machinelearningservices:DataVersion", "Microsoft.MachineLearningServices/workspaces/data/versions",
       RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}/data/{name}/versions/{version}"),
    # a blob (the stack's asset uploads, data/assets.py): written through the storage data plane, not
    # ARM; azure-native gives it this id (provider/pkg/resources/customresources: blobPath). Not exported
    # to the ARM template (DATA_PLANE)
    _t("azure-native:storage:Blob", "Microsoft.Storage/storageAccounts/blobServices/containers/blobs",
       RG + "/providers/Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{containerName}"
       "/blobs/{blobName}"),
    # a generic resource: a second write of a resource declared under its own type (the endpoints'
    # traffic and default deployment); review/arm.py leaves it out of the template
    _t(GENERIC_RESOURCE, "(generic: {resourceProviderNamespace}/{parentResourcePath}/{resourceType})",
       RG + "/providers/{resourceProviderNamespace}/{parentResourcePath}/{resourceType}/{resourceName}"),
    # Kubernetes targets (amlplatform.iac.kubernetes): the deployer's custom role, the scoring
    # name's record, Container insights' data collection rule and its association
    _t("azure-native:authorization:RoleDefinition", "Microsoft.Authorization/roleDefinitions",
       "{scope}/providers/Microsoft.Authorization/roleDefinitions/{roleDefinitionId}"),
    _t("azure-native:privatedns:PrivateRecordSet", "Microsoft.Network/privateDnsZones/A",
       RG + "/providers/Microsoft.Network/privateDnsZones/{privateZoneName}/{recordType}/{relativeRecordSetName}"),
    _t("azure-native:monitor:DataCollectionRule", "Microsoft.Insights/dataCollectionRules",
       RG + "/providers/Microsoft.Insights/dataCollectionRules/{dataCollectionRuleName}"),
    _t("azure-native:monitor:DataCollectionRuleAssociation", "Microsoft.Insights/dataCollectionRuleAssociations",
       "{resourceUri}/providers/Microsoft.Insights/dataCollectionRuleAssociations/{associationName}"),
    _t("azure-native:managedidentity:UserAssignedIdentity",
       "Microsoft.ManagedIdentity/userAssignedIdentities",
       RG + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}"),
)}


# Types written through a data plane (no ARM resource): they have ids, but no place in an ARM template
DATA_PLANE = frozenset({"azure-native:storage:Blob"})


# What the offline plan shows for a value only Azure knows, and only once the resource exists
# (a principal id, an endpoint's URI): `pulumi preview` shows it as "output<string>".
UNKNOWN = "(known after deploy)"


def unknown_part(logical_name: str) -> str:
    """An id or name segment known only after deploy, for the resource named ``logical_name``
    (unique per resource, so ids and exported names stay apart)."""
    return f"{UNKNOWN.strip('()')}:{logical_name}"


def placeholders(arm: ArmType) -> "list[str]":
    """The inputs ``arm``'s id template names (besides the subscription)."""
    return [p for p in re.findall(r"\{(\w+)\}", arm.id_template) if p != "subscription"]


def lookup(token: str) -> Optional[ArmType]:
    return TYPES.get(token)


@functools.lru_cache(maxsize=None)
def api_version(token: str) -> Optional[str]:
    """The REST API version the installed azure-native class for ``token`` sends."""
    parts = token.split(":")
    if len(parts) != 3 or parts[0] != "azure-native":
        return None
    try:
        module = importlib.import_module(f"pulumi_azure_native.{parts[1]}")
        cls = getattr(module, parts[2])
        source = inspect.getsourcefile(cls)
    except (ImportError, AttributeError, TypeError):
        return None
    if not source:
        return None
    with open(source, encoding="utf-8") as fh:
        match = re.search(r"Uses Azure REST API version ([0-9a-z-]+)\.", fh.read())
    return match.group(1) if match else None
