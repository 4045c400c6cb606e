"""Small hand-built recorded graphs for the review tests (no engine run needed)."""

from typing import Any, Dict, List, Optional, Sequence

from amlplatform.offline import armtypes
from amlplatform.offline.engine import OFFLINE_SUBSCRIPTION, Graph, RecordedResource

RG = "rg-t"
RG_ID = f"/subscriptions/{OFFLINE_SUBSCRIPTION}/resourceGroups/{RG}"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:t::amlplatform::{type_}::{name}"


def res(type_: str, name: str, inputs: Dict[str, Any], deps: Sequence[RecordedResource] = (), *,
        custom: bool = True, parent: Optional[RecordedResource] = None) -> RecordedResource:
    inputs = dict(inputs)
    arm = armtypes.lookup(type_)
    if arm is not None and "resourceGroupName" in arm.id_template:
        inputs.setdefault("resourceGroupName", RG)
    rid = arm.resource_id(inputs, OFFLINE_SUBSCRIPTION) if arm else None
    return RecordedResource(urn=urn(type_, name), type=type_, name=name, custom=custom,
                            parent=parent.urn if parent else None, inputs=inputs,
                            dependencies=[d.urn for d in deps], property_dependencies={},
                            protect=False, ignore_changes=[], provider=None, id=rid)


def graph(*resources: RecordedResource, stack: str = "t") -> Graph:
    return Graph(project="amlplatform", stack=stack, resources=list(resources))


def rid(type_: str, **inputs: str) -> str:
    return armtypes.lookup(type_).resource_id({"resourceGroupName": RG, **inputs}, OFFLINE_SUBSCRIPTION)


# ------------------------------------------------------------------ typical resources

def resource_group() -> RecordedResource:
    return res("azure-native:resources:ResourceGroup", "rg", {"location": "westeurope"})


def storage(**over: Any) -> RecordedResource:
    inputs = {"accountName": "stt", "location": "westeurope", "kind": "StorageV2", "sku": {"name": "Standard_ZRS"},
              "enableHttpsTrafficOnly": True, "minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False,
              "allowSharedKeyAccess": False, "allowCrossTenantReplication": False,
              "publicNetworkAccess": "Disabled", "networkRuleSet": {"defaultAction": "Deny", "bypass": "AzureServices"},
              "tags": {"a": "b"}}
    inputs.update(over)
    return res("azure-native:storage:StorageAccount", "st", inputs)


def workspace(name: str = "mlw-t", **over: Any) -> RecordedResource:
    inputs = {"workspaceName": name, "location": "westeurope", "kind": "Default",
              "sku": {"name": "Basic", "tier": "Basic"}, "identity": {"type": "SystemAssigned"},
              "publicNetworkAccess": "Disabled", "hbiWorkspace": False,
              "managedNetwork": {"isolationMode": "AllowOnlyApprovedOutbound"},
              "storageAccount": rid("azure-native:storage:StorageAccount", accountName="stt"),
              "keyVault": rid("azure-native:keyvault:Vault", vaultName="kv-t")}
    inputs.update(over)
    return res("azure-native:machinelearningservices:Workspace", "ws", inputs)


def compute(name: str, compute_type: str, props: Dict[str, Any], *, workspace_name: str = "mlw-t",
            disable_local_auth: Optional[bool] = True, deps: Sequence[RecordedResource] = ()) -> RecordedResource:
    outer: Dict[str, Any] = {"computeType": compute_type, "properties": props}
    if disable_local_auth is not None:
        outer["disableLocalAuth"] = disable_local_auth
    return res("azure-native:machinelearningservices:Compute", name,
               {"workspaceName": workspace_name, "computeName": name, "location": "westeurope",
                "properties": outer}, deps)


def aks(**over: Any) -> RecordedResource:
    inputs = {"resourceName": "aks-t", "location": "westeurope", "dnsPrefix": "aks-t",
              "identity": {"type": "SystemAssigned"}, "sku": {"name": "Base", "tier": "Standard"},
              "enableRBAC": True, "disableLocalAccounts": True,
              "aadProfile": {"managed": True, "enableAzureRBAC": True},
              "agentPoolProfiles": [{"name": "system", "mode": "System", "count": 2.0, "vmSize": "Standard_D4s_v5"}]}
    inputs.update(over)
    return res("azure-native:containerservice:ManagedCluster", "aks", inputs)


def diag(target: RecordedResource, name: str = "diag", logs: bool = True) -> RecordedResource:
    return res("azure-native:monitor:DiagnosticSetting", name,
               {"name": "to-log-analytics", "resourceUri": target.id,
                "logs": [{"categoryGroup": "allLogs", "enabled": logs}],
                "workspaceId": rid("azure-native:operationalinsights:Workspace", workspaceName="log-t")}, [target])
