"""Export a recorded stack as an ARM template, for independent scanners (checkov).

What azure-native sends is not quite what ARM stores, so the export:

* uses the exact ARM type casing and the REST API version of the installed azure-native class
  (:mod:`amlplatform.offline.armtypes`); a lower-cased type or another API version changes what
  a scanner checks;
* names resources as ARM does: child resources ``parent/child`` (``stfraudprod.../default``,
  ``mlw-x/cpu-cluster``); extension resources (diagnostic settings, role assignments, cluster
  extensions) by their own name with a ``scope`` naming the resource they extend;
* puts ``location``, ``tags``, ``sku``, ``kind``, ``identity`` ... at the top level and everything
  else under ``properties``, with ARM's wire names (:data:`RENAMES`: azure-native uses the SDK's
  client names for some properties, e.g. storage ``enableHttpsTrafficOnly`` is ARM's
  ``supportsHttpsTrafficOnly``);
* drops azure-native-only inputs (the id template's ``resourceGroupName``, ``accountName``...);
* writes whole numbers as integers and never writes a value ARM would read as an expression
  (``[secret]`` becomes ``<secret>``: a scanner drops failures of values holding expressions);
* turns the stack's deliberate exceptions for checkov ids (``CKV_...``) into checkov skips with
  their reason.

The template is resource-group scoped: the resource group itself is the deployment's target
(described under ``metadata``), not a resource of the template. Kubernetes objects
(``kubernetes:...``) are not ARM resources and are left out.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from amlplatform.offline import armtypes
from amlplatform.review.paths import get_path as _get

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
CONTENT_VERSION = "1.0.0.0"
RESOURCE_GROUP = "azure-native:resources:ResourceGroup"

# Inputs that stay at the top level of an ARM resource; the rest goes under "properties".
TOP_LEVEL = ("location", "tags", "sku", "kind", "identity", "extendedLocation", "zones", "plan", "etag")

# Types whose ARM shape differs from the default TOP_LEVEL set (sources: Azure REST API specs as
# published in Azure/bicep-types-az generated/<provider>/<version>/types.md).
TOP_LEVEL_BY_TYPE: Dict[str, Tuple[str, ...]] = {
    # Log Analytics: sku lives in properties (WorkspaceProperties.sku)
    "azure-native:operationalinsights:Workspace": ("location", "tags", "identity", "etag"),
    # Application Insights components: kind is top level, no sku/identity
    "azure-native:applicationinsights:Component": ("location", "tags", "kind", "etag"),
    # role assignments and diagnostic settings are proxy resources: nothing but properties
    "azure-native:authorization:RoleAssignment": (),
    "azure-native:authorization:ManagementLockByScope": (),
    "azure-native:monitor:DiagnosticSetting": (),
    "azure-native:storage:BlobServiceProperties": (),
    "azure-native:containerservice:AgentPool": (),
    "azure-native:kubernetesconfiguration:Extension": ("identity", "plan"),
    # Azure Firewall and its policy: sku lives in properties (AzureFirewallPropertiesFormat.sku,
    # FirewallPolicyPropertiesFormat.sku, Microsoft.Network 2024-05-01)
    "azure-native:network:AzureFirewall": ("location", "tags", "zones", "etag"),
    "azure-native:network:FirewallPolicy": ("location", "tags", "identity", "etag"),
}

# Types whose azure-native inputs already carry an explicit "properties" envelope (the rest of the
# inputs are top-level ARM fields). azure-native flattens "properties" for the other types.
ENVELOPE = frozenset({
    "azure-native:keyvault:Vault",
    "azure-native:keyvault:Key",
    "azure-native:machinelearningservices:Compute",
    "azure-native:machinelearningservices:EnvironmentContainer",
    "azure-native:machinelearningservices:EnvironmentVersion",
    # datastores and serving
    "azure-native:machinelearningservices:Datastore",
    "azure-native:machinelearningservices:OnlineEndpoint",
    "azure-native:machinelearningservices:OnlineDeployment",
    "azure-native:machinelearningservices:BatchEndpoint",
    "azure-native:machinelearningservices:BatchDeployment",
})

# azure-native input name -> ARM property name, per type, at any depth of "properties": a key is the
# path of azure-native names from "properties" down ("encryption.keyVaultProperties.keyName"; a list's
# entries are the list's own path). Verified against the REST specs (bicep-types-az types.md for the
# API version armtypes reports) and checked at every depth by tests/review/test_arm_wire.py against the
# azure-mgmt-* SDK models of that API version (their msrest _attribute_map holds the wire names).
RENAMES: Dict[str, Dict[str, str]] = {
    # Microsoft.Storage/storageAccounts@2024-01-01 StorageAccountPropertiesCreateParametersOrStorageAccountProperties
    "azure-native:storage:StorageAccount": {
        "enableHttpsTrafficOnly": "supportsHttpsTrafficOnly",
        "networkRuleSet": "networkAcls",
        "enableNfsV3": "isNfsV3Enabled",
        # Encryption{identity: EncryptionIdentity, keyvaultproperties: KeyVaultProperties}
        "encryption.encryptionIdentity": "identity",
        "encryption.encryptionIdentity.encryptionUserAssignedIdentity": "userAssignedIdentity",
        "encryption.encryptionIdentity.encryptionFederatedIdentityClientId": "federatedIdentityClientId",
        "encryption.keyVaultProperties": "keyvaultproperties",
        "encryption.keyVaultProperties.keyName": "keyname",
        "encryption.keyVaultProperties.keyVersion": "keyversion",
        "encryption.keyVaultProperties.keyVaultUri": "keyvaulturi",
    },
    # Microsoft.Insights/components@2020-02-02 ApplicationInsightsComponentProperties
    "azure-native:applicationinsights:Component": {
        "applicationType": "Application_Type",
        "flowType": "Flow_Type",
        "requestSource": "Request_Source",
        "workspaceResourceId": "WorkspaceResourceId",
        "ingestionMode": "IngestionMode",
        "disableLocalAuth": "DisableLocalAuth",
        "disableIpMasking": "DisableIpMasking",
        "hockeyAppId": "HockeyAppId",
        "immediatePurgeDataOn30Days": "ImmediatePurgeDataOn30Days",
        "retentionInDays": "RetentionInDays",
        "samplingPercentage": "SamplingPercentage",
        "forceCustomerStorageForProfiler": "ForceCustomerStorageForProfiler",
    },
}

# List entries that azure-native flattens but ARM nests under their own "properties" (everything
# but the listed keys moves there), per type and first-level property. Verified against the REST
# specs (Microsoft.Network 2024-05-01: PrivateLinkServiceConnection{name, properties{privateLinkServiceId,
# groupIds, requestMessage}}, PrivateDnsZoneConfig{name, properties{privateDnsZoneId}}).
NESTED_PROPERTIES: Dict[str, Dict[str, Tuple[str, ...]]] = {
    "azure-native:network:PrivateEndpoint": {
        "privateLinkServiceConnections": ("name", "id"),
        "manualPrivateLinkServiceConnections": ("name", "id"),
    },
    "azure-native:network:PrivateDnsZoneGroup": {"privateDnsZoneConfigs": ("name",)},
    # Microsoft.Network 2024-05-01: AzureFirewallIPConfiguration{name, properties{subnet, publicIPAddress}},
    # Route{name, properties{addressPrefix, nextHopType, nextHopIpAddress}}
    "azure-native:network:AzureFirewall": {"ipConfigurations": ("name", "id")},
    "azure-native:network:RouteTable": {"routes": ("name", "id")},
}


def _rename(value: Any, path: str, renames: Mapping[str, str]) -> Any:
    """``value`` (found at ``path`` of azure-native names) with every key below it renamed."""
    if isinstance(value, list):
        return [_rename(v, path, renames) for v in value]
    if not isinstance(value, dict) or not renames:
        return value
    out: Dict[str, Any] = {}
    for key, inner in value.items():
        here = f"{path}.{key}" if path else key
        out[renames.get(here, key)] = _rename(inner, here, renames)
    return out


def arm_identity(identity: Any) -> Any:
    """A managed identity block in ARM's shape: ``userAssignedIdentities`` is an object keyed by the
    identities' ids (each value ``{}`` in a request: ManagedServiceIdentity, common-types v5), where
    azure-native takes a list of ids."""
    if not isinstance(identity, dict) or not isinstance(identity.get("userAssignedIdentities"), list):
        return identity
    return {**identity, "userAssignedIdentities": {str(uid): {} for uid in identity["userAssignedIdentities"]}}


def _nest(entries: Any, keep: Tuple[str, ...]) -> Any:
    if not isinstance(entries, list):
        return entries
    out = []
    for e in entries:
        if isinstance(e, dict):
            top = {k: v for k, v in e.items() if k in keep}
            inner = {k: v for k, v in e.items() if k not in keep}
            out.append({**top, "properties": inner} if inner else top)
        else:
            out.append(e)
    return out


# Inputs that exist only for azure-native (besides the id template's placeholders).
DROP = frozenset({"azureApiVersion"})
# per type: inputs that are part of the resource's address, not its body
DROP_BY_TYPE: Dict[str, frozenset] = {
    "azure-native:monitor:DiagnosticSetting": frozenset({"resourceUri", "name"}),
    "azure-native:authorization:RoleAssignment": frozenset({"scope", "roleAssignmentName"}),
}

# Extension resources with a ``scope`` property: input holding the id of the resource they extend.
# Diagnostic settings use ARM's nested form instead (type ``<parent type>/providers/diagnosticSettings``,
# name ``<parent name>/Microsoft.Insights/<name>``): every workspace and vault has one named
# "to-log-analytics", and checkov identifies resources by type + name, so with the scope form it
# silently counts two settings as one.
EXTENSION_SCOPE: Dict[str, str] = {
    "azure-native:authorization:RoleAssignment": "scope",
    "azure-native:authorization:ManagementLockByScope": "scope",
    "azure-native:kubernetesconfiguration:Extension": "",  # built from clusterRp/clusterResourceName/clusterName
}

DIAGNOSTIC_SETTING = "azure-native:monitor:DiagnosticSetting"

# Second writes of a resource the template already has under its own type (endpoints.py: the
# online endpoint's traffic, the batch endpoint's default deployment): one ARM resource, exported once.
SECOND_WRITES = frozenset({armtypes.GENERIC_RESOURCE})


def nested_diagnostic_setting(res: Any) -> Tuple[str, str]:
    """(type, name) of a diagnostic setting in ARM's nested form, from its ``resourceUri``."""
    target = str(res.inputs.get("resourceUri") or "")
    own = str(res.inputs.get("name") or res.name)
    namespace, pairs = _split_id(target)
    if namespace is None or not pairs:
        return "Microsoft.Insights/diagnosticSettings", own
    parent_type = "/".join([namespace] + [t for t, _ in pairs])
    parent_name = "/".join(n for _, n in pairs)
    return f"{parent_type}/providers/diagnosticSettings", f"{parent_name}/Microsoft.Insights/{own}"


