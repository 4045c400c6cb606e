"""Settings of datastores and endpoints: Azure's rules (cited in the settings modules), each bad
field named in the error, cross-block checks against the stack's clusters and Kubernetes targets."""

import re

import pytest
from hypothesis import given, strategies as st

from amlplatform.iac.data.datastores import data_scope, parse_account_id
from amlplatform.iac.serving.endpoints import traffic_problems
from amlplatform.errors import UserError
from amlplatform.settings.datastores import DatastoreSettings, secret_key_problems
from amlplatform.settings.endpoints import (
    BatchEndpointSettings, OnlineEndpointSettings, asset_id, duration_seconds, endpoint_name_problems,
)
from amlplatform.settings.stack import settings_from_config

# private by default: the workspace and its dependencies need an inbound path (a VNet for their
# private endpoints, and one for AKS nodes; tests/network), which is not what these tests are about
NETWORK = {"vnet": {"address_space": ["10.50.0.0/22"], "private_endpoints_subnet": "10.50.0.0/26",
                    "aks_subnet": "10.50.1.0/24"}}
BASE = {"amlplatform:location": "westeurope", "amlplatform:naming": {"workload": "fraud", "environment": "tst"},
        "amlplatform:network": NETWORK}
WS = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/" \
     "Microsoft.MachineLearningServices/workspaces/mlw"
ACCOUNT = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/" \
          "Microsoft.Storage/storageAccounts/stother"
MANAGED = {"name": "blue", "model": "azureml:credit-default:1", "instance_type": "Standard_DS3_v2"}
K8S_TARGET = {"name": "inference", "api_server_access": "private", "extension": {"allow_insecure_connections": True},
              "instance_types": [{"name": "cpu-small"}, {"name": "cpu-large"}]}
# a Kubernetes target brings a registry, private like the workspace: images are built on a cluster
BUILD_CLUSTER = {"amlplatform:clusters": [{"name": "cpu", "vm_size": "Standard_DS3_v2"}],
                 "amlplatform:workspace": {"image_build_compute": "cpu"}}


def problems_of(config):
    with pytest.raises(UserError) as info:
        settings_from_config({**BASE, **config})
    return info.value.problems


def one_problem(config, field):
    lines = [p for p in problems_of(config) if p.startswith(field)]
    assert lines, (field, problems_of(config))
    return " ".join(lines)


# ----------------------------------------------------------------------------- names (properties)

_letters = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_alnum = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@st.composite
def valid_names(draw):
    """A letter, then chunks of letters/digits joined by single dashes, 3-32 characters in all."""
    first = draw(_letters)
    chunks = draw(st.lists(st.text(_alnum, min_size=1, max_size=6), min_size=1, max_size=5))
    name = first + "-".join(chunks)
    return name[:32].rstrip("-") if len(name) > 32 else name


@given(valid_names())
def test_valid_endpoint_names_pass(name):
    if len(name) >= 3:
        assert endpoint_name_problems(name) == []


@given(valid_names(), st.sampled_from(["9", "-", "_", "."]))
def test_names_breaking_a_rule_fail(name, bad):
    assert endpoint_name_problems(bad + name)  # starts with a non-letter
    assert endpoint_name_problems(name + "-")  # ends with a dash
    assert endpoint_name_problems(name[:1] + "--" + name[1:] + "x")  # double dash


@given(st.integers(min_value=0, max_value=80))
def test_name_length_is_3_to_32(length):
    name = "a" * length
    assert (endpoint_name_problems(name) == []) == (3 <= length <= 32)


@given(st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True), st.from_regex(r"[0-9]{1,4}", fullmatch=True))
def test_workspace_asset_references_resolve_to_arm_ids(name, version):
    assert asset_id(f"azureml:{name}:{version}", WS, "models") == f"{WS}/models/{name}/versions/{version}"
    registry = f"azureml://registries/shared/models/{name}/versions/{version}"
    assert asset_id(registry, WS, "models") == registry


@given(st.integers(min_value=0, max_value=59), st.integers(min_value=0, max_value=59))
def test_durations(minutes, seconds):
    assert duration_seconds(f"PT{minutes}M{seconds}S") == minutes * 60 + seconds
    assert duration_seconds(f"{minutes}s") is None


