"""Workspace coordinates: outputs file, the Pulumi CLI (a fake ``pulumi`` run as a real subprocess), env vars."""

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlplatform.errors import UserError
from amlplatform.runs.coordinates import (
    WorkspaceCoordinates,
    coordinates_from_outputs,
    parse_workspace_id,
    resolve_coordinates,
)

SUB = "00000000-1111-2222-3333-444444444444"
WS_ID = f"/subscriptions/{SUB}/resourceGroups/rg-aml-dev/providers/Microsoft.MachineLearningServices/workspaces/mlw-dev"
OUTPUTS = {
    "workspace_id": WS_ID,
    "workspace_name": "mlw-dev",
    "resource_group_name": "rg-aml-dev",
    "location": "westeurope",
    "mlflow_tracking_uri": "azureml://westeurope.api.azureml.ms/mlflow/v1.0" + WS_ID,
    "discovery_url": "https://westeurope.api.azureml.ms/discovery",
    "compute_ids": {"cpu-cluster": WS_ID + "/computes/cpu-cluster"},
}
ENV_TRIO = {
    "AMLPLATFORM_SUBSCRIPTION_ID": SUB,
    "AMLPLATFORM_RESOURCE_GROUP": "rg-env",
    "AMLPLATFORM_WORKSPACE": "mlw-env",
}


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_outputs_file_gives_every_coordinate(tmp_path):
    coords = resolve_coordinates(stack=None, outputs_file=write(tmp_path / "o.json", OUTPUTS), env={}, cwd=tmp_path)
    assert (coords.subscription_id, coords.resource_group, coords.workspace_name) == (SUB, "rg-aml-dev", "mlw-dev")
    assert coords.workspace_id == WS_ID
    assert coords.location == "westeurope"
    assert coords.mlflow_tracking_uri.startswith("azureml://")
    assert coords.compute_id("cpu-cluster") == OUTPUTS["compute_ids"]["cpu-cluster"]
    # a compute the stack does not export (made in the studio, by another stack) is addressed under the
    # workspace, as azure-ai-ml addresses a compute name; an ARM id is used as given; serverless is a literal
    assert coords.compute_id("gpu-cluster") == WS_ID + "/computes/gpu-cluster"
    assert coords.compute_id(WS_ID + "/computes/gpu-cluster") == WS_ID + "/computes/gpu-cluster"
    assert coords.compute_id("serverless") == "serverless"
    with pytest.raises(UserError, match="not a valid Azure ML compute name"):
        coords.compute_id("bad name!")


def test_relative_outputs_file_is_relative_to_cwd(tmp_path):
    write(tmp_path / "o.json", OUTPUTS)
    coords = resolve_coordinates(stack=None, outputs_file=Path("o.json"), env={}, cwd=tmp_path)
    assert coords.workspace_name == "mlw-dev"


def test_outputs_file_beats_stack_and_env(tmp_path):
    coords = resolve_coordinates(stack="dev", outputs_file=write(tmp_path / "o.json", OUTPUTS),
                                 env={**ENV_TRIO, "PATH": ""}, cwd=tmp_path)
    assert coords.workspace_name == "mlw-dev"


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"workspace_id": "/subscriptions/x/resourceGroups/rg"}, "workspace_id"),
        ({"workspace_id": 42}, "workspace_id"),
        ({"workspace_id": WS_ID.replace(SUB, "not-a-guid")}, "subscription id"),
        ({"workspace_name": "other"}, "workspace_name"),
        ({"compute_ids": {"cpu": "/subscriptions/x"}}, "compute_ids.cpu"),
        ({"compute_ids": ["cpu"]}, "compute_ids"),
        ({"location": 3}, "location"),
    ],
)
def test_malformed_outputs_name_the_key(tmp_path, change, needle):
    with pytest.raises(UserError) as err:
        resolve_coordinates(stack=None, outputs_file=write(tmp_path / "o.json", {**OUTPUTS, **change}), env={}, cwd=tmp_path)
    assert needle in str(err.value)


def test_outputs_without_workspace_id_list_the_keys(tmp_path):
    with pytest.raises(UserError, match=r"no 'workspace_id' \(keys found: location\)"):
        resolve_coordinates(stack=None, outputs_file=write(tmp_path / "o.json", {"location": "x"}), env={}, cwd=tmp_path)


