"""ARM export: one test per resource type, plus the template-level traps (security.md)."""

import json

import pytest

from amlplatform.offline import armtypes
from amlplatform.review import arm
from tests.review import graphs as g


def export(*resources, exceptions=()):
    return arm.to_arm_template(g.graph(g.resource_group(), *resources), exceptions)


def one(*resources, exceptions=()):
    template = export(*resources, exceptions=exceptions)
    return template["resources"][-1]


def test_template_has_schema_and_content_version_and_no_resource_group():
    t = export(g.storage())
    assert t["$schema"].endswith("deploymentTemplate.json#")
    assert t["contentVersion"] == "1.0.0.0"
    assert [r["type"] for r in t["resources"]] == ["Microsoft.Storage/storageAccounts"]
    assert t["metadata"]["resourceGroup"]["location"] == "westeurope"


def test_storage_account_wire_names_and_top_level_fields():
    r = one(g.storage())
    assert r["type"] == "Microsoft.Storage/storageAccounts"
    assert r["apiVersion"] == armtypes.api_version("azure-native:storage:StorageAccount")
    assert r["name"] == "stt"
    assert r["kind"] == "StorageV2" and r["sku"] == {"name": "Standard_ZRS"} and r["tags"] == {"a": "b"}
    assert r["location"] == "westeurope"
    p = r["properties"]
    assert p["supportsHttpsTrafficOnly"] is True and "enableHttpsTrafficOnly" not in p
    assert p["networkAcls"] == {"defaultAction": "Deny", "bypass": "AzureServices"} and "networkRuleSet" not in p
    assert "accountName" not in p and "resourceGroupName" not in p and "accountName" not in r


def test_blob_services_is_named_parent_slash_default():
    blob = g.res("azure-native:storage:BlobServiceProperties", "blob",
                 {"accountName": "stt", "blobServicesName": "default", "isVersioningEnabled": True,
                  "deleteRetentionPolicy": {"enabled": True, "days": 7.0}})
    r = one(blob)
    assert r["type"] == "Microsoft.Storage/storageAccounts/blobServices"
    assert r["name"] == "stt/default"
    assert r["properties"]["deleteRetentionPolicy"]["days"] == 7
    assert isinstance(r["properties"]["deleteRetentionPolicy"]["days"], int)
    assert "blobServicesName" not in r["properties"]


def test_key_vault_keeps_its_properties_envelope():
    kv = g.res("azure-native:keyvault:Vault", "kv", {"vaultName": "kv-t", "location": "westeurope",
                                                     "properties": {"enableRbacAuthorization": True,
                                                                    "sku": {"family": "A", "name": "standard"}}})
    r = one(kv)
    assert r["type"] == "Microsoft.KeyVault/vaults" and r["name"] == "kv-t"
    assert r["properties"] == {"enableRbacAuthorization": True, "sku": {"family": "A", "name": "standard"}}
    assert "vaultName" not in r


def test_log_analytics_sku_lives_in_properties():
    la = g.res("azure-native:operationalinsights:Workspace", "log",
               {"workspaceName": "log-t", "location": "westeurope", "sku": {"name": "PerGB2018"},
                "retentionInDays": 30.0})
    r = one(la)
    assert r["type"] == "Microsoft.OperationalInsights/workspaces"
    assert "sku" not in r and r["properties"]["sku"] == {"name": "PerGB2018"}
    assert r["properties"]["retentionInDays"] == 30


def test_app_insights_uses_arm_pascal_case_names():
    ai = g.res("azure-native:applicationinsights:Component", "ai",
               {"resourceName": "appi-t", "location": "westeurope", "kind": "web", "applicationType": "web",
                "flowType": "Bluefield", "requestSource": "rest", "ingestionMode": "LogAnalytics",
                "disableLocalAuth": True, "workspaceResourceId": "/x", "publicNetworkAccessForQuery": "Enabled"})
    r = one(ai)
    assert r["type"] == "Microsoft.Insights/components" and r["kind"] == "web"
    assert r["properties"] == {"Application_Type": "web", "Flow_Type": "Bluefield", "Request_Source": "rest",
                               "IngestionMode": "LogAnalytics", "DisableLocalAuth": True,
                               "WorkspaceResourceId": "/x", "publicNetworkAccessForQuery": "Enabled"}