_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_RG_ID = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+", re.IGNORECASE)


@dataclass
class Exception_:
    """A deliberate exception: rule id, logical resource name (or *), reason."""

    rule: str
    resource: str
    reason: str

    def applies_to(self, logical_name: str) -> bool:
        return self.resource in ("*", logical_name)


def stack_exceptions(stack: str, project_dir: Optional[Path] = None) -> List[Exception_]:
    """The ``policy_exceptions`` of ``stacks/Pulumi.<stack>.yaml`` (empty when there is no file)."""
    from amlplatform.errors import UserError
    from amlplatform.offline.engine import find_project_dir, stack_policy_exceptions

    try:
        folder = project_dir or find_project_dir()
        found = stack_policy_exceptions(stack, folder)  # the amlplatform program's or a program of its own
    except UserError:
        return []
    return [Exception_(e.rule, e.resource, e.reason) for e in found]


def _as_exceptions(items: Optional[Iterable[Any]]) -> List[Exception_]:
    out = []
    for e in items or ():
        if isinstance(e, Exception_):
            out.append(e)
        elif isinstance(e, Mapping):
            out.append(Exception_(e["rule"], e.get("resource", "*"), e["reason"]))
        else:  # settings.core.PolicyException
            out.append(Exception_(e.rule, e.resource, e.reason))
    return out


