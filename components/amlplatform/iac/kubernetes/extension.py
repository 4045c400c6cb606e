"""The Azure ML cluster extension (``microsoft.azureml.kubernetes``) on an AKS cluster: its
configuration settings and the extension resource.

Settings as Microsoft's template (Azure/AML-Kubernetes ``files/deployextension.json``) and the az
CLI (``AzureMLKubernetes.py``) derive them.
"""

import base64
from typing import Dict, List, Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import kubernetesconfiguration

from amlplatform.iac._base import child

EXTENSION_TYPE = "microsoft.azureml.kubernetes"
RELEASE_NAMESPACE = "azureml"


def _flag(value: bool) -> str:
    return "True" if value else "False"



class ExtensionSpec(TypedDict, total=False):
    """Configuration of the Azure ML extension (defaults as :func:`extension_settings` applies them)."""
    release_train: str
    """stable (default) or preview."""
    inference_router_service_type: str
    """LoadBalancer (default; internal), NodePort or ClusterIP."""
    internal_load_balancer: bool
    """Azure internal load balancer for the router; default True."""
    inference_router_ha: Optional[bool]
    """3 router replicas; default true unless cluster_purpose is DevTest."""
    cluster_purpose: str
    """FastProd (default) or DevTest."""
    enable_training: bool
    """Also use the cluster for training jobs; default False."""
    allow_insecure_connections: bool
    """HTTP scoring endpoints (never in prod); default False, which needs a certificate."""
    install_nvidia_device_plugin: bool
    """Install NVIDIA's device plugin (GPU pools); default False."""
    ssl_secret: Optional[str]
    """Kubernetes TLS secret in the azureml namespace with the scoring certificate."""
    ssl_cname: Optional[str]
    """Host name the scoring certificate is issued for (required with a certificate)."""
    ssl_cert_pem: Optional[pulumi.Input[str]]
    """Scoring certificate (PEM), sent as a protected setting; pass it as a secret."""
    ssl_key_pem: Optional[pulumi.Input[str]]
    """Its private key (PEM), sent as a protected setting; pass it as a secret."""


def extension_settings(extension: Mapping, *, cluster_id: pulumi.Input[str],
                       cluster_name: pulumi.Input[str], location: pulumi.Input[str]) -> Dict:
    """The extension's configuration settings, as Microsoft's template (Azure/AML-Kubernetes
    ``files/deployextension.json``) and the az CLI (``AzureMLKubernetes.py``) derive them."""
    purpose = extension.get("cluster_purpose", "FastProd")
    ha = extension.get("inference_router_ha")
    service_type = extension.get("inference_router_service_type", "LoadBalancer")
    insecure = extension.get("allow_insecure_connections", False)
    settings = {
        "enableInference": "True",
        "enableTraining": _flag(extension.get("enable_training", False)),
        "inferenceRouterServiceType": service_type,
        "inferenceRouterHA": _flag(purpose != "DevTest" if ha is None else ha),
        "allowInsecureConnections": _flag(insecure),
        "clusterPurpose": purpose,
        "installNvidiaDevicePlugin": _flag(extension.get("install_nvidia_device_plugin", False)),
        "cluster_name": cluster_id,
        "cluster_name_friendly": cluster_name,
        "clusterId": cluster_id,
        "prometheus.prometheusSpec.externalLabels.cluster_name": cluster_id,
        "location": location,
        "jobSchedulerLocation": location,
        "domain": pulumi.Output.from_input(location).apply(lambda loc: f"{loc}.cloudapp.azure.com"),
        # an AKS cluster talks to Azure ML directly: no Service Bus or Relay (those are for Arc)
        "servicebus.enabled": "false",
        "relayserver.enabled": "false",
    }
    if service_type == "NodePort":
        settings["scoringFe.serviceType.nodePort"] = "true"
    elif service_type == "LoadBalancer" and extension.get("internal_load_balancer", True):
        # the provider name alone does not make the router's service internal: the chart reads this
        settings["internalLoadBalancerProvider"] = "azure"
        settings["scoringFe.serviceType.internalLoadBalancer"] = "true"
    if not insecure:
        if extension.get("ssl_cname"):
            settings["sslCname"] = extension["ssl_cname"]
        if extension.get("ssl_secret"):
            settings["scoringFe.sslSecret"] = extension["ssl_secret"]
    return settings


def extension_protected_settings(extension: Mapping) -> Optional[Dict[str, pulumi.Output]]:
    """``scoringFe.sslCert``/``scoringFe.sslKey`` (base64 of the PEM files, as the az CLI sends
    them) when the certificate is given; each value a secret (the map keeps its keys, as ARM's
    configurationProtectedSettings is an object keyed by name). None otherwise."""
    if extension.get("allow_insecure_connections", False) or extension.get("ssl_secret"):
        return None
    if extension.get("ssl_cert_pem") is None or extension.get("ssl_key_pem") is None:
        return None

    def b64(value: str) -> str:
        return base64.b64encode(value.encode("utf-8")).decode("ascii")

    return {"scoringFe.sslCert": pulumi.Output.secret(pulumi.Output.from_input(extension["ssl_cert_pem"]).apply(b64)),
            "scoringFe.sslKey": pulumi.Output.secret(pulumi.Output.from_input(extension["ssl_key_pem"]).apply(b64))}



def declare_extension(parent: pulumi.Resource, name: str, *, extension: Mapping, extension_name: str,
                      cluster_rg: pulumi.Input[str], cluster_name: pulumi.Input[str],
                      cluster_id: pulumi.Input[str], location: pulumi.Input[str],
                      waits: Optional[List[pulumi.Resource]] = None) -> kubernetesconfiguration.Extension:
    """The extension resource (logical name ``<name>-extension``), a child of ``parent``."""
    return kubernetesconfiguration.Extension(
        f"{name}-extension",
        resource_group_name=cluster_rg,
        cluster_rp="Microsoft.ContainerService",
        cluster_resource_name="managedClusters",
        cluster_name=cluster_name,
        extension_name=extension_name,
        extension_type=EXTENSION_TYPE,
        auto_upgrade_minor_version=True,
        release_train=extension.get("release_train", "stable"),
        scope={"cluster": {"release_namespace": RELEASE_NAMESPACE}},
        identity={"type": "SystemAssigned"},
        configuration_settings=extension_settings(
            extension, cluster_id=cluster_id, cluster_name=cluster_name, location=location),
        configuration_protected_settings=extension_protected_settings(extension),
        opts=child(parent, depends_on=waits),
    )