def test_container_registry():
    cr = g.res("azure-native:containerregistry:Registry", "cr",
               {"registryName": "crt", "location": "westeurope", "sku": {"name": "Premium"},
                "adminUserEnabled": False, "publicNetworkAccess": "Disabled"})
    r = one(cr)
    assert r["type"] == "Microsoft.ContainerRegistry/registries" and r["sku"] == {"name": "Premium"}
    assert r["properties"] == {"adminUserEnabled": False, "publicNetworkAccess": "Disabled"}


def test_ml_workspace_top_level_sku_kind_identity():
    r = one(g.workspace())
    assert r["type"] == "Microsoft.MachineLearningServices/workspaces" and r["name"] == "mlw-t"
    assert r["apiVersion"] == armtypes.api_version("azure-native:machinelearningservices:Workspace")
    assert r["kind"] == "Default" and r["identity"] == {"type": "SystemAssigned"} and r["sku"]["name"] == "Basic"
    assert r["properties"]["publicNetworkAccess"] == "Disabled"
    assert r["properties"]["managedNetwork"] == {"isolationMode": "AllowOnlyApprovedOutbound"}
    assert "workspaceName" not in r["properties"]


def test_compute_is_named_workspace_slash_compute_and_keeps_envelope():
    c = g.compute("cpu-cluster", "AmlCompute", {"vmSize": "Standard_DS3_v2",
                                                "scaleSettings": {"minNodeCount": 0.0, "maxNodeCount": 4.0}})
    r = one(c)
    assert r["type"] == "Microsoft.MachineLearningServices/workspaces/computes"
    assert r["name"] == "mlw-t/cpu-cluster"
    assert r["location"] == "westeurope"
    assert r["properties"]["computeType"] == "AmlCompute" and r["properties"]["disableLocalAuth"] is True
    assert r["properties"]["properties"]["scaleSettings"] == {"minNodeCount": 0, "maxNodeCount": 4}


def test_environment_container_and_version_names():
    ec = g.res("azure-native:machinelearningservices:EnvironmentContainer", "env",
               {"workspaceName": "mlw-t", "name": "sklearn", "properties": {"description": "d"}})
    ev = g.res("azure-native:machinelearningservices:EnvironmentVersion", "envv",
               {"workspaceName": "mlw-t", "name": "sklearn", "version": "1",
                "properties": {"image": "mcr.microsoft.com/azureml/x:latest"}}, [ec])
    t = export(ec, ev)
    c, v = t["resources"]
    assert (c["type"], c["name"]) == ("Microsoft.MachineLearningServices/workspaces/environments", "mlw-t/sklearn")
    assert (v["type"], v["name"]) == ("Microsoft.MachineLearningServices/workspaces/environments/versions",
                                      "mlw-t/sklearn/1")
    assert v["properties"] == {"image": "mcr.microsoft.com/azureml/x:latest"}
    assert v["dependsOn"] == [ec.id]


def test_managed_cluster_and_agent_pool():
    cluster = g.aks()
    pool = g.res("azure-native:containerservice:AgentPool", "pool",
                 {"resourceName": "aks-t", "agentPoolName": "inference", "vmSize": "Standard_D8s_v5",
                  "count": 2.0, "mode": "User"}, [cluster])
    t = export(cluster, pool)
    c, p = t["resources"]
    assert c["type"] == "Microsoft.ContainerService/managedClusters" and c["name"] == "aks-t"
    assert c["identity"] == {"type": "SystemAssigned"} and c["sku"]["tier"] == "Standard"
    assert c["properties"]["disableLocalAccounts"] is True and "resourceName" not in c["properties"]
    assert c["properties"]["agentPoolProfiles"][0]["count"] == 2
    assert p["type"] == "Microsoft.ContainerService/managedClusters/agentPools"
    assert p["name"] == "aks-t/inference" and p["properties"]["vmSize"] == "Standard_D8s_v5"
    assert p["dependsOn"] == [cluster.id]


