"""Data-plane access, customer-managed keys, locks, diagnostics, soft delete and create-only
properties: settings errors, the pure mappings, and what the shipped stacks declare."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlplatform.iac.platform import workspace as mapping
from amlplatform.errors import UserError
from amlplatform.offline.engine import UNKNOWN
from amlplatform.settings import settings_from_config
from amlplatform.settings.access import ROLE_GUIDS
from amlplatform.settings.protection import after_destroy_steps

# private by default: the workspace, storage and key vault need an inbound path (a VNet for their
# private endpoints), which is not what these tests are about
BASE = {"amlplatform:location": "westeurope", "amlplatform:naming": {"workload": "fraud", "environment": "tst"},
        "amlplatform:network": {"vnet": {"address_space": ["10.50.0.0/24"], "private_endpoints_subnet": "10.50.0.0/26"}}}
GROUP = "5b3c0a1e-7d2f-4e8a-9c61-2f4d8e9a0b13"
USER = "3f1c9a52-6d7e-4b8f-a012-5c6d7e8f9a0b"
ROLE = "azure-native:authorization:RoleAssignment"
LOCK = "azure-native:authorization:ManagementLockByScope"
DIAG = "azure-native:monitor:DiagnosticSetting"


def settings(**extra):
    return settings_from_config({**BASE, **{f"amlplatform:{k}": v for k, v in extra.items()}})


def problems(**extra):
    with pytest.raises(UserError) as info:
        settings(**extra)
    return info.value.problems


# ------------------------------------------------------------------ settings

def test_people_without_data_access_on_a_keyless_account_is_a_settings_error():
    (problem,) = problems(role_assignments=[{"principal_id": GROUP, "role": "AzureML Data Scientist"}])
    assert "access.data_scientists" in problem and "allow_shared_key_access" in problem
    # the same people as data scientists, or shared keys on, or a data role: fine
    settings(access={"data_scientists": [{"principal_id": GROUP}]})
    settings(role_assignments=[{"principal_id": GROUP, "role": "AzureML Data Scientist"}],
             storage={"allow_shared_key_access": True})
    settings(role_assignments=[{"principal_id": GROUP, "role": "AzureML Data Scientist"},
                               {"principal_id": GROUP, "role": "Storage Blob Data Contributor",
                                "scope": "resource_group"}])


def test_instance_users_without_their_storage_roles_is_a_settings_error():
    instances = {"users": [{"object_id": USER}]}
    settings(instances=instances)  # instance users get the data roles by default
    (problem,) = problems(instances=instances, access={"instance_users": False})
    assert "access.data_scientists" in problem


def test_a_data_scientist_also_in_role_assignments_is_an_error():
    (problem,) = problems(access={"data_scientists": [{"principal_id": GROUP}]},
                          role_assignments=[{"principal_id": GROUP, "role": "AzureML Data Scientist"}])
    assert "role_assignments[0] repeats access.data_scientists" in problem


def test_access_settings_reject_repeats_and_bad_ids():
    found = problems(access={"data_scientists": [{"principal_id": GROUP}, {"principal_id": GROUP.upper()}]})
    assert any("repeats entry 0" in p for p in found)
    found = problems(access={"data_scientists": [{"principal_id": "not-a-guid"}]})
    assert any("access.data_scientists[0].principal_id" in p for p in found)


def test_customer_managed_key_needs_the_stacks_own_vault_and_storage():
    kv = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/r/providers/Microsoft.KeyVault/vaults/kv"
    found = problems(encryption={"customer_managed_key": True}, key_vault={"existing_id": kv})
    assert any("key_vault.existing_id" in p for p in found)
    found = problems(encryption={"customer_managed_key": True, "key_name": "bad_name"})
    assert any("encryption.key_name" in p for p in found)


def test_locks_and_recover_mode_settings():
    assert settings(locks={"enabled": True}).locks.resources == ["storage", "key_vault", "log_analytics", "workspace"]
    assert any("repeats storage" in p for p in problems(locks={"enabled": True, "resources": ["storage", "storage"]}))
    assert any("locks.resources" in p for p in problems(locks={"resources": ["registry"]}))
    kv = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/r/providers/Microsoft.KeyVault/vaults/kv"
    assert any("create_mode recover" in p for p in problems(key_vault={"create_mode": "recover", "existing_id": kv}))


# ------------------------------------------------------------------ pure mappings

def test_storage_roles_for_data_scientists_and_instance_users_without_repeats():
    s = settings(access={"data_scientists": [{"principal_id": GROUP, "description": "team"},
                                             {"principal_id": USER, "principal_type": "User"}]},
                 instances={"users": [{"object_id": USER}]})
    specs = mapping.storage_role_specs(s)
    pairs = [(x["principal_id"], x["role_definition_guid"]) for x in specs]
    assert len(pairs) == len(set(pairs)) == 4
    assert {x["role_definition_guid"] for x in specs} == {
        ROLE_GUIDS["Storage Blob Data Contributor"], ROLE_GUIDS["Storage File Data Privileged Contributor"]}
    assert mapping.storage_role_specs(settings(storage={"allow_shared_key_access": True})) == []


guids = st.uuids().map(str)


@given(st.lists(guids, max_size=4), st.lists(guids, max_size=4), st.booleans())
def test_storage_role_specs_give_each_person_both_roles_once(scientists, users, instance_users):
    s = settings(access={"data_scientists": [{"principal_id": p} for p in dict.fromkeys(scientists)],
                         "instance_users": instance_users},
                 # no instances key without users (a stack value must have its setting's type: no null)
                 **({"instances": {"users": [{"object_id": u} for u in dict.fromkeys(users)]}} if users else {}),
                 **({} if instance_users or not users or scientists else {"storage": {"allow_shared_key_access": True}}))
    specs = mapping.storage_role_specs(s)
    people = set(scientists) | (set(users) if instance_users else set())
    assert {x["principal_id"] for x in specs} == people
    pairs = [(x["principal_id"], x["role_definition_guid"]) for x in specs]
    assert len(pairs) == len(set(pairs)) == 2 * len(people)


def test_cmk_and_lock_args():
    assert mapping.cmk_args(settings()) == {}
    assert mapping.lock_args(settings()) == {}
    cmk = mapping.cmk_args(settings(encryption={"customer_managed_key": True}, key_vault={"sku": "premium"}))
    assert cmk == {"key_name": "cmk-aml", "key_size": 3072, "hsm": True, "identity_name": "id-mlw-fraud-tst-cmk"}
    locks = mapping.lock_args(settings(locks={"enabled": True, "resources": ["workspace"]}))
    assert locks == {"workspace": {"kind": "CanNotDelete",
                                   "notes": "Holds the data of the Azure ML platform; remove this lock on purpose only"}}


# ------------------------------------------------------------------ soft delete

def test_after_destroy_steps_purge_in_dev_and_recover_with_purge_protection():
    common = dict(key_vault_name="kv-fraud-dev-x", workspace_name="mlw-fraud-dev", resource_group="rg-fraud-dev",
                  location="westeurope", retention_days=7)
    dev = after_destroy_steps(**common, purge_protection=False, protected=False, locked=False)
    assert any("az keyvault purge -n kv-fraud-dev-x -l westeurope" in s for s in dev)
    assert any("--permanently-delete" in s for s in dev)
    prod = after_destroy_steps(**common, purge_protection=True, protected=True, locked=True)
    assert "protect: true and locks.enabled: true" in prod[0]
    assert not any("az keyvault purge" in s for s in prod)
    assert any("create_mode: recover" in s for s in prod)


def test_dev_reason_text_says_what_purge_protection_off_allows(project_root):
    import yaml

    config = yaml.safe_load((project_root / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    reason = next(e["reason"] for e in config["amlplatform:policy_exceptions"] if e["rule"] == "CKV_AZURE_110")
    # soft delete keeps the name taken even without purge protection; what the flag allows is purging
    assert "purge" in reason and "reuse its vault name at once" not in reason


def test_recover_mode_reaches_the_vault(make_stack):
    from amlplatform.offline.engine import evaluate_stack

    project = make_stack({**BASE, "amlplatform:key_vault": {"create_mode": "recover"}}, name="recover")
    g = evaluate_stack("recover", project_dir=project)
    assert g.one("azure-native:keyvault:Vault").inputs["properties"]["createMode"] == "recover"


# ------------------------------------------------------------------ what the shipped stacks declare

def test_prod_locks_storage_vault_audit_logs_and_workspace(stack_graph):
    g = stack_graph("prod")
    locks = g.of_type(LOCK)
    targets = {lk.inputs["scope"] for lk in locks}
    assert targets == {g.one("azure-native:storage:StorageAccount").id, g.one("azure-native:keyvault:Vault").id,
                       g.one("azure-native:operationalinsights:Workspace").id,
                       g.one("azure-native:machinelearningservices:Workspace").id}
    assert {lk.inputs["level"] for lk in locks} == {"CanNotDelete"}
    assert len({lk.inputs["lockName"] for lk in locks}) == 4  # distinct names: the ARM export sees all four
    assert not stack_graph("dev").of_type(LOCK) and not stack_graph("staging").of_type(LOCK)


def test_prod_encrypts_workspace_and_storage_with_its_key(stack_graph):
    g = stack_graph("prod")
    key = g.one("azure-native:keyvault:Key")
    vault = g.one("azure-native:keyvault:Vault")
    # the CMK identity (the other user-assigned identity is the AKS control plane's, k8s-inference-identity)
    (uai,) = [u for u in g.of_type("azure-native:managedidentity:UserAssignedIdentity") if not u.name.startswith("k8s-")]
    assert key.inputs["properties"]["kty"] == "RSA-HSM"  # prod's vault is premium
    assert vault.inputs["properties"]["enablePurgeProtection"] is True
    ws = g.one("azure-native:machinelearningservices:Workspace").inputs["encryption"]
    assert ws["status"] == "Enabled" and ws["keyVaultProperties"]["keyVaultArmId"] == vault.id
    assert ws["identity"]["userAssignedIdentity"] == uai.id
    # the key's URI is Azure's answer to the create: known after deploy, as `pulumi preview` shows it
    assert ws["keyVaultProperties"]["keyIdentifier"] == UNKNOWN
    sa = g.one("azure-native:storage:StorageAccount").inputs
    assert sa["encryption"]["keySource"] == "Microsoft.Keyvault"
    assert sa["encryption"]["keyVaultProperties"] == {"keyName": "cmk-aml", "keyVaultUri": UNKNOWN}
    assert key.urn in g.one("azure-native:storage:StorageAccount").property_dependencies["encryption"]
    assert sa["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [uai.id]}
    grant = [r for r in g.of_type(ROLE) if r.inputs["roleDefinitionId"].endswith(ROLE_GUIDS[
        "Key Vault Crypto Service Encryption User"])]
    # scoped to the key itself, not the whole vault (Key Vault RBAC, key scope: rbac-guide)
    assert len(grant) == 1 and grant[0].inputs["scope"] == f"{vault.id}/keys/cmk-aml"
    assert grant[0].inputs["scope"] != vault.id
    assert "encryption" not in stack_graph("staging").one("azure-native:machinelearningservices:Workspace").inputs


def test_data_roles_in_prod(stack_graph):
    g = stack_graph("prod")
    storage = g.one("azure-native:storage:StorageAccount").id
    on_storage = {(r.inputs["principalId"], r.inputs["roleDefinitionId"].rsplit("/", 1)[-1])
                  for r in g.of_type(ROLE) if r.inputs["scope"] == storage and r.inputs["principalType"] != "ServicePrincipal"}
    for person in (GROUP, "7a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d"):  # the data scientists, an instance user
        assert (person, ROLE_GUIDS["Storage Blob Data Contributor"]) in on_storage
        assert (person, ROLE_GUIDS["Storage File Data Privileged Contributor"]) in on_storage
    # the data scientists' workspace role keeps the URN it had as a role_assignments entry
    ws_role = g.named(f"ml-access-azureml-data-scientist-{GROUP[:8]}")
    assert ws_role.inputs["roleDefinitionId"].endswith(ROLE_GUIDS["AzureML Data Scientist"])
    # each cluster's identity: blob data on storage, AcrPull on the registry; the cluster batch deployments
    # run on (cpu) also queue and table data on the storage (AMLD-042)
    registry = g.one("azure-native:containerregistry:Registry").id
    for cluster, extra in (("cpu", {(storage, ROLE_GUIDS["Storage Queue Data Contributor"]),
                                    (storage, ROLE_GUIDS["Storage Table Data Contributor"])}), ("gpu", set())):
        compute = g.named(f"cluster-{cluster}-compute")
        mine = [r for r in g.of_type(ROLE) if compute.urn in r.property_dependencies.get("principalId", [])]
        assert {(r.inputs["scope"], r.inputs["roleDefinitionId"].rsplit("/", 1)[-1]) for r in mine} == {
            (storage, ROLE_GUIDS["Storage Blob Data Contributor"]), (registry, ROLE_GUIDS["AcrPull"])} | extra


def test_diagnostics_cover_blob_service_registry_and_aks(stack_graph):
    g = stack_graph("prod")
    targets = {d.inputs["resourceUri"] for d in g.of_type(DIAG)}
    blob = g.one("azure-native:storage:BlobServiceProperties")
    assert {blob.id, g.one("azure-native:containerregistry:Registry").id,
            g.one("azure-native:containerservice:ManagedCluster").id} <= targets
    blob_diag = next(d for d in g.of_type(DIAG) if d.inputs["resourceUri"] == blob.id)
    assert blob_diag.inputs["metrics"] == [{"category": "Transaction", "enabled": True}]


def test_diagnostics_off_declares_none(make_stack):
    from amlplatform.offline.engine import evaluate_stack

    project = make_stack({**BASE, "amlplatform:diagnostics": {"enabled": False}}, name="nodiag")
    assert evaluate_stack("nodiag", project_dir=project).of_type(DIAG) == []


# ------------------------------------------------------------------ create-only properties

def test_create_only_properties_are_recorded_and_shown_as_replacements(stack_graph, make_stack, project_root):
    """A cluster's VM size is create-only: the program declares it (replace_on_changes), the engine
    records it, and `plan --diff` shows REPLACE (not an update Azure would ignore)."""
    import yaml

    from amlplatform.offline.engine import evaluate_stack
    from amlplatform.review.diff import diff_plans

    dev = stack_graph("dev")
    cluster = dev.named("cluster-cpu-compute")
    assert "properties.properties.vmSize" in cluster.replace_on_changes
    ws = dev.one("azure-native:machinelearningservices:Workspace")
    assert {"storageAccount", "keyVault", "encryption.status"} <= set(ws.replace_on_changes)

    config = yaml.safe_load((project_root / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    config["amlplatform:clusters"][0]["vm_size"] = "Standard_DS4_v2"
    config["amlplatform:clusters"][0]["max_nodes"] = 3
    project = make_stack(config, name="dev")
    changed = evaluate_stack("dev", project_dir=project)
    diff = diff_plans(json.loads(dev.to_json()), changed)
    (change,) = [r for r in diff.resources if r.name == "cluster-cpu-compute"]
    assert change.action == "replace"
    flags = {c.path: c.create_only for c in change.changes}
    assert flags["properties.properties.vmSize"] is True
    assert flags["properties.properties.scaleSettings.maxNodeCount"] is False


@given(st.sampled_from(["storage", "keyvault", "workspace"]), st.sampled_from(["storage", "keyvault", "workspace"]))
def test_lock_names_are_distinct_per_kind_and_valid(a, b):
    from amlplatform.iac.options.locks import lock_name

    assert (lock_name(a) == lock_name(b)) == (a == b)
    # ARM lock names: at most 260 characters, none of < > * % & : \ ? / +
    assert len(lock_name(a)) <= 260 and not set(lock_name(a)) & set('<>*%&:\\?/+')


# ------------------------------------------------------------------ components: conditions, batch, studio

MLW_BASE = {"resource_group_name": "rg-c", "location": "westeurope", "tenant_id": "t", "subscription_id": "s",
            "names": {"storage_account": "stc", "key_vault": "kv-c", "container_registry": "crc12345",
                      "workspace": "mlw-c", "log_analytics": "log-c", "app_insights": "appi-c"}}


def test_a_condition_is_sent_with_condition_version_2_and_without_one_neither_is():
    from amlplatform.azure.roles import read_only_containers_condition
    from amlplatform.iac.access.access import IdentityAccess, WorkspaceAccess
    from amlplatform.offline.engine import evaluate

    condition = read_only_containers_condition(["raw"])
    scope = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"

    def program():
        WorkspaceAccess("people", {"scope": scope, "assignments": [
            {"principal_id": GROUP, "principal_type": "Group", "role_name": "Storage Blob Data Contributor",
             "condition": condition},
            {"principal_id": GROUP, "principal_type": "Group", "role_name": "Storage File Data Privileged Contributor"}]})
        IdentityAccess("identity", {"subscription_id": "s", "principal_id": USER, "grants": [
            {"scope": scope, "scope_label": "storage", "roles": [
                {"principal_id": "", "principal_type": "ServicePrincipal", "role_name": "Storage Blob Data Contributor",
                 "condition": condition}]}]})

    g = evaluate(program, project="p", stack="s")
    by_name = {r.name: r.inputs for r in g.of_type(ROLE)}
    for name in ("people-storage-blob-data-contributor-5b3c0a1e", "identity-storage-storage-blob-data-contributor"):
        assert by_name[name]["condition"] == condition and by_name[name]["conditionVersion"] == "2.0"
    plain = by_name["people-storage-file-data-privileged-contributor-5b3c0a1e"]
    assert "condition" not in plain and "conditionVersion" not in plain


def test_mlworkspace_declares_queue_and_table_outbound_rules_to_its_storage_and_keeps_a_users_rule():
    from amlplatform import MLWorkspace
    from amlplatform.offline.engine import evaluate

    own = {"type": "PrivateEndpoint", "category": "UserDefined",
           "destination": {"service_resource_id": "/x", "subresource_target": "queue", "spark_enabled": True}}
    g = evaluate(lambda: MLWorkspace("c", {**MLW_BASE, "workspace": {
        "managed_network": "AllowInternetOutbound", "default_storage_outbound": ["queue", "table"],
        "outbound_rules": {"default-storage-queue": own}}}), project="p", stack="s")
    rules = g.one("azure-native:machinelearningservices:Workspace").inputs["managedNetwork"]["outboundRules"]
    storage = g.one("azure-native:storage:StorageAccount").id
    assert rules["default-storage-table"] == {"type": "PrivateEndpoint", "category": "UserDefined", "destination": {
        "serviceResourceId": storage, "subresourceTarget": "table", "sparkEnabled": False}}
    assert rules["default-storage-queue"]["destination"]["serviceResourceId"] == "/x"  # the user's rule wins


def test_mlworkspace_refuses_an_unknown_storage_outbound_target():
    from amlplatform import MLWorkspace
    from amlplatform.iac._base import ComponentArgsError
    from amlplatform.offline.engine import evaluate

    with pytest.raises(ComponentArgsError) as info:
        evaluate(lambda: MLWorkspace("c", {**MLW_BASE, "workspace": {"default_storage_outbound": ["blob"]}}),
                 project="p", stack="s")
    assert "args.workspace.default_storage_outbound: blob is not one of queue, table" in info.value.problems


def test_studio_reader_only_with_a_managed_network_and_storage_private_endpoints():
    from amlplatform import MLWorkspace
    from amlplatform.offline.engine import evaluate

    pe = {"subnet_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/pe",
          "dns_zone_ids": {z: f"/zones/{z}" for z in ("privatelink.blob.core.windows.net",
                                                       "privatelink.file.core.windows.net")},
          "groups": {"storage": ["blob", "file"]}}
    readers = {}
    for mode in ("AllowInternetOutbound", "Disabled"):
        g = evaluate(lambda: MLWorkspace("c", {**MLW_BASE, "private_endpoints": pe,
                                               "workspace": {"managed_network": mode}}), project="p", stack="s")
        readers[mode] = {r.inputs["scope"].rsplit("/", 1)[-1] for r in g.of_type(ROLE)
                         if r.inputs["roleDefinitionId"].endswith(ROLE_GUIDS["Reader"])}
    assert readers == {"AllowInternetOutbound": {"pe-stc-blob", "pe-stc-file"}, "Disabled": set()}


def test_read_only_containers_are_the_stacks_own_non_writable_blob_datastores():
    s = settings(datastores=[
        {"name": "raw", "container": "raw-data"},
        {"name": "curated", "container": "curated", "writable": True, "readers": [{"principal_id": USER}]},
        {"name": "reports", "kind": "file_share", "container": "reports"},
        {"name": "elsewhere", "container": "landing", "create": False, "storage_account_id":
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
            "Microsoft.Storage/storageAccounts/stother"}],
        access={"data_scientists": [{"principal_id": GROUP}]})
    assert mapping.read_only_containers(s) == ["raw-data"]
    [blob, files] = mapping.storage_role_specs(s)
    assert blob["role_name"] == "Storage Blob Data Contributor" and "'raw-data'" in blob["condition"]
    assert files["role_name"] == "Storage File Data Privileged Contributor" and "condition" not in files
    assert "condition" not in mapping.storage_role_specs(settings(access={"data_scientists": [
        {"principal_id": GROUP}]}))[0]


def test_notebooks_off_grants_no_file_role_and_is_refused_with_instances():
    s = settings(access={"data_scientists": [{"principal_id": GROUP}], "notebooks": False})
    assert [r["role_name"] for r in mapping.storage_role_specs(s)] == ["Storage Blob Data Contributor"]
    text = " ".join(problems(access={"data_scientists": [{"principal_id": GROUP}], "notebooks": False},
                             instances={"vm_size": "Standard_DS3_v2", "users": [{"object_id": USER}]}))
    assert "access.notebooks: false" in text and "file share" in text


def test_a_read_only_file_share_datastore_whose_reader_writes_the_whole_account_is_refused():
    reader = {"principal_id": GROUP}
    share = {"name": "reports", "kind": "file_share", "container": "reports", "readers": [reader]}
    text = " ".join(problems(access={"data_scientists": [reader]}, datastores=[share]))
    assert "datastores[0]: file share 'reports' is read-only" in text and "another storage account" in text
    # writable, notebooks off, or a reader who holds no account-wide file role: fine
    settings(access={"data_scientists": [reader]}, datastores=[{**share, "writable": True}])
    settings(access={"data_scientists": [reader], "notebooks": False}, datastores=[share])
    settings(access={"data_scientists": [{"principal_id": USER}]}, datastores=[share])