@pytest.mark.parametrize("text, needle", [("{not json", "not valid JSON"), ("[1, 2]", "JSON object")])
def test_outputs_file_that_is_not_an_object(tmp_path, text, needle):
    with pytest.raises(UserError, match=needle):
        resolve_coordinates(stack=None, outputs_file=write(tmp_path / "o.json", text), env={}, cwd=tmp_path)


def test_missing_outputs_file_says_how_to_make_it(tmp_path):
    with pytest.raises(UserError, match="pulumi stack output --json"):
        resolve_coordinates(stack=None, outputs_file=tmp_path / "nope.json", env={}, cwd=tmp_path)


def test_env_vars(tmp_path):
    coords = resolve_coordinates(stack=None, outputs_file=None, env={**ENV_TRIO, "AMLPLATFORM_LOCATION": "northeurope"}, cwd=tmp_path)
    assert coords.workspace_id.endswith("/resourceGroups/rg-env/providers/Microsoft.MachineLearningServices/workspaces/mlw-env")
    assert coords.location == "northeurope"
    assert coords.source == "environment variables"
    # no list of computes to check against: the name is addressed under the workspace
    assert coords.compute_id("gpu") == coords.workspace_id + "/computes/gpu"


def test_env_outputs_file(tmp_path):
    write(tmp_path / "exported.json", OUTPUTS)
    coords = resolve_coordinates(stack=None, outputs_file=None,
                                 env={"AMLPLATFORM_OUTPUTS_FILE": "exported.json", **ENV_TRIO}, cwd=tmp_path)
    assert coords.workspace_name == "mlw-dev"  # the file wins over the trio


def test_incomplete_env_names_what_is_missing(tmp_path):
    env = {"AMLPLATFORM_SUBSCRIPTION_ID": SUB}
    with pytest.raises(UserError) as err:
        resolve_coordinates(stack=None, outputs_file=None, env=env, cwd=tmp_path)
    text = str(err.value)
    assert "AMLPLATFORM_RESOURCE_GROUP, AMLPLATFORM_WORKSPACE missing" in text


def test_bad_env_values_are_named(tmp_path):
    env = {**ENV_TRIO, "AMLPLATFORM_WORKSPACE": "x"}
    with pytest.raises(UserError, match="workspace name"):
        resolve_coordinates(stack=None, outputs_file=None, env=env, cwd=tmp_path)


def test_nothing_at_all_lists_every_way(tmp_path):
    with pytest.raises(UserError) as err:
        resolve_coordinates(stack="dev", outputs_file=None, env={"PATH": str(tmp_path)}, cwd=tmp_path)
    text = str(err.value)
    for needle in ("no workspace coordinates", "--outputs-file", "--stack", "AMLPLATFORM_SUBSCRIPTION_ID",
                   "AMLPLATFORM_RESOURCE_GROUP", "AMLPLATFORM_WORKSPACE", "needs the Pulumi CLI, which is not on PATH"):
        assert needle in text


# ---- the Pulumi CLI path, with a fake `pulumi` executable run as a real subprocess

FAKE_PULUMI = """#!{python}
import json, os, sys
from pathlib import Path
log = Path({log!r})
log.write_text(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd()}}))
if {fail!r}:
    print("error: no stack named 'dev' found", file=sys.stderr)
    sys.exit(255)
print({output!r})
"""


def fake_pulumi(bin_dir: Path, log: Path, *, output: str = json.dumps(OUTPUTS), fail: bool = False) -> dict:
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "pulumi"
    exe.write_text(FAKE_PULUMI.format(python=sys.executable, log=str(log), fail=fail, output=output))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_stack_outputs_through_the_pulumi_cli(tmp_path):
    project = tmp_path / "platform"
    (project / "notebooks" / "exp").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: platform\nruntime: python\n")
    log = tmp_path / "pulumi.log"
    env = fake_pulumi(tmp_path / "bin", log)
    coords = resolve_coordinates(stack="dev", outputs_file=None, env=env, cwd=project / "notebooks" / "exp")
    assert coords.workspace_id == WS_ID
    assert coords.source == "stack dev"
    seen = json.loads(log.read_text())
    assert seen["argv"][:3] == ["stack", "output", "--json"]
    assert seen["argv"][-2:] == ["-s", "dev"]
    assert "--show-secrets" not in seen["argv"]
    assert Path(seen["cwd"]).resolve() == project.resolve()  # run in the project folder