def test_cluster_extension_is_scoped_to_the_cluster():
    ext = g.res("azure-native:kubernetesconfiguration:Extension", "ext",
                {"clusterRp": "Microsoft.ContainerService", "clusterResourceName": "managedClusters",
                 "clusterName": "aks-t", "extensionName": "azureml", "extensionType": "Microsoft.AzureML.Kubernetes",
                 "identity": {"type": "SystemAssigned"}, "scope": {"cluster": {"releaseNamespace": "azureml"}},
                 "configurationSettings": {"enableInference": "True"}})
    r = one(ext)
    assert r["type"] == "Microsoft.KubernetesConfiguration/extensions" and r["name"] == "azureml"
    assert r["scope"] == "Microsoft.ContainerService/managedClusters/aks-t"
    assert r["identity"] == {"type": "SystemAssigned"}
    assert r["properties"]["scope"] == {"cluster": {"releaseNamespace": "azureml"}}
    for k in ("clusterRp", "clusterResourceName", "clusterName", "extensionName"):
        assert k not in r["properties"]


def test_role_assignment_scope_short_form_and_resource_group_scope_omitted():
    ws = g.workspace()
    on_ws = g.res("azure-native:authorization:RoleAssignment", "ra1",
                  {"roleAssignmentName": "11111111-1111-1111-1111-111111111111", "scope": ws.id,
                   "principalId": "p", "roleDefinitionId": "/r"}, [ws])
    on_rg = g.res("azure-native:authorization:RoleAssignment", "ra2",
                  {"roleAssignmentName": "22222222-2222-2222-2222-222222222222", "scope": g.RG_ID,
                   "principalId": "p", "roleDefinitionId": "/r"})
    t = export(ws, on_ws, on_rg)
    a, b = t["resources"][1:]
    assert a["name"] == "11111111-1111-1111-1111-111111111111"
    assert a["scope"] == "Microsoft.MachineLearningServices/workspaces/mlw-t"
    assert "scope" not in b and "scope" not in b["properties"] and "roleAssignmentName" not in b["properties"]


def test_diagnostic_settings_use_the_nested_form_so_names_stay_unique():
    ws = g.workspace()
    kv = g.res("azure-native:keyvault:Vault", "kv", {"vaultName": "kv-t", "properties": {}})
    t = export(ws, kv, g.diag(ws, "d1"), g.diag(kv, "d2"))
    d1, d2 = t["resources"][2:]
    assert d1["type"] == "Microsoft.MachineLearningServices/workspaces/providers/diagnosticSettings"
    assert d1["name"] == "mlw-t/Microsoft.Insights/to-log-analytics"
    assert d2["type"] == "Microsoft.KeyVault/vaults/providers/diagnosticSettings"
    assert d2["apiVersion"] == armtypes.api_version("azure-native:monitor:DiagnosticSetting")
    assert "resourceUri" not in d1["properties"] and "name" not in d1["properties"]
    keys = {(r["type"], r["name"]) for r in t["resources"]}
    assert len(keys) == len(t["resources"])


def test_user_assigned_identity():
    uai = g.res("azure-native:managedidentity:UserAssignedIdentity", "uai",
                {"resourceName": "id-t", "location": "westeurope"})
    r = one(uai)
    assert (r["type"], r["name"], r["location"]) == ("Microsoft.ManagedIdentity/userAssignedIdentities", "id-t",
                                                     "westeurope")
    assert "properties" not in r


def test_kubernetes_objects_are_not_arm_resources():
    it = g.res("kubernetes:amlarc.azureml.com/v1alpha1:InstanceType", "it",
               {"metadata": {"name": "cpu-small"}, "spec": {}})
    t = export(g.storage(), it)
    assert [r["type"] for r in t["resources"]] == ["Microsoft.Storage/storageAccounts"]
    assert t["metadata"]["notArmResources"] == ["it"]