# ----------------------------------------------------------------------------- online endpoints

def test_defaults_are_entra_auth_all_traffic_to_the_only_deployment():
    ep = OnlineEndpointSettings(name="fraud-score", deployments=[MANAGED])
    assert ep.effective_auth_mode == "AADToken"
    assert ep.effective_traffic == {"blue": 100}
    k8s = OnlineEndpointSettings(name="fraud-k8s", kind="kubernetes", compute="inference",
                                 deployments=[{"name": "blue", "model": "azureml:m:1"}])
    assert k8s.effective_auth_mode == "AMLToken"  # Entra tokens are managed-only


@pytest.mark.parametrize("endpoint, field, words", [
    ({"traffic": {"blue": 60, "green": 30}}, "online_endpoints[0]", "sum to 100, they sum to 90"),
    ({"traffic": {"blue": 100, "red": 0}}, "online_endpoints[0]", "'red', not deployments of this endpoint"),
    ({"mirror_traffic": {"green": 60}}, "online_endpoints[0]", "at most 50 percent"),
    ({"traffic": {"blue": 50, "green": 50}, "mirror_traffic": {"green": 10}}, "online_endpoints[0]",
     "live or mirrored traffic, not both"),
    ({"auth_mode": "Key"}, "online_endpoints[0]", "key_auth_reason: required with auth_mode Key"),
    ({"traffic": {}}, "online_endpoints[0]", "traffic: required with more than one deployment"),
    ({"compute": "inference"}, "online_endpoints[0]", "compute: only used with kind kubernetes"),
])
def test_online_endpoint_rules_name_the_field(endpoint, field, words):
    green = {**MANAGED, "name": "green"}
    config = {"name": "fraud-score", "deployments": [MANAGED, green], "traffic": {"blue": 100}, **endpoint}
    assert words in one_problem({"amlplatform:online_endpoints": [config]}, field)


def test_managed_deployment_rules():
    bad = {**MANAGED, "instance_type": "cpu-small", "request": {"request_timeout": "PT200S"}}
    text = one_problem({"amlplatform:online_endpoints": [{"name": "fraud-score", "deployments": [bad]}]},
                       "online_endpoints[0]")
    assert "deployments[0].instance_type: must be a VM size" in text
    assert "deployments[0].request.request_timeout: at most PT180S on managed endpoints" in text


def test_deployment_settings_fields():
    text = one_problem({"amlplatform:online_endpoints": [{"name": "fraud-score", "deployments": [
        {**MANAGED, "code": "azureml:score:1"}]}]}, "online_endpoints[0].deployments[0]")
    assert "code and scoring_script go together" in text
    text = one_problem({"amlplatform:online_endpoints": [{"name": "fraud-score", "deployments": [
        {**MANAGED, "model": "credit-default"}]}]}, "online_endpoints[0].deployments[0].model")
    assert "azureml:<name>:<version>" in text
    text = one_problem({"amlplatform:online_endpoints": [{"name": "1fraud", "deployments": []}]},
                       "online_endpoints[0].name")
    assert "must begin with a letter" in text


def test_kubernetes_endpoint_rules():
    base = {"name": "fraud-k8s", "kind": "kubernetes", "compute": "inference",
            "deployments": [{"name": "blue", "model": "azureml:m:1", "instance_type": "cpu-small"}]}
    config = {"amlplatform:kubernetes": [K8S_TARGET], **BUILD_CLUSTER}
    settings_from_config({**BASE, **config, "amlplatform:online_endpoints": [base]})  # valid
    assert "AADToken is supported on managed online endpoints only" in one_problem(
        {**config, "amlplatform:online_endpoints": [{**base, "auth_mode": "AADToken"}]}, "online_endpoints[0]")
    assert "mirroring is not supported on Kubernetes" in one_problem(
        {**config, "amlplatform:online_endpoints": [{**base, "mirror_traffic": {"blue": 10}}]}, "online_endpoints[0]")
    assert "6-62 characters" in one_problem(
        {**config, "amlplatform:online_endpoints": [{**base, "name": "f" * 32, "deployments": [
            {"name": "b" * 31, "model": "azureml:m:1"}]}]}, "online_endpoints[0]")


