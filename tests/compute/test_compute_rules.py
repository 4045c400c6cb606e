"""Rules the service enforces, checked before any resource: the extension's certificate, AKS
network plugin/policy pairs, cron ranges, instance type requests within limits; and the pure
helpers behind the AKS DNS prefix and the non-interactive kubeconfig."""

import re

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from amlplatform.iac.kubernetes.target import KUBELOGIN_MODES, dns_prefix, kubeconfig_with_login
from amlplatform.settings.compute import (
    NETWORK_POLICIES_BY_PLUGIN, InstanceTypeSettings, KubernetesSettings, ScheduleSettings, cpu_millicores,
    cron_problems, memory_bytes,
)
from amlplatform.settings.core import MonitoringSettings, RegistrySettings

TLS = {"ssl_secret": "azureml-scoring-tls", "ssl_cname": "scoring.fraud.internal"}


def _error(**fields) -> str:
    with pytest.raises(ValidationError) as err:
        KubernetesSettings(name="inference", api_server_access="public", **fields)
    return str(err.value)


# ---------------------------------------------------------------------------- extension certificate

@pytest.mark.parametrize("extension,message", [
    ({}, "allow_insecure_connections false (HTTPS scoring) needs a certificate"),
    ({"ssl_secret": "tls"}, "needs ssl_cname"),
    ({"ssl_cert_pem": "c", "ssl_cname": "a.example.com"}, "ssl_cert_pem and ssl_key_pem go together"),
    ({**TLS, "ssl_cert_pem": "c", "ssl_key_pem": "k"}, "not both"),
    ({"allow_insecure_connections": True, **TLS}, "only used with allow_insecure_connections false"),
])
def test_https_scoring_needs_one_certificate_source(extension, message):
    assert message in _error(extension=extension)


@pytest.mark.parametrize("extension", [
    TLS,
    {"ssl_cert_pem": "c", "ssl_key_pem": "k", "ssl_cname": "scoring.example.com"},
    {"allow_insecure_connections": True},
    {"install": False},  # the cluster already has the extension: nothing is sent
])
def test_certificate_sources_the_extension_accepts(extension):
    assert KubernetesSettings(name="inference", api_server_access="public", extension=extension).extension is not None


# ---------------------------------------------------------------------------- network plugin/policy

@pytest.mark.parametrize("plugin", ["azure", "kubenet", "none"])
@pytest.mark.parametrize("policy", ["azure", "calico", "cilium", "none"])
def test_network_policy_must_suit_the_plugin(plugin, policy):
    accepted = {("azure", p) for p in ("azure", "calico", "cilium", "none")} | {
        ("kubenet", "calico"), ("kubenet", "none"), ("none", "none")}
    assert (policy in NETWORK_POLICIES_BY_PLUGIN[plugin]) == ((plugin, policy) in accepted)
    if (plugin, policy) in accepted:
        KubernetesSettings(name="inference", api_server_access="public", extension=TLS, network_plugin=plugin, network_policy=policy)
    else:
        text = _error(extension=TLS, network_plugin=plugin, network_policy=policy)
        assert "network_policy" in text and "network_plugin" in text


def test_kubenet_with_the_default_policy_is_refused():
    # the default policy (azure) counts: Azure network policy needs the azure plugin
    assert "network_policy 'azure' does not work with network_plugin 'kubenet'" in _error(
        extension=TLS, network_plugin="kubenet")


# ---------------------------------------------------------------------------- cron

@pytest.mark.parametrize("cron", ["0 19 * * *", "0 19 * * 1-5", "*/15 8-18 * * 1,3,5", "59 23 31 12 6",
                                  "0 0 1 1 0", "0-30/10 * 1-31/2 */3 *"])
def test_valid_cron(cron):
    assert cron_problems(cron) == []
    assert ScheduleSettings(action="Stop", cron=cron).cron == cron


@pytest.mark.parametrize("cron,problem", [
    ("99 99 * * *", "minute '99' is outside 0-59"),
    ("0 24 * * *", "hour '24' is outside 0-23"),
    ("0 0 0 * *", "day '0' is outside 1-31"),
    ("0 0 * 13 *", "month '13' is outside 1-12"),
    ("0 0 * * 7", "weekday '7' is outside 0-6"),
    ("0 0 * * 5-1", "runs backwards"),
    ("*/0 * * * *", "step in '*/0' is 0"),
    ("0 8 * * MON", "weekday 'MON' is not"),
    ("0 8 * *", "has 4 fields"),
])
def test_invalid_cron(cron, problem):
    assert any(problem in p for p in cron_problems(cron)), cron_problems(cron)
    with pytest.raises(ValidationError):
        ScheduleSettings(action="Stop", cron=cron)


_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]


@given(st.tuples(*[st.integers(0, 99) for _ in range(5)]))
def test_cron_numbers_are_valid_exactly_in_range(numbers):
    problems = cron_problems(" ".join(map(str, numbers)))
    in_range = all(low <= n <= high for n, (low, high) in zip(numbers, _RANGES))
    assert (problems == []) == in_range


# ---------------------------------------------------------------------------- instance types