def test_secret_and_unknown_values_are_not_arm_expressions():
    r = one(g.storage(tags={"k": "[secret]", "u": "[unknown]"}))
    assert r["tags"] == {"k": "<secret>", "u": "<unknown>"}
    text = json.dumps(r)
    assert '"[' not in text


def test_depends_on_comes_from_recorded_dependencies_and_skips_the_resource_group():
    rg = g.resource_group()
    st = g.storage()
    ws = g.res(g.workspace().type, "ws", g.workspace().inputs, [rg, st])
    t = arm.to_arm_template(g.graph(rg, st, ws), [])
    assert t["resources"][1]["dependsOn"] == [st.id]
    assert "dependsOn" not in t["resources"][0]


def test_only_checkov_exceptions_become_skips_with_their_reason():
    exceptions = [arm.Exception_("CKV_AZURE_35", "st", "computes reach it over the public endpoint"),
                  arm.Exception_("438c38d2-3772-465a-a9cc-7a6666a275ce", "*", "dev is public on purpose"),
                  arm.Exception_("CKV_AZURE_59", "other", "not this resource")]
    r = one(g.storage(), exceptions=exceptions)
    assert r["metadata"] == {"checkov": ["checkov:skip=CKV_AZURE_35:computes reach it over the public endpoint"]}


def test_known_checkov_faults_are_skipped_only_where_the_declaration_is_right():
    good = g.aks(addonProfiles={"azureKeyvaultSecretsProvider": {"enabled": True,
                                                                 "config": {"enableSecretRotation": "true"}}})
    skips = one(good)["metadata"]["checkov"]
    assert any(s.startswith("checkov:skip=CKV_AZURE_172:") for s in skips)
    assert any(s.startswith("checkov:skip=CKV_AZURE_8:") for s in skips)
    bad = g.aks(addonProfiles={"azureKeyvaultSecretsProvider": {"enabled": True,
                                                                "config": {"enableSecretRotation": "false"}},
                               "kubeDashboard": {"enabled": True}})
    assert "metadata" not in one(bad)
    assert "metadata" in one(g.workspace())  # CKV_AZURE_243 with a managed network
    assert "metadata" not in one(g.workspace(managedNetwork={"isolationMode": "Disabled"}))


def test_every_token_in_armtypes_exports():
    for token, arm_type in armtypes.TYPES.items():
        if token == arm.RESOURCE_GROUP or token in arm.SECOND_WRITES or token in armtypes.DATA_PLANE:
            # not exported: see arm.SECOND_WRITES and armtypes.DATA_PLANE
            continue
        inputs = {p: "x" for p in arm._id_inputs(arm_type)}
        inputs.update({"resourceUri": g.storage().id, "scope": g.storage().id})
        r = arm.arm_resource(g.res(token, "r", inputs))
        assert r["apiVersion"], token
        assert r["type"].split("/")[0][0].isupper(), token


def test_prod_export_matches_the_recorded_graph(stack_graph):
    graph = stack_graph("prod")
    t = arm.to_arm_template(graph)
    exported = arm.exported_resources(graph)
    assert len(t["resources"]) == len(exported) == t["metadata"]["exportedResources"]
    assert len({(r["type"], r["name"]) for r in t["resources"]}) == len(t["resources"])
    text = json.dumps(t)
    assert '"[' not in text
    for res, r in zip(exported, t["resources"]):
        if res.type != arm.DIAGNOSTIC_SETTING:
            assert r["type"] == armtypes.lookup(res.type).arm_type
        assert r["apiVersion"] == armtypes.api_version(res.type)
    storage = next(r for r in t["resources"] if r["type"] == "Microsoft.Storage/storageAccounts")
    assert storage["properties"]["supportsHttpsTrafficOnly"] is True