def test_kubernetes_deployment_needs_an_instance_type_of_its_target():
    endpoint = {"name": "fraud-k8s", "kind": "kubernetes", "compute": "inference",
                "deployments": [{"name": "blue", "model": "azureml:m:1", "instance_type": "gpu-large"}]}
    text = one_problem({"amlplatform:kubernetes": [K8S_TARGET], "amlplatform:online_endpoints": [endpoint],
                        **BUILD_CLUSTER}, "batch_endpoints")
    assert "online_endpoints[0].deployments[0].instance_type: 'gpu-large' is not an instance type of kubernetes " \
           "target 'inference' (cpu-small, cpu-large)" in text
    # no instance type named: the target's default (its first) is used, and it exists
    endpoint["deployments"][0].pop("instance_type")
    settings_from_config({**BASE, "amlplatform:kubernetes": [K8S_TARGET], "amlplatform:online_endpoints": [endpoint],
                          **BUILD_CLUSTER})


def test_kubernetes_endpoint_needs_a_declared_target():
    endpoint = {"name": "fraud-k8s", "kind": "kubernetes", "compute": "aks2",
                "deployments": [{"name": "blue", "model": "azureml:m:1"}]}
    text = one_problem({"amlplatform:online_endpoints": [endpoint]}, "batch_endpoints")
    assert "online_endpoints[0].compute: 'aks2' is not one of the stack's kubernetes targets (none)" in text


def test_endpoint_names_are_unique_per_region_case_insensitively():
    text = one_problem({"amlplatform:online_endpoints": [{"name": "Fraud-Score"}],
                        "amlplatform:batch_endpoints": [{"name": "fraud-score"}]}, "batch_endpoints")
    assert "batch_endpoints[0].name: 'fraud-score' is already used by online_endpoints[0]" in text


# ----------------------------------------------------------------------------- batch endpoints

def test_batch_deployment_runs_on_a_declared_cluster():
    endpoint = {"name": "fraud-batch", "deployments": [{"name": "nightly", "compute": "gpu", "model": "azureml:m:1"}]}
    text = one_problem({"amlplatform:clusters": [{"name": "cpu"}], "amlplatform:batch_endpoints": [endpoint]},
                       "batch_endpoints")
    assert "batch_endpoints[0].deployments[0].compute: 'gpu' is not one of the stack's clusters (cpu)" in text


def test_batch_deployment_kinds():
    with pytest.raises(ValueError, match="component: required with kind pipeline"):
        BatchEndpointSettings(name="fraud-batch", deployments=[{"name": "pipe1", "kind": "pipeline", "compute": "cpu"}])
    with pytest.raises(ValueError, match="model: only used with kind model"):
        BatchEndpointSettings(name="fraud-batch", deployments=[
            {"name": "pipe1", "kind": "pipeline", "compute": "cpu", "component": "azureml:c:1", "model": "azureml:m:1"}])
    with pytest.raises(ValueError, match="default_deployment: 'other' is not a deployment"):
        BatchEndpointSettings(name="fraud-batch", default_deployment="other",
                              deployments=[{"name": "nightly", "compute": "cpu", "model": "azureml:m:1"}])
    ep = BatchEndpointSettings(name="fraud-batch", deployments=[{"name": "nightly", "compute": "cpu", "model": "azureml:m:1"}])
    assert ep.effective_default == "nightly"


# ----------------------------------------------------------------------------- datastores

def test_datastore_defaults_are_identity_based_on_the_stack_storage():
    ds = DatastoreSettings(name="raw", container="raw-data")
    assert ds.auth == "identity" and ds.on_stack_storage and ds.creates_container
    assert ds.reader_role() == "Storage Blob Data Reader" and ds.workspace_role() == "Storage Blob Data Reader"
    share = DatastoreSettings(name="share", kind="file_share", container="share", readers=[
        {"principal_id": "5b3c0a1e-7d2f-4e8a-9c61-2f4d8e9a0b13"}], writable=True)
    assert share.reader_role() == "Storage File Data Privileged Contributor"