@pytest.mark.parametrize("text,milli", [("1", 1000), ("0.5", 500), ("500m", 500), ("2.5", 2500), ("x", None)])
def test_cpu_quantities(text, milli):
    assert cpu_millicores(text) == milli


@pytest.mark.parametrize("text,size", [("4Gi", 4 * 2 ** 30), ("512Mi", 512 * 2 ** 20), ("1Ti", 2 ** 40),
                                       ("1024Ki", 2 ** 20), ("1000", 1000), ("4GB", None)])
def test_memory_quantities(text, size):
    assert memory_bytes(text) == size


def test_requests_above_limits_are_refused():
    with pytest.raises(ValidationError) as err:
        InstanceTypeSettings(name="big", cpu_request="3", memory_request="16Gi")  # default limits 2, 8Gi
    text = str(err.value)
    assert "cpu_request (3) is above cpu_limit (2)" in text
    assert "memory_request (16Gi) is above memory_limit (8Gi)" in text
    InstanceTypeSettings(name="ok", cpu_request="1500m", cpu_limit="2", memory_request="8192Mi", memory_limit="8Gi")


@given(st.integers(1, 8000), st.integers(1, 8000), st.sampled_from(["Mi", "Gi"]))
def test_request_is_valid_exactly_when_it_fits_the_limit(request_m, limit_m, unit):
    fits = request_m <= limit_m
    try:
        InstanceTypeSettings(name="t", cpu_request=f"{request_m}m", cpu_limit=f"{limit_m}m",
                             memory_request=f"{request_m}{unit}", memory_limit=f"{limit_m}{unit}")
    except ValidationError:
        assert not fits
    else:
        assert fits


# ---------------------------------------------------------------------------- descriptions

def test_create_only_and_governing_settings_say_so():
    assert "Create-only" in RegistrySettings.model_fields["zone_redundancy"].description
    assert "Application Insights" in MonitoringSettings.model_fields["retention_days"].description


# ---------------------------------------------------------------------------- AKS DNS prefix

_DNS_PREFIX = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,52}[A-Za-z0-9])?")
aks_names = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?", fullmatch=True)


@given(aks_names)
def test_dns_prefix_is_valid_and_follows_the_name(name):
    prefix = dns_prefix(name)
    assert _DNS_PREFIX.fullmatch(prefix), prefix
    assert name.replace("_", "-").startswith(prefix)
    if len(name) <= 54 and "_" not in name:
        assert prefix == name  # a valid prefix already: kept as is (dnsPrefix is create-only)


# ---------------------------------------------------------------------------- kubelogin

def _exec_kubeconfig(args):
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "aks",
        "clusters": [{"name": "aks", "cluster": {"server": "https://aks.example:443"}}],
        "contexts": [{"name": "aks", "context": {"cluster": "aks", "user": "u"}}],
        "users": [{"name": "u", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin", "args": args}}},
                  {"name": "other", "user": {"token": "abc"}}],
    }, sort_keys=False)


AKS_EXEC_ARGS = ["get-token", "--environment", "AzurePublicCloud", "--server-id",
                 "6dae42f8-4368-4678-94ff-3960e28e3630", "--client-id", "80faf920-1908-4b52-b5ef-a8e7bedfc67a",
                 "--tenant-id", "72f988bf-86f1-41af-91ab-2d7cd011db47", "--login", "devicecode"]
extra_args = st.lists(st.sampled_from(["--login", "-l", "--client-id", "--environment", "AzureChinaCloud",
                                       "devicecode", "interactive", "--login=devicecode", "x"]), max_size=6)


@given(st.sampled_from(KUBELOGIN_MODES), extra_args)
def test_kubeconfig_login_is_never_interactive(mode, extra):
    before = yaml.safe_load(_exec_kubeconfig(AKS_EXEC_ARGS + extra))
    text = kubeconfig_with_login(_exec_kubeconfig(AKS_EXEC_ARGS + extra), mode)
    after = yaml.safe_load(text)
    args = after["users"][0]["user"]["exec"]["args"]
    # exactly one login, the chosen one, at the end; no device-code client id left behind
    assert args[-2:] == ["--login", mode]
    assert [a for a in args if a.split("=")[0] in ("--login", "-l")] == ["--login"]
    assert "--client-id" not in args and "80faf920-1908-4b52-b5ef-a8e7bedfc67a" not in args
    assert args[args.index("--server-id") + 1] == "6dae42f8-4368-4678-94ff-3960e28e3630"
    assert args[0] == "get-token"
    # nothing else changes, and converting again changes nothing
    for key in ("clusters", "contexts", "current-context"):
        assert after[key] == before[key]
    assert after["users"][1] == before["users"][1]
    assert kubeconfig_with_login(text, mode) == text


def test_kubeconfig_without_kubelogin_is_left_alone():
    admin = yaml.safe_dump({"apiVersion": "v1", "users": [{"name": "a", "user": {"token": "t"}}]})
    assert kubeconfig_with_login(admin) == admin
    with pytest.raises(ValueError):
        kubeconfig_with_login(admin, "devicecode")