# ----------------------------------------------------------------------------- checkov's faults


@dataclass(frozen=True)
class KnownFault:
    """A checkov check that fails a correct declaration; skipped only where ``applies`` holds."""

    check_id: str
    arm_type: str
    reason: str
    applies: Any  # (ARM resource body) -> bool


KNOWN_CHECKOV_FAULTS: Tuple[KnownFault, ...] = (
    KnownFault(
        "CKV_AZURE_172", "Microsoft.ContainerService/managedClusters",
        "checkov fault: expects boolean true but the AKS API takes addon config values as strings, "
        "and the declared value is the correct string \"true\"",
        lambda r: _get(r, "properties.addonProfiles.azureKeyvaultSecretsProvider.config"
                          ".enableSecretRotation") == "true"),
    KnownFault(
        "CKV_AZURE_8", "Microsoft.ContainerService/managedClusters",
        "checkov fault: wants an explicit kubeDashboard addon set to false; the dashboard addon was "
        "removed from AKS (Kubernetes 1.19+), so a cluster that does not declare it has none",
        lambda r: not isinstance(_get(r, "properties.addonProfiles.kubeDashboard"), dict)),
    KnownFault(
        "CKV_AZURE_6", "Microsoft.ContainerService/managedClusters",
        "checkov fault: counts only authorized IP ranges; a private cluster's API server has no public "
        "endpoint at all, and AKS does not take authorized ranges on it "
        "(learn.microsoft.com/azure/aks/api-server-authorized-ip-ranges, limitations)",
        lambda r: _get(r, "properties.apiServerAccessProfile.enablePrivateCluster") is True),
    KnownFault(
        "CKV_AZURE_243", "Microsoft.MachineLearningServices/workspaces",
        "checkov fault: passes only with a user-defined PrivateEndpoint outbound rule; a managed "
        "network creates the private endpoints to the workspace's storage, key vault and registry "
        "itself (required rules), so declaring them again adds nothing",
        lambda r: _get(r, "properties.managedNetwork.isolationMode") in (
            "AllowInternetOutbound", "AllowOnlyApprovedOutbound")),
)