@pytest.mark.parametrize("datastore, words", [
    ({"kind": "adls_gen2"}, "storage_account_id: required with kind adls_gen2"),
    ({"auth": "account_key", "storage_account_id": ACCOUNT}, "secret_config_key: required with auth account_key"),
    ({"auth": "sas", "storage_account_id": ACCOUNT, "secret_config_key": "amlplatform:key"},
     "must be outside the amlplatform: namespace"),
    ({"auth": "sas", "storage_account_id": ACCOUNT, "secret_config_key": "sv=2024&sig=abc"},
     "must name a Pulumi config key"),
    ({"secret_config_key": "datastores:key"}, "secret_config_key: only used with a credential"),
    ({"container": "Raw_Data"}, "3-63 lowercase letters"),
    ({"name": "workspaceblobstore"}, "must not start with 'workspace'"),
    ({"auth": "account_key"}, "needs shared key access on the stack's storage"),
])
def test_datastore_rules_name_the_field(datastore, words):
    config = {"name": "raw", "container": "raw-data", **datastore}
    if config.get("auth") == "account_key" and "storage_account_id" not in config:
        config["secret_config_key"] = "datastores:raw-key"
    assert words in one_problem({"amlplatform:datastores": [config]}, "datastores")


@given(st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True), st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True))
def test_secret_keys_are_config_key_names(namespace, key):
    assert (secret_key_problems(f"{namespace}:{key}") == []) == (namespace != "amlplatform")
    assert secret_key_problems(key)  # no namespace: not a key name


def test_schema_lists_the_new_blocks():
    from amlplatform.settings.stack import json_schema

    props = json_schema()["properties"]["config"]["properties"]
    assert {"amlplatform:datastores", "amlplatform:online_endpoints", "amlplatform:batch_endpoints"} <= set(props)
    assert re.search("3-32", str(json_schema()["$defs"]["OnlineEndpointSettings"]))


# ----------------------------------------------------------------------------- pure helpers of the components

@st.composite
def splits(draw):
    """Deployment names and a split of 100 percent over some of them."""
    names = draw(st.lists(st.from_regex(r"[a-z][a-z0-9]{2,8}", fullmatch=True), min_size=1, max_size=5, unique=True))
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True))
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=len(chosen) - 1, max_size=len(chosen) - 1)))
    parts = [b - a for a, b in zip([0] + cuts, cuts + [100])]
    return names, dict(zip(chosen, parts))


@given(splits())
def test_a_split_of_100_over_own_deployments_is_valid(case):
    names, traffic = case
    assert traffic_problems(traffic, {}, names, kubernetes=False) == []
    assert traffic_problems(traffic, {}, names, kubernetes=True) == []


@given(splits(), st.integers(1, 99))
def test_a_split_that_is_off_or_names_others_is_refused(case, delta):
    names, traffic = case
    first = next(iter(traffic))
    off = {**traffic, first: traffic[first] + delta}
    assert any("must sum to 100" in p for p in traffic_problems(off, {}, names, kubernetes=False))
    assert any("not deployments" in p for p in traffic_problems({**traffic, "zzzz-other": 0}, {}, names,
                                                                kubernetes=False))
    assert any("Kubernetes" in p for p in traffic_problems(traffic, {names[0]: 0}, names, kubernetes=True))


@given(st.from_regex(r"[a-z0-9]{3,24}", fullmatch=True), st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True),
       st.sampled_from(["blob", "adls_gen2", "file_share"]))
def test_data_scopes_are_inside_their_account(account, container, kind):
    account_id = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-x/providers/"
                  f"Microsoft.Storage/storageAccounts/{account}")
    assert parse_account_id(account_id) == {"subscription": "00000000-0000-0000-0000-000000000000",
                                            "resource_group": "rg-x", "name": account}
    scope = data_scope(account_id, kind, container)
    assert scope.startswith(account_id + "/") and scope.endswith("/" + container)
    assert ("/fileServices/default/fileshares/" in scope) == (kind == "file_share")


def test_an_invalid_target_is_reported_once_not_again_by_its_endpoints():
    problems = problems_of({
        "amlplatform:kubernetes": [{**K8S_TARGET, "namespace": "azureml"}],
        "amlplatform:online_endpoints": [{"name": "fraud-k8s", "kind": "kubernetes", "compute": "inference",
                                          "deployments": [{"name": "blue", "model": "azureml:m:1"}]}]})
    assert any(p.startswith("kubernetes[0].namespace") for p in problems)
    assert not any("not one of the stack's kubernetes targets" in p for p in problems), problems
