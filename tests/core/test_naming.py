"""Physical names: always valid for Azure, deterministic, overridable with the same rules."""

import re

import pytest
from hypothesis import given, settings, strategies as st

from amlplatform.azure import naming

workloads = st.from_regex(r"[a-z][a-z0-9]{1,11}", fullmatch=True)
environments = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True)
seeds = st.text(max_size=40)


@settings(max_examples=300)
@given(workloads, environments, seeds)
def test_generated_names_always_satisfy_azure_rules(workload, environment, seed):
    names = naming.generate(workload, environment, seed=seed)
    for kind, name in vars(names).items():
        assert naming.check(kind, name) == [], (kind, name)
    assert len(names.storage_account) <= 24 and len(names.key_vault) <= 24


@given(workloads, environments, seeds)
def test_names_are_deterministic(workload, environment, seed):
    assert naming.generate(workload, environment, seed=seed) == naming.generate(workload, environment, seed=seed)


@given(workloads, environments, seeds, seeds)
def test_seed_changes_only_globally_unique_names(workload, environment, seed_a, seed_b):
    a = naming.generate(workload, environment, seed=seed_a)
    b = naming.generate(workload, environment, seed=seed_b)
    for kind in ("resource_group", "workspace", "log_analytics", "app_insights", "aks"):
        assert getattr(a, kind) == getattr(b, kind)


def test_globally_unique_names_carry_prefix_workload_environment_and_hash():
    names = naming.generate("fraud", "prod", seed="s")
    h = naming.stable_hash("fraud", "prod", "s")
    assert names.storage_account == f"stfraudprod{h}"
    assert names.key_vault == f"kv-fraud-prod-{h}"
    assert names.container_registry == f"crfraudprod{h}"
    assert names.workspace == "mlw-fraud-prod"


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_stable_hash_is_short_lowercase_alphanumeric(parts):
    h = naming.stable_hash(*parts)
    assert re.fullmatch(r"[0-9a-z]{5}", h)


@pytest.mark.parametrize("kind,name,fragment", [
    ("storage_account", "My-St", "lowercase letters and digits"),
    ("storage_account", "ab", "3-24 characters"),
    ("key_vault", "kv--double", "must not contain '--'"),
    ("key_vault", "1kv", "starts with a letter"),
    ("container_registry", "cr-x-y", "letters and digits only"),
    ("workspace", "a" * 34, "3-33 characters"),
    ("compute", "gpu-1", "followed later by a letter"),
    ("compute", "1cpu", "starts with a letter"),
    ("compute", "cpu-cluster-large-x", "3-16 characters"),
    ("log_analytics", "log-", "ends with a letter or digit"),
])
def test_invalid_names_name_the_rule(kind, name, fragment):
    problems = naming.check(kind, name)
    assert problems and any(fragment in p for p in problems), problems


def test_override_is_checked_against_the_same_rule():
    with pytest.raises(ValueError) as err:
        naming.generate("fraud", "dev", overrides={"storage_account": "My-St", "key_vault": "kv-ok-name"})
    assert "storage_account 'My-St'" in str(err.value)
    names = naming.generate("fraud", "dev", overrides={"storage_account": "stmine01"})
    assert names.storage_account == "stmine01"


def test_unknown_override_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown kind"):
        naming.generate("fraud", "dev", overrides={"storage": "x"})


@given(st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True), st.text(min_size=1, max_size=60))
def test_instance_names_are_valid_and_stable(prefix, user):
    name = naming.instance_name(prefix, user)
    assert naming.check("compute", name) == []
    assert name == naming.instance_name(prefix, user)


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{1,14}[A-Za-z0-9]", fullmatch=True))
def test_compute_rule_matches_its_definition(name):
    expected = all(re.search(r"[A-Za-z]", name[i + 1:]) for i, c in enumerate(name) if c == "-")
    assert (naming.check("compute", name) == []) == expected