def known_fault_skips(body: Mapping[str, Any]) -> List[str]:
    return [f"checkov:skip={f.check_id}:{f.reason}" for f in KNOWN_CHECKOV_FAULTS
            if f.arm_type == body.get("type") and f.applies(body)]


# ----------------------------------------------------------------------------- values

def arm_value(value: Any) -> Any:
    """A recorded value as a literal ARM value: whole floats as ints; no accidental expressions."""
    if isinstance(value, dict):
        return {k: arm_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [arm_value(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        # ARM evaluates "[...]" as an expression; the engine's [secret]/[unknown] are not
        return "<" + value[1:-1] + ">"
    return value


# ----------------------------------------------------------------------------- names and scopes

def _split_id(resource_id: str) -> Tuple[Optional[str], List[Tuple[str, str]]]:
    """'/subscriptions/s/resourceGroups/rg/providers/NS/t1/n1/t2/n2' -> ('NS', [(t1,n1),(t2,n2)]).

    Uses the last '/providers/' segment (extension resources nest providers).
    """
    if "/providers/" not in resource_id:
        return None, []
    tail = resource_id.rsplit("/providers/", 1)[1].split("/")
    namespace, rest = tail[0], tail[1:]
    pairs = [(rest[i], rest[i + 1]) for i in range(0, len(rest) - 1, 2)]
    return namespace, pairs


def relative_id(resource_id: str) -> str:
    """A resource id in the short form ARM accepts for ``scope``: ``NS/type/name[/type/name]``."""
    namespace, pairs = _split_id(resource_id)
    if namespace is None:
        return resource_id
    segments = [namespace] + [p for pair in pairs for p in pair]
    return "/".join(segments)


def _is_resource_group_id(value: str) -> bool:
    m = _RG_ID.match(value or "")
    return bool(m) and m.end() == len(value.rstrip("/"))


def arm_name(res: Any, arm: armtypes.ArmType) -> str:
    """The ``name`` ARM uses: each segment of the resource's own path, parents first."""
    if arm.token in EXTENSION_SCOPE:
        name = res.inputs.get(arm.name_input)
        if name == armtypes.UNKNOWN:
            # known after deploy (a role assignment's GUID from a principal id Azure makes): one name
            # per resource all the same, or a scanner counts them as one
            return armtypes.unknown_part(res.name)
        return str(name or res.name)
    own_path = arm.id_template.rsplit("/providers/", 1)[-1]
    # every second segment after the namespace is a name: a placeholder, or a literal such as the
    # "default" of blobServices/default/containers/{containerName}
    segments = own_path.split("/")[2::2]
    values = []
    for segment in segments:
        placeholder = _PLACEHOLDER.fullmatch(segment)
        values.append(str(res.inputs.get(placeholder.group(1), "")) if placeholder else segment)
    if not all(values):
        # fall back to the recorded id (the mock engine gives every ARM resource its real id)
        _, pairs = _split_id(res.id or "")
        values = [n for _, n in pairs] or [res.name]
    return "/".join(values)


def arm_scope(res: Any) -> Optional[str]:
    """``scope`` of an extension resource (None when it extends the deployment's resource group)."""
    if res.type == "azure-native:kubernetesconfiguration:Extension":
        i = res.inputs
        return f"{i.get('clusterRp')}/{i.get('clusterResourceName')}/{i.get('clusterName')}"
    key = EXTENSION_SCOPE.get(res.type)
    if not key:
        return None
    target = res.inputs.get(key)
    if not isinstance(target, str) or _is_resource_group_id(target):
        return None
    return relative_id(target) if "/providers/" in target else target


# ----------------------------------------------------------------------------- one resource

def _id_inputs(arm: armtypes.ArmType) -> set:
    return set(_PLACEHOLDER.findall(arm.id_template)) - {"subscription"}


def arm_resource(res: Any, exceptions: Sequence[Exception_] = ()) -> Optional[Dict[str, Any]]:
    """The ARM form of one recorded custom resource (None for non-ARM resources)."""
    arm = armtypes.lookup(res.type)
    if arm is None or res.type == RESOURCE_GROUP or res.type in SECOND_WRITES:
        return None
    drop = _id_inputs(arm) | DROP | DROP_BY_TYPE.get(res.type, frozenset())
    top_keys = TOP_LEVEL_BY_TYPE.get(res.type, TOP_LEVEL)
    renames = RENAMES.get(res.type, {})

    out: Dict[str, Any] = {
        "type": arm.arm_type,
        "apiVersion": arm.api_version,
        "name": arm_name(res, arm),
    }
    if res.type == DIAGNOSTIC_SETTING:
        out["type"], out["name"] = nested_diagnostic_setting(res)
    scope = arm_scope(res)
    if scope:
        out["scope"] = scope
    properties: Dict[str, Any] = {}
    for key, value in res.inputs.items():
        if key in drop:
            continue
        if key == "identity":
            value = arm_identity(value)
        if res.type in ENVELOPE:
            if key == "properties" and isinstance(value, dict):
                properties.update(_rename(value, "", renames))
            else:
                out[key] = value
        elif key in top_keys:
            out[key] = value
        else:
            nested = NESTED_PROPERTIES.get(res.type, {})
            value = _rename(value, key, renames)
            properties[renames.get(key, key)] = _nest(value, nested[key]) if key in nested else value
    if properties:
        out["properties"] = properties
    out = arm_value(out)
    skips = known_fault_skips(out)
    skips += [f"checkov:skip={e.rule}:{e.reason}" for e in exceptions
              if e.rule.upper().startswith("CKV") and e.applies_to(res.name)
              and not any(s.startswith(f"checkov:skip={e.rule}:") for s in skips)]
    if skips:
        out["metadata"] = {"checkov": skips}
    return out


def resource_id_of(res: Any) -> Optional[str]:
    arm = armtypes.lookup(res.type)
    if res.id and res.id.startswith("/"):
        return res.id
    if arm is None:
        return None
    from amlplatform.offline.engine import OFFLINE_SUBSCRIPTION

    return arm.resource_id(res.inputs, OFFLINE_SUBSCRIPTION)


# ----------------------------------------------------------------------------- the template

def exported_resources(graph: Any) -> List[Any]:
    """The recorded resources that become template resources, in the template's order."""
    out = []
    for res in graph.custom_resources():
        if (armtypes.lookup(res.type) is not None and res.type != RESOURCE_GROUP and res.type not in SECOND_WRITES
                and res.type not in armtypes.DATA_PLANE):
            out.append(res)
    return out


def to_arm_template(graph: Any, exceptions: Optional[Iterable[Any]] = None, *,
                    project_dir: Optional[Path] = None) -> Dict[str, Any]:
    """A complete, resource-group scoped ARM template of what ``graph`` declares.

    ``exceptions`` are the stack's deliberate exceptions; by default they are read from the
    stack's file (``stacks/Pulumi.<stack>.yaml`` of ``project_dir`` or the current project).
    """
    excepted = _as_exceptions(exceptions) if exceptions is not None else stack_exceptions(
        graph.stack, project_dir)
    by_urn = graph.by_urn()
    exported = exported_resources(graph)
    exported_urns = {r.urn for r in exported}
    resources = []
    for res in exported:
        body = arm_resource(res, excepted)
        depends = []
        for dep in graph.resource_dependencies(res):
            if dep in exported_urns:
                rid = resource_id_of(by_urn[dep])
                if rid and rid not in depends:
                    depends.append(rid)
        if depends:
            body["dependsOn"] = depends
        resources.append(body)

    rg = [r for r in graph.custom_resources() if r.type == RESOURCE_GROUP]
    skipped = [r.name for r in graph.custom_resources()
               if r not in exported and r.type != RESOURCE_GROUP and not r.type.startswith("pulumi:providers:")]
    metadata: Dict[str, Any] = {
        "generator": "amlplatform plan --format arm",
        "project": graph.project,
        "stack": graph.stack,
        "exportedResources": len(resources),
    }
    if rg:
        metadata["resourceGroup"] = arm_value({
            "name": rg[0].inputs.get("resourceGroupName"), "location": rg[0].inputs.get("location"),
            "tags": rg[0].inputs.get("tags", {})})
    if skipped:
        metadata["notArmResources"] = skipped
    return {
        "$schema": SCHEMA,
        "contentVersion": CONTENT_VERSION,
        "metadata": metadata,
        "parameters": {},
        "resources": resources,
        "outputs": {},
    }


def template_json(template: Mapping[str, Any]) -> str:
    return json.dumps(template, indent=2) + "\n"
