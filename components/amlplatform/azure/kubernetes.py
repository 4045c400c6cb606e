"""Azure facts about AKS as a Kubernetes compute of Azure ML: what the Azure ML extension supports,
the private API server's DNS zone, the deployer's data-plane permissions, egress.

Pure: no Pulumi, no pydantic. Every fact names its source.
"""

from typing import Tuple

# "Disabling local accounts for AKS is not supported by Azure Machine Learning. When the AKS Cluster
# is deployed, local accounts are enabled by default." (learn.microsoft.com/azure/machine-learning/
# how-to-deploy-kubernetes-extension, "Limitations")
LOCAL_ACCOUNTS_DOC = "https://learn.microsoft.com/azure/machine-learning/how-to-deploy-kubernetes-extension#limitations"

# A private cluster's API server name resolves in a private DNS zone. With privateDNSZone "system"
# AKS creates it in the node resource group and links it to the cluster's VNet only; a zone of one's
# own (bring your own) is named privatelink.<region>.azmk8s.io (or <subzone>.privatelink.<region>.azmk8s.io)
# and needs a user-assigned control-plane identity holding Private DNS Zone Contributor on it (and
# Network Contributor on the nodes' subnet) before the cluster is created
# (learn.microsoft.com/azure/aks/private-clusters, "Configure a private DNS zone").
PRIVATE_CLUSTER_DOC = "https://learn.microsoft.com/azure/aks/private-clusters#configure-a-private-dns-zone"


def api_server_zone(region: str) -> str:
    """The private DNS zone of private AKS API servers in ``region`` (its name, e.g. westeurope)."""
    return f"privatelink.{region.lower().replace(' ', '')}.azmk8s.io"


# Azure RBAC for Kubernetes authorization: built-in roles apply at the cluster or at a namespace
# scope <clusterId>/namespaces/<namespace>; custom resources are reached through the data actions
# Microsoft.ContainerService/managedClusters/customresources/{read,write,delete}, which a role
# assignment condition can limit to one API group and kind (attributes
# Microsoft.ContainerService/managedClusters/customResources:group / :kind, condition version 2.0;
# learn.microsoft.com/azure/aks/entra-id-authorization, "Restrict custom resource access using ABAC
# conditions"). New role assignments take up to five minutes to propagate (same page,
# "Before you begin").
AKS_RBAC_DOC = "https://learn.microsoft.com/azure/aks/entra-id-authorization"
CUSTOM_RESOURCE_ACTIONS: Tuple[str, ...] = tuple(
    f"Microsoft.ContainerService/managedClusters/customresources/{verb}" for verb in ("read", "write", "delete"))
# The Azure ML extension's InstanceType custom resource (cluster-scoped, amlarc.azureml.com/v1alpha1;
# learn.microsoft.com/azure/machine-learning/how-to-manage-kubernetes-instance-types). The
# condition compares the resource (plural) name, as the authorization webhook sends it.
INSTANCE_TYPE_GROUP = "amlarc.azureml.com"
INSTANCE_TYPE_RESOURCE = "instancetypes"
# what the deployer's custom role holds on the whole cluster: namespaces (it creates the endpoints'
# namespace, a cluster-scoped object) and custom resources (limited by the condition below)
NAMESPACE_ACTIONS: Tuple[str, ...] = ("Microsoft.ContainerService/managedClusters/namespaces/read",
                                      "Microsoft.ContainerService/managedClusters/namespaces/write")
DEPLOYER_DATA_ACTIONS: Tuple[str, ...] = NAMESPACE_ACTIONS + CUSTOM_RESOURCE_ACTIONS


def instance_types_condition() -> str:
    """The ABAC condition that limits the custom-resource data actions to Azure ML instance types
    and lets the namespace actions through unchanged (condition version 2.0)."""
    not_custom = " AND ".join(f"!(ActionMatches{{'{a}'}})" for a in CUSTOM_RESOURCE_ACTIONS)
    return (f"(({not_custom}) OR "
            f"(@Request[Microsoft.ContainerService/managedClusters/customResources:group] StringEqualsIgnoreCase "
            f"'{INSTANCE_TYPE_GROUP}' AND "
            f"@Request[Microsoft.ContainerService/managedClusters/customResources:kind] StringEqualsIgnoreCase "
            f"'{INSTANCE_TYPE_RESOURCE}'))")


