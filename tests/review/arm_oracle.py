"""Check exported ARM resources against Azure's wire names, with the azure-mgmt-* SDKs as the oracle.

Runs in its own venv (``.venv-armsdk``, made by ``./dev setup``; the SDKs are no dependency of
amlplatform). Each azure-mgmt-* package carries, per REST API version, msrest models whose
``_attribute_map`` gives every property's wire key (``properties.supportsHttpsTrafficOnly``) and type
(``Encryption``, ``[Subnet]``, ``{UserAssignedIdentity}``); polymorphic models name their
discriminator in ``_subtype_map``. These models are generated from the same azure-rest-api-specs the
ARM schemas come from.

stdin: JSON ``[{"type", "apiVersion", "body"}]``; stdout: JSON ``{"problems": [...], "checked":
[[type, apiVersion, model]], "missing": [[type, apiVersion, why]]}``.
"""

import importlib
import json
import re
import sys

ML = "azure.ai.ml._restclient.arm_ml_service"  # azure-ai-ml's ARM client (azure-mgmt-machinelearningservices is 2020-08-01)

# ARM type -> (SDK package module, model class of the PUT body). The API version picks the module's
# versioned folder (v2024_01_01); a package that ships one version only has its models at the top.
MODELS = {
    "Microsoft.Storage/storageAccounts": ("azure.mgmt.storage", "StorageAccountCreateParameters"),
    "Microsoft.Storage/storageAccounts/blobServices": ("azure.mgmt.storage", "BlobServiceProperties"),
    "Microsoft.Storage/storageAccounts/blobServices/containers": ("azure.mgmt.storage", "BlobContainer"),
    "Microsoft.Storage/storageAccounts/fileServices/shares": ("azure.mgmt.storage", "FileShare"),
    "Microsoft.KeyVault/vaults": ("azure.mgmt.keyvault", "VaultCreateOrUpdateParameters"),
    "Microsoft.KeyVault/vaults/keys": ("azure.mgmt.keyvault", "KeyCreateParameters"),
    "Microsoft.ContainerRegistry/registries": ("azure.mgmt.containerregistry", "Registry"),
    "Microsoft.ContainerService/managedClusters": ("azure.mgmt.containerservice", "ManagedCluster"),
    "Microsoft.ContainerService/managedClusters/agentPools": ("azure.mgmt.containerservice", "AgentPool"),
    "Microsoft.ContainerService/managedClusters/trustedAccessRoleBindings":
        ("azure.mgmt.containerservice", "TrustedAccessRoleBinding"),
    "Microsoft.Insights/components": ("azure.mgmt.applicationinsights", "ApplicationInsightsComponent"),
    "Microsoft.Insights/diagnosticSettings": ("azure.mgmt.monitor", "DiagnosticSettingsResource"),
    "Microsoft.OperationalInsights/workspaces": ("azure.mgmt.loganalytics", "Workspace"),
    "Microsoft.KubernetesConfiguration/extensions": ("azure.mgmt.kubernetesconfiguration", "Extension"),
    "Microsoft.ManagedIdentity/userAssignedIdentities": ("azure.mgmt.msi", "Identity"),
    "Microsoft.Authorization/roleAssignments": ("azure.mgmt.authorization", "RoleAssignmentCreateParameters"),
    "Microsoft.Network/virtualNetworks": ("azure.mgmt.network", "VirtualNetwork"),
    "Microsoft.Network/virtualNetworks/subnets": ("azure.mgmt.network", "Subnet"),
    "Microsoft.Network/networkSecurityGroups": ("azure.mgmt.network", "NetworkSecurityGroup"),
    "Microsoft.Network/privateEndpoints": ("azure.mgmt.network", "PrivateEndpoint"),
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups": ("azure.mgmt.network", "PrivateDnsZoneGroup"),
    "Microsoft.Network/azureFirewalls": ("azure.mgmt.network", "AzureFirewall"),
    "Microsoft.Network/firewallPolicies": ("azure.mgmt.network", "FirewallPolicy"),
    "Microsoft.Network/firewallPolicies/ruleCollectionGroups": ("azure.mgmt.network", "FirewallPolicyRuleCollectionGroup"),
    "Microsoft.Network/publicIPAddresses": ("azure.mgmt.network", "PublicIPAddress"),
    "Microsoft.Network/routeTables": ("azure.mgmt.network", "RouteTable"),
    "Microsoft.Network/privateDnsZones": ("azure.mgmt.privatedns", "PrivateZone"),
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks": ("azure.mgmt.privatedns", "VirtualNetworkLink"),
    "Microsoft.Network/privateDnsZones/A": ("azure.mgmt.privatedns", "RecordSet"),
    "Microsoft.Authorization/roleDefinitions": ("azure.mgmt.authorization", "RoleDefinition"),
    "Microsoft.Insights/dataCollectionRules": ("azure.mgmt.monitor", "DataCollectionRuleResource"),
    "Microsoft.Insights/dataCollectionRuleAssociations":
        ("azure.mgmt.monitor", "DataCollectionRuleAssociationProxyOnlyResource"),
    "Microsoft.MachineLearningServices/workspaces": (ML, "Workspace"),
    "Microsoft.MachineLearningServices/workspaces/computes": (ML, "ComputeResource"),
    "Microsoft.MachineLearningServices/workspaces/datastores": (ML, "Datastore"),
    "Microsoft.MachineLearningServices/workspaces/environments":
        (ML, "EnvironmentContainer"),
    "Microsoft.MachineLearningServices/workspaces/environments/versions":
        (ML, "EnvironmentVersion"),
    "Microsoft.MachineLearningServices/workspaces/models": (ML, "ModelContainer"),
    "Microsoft.MachineLearningServices/workspaces/models/versions": (ML, "ModelVersion"),
    "Microsoft.MachineLearningServices/workspaces/codes": (ML, "CodeContainer"),
    "Microsoft.MachineLearningServices/workspaces/codes/versions": (ML, "CodeVersion"),
    "Microsoft.MachineLearningServices/workspaces/components": (ML, "ComponentContainer"),
    "Microsoft.MachineLearningServices/workspaces/components/versions": (ML, "ComponentVersion"),
    "Microsoft.MachineLearningServices/workspaces/data": (ML, "DataContainer"),
    "Microsoft.MachineLearningServices/workspaces/data/versions": (ML, "DataVersionBase"),
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints":
        (ML, "OnlineEndpoint"),
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments":
        (ML, "OnlineDeployment"),
    "Microsoft.MachineLearningServices/workspaces/batchEndpoints":
        (ML, "BatchEndpoint"),
    "Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments":
        (ML, "BatchDeployment"),
}

