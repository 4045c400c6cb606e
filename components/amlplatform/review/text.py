"""The text tree of a recorded plan (``amlplatform plan``): each resource with its key settings."""

import json
from typing import Any, Dict, List, Optional

from amlplatform.review.paths import get_path as _get

# What the tree shows of each type: (label, dotted input path)
KEY_SETTINGS: Dict[str, List[tuple]] = {
    "azure-native:storage:StorageAccount": [
        ("sku", "sku.name"), ("shared key", "allowSharedKeyAccess"),
        ("firewall", "networkRuleSet.defaultAction"), ("public", "publicNetworkAccess")],
    "azure-native:storage:BlobServiceProperties": [
        ("soft delete days", "deleteRetentionPolicy.days"), ("versioning", "isVersioningEnabled")],
    "azure-native:keyvault:Vault": [
        ("sku", "properties.sku.name"), ("purge protection", "properties.enablePurgeProtection"),
        ("firewall", "properties.networkAcls.defaultAction"), ("public", "properties.publicNetworkAccess")],
    "azure-native:operationalinsights:Workspace": [("retention days", "retentionInDays")],
    "azure-native:applicationinsights:Component": [
        ("ingestion", "ingestionMode"), ("local auth disabled", "disableLocalAuth")],
    "azure-native:containerregistry:Registry": [
        ("sku", "sku.name"), ("admin", "adminUserEnabled"), ("public", "publicNetworkAccess")],
    "azure-native:machinelearningservices:Workspace": [
        ("public", "publicNetworkAccess"), ("managed network", "managedNetwork.isolationMode"),
        ("provision network now", "provisionNetworkNow"), ("firewall", "managedNetwork.firewallSku"),
        ("image build compute", "imageBuildCompute"), ("hbi", "hbiWorkspace"), ("identity", "identity.type")],
    "azure-native:machinelearningservices:Compute": [
        ("type", "properties.computeType"), ("vm", "properties.properties.vmSize"),
        ("nodes", "properties.properties.scaleSettings"),  # min-max, as the picture (diagram.node_range)
        ("idle shutdown", "properties.properties.idleTimeBeforeShutdown")],
    "azure-native:containerservice:ManagedCluster": [
        ("kubernetes", "kubernetesVersion"), ("upgrade", "autoUpgradeProfile.upgradeChannel"),
        ("local accounts disabled", "disableLocalAccounts"),
        ("private API server", "apiServerAccessProfile.enablePrivateCluster"),
        ("network", "networkProfile.networkPluginMode")],
    "azure-native:containerservice:AgentPool": [("vm", "vmSize"), ("mode", "mode"), ("nodes", "count")],
    "azure-native:authorization:RoleAssignment": [("principal", "principalId")],
    "azure-native:network:VirtualNetwork": [("address space", "addressSpace.addressPrefixes")],
    "azure-native:network:Subnet": [("prefix", "addressPrefix"),
                                    ("endpoint policies", "privateEndpointNetworkPolicies")],
    "azure-native:network:PrivateEndpoint": [("group", "privateLinkServiceConnections.0.groupIds")],
    "azure-native:privatedns:VirtualNetworkLink": [("auto-registration", "registrationEnabled")],
    # datastores and serving
    "azure-native:machinelearningservices:Datastore": [
        ("type", "properties.datastoreType"), ("credentials", "properties.credentials.credentialsType"),
        ("container", "properties.containerName"), ("file system", "properties.filesystem"),
        ("share", "properties.fileShareName")],
    "azure-native:storage:BlobContainer": [("public access", "publicAccess")],
    "azure-native:machinelearningservices:OnlineEndpoint": [
        ("auth", "properties.authMode"), ("public", "properties.publicNetworkAccess"),
        ("compute", "properties.compute")],
    "azure-native:machinelearningservices:OnlineDeployment": [
        ("type", "properties.endpointComputeType"), ("instance type", "properties.instanceType"),
        ("instances", "sku.capacity"), ("scale", "properties.scaleSettings.scaleType")],
    "azure-native:resources:Resource": [
        ("traffic", "properties.traffic"), ("mirror", "properties.mirrorTraffic"),
        ("default deployment", "properties.defaults.deploymentName")],
    "azure-native:machinelearningservices:BatchEndpoint": [("auth", "properties.authMode")],
    "azure-native:machinelearningservices:BatchDeployment": [
        ("kind", "properties.deploymentConfiguration.deploymentConfigurationType"),
        ("instances", "properties.resources.instanceCount")],
}


def _short_type(type_: str) -> str:
    if type_.startswith("amlplatform:index:"):
        return type_.split(":")[-1]
    parts = type_.split(":")
    return f"{parts[1]}:{parts[2]}" if len(parts) == 3 else type_


def _describe(res: Any) -> str:
    bits = [res.name, _short_type(res.type)]
    physical = res.physical_name
    if physical and physical != res.name:
        bits.append(f"'{physical}'")
    settings = []
    for label, path in KEY_SETTINGS.get(res.type, []):
        value = _get(res.inputs, path)
        if path.endswith("scaleSettings"):
            from amlplatform.review.diagram import node_range

            value = node_range(value)
        if value is not None:
            settings.append(f"{label}={json.dumps(value) if not isinstance(value, str) else value}")
    line = "  ".join(bits)
    if settings:
        line += "  (" + ", ".join(settings) + ")"
    if res.protect:
        line += "  [protected]"
    if res.retain_on_delete:
        line += "  [retained on delete]"
    return line


def render_text(graph: Any) -> str:
    custom = graph.custom_resources()
    lines = [f"Stack {graph.stack} (project {graph.project}): {len(custom)} cloud resources, "
             f"{len(graph.resources) - len(custom)} components", ""]
    children: Dict[Optional[str], List[Any]] = {}
    known = {r.urn for r in graph.resources}
    for res in graph.resources:
        parent = res.parent if res.parent in known else None
        children.setdefault(parent, []).append(res)

    def walk(parent: Optional[str], prefix: str) -> None:
        kids = children.get(parent, [])
        for i, res in enumerate(kids):
            last = i == len(kids) - 1
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{_describe(res)}")
            walk(res.urn, prefix + ("   " if last else "│  "))

    walk(None, "")
    protected = [r.name for r in graph.resources if r.protect]
    lines += ["", f"Protected: {', '.join(protected) if protected else 'nothing'}", "", "Outputs:"]
    for key in sorted(graph.outputs):
        value = graph.outputs[key]
        lines.append(f"  {key}: {json.dumps(value) if not isinstance(value, str) else value}")
    return "\n".join(lines) + "\n"
