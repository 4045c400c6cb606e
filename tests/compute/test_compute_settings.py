"""Compute settings: secure defaults, one error naming every bad field, what needs images."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlplatform.errors import UserError
from amlplatform.offline.engine import evaluate_stack
from amlplatform.settings import settings_from_config
from amlplatform.settings.compute import (
    AML_TAINT, ClusterSettings, EnvironmentSettings, InstancesSettings, KubernetesSettings,
    duration_seconds,
)
from amlplatform.settings.stack import SECRET_PLACEHOLDER, read_stack_file

BASE = {"amlplatform:location": "westeurope",
        "amlplatform:naming": {"workload": "fraud", "environment": "tst"},
        # public: these tests are about compute; private stacks need amlplatform:network (tests/network)
        "amlplatform:workspace": {"public_network_access": "Enabled"}}
USER = "3f1c9a52-6d7e-4b8f-a012-5c6d7e8f9a0b"
AKS_ID = ("/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-shared"
          "/providers/Microsoft.ContainerService/managedClusters/aks-shared")
# HTTPS scoring needs a certificate: a Kubernetes secret the platform team creates
TLS = {"ssl_secret": "azureml-scoring-tls", "ssl_cname": "scoring.fraud.internal"}

BAD = {
    **BASE,
    "amlplatform:clusters": [
        {"name": "gpu-1", "priority": "Spot", "min_nodes": 5, "max_nodes": 2, "vm_size": "NC6"},
        {"name": "cpu", "idle_time_before_scale_down": "10 minutes"},
    ],
    "amlplatform:instances": {"idle_time_before_shutdown": "PT5M", "users": [{"object_id": "alice"}]},
}
EXPECTED_FIELDS = [
    "clusters[0].name", "clusters[0].vm_size", "clusters[0].priority", "clusters[0].max_nodes",
    "clusters[1].idle_time_before_scale_down", "instances.idle_time_before_shutdown",
    "instances.users[0].object_id",
]


def _problems(config):
    with pytest.raises(UserError) as err:
        settings_from_config(config)
    return err.value.problems, str(err.value)


def test_cluster_defaults_are_the_secure_ones():
    c = ClusterSettings(name="cpu")
    assert (c.min_nodes, c.max_nodes, c.priority) == (0, 4, "Dedicated")
    assert c.idle_time_before_scale_down == "PT120S"
    assert c.remote_login_port_public_access == "Disabled"
    assert c.identity == "SystemAssigned"
    assert c.node_public_ip is None  # derived: false with a subnet or a managed network


def test_instance_and_kubernetes_defaults():
    i = InstancesSettings(users=[{"object_id": USER}])
    assert i.idle_shutdown and i.idle_time_before_shutdown == "PT60M"
    assert i.names("fraud/dev") == [i.instance_name(i.users[0], "fraud/dev")]
    # instance names are unique per region across workspaces: the same user in two stacks
    assert i.instance_name(i.users[0], "fraud/dev") != i.instance_name(i.users[0], "fraud/prod")
    k = KubernetesSettings(name="inference", api_server_access="public", extension=TLS)
    assert k.creates_cluster and k.attach
    assert k.disable_local_accounts is False  # the extension needs local accounts
    assert (k.upgrade_channel, k.network_policy, k.sku_tier) == ("stable", "azure", "Standard")
    assert k.extension.release_train == "stable" and k.extension.cluster_purpose == "FastProd"
    assert k.extension.allow_insecure_connections is False
    assert k.inference_pool.taints == [AML_TAINT] and k.inference_pool.labels
    assert k.azure_policy


def test_one_error_names_every_bad_compute_field():
    problems, text = _problems(BAD)
    assert [p.split(":")[0] for p in problems] == EXPECTED_FIELDS
    assert "must be at least min_nodes (5)" in text
    assert "'Dedicated' or 'LowPriority'" in text
    assert "followed later by a letter" in text
    assert "Standard_DS3_v2" in text  # the VM size format, by example
    assert "PT15M and P3D" in text


def test_invalid_compute_block_fails_the_offline_plan_before_any_resource(make_stack):
    project = make_stack(BAD)
    with pytest.raises(UserError) as err:
        evaluate_stack("fixture", project_dir=project)
    for field in EXPECTED_FIELDS:
        assert field in str(err.value)


def test_compute_names_are_unique_across_clusters_instances_and_kubernetes():
    problems, _ = _problems({
        **BASE,
        "amlplatform:clusters": [{"name": "cpu"}, {"name": "CPU"}],
        "amlplatform:instances": {"users": [{"object_id": USER, "name": "serve"}]},
        "amlplatform:kubernetes": [{"name": "serve", "api_server_access": "public", "extension": TLS}, {"name": "other", "api_server_access": "public", "extension": TLS}],
    })
    assert problems[0].startswith("clusters: compute name 'CPU' of clusters[1] is already used by clusters[0]")
    problems, _ = _problems({
        **BASE,
        "amlplatform:clusters": [{"name": "cpu"}],
        "amlplatform:instances": {"users": [{"object_id": USER, "name": "cpu"}]},
        "amlplatform:kubernetes": [{"name": "cpu", "api_server_access": "public", "extension": TLS}, {"name": "other", "api_server_access": "public", "extension": TLS}],
    })
    assert problems == [
        "instances: compute name 'cpu' of instances.users[0] is already used by clusters[0]",
        "kubernetes: compute name 'cpu' of kubernetes[0] is already used by clusters[0]",
        "kubernetes: kubernetes[1] need an aks_name: only one created cluster can take the default AKS name",
    ]


def test_kubernetes_and_environment_rules():
    problems, _ = _problems({
        **BASE,
        "amlplatform:kubernetes": [{
            "name": "inference", "existing_id": AKS_ID, "extension": TLS,
            "inference_pool": {"name": "Inference Pool", "min_count": 3, "max_count": 1, "taints": ["oops"]},
            "instance_types": [{"name": "Small"}], "default_instance_type": "large",
        }],
        "amlplatform:environments": [{"name": "both", "image": "x", "conda_file": "y.yml"},
                                     {"name": "base-only", "image": "x", "base_image": "y"}],
    })
    fields = [p.split(":")[0] for p in problems]
    assert fields == [
        "kubernetes[0].inference_pool.name", "kubernetes[0].inference_pool.max_count",
        "kubernetes[0].inference_pool.taints", "kubernetes[0].instance_types[0].name",
        "environments[0]", "environments[1]",
    ]
    problems, _ = _problems({**BASE, "amlplatform:kubernetes": [
        {"name": "inference", "existing_id": AKS_ID, "extension": TLS}]})
    assert problems and "kubeconfig is required with existing_id" in problems[0]
    problems, _ = _problems({**BASE, "amlplatform:kubernetes": [
        {"name": "inference", "api_server_access": "public", "disable_local_accounts": True, "extension": TLS}]})
    # Azure ML does not support AKS without local accounts (how-to-deploy-kubernetes-extension, Limitations)
    assert len(problems) == 1 and problems[0].startswith("kubernetes[0].disable_local_accounts: must be false: ")
    assert "how-to-deploy-kubernetes-extension#limitations" in problems[0]


def test_needs_images_only_for_builds_and_kubernetes():
    def needs(**extra):
        return settings_from_config({**BASE, **{f"amlplatform:{k}": v for k, v in extra.items()}}).needs_images()

    assert not needs()
    assert not needs(clusters=[{"name": "cpu"}], instances={"users": [{"object_id": USER}]})
    assert not needs(environments=[{"name": "ready", "image": "mcr.microsoft.com/azureml/x:1"}])
    assert needs(environments=[{"name": "built", "conda_file": "env/conda.yml"}])
    assert needs(kubernetes=[{"name": "inference", "api_server_access": "public", "extension": TLS}])
    env = EnvironmentSettings(name="built", conda_file="conda.yml")
    assert env.builds_image and env.base_image is None  # the program fills the default base image


def test_nested_secrets_read_as_the_placeholder(tmp_path):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(
        "config:\n"
        "  amlplatform:location: westeurope\n"
        "  amlplatform:kubernetes:\n"
        "    - name: inference\n"
        f"      existing_id: {AKS_ID}\n"
        "      kubeconfig:\n"
        "        secure: v1:abc\n")
    config, secrets = read_stack_file(path)
    assert secrets == ["amlplatform:kubernetes"]
    assert config["amlplatform:kubernetes"][0]["kubeconfig"] == SECRET_PLACEHOLDER
    assert config["amlplatform:location"] == "westeurope"


@pytest.mark.parametrize("text,seconds", [
    ("PT120S", 120), ("PT60M", 3600), ("PT1H30M", 5400), ("P1D", 86400), ("P1DT1S", 86401),
    ("PT", None), ("P", None), ("120", None), ("pt5m", None), ("", None),
])
def test_duration_seconds(text, seconds):
    assert duration_seconds(text) == seconds


@given(st.integers(0, 3), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_duration_round_trip(d, h, m, s):
    text = "P" + (f"{d}D" if d else "") + "T" + f"{h}H{m}M{s}S"
    assert duration_seconds(text) == ((d * 24 + h) * 60 + m) * 60 + s


@given(st.integers(0, 1200), st.integers(0, 1200))
def test_node_counts_are_valid_exactly_when_min_does_not_exceed_max(low, high):
    from pydantic import ValidationError

    try:
        ClusterSettings(name="cpu", min_nodes=low, max_nodes=high)
    except ValidationError as exc:
        fields = {e["loc"][0] for e in exc.errors()}
        assert fields == {"max_nodes"}
        assert low > high or high < 1 or high > 1000
    else:
        assert low <= high and 1 <= high <= 1000


def test_endpoints_namespace_is_not_the_extension_namespace():
    problems, _ = _problems({**BASE, "amlplatform:kubernetes": [{"name": "inference", "api_server_access": "public", "namespace": "azureml"}]})
    assert problems == ["kubernetes[0].namespace: must not be 'azureml': the extension's own components "
                        "live there, got 'azureml'"]


RT = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-hub/providers/Microsoft.Network/routeTables/rt"
VNET_NET = {"vnet": {"address_space": ["10.50.0.0/22"], "private_endpoints_subnet": "10.50.0.0/26",
                     "aks_subnet": "10.50.1.0/24"}}


def test_egress_settings_name_the_route_table_where_the_platform_owns_the_subnet():
    target = {"name": "inference", "api_server_access": "public", "extension": TLS,
              "outbound_type": "userDefinedRouting"}
    problems, _ = _problems({**BASE, "amlplatform:network": VNET_NET, "amlplatform:kubernetes": [target]})
    assert problems == ["kubernetes[0] (inference): outbound_type userDefinedRouting needs network.egress_firewall (the "
                        "stack's own firewall) or route_table_id (the route table, 0.0.0.0/0 to your firewall, that "
                        "network.vnet.aks_subnet gets before the cluster)"]
    ok = settings_from_config({**BASE, "amlplatform:network": VNET_NET,
                               "amlplatform:kubernetes": [{**target, "route_table_id": RT}]})
    assert ok.kubernetes[0].route_table_id == RT
    problems, _ = _problems({**BASE, "amlplatform:kubernetes": [
        {"name": "inference", "api_server_access": "public", "extension": TLS, "route_table_id": RT}]})
    assert problems == ["kubernetes[0]: route_table_id is only used with outbound_type userDefinedRouting"]
    problems, _ = _problems({**BASE, "amlplatform:kubernetes": [
        {"name": "shared", "existing_id": AKS_ID, "kubeconfig": "x", "extension": TLS,
         "outbound_type": "userDefinedRouting"}]})
    assert problems == ["kubernetes[0]: outbound_type is for a created cluster (existing_id's egress is its owner's)"]


def test_scoring_certificate_config_keys_go_together_and_stay_outside_amlplatform():
    def ext(**extra):
        return {**BASE, "amlplatform:kubernetes": [{"name": "inference", "api_server_access": "public",
                                                    "extension": {"ssl_cname": "scoring.fraud.internal", **extra}}]}
    assert settings_from_config(ext(ssl_cert_config_key="scoring:cert", ssl_key_config_key="scoring:key"))
    problems, _ = _problems(ext(ssl_cert_config_key="scoring:cert"))
    assert any("ssl_cert_config_key and ssl_key_config_key go together" in p for p in problems)
    problems, _ = _problems(ext(ssl_cert_config_key="amlplatform:cert", ssl_key_config_key="scoring:key"))
    assert any(p.startswith("kubernetes[0].extension.ssl_cert_config_key: must be outside the amlplatform: namespace")
               for p in problems)