# Keys of every template resource that are ARM's, not the resource provider's
TEMPLATE_KEYS = {"type", "apiVersion", "name", "scope", "dependsOn", "metadata", "comments", "condition", "copy"}
SCALARS = {"str", "bool", "int", "long", "float", "iso-8601", "duration", "rfc-1123", "date", "unix-time",
           "bytearray", "base64", "time", "decimal"}


def _type_of(arm_type):
    # diagnostic settings in ARM's nested form: <parent type>/providers/diagnosticSettings
    return "Microsoft.Insights/diagnosticSettings" if arm_type.endswith("/providers/diagnosticSettings") else arm_type


def models_module(package, api_version):
    """(models module, the API version it is for) of ``package``: the versioned folder for
    ``api_version`` when the package has several, else the package's single version (read from
    the api-version its operations send)."""
    import glob
    import os

    folder = "v" + re.sub(r"[-.]", "_", api_version)
    try:
        return importlib.import_module(f"{package}.{folder}.models"), api_version
    except ImportError:
        pass
    try:
        root = importlib.import_module(package)
    except ImportError:
        return None, "package not installed"
    versions = {}
    for path in glob.glob(os.path.join(os.path.dirname(root.__file__), "operations", "*.py")):
        with open(path, encoding="utf-8") as fh:
            for v in re.findall(r'api-version", "([0-9a-z-]+)"', fh.read()):
                versions[v] = versions.get(v, 0) + 1
    found = max(versions, key=versions.get) if versions else "unknown"
    if found != api_version:
        return None, found
    return importlib.import_module(f"{package}.models"), found


