"""Secrets as `pulumi config set --secret` stores them reach their resources as Pulumi secrets and
appear nowhere in what the offline tools print or export (issue 13, item 1)."""

import json
import runpy
import shutil

import pytest

from amlplatform.offline.engine import SECRET_STAND_INS, evaluate, evaluate_stack
from amlplatform.review.arm import to_arm_template
from amlplatform.review.diagram import render
from amlplatform.review.text import render_text
from conftest import ROOT

TENANT = "7a1c2e3f-4b5d-4e6f-8a9b-0c1d2e3f4a5b"  # the plaintext a real `pulumi up` would pass
KV = "azure-native:keyvault:Vault"
# private by default: an inbound path (a VNet for the private endpoints; tests/network)
NETWORK = {"vnet": {"address_space": ["10.50.0.0/24"], "private_endpoints_subnet": "10.50.0.0/26"}}


def program():
    runpy.run_path(str(ROOT / "infra" / "__main__.py"), run_name="__main__")


def pulumi_config(**extra):
    """PULUMI_CONFIG as the CLI builds it for this stack (values as text, objects as JSON)."""
    return {"amlplatform:location": "westeurope",
            "amlplatform:naming": json.dumps({"workload": "fraud", "environment": "sec"}),
            "amlplatform:tenant_id": TENANT, "amlplatform:network": json.dumps(NETWORK), **extra}


@pytest.fixture(scope="module")
def secret_graph():
    return evaluate(program, project="amlplatform", stack="sec", config=pulumi_config(),
                    secret_keys=["amlplatform:tenant_id"])


def everything_shown(graph) -> str:
    return "\n".join([graph.to_json(), render_text(graph), json.dumps(to_arm_template(graph, exceptions=[])),
                      _text(render(graph, "mermaid"))])


def _text(data) -> str:
    return data.decode("utf-8") if isinstance(data, bytes) else data


def test_a_secret_key_reaches_its_resource_as_a_secret(secret_graph):
    vault = secret_graph.one(KV)
    assert vault.inputs["properties"]["tenantId"] == "[secret]"
    assert TENANT not in everything_shown(secret_graph)


def test_the_same_value_not_secret_is_shown(secret_graph):
    # control: without the secret key the value is plain (so the test above can fail)
    graph = evaluate(program, project="amlplatform", stack="sec", config=pulumi_config(), secret_keys=[])
    assert graph.one(KV).inputs["properties"]["tenantId"] == TENANT
    assert TENANT in everything_shown(graph)


def test_the_picture_hides_it_too(secret_graph):
    if shutil.which("dot") is None:
        pytest.skip("graphviz dot is not installed")
    assert TENANT.encode() not in render(secret_graph, "svg")


def test_program_reads_pulumi_config_secret_keys(monkeypatch):
    # the Python SDK does not read PULUMI_CONFIG_SECRET_KEYS itself; the program must
    from pulumi.runtime import config as runtime_config

    from amlplatform.settings.stack import settings_from_pulumi

    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(pulumi_config()))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["amlplatform:tenant_id"]))
    token = runtime_config.CONFIG.set({})
    try:
        settings, secrets = settings_from_pulumi()
    finally:
        runtime_config.CONFIG.reset(token)
    assert settings.tenant_id == TENANT and secrets == [TENANT]


def test_secure_value_in_a_stack_file_plans_offline(make_stack, capsys):
    project = make_stack({"amlplatform:location": "westeurope",
                          "amlplatform:naming": {"workload": "fraud", "environment": "sec"},
                          "amlplatform:network": NETWORK,
                          "amlplatform:tenant_id": {"secure": "v1:AAAAsomeciphertext"}}, name="sec")
    graph = evaluate_stack("sec", project_dir=project)
    # the offline stand-in (a GUID, since tenant_id must be one) is marked secret where it lands
    assert graph.one(KV).inputs["properties"]["tenantId"] == "[secret]"
    shown = everything_shown(graph)
    assert "AAAAsomeciphertext" not in shown
    assert all(s not in shown for s in SECRET_STAND_INS if s != "[secret]")

    from amlplatform.cli import main

    for fmt in ("text", "json", "arm", "mermaid"):
        assert main(["plan", "-s", "sec", "--project-dir", str(project), "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "AAAAsomeciphertext" not in out and SECRET_STAND_INS[1] not in out and "[secret]" in out


def test_secret_nested_in_a_structured_value_makes_the_key_secret(make_stack):
    # object.go: a key with a secret anywhere inside is secret as a whole
    from amlplatform.settings.pulumi_yaml import read_stack_config

    project = make_stack({"amlplatform:location": "westeurope",
                          "amlplatform:naming": {"workload": "fraud", "environment": "sec"},
                          "amlplatform:network": NETWORK,
                          "amlplatform:workspace": {"friendly_name": {"secure": "v1:xyz"}}}, name="nested")
    read = read_stack_config(project / "stacks" / "Pulumi.nested.yaml")
    assert read.secret_keys == ["amlplatform:workspace"]
    graph = evaluate_stack("nested", project_dir=project)
    ws = graph.one("azure-native:machinelearningservices:Workspace")
    assert ws.inputs["friendlyName"] == "[secret]"