# The inference router (azureml-fe) is a Kubernetes service in the extension's namespace; with
# inferenceRouterServiceType LoadBalancer and internalLoadBalancerProvider azure it gets an address
# of the Azure internal load balancer in the nodes' subnet, and sslCname is the host name clients
# use for it (learn.microsoft.com/azure/machine-learning/how-to-secure-kubernetes-online-endpoint,
# how-to-deploy-kubernetes-extension "Review Azure Machine Learning extension config settings").
ROUTER_SERVICE = "azureml-fe"
SCORING_DOC = "https://learn.microsoft.com/azure/machine-learning/how-to-secure-kubernetes-online-endpoint"

# Egress: outboundType userDefinedRouting sends the nodes' traffic to the route table of their
# subnet, which must exist (with 0.0.0.0/0 to a firewall or appliance) before the cluster is
# created; AKS creates no public outbound IP then (learn.microsoft.com/azure/aks/egress-udr).
EGRESS_DOC = "https://learn.microsoft.com/azure/aks/egress-udr"
# What a firewall in front of an AKS cluster with the Azure ML extension must allow: the AKS
# required FQDNs (the AzureKubernetesService FQDN tag of Azure Firewall) and the Azure ML extension's
# (learn.microsoft.com/azure/aks/outbound-rules-control-egress; learn.microsoft.com/azure/
# machine-learning/how-to-access-azureml-behind-firewall, "Kubernetes Compute").
AKS_FQDN_TAG = "AzureKubernetesService"
EXTENSION_FQDNS: Tuple[str, ...] = (
    "*.kusto.windows.net", "*.table.core.windows.net", "*.queue.core.windows.net",
    "*.blob.core.windows.net", "*.azurecr.io", "mcr.microsoft.com", "*.data.mcr.microsoft.com",
    "*.api.azureml.ms", "*.instances.azureml.ms", "*.vault.azure.net",
    "<region>.handler.control.monitor.azure.com", "<region>.dp.kubernetesconfiguration.azure.com",
)
FIREWALL_DOC = "https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall"

# Kubernetes computes are not supported inside an Azure ML managed virtual network: the cluster
# stays in a VNet of one's own, which reaches the workspace and its storage, key vault and registry
# through private endpoints there (learn.microsoft.com/azure/machine-learning/how-to-managed-network,
# "Limitations"; how-to-secure-kubernetes-inferencing-environment).
MANAGED_NETWORK_DOC = "https://learn.microsoft.com/azure/machine-learning/how-to-managed-network#limitations"

# Container insights with managed identity authentication (omsagent useAADAuth) collects through a
# data collection rule (stream Microsoft-ContainerInsights-Group-Default to the Log Analytics
# workspace) associated with the cluster; a template must declare both
# (learn.microsoft.com/azure/azure-monitor/containers/kubernetes-monitoring-enable, "ARM template").
CONTAINER_INSIGHTS_DOC = "https://learn.microsoft.com/azure/azure-monitor/containers/kubernetes-monitoring-enable"
CONTAINER_INSIGHTS_STREAM = "Microsoft-ContainerInsights-Group-Default"
CONTAINER_INSIGHTS_EXTENSION = "ContainerInsights"

__all__ = [
    "AKS_FQDN_TAG", "AKS_RBAC_DOC", "CONTAINER_INSIGHTS_DOC", "CONTAINER_INSIGHTS_EXTENSION",
    "CONTAINER_INSIGHTS_STREAM", "CUSTOM_RESOURCE_ACTIONS", "DEPLOYER_DATA_ACTIONS", "EGRESS_DOC",
    "EXTENSION_FQDNS", "FIREWALL_DOC", "INSTANCE_TYPE_GROUP", "INSTANCE_TYPE_RESOURCE", "LOCAL_ACCOUNTS_DOC",
    "MANAGED_NETWORK_DOC", "NAMESPACE_ACTIONS", "PRIVATE_CLUSTER_DOC", "ROUTER_SERVICE", "SCORING_DOC",
    "api_server_zone", "instance_types_condition",
]