def test_pulumi_failure_shows_its_message(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: p\n")
    env = fake_pulumi(tmp_path / "bin", tmp_path / "log", fail=True)
    with pytest.raises(UserError) as err:
        resolve_coordinates(stack="dev", outputs_file=None, env=env, cwd=tmp_path)
    assert "exit 255" in str(err.value) and "no stack named 'dev'" in str(err.value)


def test_pulumi_printing_garbage(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: p\n")
    env = fake_pulumi(tmp_path / "bin", tmp_path / "log", output="Updating (dev)...")
    with pytest.raises(UserError, match="did not print JSON"):
        resolve_coordinates(stack="dev", outputs_file=None, env=env, cwd=tmp_path)


def test_stack_outside_a_project(tmp_path):
    env = fake_pulumi(tmp_path / "bin", tmp_path / "log")
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(UserError, match="no Pulumi.yaml"):
        resolve_coordinates(stack="dev", outputs_file=None, env=env, cwd=tmp_path / "elsewhere")


def test_coordinates_validate_their_names():
    with pytest.raises(UserError) as err:
        WorkspaceCoordinates("nope", "bad/rg", "w")
    assert len(err.value.problems) == 3


# ---- property: a valid workspace id round-trips

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{2,32}", fullmatch=True)
groups = st.from_regex(r"[-\w.()]{0,20}[-\w()]", fullmatch=True).filter(lambda s: s.isascii())


@given(sub=st.uuids().map(str), rg=groups, ws=names)
def test_workspace_id_round_trips(sub, rg, ws):
    coords = WorkspaceCoordinates(sub, rg, ws)
    assert parse_workspace_id(coords.workspace_id) == (sub, rg, ws)
    again = coordinates_from_outputs({"workspace_id": coords.workspace_id}, source="t")
    assert again.workspace_id == coords.workspace_id


# ---------------------------------------------------------------- -g / -w, as az ml takes them

SUB_ID = "00000000-1111-2222-3333-444444444444"


def test_resource_group_and_workspace_name_name_the_workspace(tmp_path):
    from amlplatform.runs.coordinates import resolve_coordinates

    c = resolve_coordinates(stack=None, outputs_file=None, resource_group="rg-a", workspace_name="mlw-a",
                            subscription_id=SUB_ID, env={}, cwd=tmp_path)
    assert c.workspace_id.endswith("/resourceGroups/rg-a/providers/Microsoft.MachineLearningServices/workspaces/mlw-a")
    assert c.compute_ids == {} and c.compute_id("cpu") == c.workspace_id + "/computes/cpu"
    # the other half and the subscription from the environment; -g/-w beat an outputs file named by it
    env = {"AMLPLATFORM_WORKSPACE": "mlw-b", "AZURE_SUBSCRIPTION_ID": SUB_ID,
           "AMLPLATFORM_OUTPUTS_FILE": str(tmp_path / "nope.json")}
    c = resolve_coordinates(stack=None, outputs_file=None, resource_group="rg-a", env=env, cwd=tmp_path)
    assert (c.resource_group, c.workspace_name, c.subscription_id) == ("rg-a", "mlw-b", SUB_ID)


def test_g_w_errors_name_what_is_missing_or_clashes(tmp_path):
    from amlplatform.runs.coordinates import resolve_coordinates

    with pytest.raises(UserError, match=r"missing the workspace \(-w/--workspace-name or AMLPLATFORM_WORKSPACE\); "
                                        r"the subscription"):
        resolve_coordinates(stack=None, outputs_file=None, resource_group="rg-a", env={}, cwd=tmp_path)
    with pytest.raises(UserError, match="they do not go with --outputs-file"):
        resolve_coordinates(stack=None, outputs_file=tmp_path / "o.json", workspace_name="mlw-a",
                            resource_group="rg-a", subscription_id=SUB_ID, env={}, cwd=tmp_path)
    with pytest.raises(UserError, match="--subscription goes with -g/--resource-group"):
        resolve_coordinates(stack=None, outputs_file=tmp_path / "o.json", subscription_id=SUB_ID, env={}, cwd=tmp_path)
    with pytest.raises(UserError, match="workspace name: must be 3-33"):
        resolve_coordinates(stack=None, outputs_file=None, resource_group="rg-a", workspace_name="x",
                            subscription_id=SUB_ID, env={}, cwd=tmp_path)
