"""Values only Azure knows once a resource exists (principal ids, the GUIDs derived from them, login
servers, endpoint URIs, key URIs) are shown as known after deploy in the offline plan, as `pulumi
preview` shows them, never as made-up real-looking values (issue 17, item 6)."""

import json
import runpy

import pytest

from amlplatform.offline.engine import UNKNOWN, OfflineMocks, evaluate, stack_program_config
from amlplatform.review.arm import to_arm_template
from amlplatform.review.text import render_text
from conftest import ROOT

ROLE = "azure-native:authorization:RoleAssignment"


def _strings(value, out):
    if isinstance(value, dict):
        for k, v in value.items():
            _strings(k, out)
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)
    elif isinstance(value, str):
        out.add(value)
    return out


@pytest.fixture(scope="module")
def made_up(stack_graph):
    """What the mocks would invent for dev if they answered values (the engine's old behaviour):
    every text of that graph the honest plan does not have."""
    config, secret_keys = stack_program_config("dev", ROOT, notice=False)

    def program():
        runpy.run_path(str(ROOT / "infra" / "__main__.py"), run_name="__main__")

    invented = evaluate(program, project="amlplatform", stack="dev", config=config, secret_keys=secret_keys,
                        mocks=OfflineMocks(known_after_deploy=False))
    honest = stack_graph("dev")
    return _strings(invented.to_dict(), set()) - _strings(honest.to_dict(), set()), honest


def test_made_up_values_appear_nowhere_in_the_plan(made_up):
    invented, honest = made_up
    assert invented, "the control: answering values would show some"
    shown = "\n".join([honest.to_json(), render_text(honest), json.dumps(to_arm_template(honest, exceptions=[]))])
    leaked = sorted(v for v in invented if v in shown)
    assert not leaked, leaked[:10]


def test_principal_ids_and_their_guids_are_known_after_deploy(made_up):
    _, g = made_up
    assert g.outputs["workspace_principal_id"] == UNKNOWN
    computed = [r for r in g.of_type(ROLE) if r.property_dependencies.get("principalId")]
    assert computed, "dev grants roles to a compute's identity"
    for ra in computed:
        assert ra.inputs["principalId"] == UNKNOWN and ra.inputs["roleAssignmentName"] == UNKNOWN
        assert ra.id.endswith(f"/roleAssignments/known after deploy:{ra.name}")  # unique, and says so
    # a person's assignment keeps its GUID: the principal id is the stack's, not Azure's
    people = [r for r in g.of_type(ROLE) if not r.property_dependencies.get("principalId")]
    assert people and all(len(r.inputs["roleAssignmentName"]) == 36 for r in people)


def test_text_json_and_arm_show_the_stand_in(made_up):
    _, g = made_up
    assert UNKNOWN in render_text(g)
    assert UNKNOWN in g.to_json()
    arm = to_arm_template(g, exceptions=[])
    names = [r["name"] for r in arm["resources"] if r["type"] == "Microsoft.Authorization/roleAssignments"]
    assert len(names) == len(set(names))  # a scanner tells them apart
    assert any(r.get("properties", {}).get("principalId") == UNKNOWN for r in arm["resources"])
