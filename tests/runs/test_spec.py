"""The run spec: YAML + flags, every bad field reported at once, script -> command."""

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from amlplatform.errors import UserError
from amlplatform.runs.spec import RunSpec, environment_kind, load_spec


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "run.yaml"
    p.write_text(text)
    return p


def test_yaml_with_flags_merges_and_resolves_source_relative_to_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)
    (tmp_path / "src").mkdir()
    spec_file = write(
        tmp_path,
        "source: src\ncommand: python train.py\nexperiment: exp-1\n"
        "environment_variables: {EPOCHS: 3, MODE: fast}\ntags: {team: ml}\n",
    )
    spec = load_spec(spec_file, {"environment_variables": {"MODE": "slow"}, "tags": {"owner": "me"}, "compute": None})
    assert spec.source == tmp_path / "src"
    assert spec.environment_variables == {"EPOCHS": "3", "MODE": "slow"}
    assert spec.tags == {"team": "ml", "owner": "me"}
    assert spec.compute == "local" and spec.is_local


def test_source_defaults_to_the_spec_files_folder_and_flag_is_cwd_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "proj").mkdir()
    spec_file = tmp_path / "proj" / "run.yaml"
    spec_file.write_text("command: echo hi\n")
    assert load_spec(spec_file, {}).source == tmp_path / "proj"
    assert load_spec(spec_file, {"source": "other"}).source == tmp_path / "other"
    assert load_spec(None, {"command": "x"}).source == tmp_path


def test_script_and_arguments_become_a_quoted_command():
    spec = RunSpec(script="train.py", arguments=["--name", "a b", 3])
    assert spec.command == "python train.py --name 'a b' 3"


def test_command_flag_replaces_the_files_script(tmp_path):
    spec_file = write(tmp_path, "script: train.py\narguments: [--epochs, 1]\n")
    assert load_spec(spec_file, {"command": "echo hi"}).command == "echo hi"
    spec_file = write(tmp_path, "command: echo hi\n")
    assert load_spec(spec_file, {"script": "t.py", "arguments": ["-x"]}).command == "python t.py -x"


def test_every_bad_field_is_named_once(tmp_path):
    spec_file = write(
        tmp_path,
        "compute: x\nexperiment: 'has space'\ninstance_count: 0\ntimeout_seconds: -1\n"
        "environment_variables: {1BAD: x}\ndistribution: {type: Horovod}\ncomand: typo\n",
    )
    with pytest.raises(UserError) as info:
        load_spec(spec_file, {})
    text = str(info.value)
    fields = [p.split(":")[0] for p in info.value.problems]
    assert fields == [
        "compute", "experiment", "command", "environment_variables", "instance_count",
        "distribution.type", "timeout_seconds", "comand",
    ], text
    assert "3-24" in text and "is not a known setting" in text and str(spec_file) in text


def test_cluster_needs_an_environment_local_does_not():
    with pytest.raises(UserError) as info:
        load_spec(None, {"command": "x", "compute": "gpu-cluster"})
    assert info.value.problems[0].startswith("environment: is required for a cluster")
    assert load_spec(None, {"command": "x"}).environment is None


@pytest.mark.parametrize(
    "value,kind",
    [
        ("my-env:3", "asset"),
        ("azureml:my-env:3", "asset"),
        ("azureml:AzureML-sklearn-1.5@latest", "asset"),
        ("AzureML-sklearn-1.5", "asset"),
        ("mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest", "image"),
        ("myacr.azurecr.io/team/train@sha256:" + "a" * 64, "image"),
        ("/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/environments/e/versions/1", "arm"),
    ],
)
def test_environment_forms(value, kind):
    assert environment_kind(value) == kind
    assert RunSpec(command="x", compute="cpu-cluster", environment=value).environment == value


def test_bad_environment_and_distribution_rules():
    with pytest.raises(UserError) as info:
        load_spec(None, {"command": "x", "environment": "not valid!", "distribution": {"type": "pytorch", "worker_count": 2}})
    assert [p.split(":")[0] for p in info.value.problems] == ["environment", "distribution"]
    spec = load_spec(None, {"command": "x", "distribution": {"type": "tensorflow", "worker_count": 2}})
    assert spec.distribution.type == "TensorFlow"


@pytest.mark.parametrize(
    "text,needle",
    [("command: [unclosed\n", "not valid YAML at line"), ("- a\n- b\n", "must be a mapping"), (None, "does not exist")],
)
def test_unreadable_spec_files(tmp_path, text, needle):
    path = tmp_path / "run.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UserError, match=needle):
        load_spec(path, {})


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{2,23}", fullmatch=True))
def test_valid_compute_names_are_accepted(name):
    assert RunSpec(command="x", compute=name, environment="e:1").compute == name


@given(st.text(max_size=30).filter(lambda s: s != "local"))
def test_compute_names_follow_the_rule(name):
    import re

    ok = re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{2,23}", name) is not None
    try:
        RunSpec(command="x", compute=name, environment="e:1")
        assert ok
    except Exception:
        assert not ok


@pytest.mark.parametrize("name", ["abc\n", "gpu-cluster\n"])
def test_trailing_newline_is_not_a_valid_compute_name(name):
    with pytest.raises(Exception):
        RunSpec(command="x", compute=name, environment="e:1")