def _split(key):
    return [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", key)]


def _type_name(annotation):
    """A typing annotation of a TypeSpec-generated model as an msrest type string."""
    import enum
    import typing

    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Union:
        models = [a for a in args if _is_model(a)]
        return _type_name(models[0] if models else args[0]) if args else "object"
    if origin in (list, typing.List):
        return "[" + _type_name(args[0]) + "]" if args else "[object]"
    if origin in (dict, typing.Dict):
        return "{" + _type_name(args[-1]) + "}" if args else "{object}"
    if origin is typing.Literal or (isinstance(annotation, type) and issubclass(annotation, enum.Enum)):
        return "str"
    if isinstance(annotation, type):
        if _is_model(annotation):
            return annotation.__name__
        return {str: "str", bool: "bool", int: "int", float: "float"}.get(annotation, "object")
    return "object"


def _fields(cls):
    """(wire key, type string) of every property of a model class, msrest or TypeSpec style."""
    if hasattr(cls, "_attribute_map"):
        return [(a["key"], a["type"]) for a in cls._attribute_map.values()]
    import typing

    # the generated modules annotate with "_models.X" forward references (a TYPE_CHECKING import)
    hints = {}
    for klass in reversed(cls.__mro__):
        module = sys.modules.get(klass.__module__)
        namespace = {**vars(typing), **(vars(module) if module else {}), "_models": module}
        for attr, annotation in vars(klass).get("__annotations__", {}).items():
            if isinstance(annotation, typing.ForwardRef):
                annotation = annotation.__forward_arg__
            try:
                hints[attr] = eval(annotation, namespace) if isinstance(annotation, str) else annotation
                hints[attr] = _resolve(hints[attr], namespace)
            except Exception:  # an annotation of the SDK's own base classes
                pass
    return [(f._rest_name.replace(".", "\\."), _type_name(hints.get(attr, object)))
            for attr, f in _rest_fields(cls).items()]


def _resolve(annotation, namespace):
    """``annotation`` with its forward references ("_models.X" inside Optional[...]) evaluated."""
    import typing

    if isinstance(annotation, typing.ForwardRef):
        return eval(annotation.__forward_arg__, namespace)
    args = typing.get_args(annotation)
    if not args:
        return annotation
    resolved = tuple(_resolve(a, namespace) for a in args)
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        return typing.Union[resolved]
    if origin in (list, dict):
        return origin[resolved]
    if origin is typing.Literal:
        return annotation
    return annotation


def _rest_fields(cls):
    """attribute -> rest field of a TypeSpec-generated model. The SDK fills ``_attr_to_rest_field``
    (and a field's default wire name) when the first instance is made: ``__new__`` does it."""
    if not isinstance(cls, type) or not any(k.__name__ == "Model" and "model_base" in k.__module__
                                            for k in cls.__mro__):
        return {}
    try:
        cls.__new__(cls)
    except Exception:
        return {}
    return dict(getattr(cls, "_attr_to_rest_field", {}) or {})


def wire_tree(cls):
    """The model's wire keys as a nested dict (flattened ``properties.x`` keys nested): leaf = type."""
    tree = {}
    for key, type_ in _fields(cls):
        node = tree
        parts = _split(key)
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node.setdefault(parts[-1], type_)
    return tree


def _is_model(cls):
    return hasattr(cls, "_attribute_map") or bool(_rest_fields(cls)) if isinstance(cls, type) else False


def _subclass(cls, value, models):
    """The polymorphic subclass ``value`` is (by its discriminator), else ``cls``."""
    mapping = cls.__dict__.get("__mapping__")
    if mapping:  # TypeSpec style: the discriminator is a rest_discriminator field
        for f in _rest_fields(cls).values():
            if f._is_discriminator and isinstance(value.get(f._rest_name), str):
                sub = mapping.get(value[f._rest_name])
                if sub is not None and sub is not cls:
                    return _subclass(sub, value, models)
        return cls
    subtypes = getattr(cls, "_subtype_map", None) or {}
    for attr, table in subtypes.items():
        wire = _split(cls._attribute_map[attr]["key"])
        found = value
        for part in wire:
            found = found.get(part) if isinstance(found, dict) else None
        name = table.get(found) if isinstance(found, str) else None
        sub = getattr(models, name, None) if name else None
        if sub is not None and sub is not cls:  # a subtype table may name the class itself
            return _subclass(sub, value, models)
    return cls


def check_value(value, type_, models, path, problems):
    if type_ in SCALARS or type_ == "object" or value is None:
        return
    if type_.startswith("[") and type_.endswith("]"):
        if isinstance(value, list):
            for i, v in enumerate(value):
                check_value(v, type_[1:-1], models, f"{path}[{i}]", problems)
        else:
            problems.append(f"{path}: must be a list ({type_}), got {type(value).__name__}")
        return
    if type_.startswith("{") and type_.endswith("}"):
        if isinstance(value, dict):
            for k, v in value.items():
                check_value(v, type_[1:-1], models, f"{path}[{k!r}]", problems)
        else:
            problems.append(f"{path}: must be an object keyed by name ({type_}), got {type(value).__name__}")
        return
    cls = getattr(models, type_, None)
    if cls is None:
        # an enum (str) or a type the module does not define: nothing to walk
        return
    if not _is_model(cls):
        return
    if not isinstance(value, dict):
        problems.append(f"{path}: must be an object ({type_}), got {type(value).__name__}")
        return
    cls = _subclass(cls, value, models)
    check_tree(value, wire_tree(cls), models, path, problems, cls.__name__)


def check_tree(value, tree, models, path, problems, model_name):
    for key, inner in value.items():
        here = f"{path}.{key}" if path else key
        if key not in tree:
            problems.append(f"{here}: not a wire property of {model_name} (known: {', '.join(sorted(tree))})")
            continue
        expected = tree[key]
        if isinstance(expected, dict):
            if isinstance(inner, dict):
                check_tree(inner, expected, models, here, problems, model_name)
            else:
                problems.append(f"{here}: must be an object, got {type(inner).__name__}")
        else:
            check_value(inner, expected, models, here, problems)


def main():
    items = json.load(sys.stdin)
    out = {"problems": [], "checked": [], "missing": []}
    for item in items:
        arm_type, version, body = _type_of(item["type"]), item["apiVersion"], item["body"]
        where = f"{item['type']}@{version} {body.get('name')}"
        if arm_type not in MODELS:
            out["missing"].append([item["type"], version, "no SDK model mapped"])
            continue
        package, model = MODELS[arm_type]
        models, found = models_module(package, version)
        if models is None:
            out["missing"].append([item["type"], version, f"{package} has {found}"])
            continue
        cls = getattr(models, model)
        problems = []
        check_value({k: v for k, v in body.items() if k not in TEMPLATE_KEYS}, model, models, "", problems)
        out["problems"] += [f"{where}: {p}" for p in problems]
        out["checked"].append([item["type"], version, cls.__name__])
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
