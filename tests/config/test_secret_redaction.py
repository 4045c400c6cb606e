"""A secret config value is never printed or embedded (issue 20, item 4; issue 17, item 6): not in a
validation error, not in a logical name or URN, not in a physical name or an output; and a name
derived from a secret is the same offline (only a stand-in for the ciphertext is known) as in a
real run (the program reads the plaintext)."""

import json
import runpy

import pytest

from amlplatform.errors import UserError
from amlplatform.offline.engine import evaluate, evaluate_stack
from amlplatform.settings.stack import settings_from_strings
from conftest import ROOT
from config.test_secrets import NETWORK, everything_shown

SECRET = "5ec7e7a1-b2c3-4d5e-8f90-a1b2c3d4e5f6"  # a GUID (the settings below take one)
BAD = "BADSECRET-do-not-print-me"
BASE = {"amlplatform:location": "westeurope",
        "amlplatform:naming": {"workload": "fraud", "environment": "sec"},
        "amlplatform:network": NETWORK,
        # someone with data-plane access (a rule wants it when people get the workspace)
        "amlplatform:access": {"data_scientists": [{"principal_id": "3f1c9a52-1111-4222-8333-944455556666"}]}}


# The settings that hold an identity a stack may keep secret, each as (config key, its value
# around a given principal id). A secret key is secret as a whole (Pulumi's object.go).
CASES = {
    "tenant_id": ("amlplatform:tenant_id", lambda v: v),
    "role_assignments": ("amlplatform:role_assignments",
                         lambda v: [{"principal_id": v, "principal_type": "User", "role": "Reader"}]),
    "access.data_scientists": ("amlplatform:access",
                               lambda v: {"data_scientists": [{"principal_id": v, "principal_type": "User"}]}),
    "instances.users": ("amlplatform:instances", lambda v: {"users": [{"object_id": v}]}),
    "datastores.readers": ("amlplatform:datastores",
                           lambda v: [{"name": "raw", "kind": "blob", "container": "raw",
                                       "readers": [{"principal_id": v, "principal_type": "Group"}]}]),
}


def program():
    runpy.run_path(str(ROOT / "infra" / "__main__.py"), run_name="__main__")


def strings(config):
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def _secure_leaves(value, secret):
    """``value`` with ``secret`` replaced by ``{secure: ciphertext}`` as a stack file holds it."""
    if value == secret:
        return {"secure": "v1:c2VjcmV0LWNpcGhlcnRleHQ="}
    if isinstance(value, dict):
        return {k: _secure_leaves(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_secure_leaves(v, secret) for v in value]
    return value


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_secret_is_named_never_printed(case):
    key, build = CASES[case]
    config = strings({**BASE, key: build(BAD)})
    with pytest.raises(UserError) as caught:
        settings_from_strings(config, secret_keys=[key], secrets=[BAD])
    message = str(caught.value)
    assert BAD not in message and "got [secret]" in message
    assert key.partition(":")[2].split(".")[0] in message  # the field is still named
    # control: the same value, not secret, is quoted (so the assertion above can fail)
    with pytest.raises(UserError) as plain:
        settings_from_strings(config)
    assert BAD in str(plain.value)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_secret_is_not_printed_by_the_program(case):
    # what `pulumi up` prints: the program's own error (RunError), PULUMI_CONFIG_SECRET_KEYS known
    key, build = CASES[case]
    with pytest.raises(Exception) as caught:
        evaluate(program, project="amlplatform", stack="sec", config=strings({**BASE, key: build(BAD)}),
                 secret_keys=[key])
    assert "got [secret]" in str(caught.value) and BAD not in str(caught.value)


@pytest.fixture(scope="module", params=sorted(CASES))
def secret_runs(request, tmp_path_factory):
    """One case evaluated twice: as a real run (plaintext, key secret) and offline from a stack file
    with ``{secure: ...}`` (the engine's stand-in)."""
    import yaml

    key, build = CASES[request.param]
    real = evaluate(program, project="amlplatform", stack="sec", config=strings({**BASE, key: build(SECRET)}),
                    secret_keys=[key])
    project = tmp_path_factory.mktemp("secret") / "project"
    (project / "stacks").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    import shutil

    shutil.copytree(ROOT / "infra", project / "infra")
    config = {**BASE, key: _secure_leaves(build(SECRET), SECRET)}
    (project / "stacks" / "Pulumi.sec.yaml").write_text(yaml.safe_dump({"config": config}))
    offline = evaluate_stack("sec", project_dir=project)
    return request.param, real, offline


def test_a_secret_is_in_no_name_urn_output_or_export(secret_runs):
    case, real, _ = secret_runs
    shown = everything_shown(real)
    for text in (SECRET, SECRET[:8], SECRET.replace("-", "")[:8]):
        assert text not in shown, f"{case}: {text!r} shown"
    assert SECRET[:8] not in json.dumps([r.urn for r in real.resources])
    assert SECRET not in json.dumps(real.outputs)


def test_names_are_the_same_offline_and_in_a_real_run(secret_runs):
    case, real, offline = secret_runs
    assert [r.urn for r in offline.resources] == [r.urn for r in real.resources], case
    assert {r.urn: r.physical_name for r in offline.resources} == {r.urn: r.physical_name for r in real.resources}


def test_a_role_assignment_of_a_secret_principal_has_a_secret_guid(secret_runs):
    case, real, offline = secret_runs
    for graph in (real, offline):
        for ra in graph.of_type("azure-native:authorization:RoleAssignment"):
            if ra.inputs.get("principalId") == "[secret]":
                assert ra.inputs["roleAssignmentName"] == "[secret]", (case, ra.urn)


def test_a_principal_that_is_not_secret_keeps_todays_name():
    from amlplatform.azure import naming

    assert naming.name_part("3f1c9a52-0000", secret=False, where="x") == "3f1c9a52"
    assert naming.name_part(SECRET, secret=True, where="role_assignments[0]") == \
        naming.name_part("other", secret=True, where="role_assignments[0]")
    assert naming.name_part(SECRET, secret=True, where="role_assignments[0]") != \
        naming.name_part(SECRET, secret=True, where="role_assignments[1]")
    assert SECRET[:8] not in naming.name_part(SECRET, secret=True, where="role_assignments[0]")


def test_redact_hides_a_secret_wherever_a_message_quotes_it():
    from amlplatform.errors import redact, redact_problem

    assert redact(f"bad value {BAD!r} in 'x'", [BAD]) == "bad value [secret] in 'x'"
    assert redact(f"prefix-{BAD}-suffix", [BAD]) == "prefix-[secret]-suffix"
    # a short secret only where it is the quoted value, not as a word of the message
    assert redact("principal_type: must be User or Group, got 'User'", ["User"]) == \
        "principal_type: must be User or Group, got [secret]"
    line = "role_assignments[0].principal_id: must be a GUID, got 'abc'"
    assert redact_problem(line, ["role_assignments"]) == "role_assignments[0].principal_id: must be a GUID, got [secret]"
    assert redact_problem(line, ["naming"]) == line  # another key's value is shown


def test_a_secret_name_part_never_depends_on_the_secret():
    from hypothesis import given, strategies as st

    from amlplatform.azure import naming

    @given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=30))
    def check(value, other, where):
        part = naming.name_part(value, secret=True, where=where)
        assert part == naming.name_part(other, secret=True, where=where)
        assert part.startswith("s") and len(part) == 8 and part[1:].isalnum()

    check()
