"""Local runs that don't leak: the job's environment is an allowlist plus --pass-env, substituted values
are one shell word each, records and outputs are private (0600 files, 0700 folders), and run.json
keeps no secret values."""

import json
import os
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runs_helpers import run_cli  # noqa: E402

from amlplatform.errors import UserError  # noqa: E402
from amlplatform.runs import local  # noqa: E402

SECRET = "s3cr3t-Value-4711"


def job_file(folder: Path, command: str, **extra: str) -> Path:
    (folder / "src").mkdir(parents=True, exist_ok=True)
    lines = ["type: command", "code: ./src", f"command: {json.dumps(command)}", "environment: azureml:env:1",
             "compute: local"]
    lines += [f"{k}:\n{v}" for k, v in extra.items()]
    path = folder / "job.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def only_run(runs: Path) -> Path:
    (run,) = [p for p in runs.iterdir() if (p / "run.json").is_file()]
    return run


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MYSECRET", SECRET)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET + "-sp")
    return tmp_path


@pytest.fixture
def loose_umask():
    """The caller's umask is the common 022: private modes must come from the shim, not from it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# ---------------------------------------------------------------- the environment


def test_a_caller_variable_is_invisible_unless_passed(project, capfd):
    job = job_file(project, 'echo "[${MYSECRET:-unset}] [${AZURE_CLIENT_SECRET:-unset}] home=${HOME:+set}"')
    assert run_cli("submit", str(job), "--runs-dir", "r1") == 0
    log = (only_run(project / "r1") / "output.log").read_text()
    assert "[unset] [unset] home=set" in log
    assert run_cli("submit", str(job), "--runs-dir", "r2", "--pass-env", "MYSECRET") == 0
    run = only_run(project / "r2")
    assert f"[{SECRET}] [unset]" in (run / "output.log").read_text()
    record = json.loads((run / "run.json").read_text())
    assert record["pass_env"] == ["MYSECRET"]  # the name, never the value
    assert SECRET not in (run / "run.json").read_text()
    capfd.readouterr()


def test_substituted_values_cannot_inject_shell_syntax(project, capfd):
    job = job_file(project, "echo rows=${{inputs.rows}}", inputs="  rows: 1")
    # even with the secret handed over on purpose, the value stays one word: nothing runs
    assert run_cli("submit", str(job), "--runs-dir", "r", "--pass-env", "MYSECRET",
                   "--set", "inputs.rows=1; echo $MYSECRET `id` $(id)") == 0
    out = capfd.readouterr().out
    run = only_run(project / "r")
    log = (run / "output.log").read_text()
    assert SECRET not in out and SECRET not in log
    assert log.strip().endswith("rows=1; echo $MYSECRET `id` $(id)")
    record = json.loads((run / "run.json").read_text())
    assert record["command_resolved"] == "echo rows='1; echo $MYSECRET `id` $(id)'"


def test_plain_values_are_substituted_as_the_service_does(project, capfd):
    job = job_file(project, "echo ${{inputs.lr}} ${{inputs.epochs}} ${{inputs.flag}} ${{inputs.opt}}",
                   inputs="  lr: 0.01\n  epochs: 3\n  flag: true\n  opt: adam")
    assert run_cli("submit", str(job), "--runs-dir", "r") == 0
    record = json.loads((only_run(project / "r") / "run.json").read_text())
    assert record["command_resolved"] == "echo 0.01 3 true adam"  # unchanged: nothing to quote
    capfd.readouterr()


def test_the_job_gets_the_allowlist_its_variables_and_the_service_ones(project, capfd, monkeypatch):
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("LC_TIME", "C")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    job = job_file(project, "env | sort > outputs/env.txt",
                   environment_variables="  TRAIN_MODE: demo\n  API_TOKEN: tok-123\n  DB_URL: postgres://u:pw@db/x")
    assert run_cli("submit", str(job), "--runs-dir", "r") == 0
    run = only_run(project / "r")
    seen = dict(line.split("=", 1) for line in (run / "outputs" / "env.txt").read_text().splitlines() if "=" in line)
    assert seen["LANG"] == "C.UTF-8" and seen["LC_TIME"] == "C" and seen["HOME"] == os.environ["HOME"]
    assert seen["TRAIN_MODE"] == "demo" and seen["API_TOKEN"] == "tok-123"  # the job's own, as declared
    assert seen["MLFLOW_TRACKING_URI"].startswith("file://") and seen["MLFLOW_RUN_ID"]
    assert seen["AMLPLATFORM_RUN_NAME"] == run.name
    for absent in ("MYSECRET", "AZURE_CLIENT_SECRET", "PYTHONPATH"):
        assert absent not in seen
    allowed = set(local.BASE_ENV) | {"TRAIN_MODE", "API_TOKEN", "DB_URL", "PYTHONUNBUFFERED", "PWD", "SHLVL", "_", "OLDPWD"}
    assert {k for k in seen if not k.startswith(("LC_", "MLFLOW_", "AMLPLATFORM_"))} <= allowed
    # run.json: every name, no secret-looking value
    recorded = json.loads((run / "run.json").read_text())["environment_variables"]
    assert recorded == {"TRAIN_MODE": "demo", "API_TOKEN": "<redacted>", "DB_URL": "<redacted>"}
    capfd.readouterr()


def test_pass_env_names_are_checked_and_local_only(project, capsys):
    job = job_file(project, "echo hi")
    assert run_cli("submit", str(job), "--runs-dir", "r", "--pass-env", "A=1") == 2
    assert "--pass-env takes variable names" in capsys.readouterr().err
    assert run_cli("submit", str(job), "--compute", "cpu-cluster", "--pass-env", "MYSECRET", "--dry-run") == 2
    assert "--pass-env is for local runs" in capsys.readouterr().err
    with pytest.raises(UserError, match="not a variable name"):
        local.check_pass_env(["OK", "1BAD"])
    assert local.check_pass_env(["A", "B", "A"]) == ["A", "B"]


def test_an_unset_pass_env_name_is_a_note_not_a_value(project, capfd, monkeypatch):
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    job = job_file(project, 'echo "[${NOT_SET_HERE-absent}]"')
    assert run_cli("submit", str(job), "--runs-dir", "r", "--pass-env", "NOT_SET_HERE") == 0
    err = capfd.readouterr().err
    assert "--pass-env NOT_SET_HERE: not set in this shell" in err
    assert "[absent]" in (only_run(project / "r") / "output.log").read_text()


@pytest.mark.parametrize("name,value,secret", [
    ("TRAIN_MODE", "demo", False), ("EPOCHS", "3", False), ("MONKEY_BUSINESS", "x", False),
    ("API_KEY", "x", True), ("GITHUB_TOKEN", "x", True), ("DB_PASSWORD", "x", True), ("AWS_SECRET_ACCESS_KEY", "x", True),
    ("AZURE_STORAGE_CONNECTION_STRING", "x", True), ("DATA_URL", "https://a.blob.core.windows.net/c?sv=1&sig=abc", True),
    ("STORE", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k==", True), ("DB", "postgres://u:p@h/d", True),
    ("HOMEPAGE", "https://example.com/x", False),
])
def test_which_recorded_values_are_redacted(name, value, secret):
    assert local.looks_secret(name, value) is secret
    assert local.record_environment({name: value}) == {name: local.REDACTED if secret else value}


def test_pipeline_reuse_keys_hold_no_environment_values():
    from amlplatform.runs.pipeline import _env_identity

    a = _env_identity({"TOKEN": SECRET, "MODE": "x"})
    assert SECRET not in json.dumps(a) and a["names"] == ["MODE", "TOKEN"]
    assert a == _env_identity({"MODE": "x", "TOKEN": SECRET}) != _env_identity({"TOKEN": SECRET + "2", "MODE": "x"})


# ---------------------------------------------------------------- file modes


def test_run_records_and_outputs_are_private(project, capfd, loose_umask):
    script = ("mkdir -p outputs/sub && echo model > outputs/sub/model.txt && echo out > ${{outputs.clean}}/c.csv "
              "&& echo log > logs/l.txt")
    job = job_file(project, script, outputs="  clean:\n    type: uri_folder")
    assert run_cli("submit", str(job), "--runs-dir", "runs") == 0
    runs = project / "runs"
    run = only_run(runs)
    assert mode(runs) == 0o700 and mode(run) == 0o700
    for f in (run / "run.json", run / "output.log", runs / ".gitignore", run / "outputs" / "sub" / "model.txt",
              run / "named-outputs" / "clean" / "c.csv"):
        assert mode(f) == 0o600, f
    for d in (run / "outputs", run / "outputs" / "sub", run / "named-outputs", run / "named-outputs" / "clean"):
        assert mode(d) == 0o700, d
    mlruns = runs / "mlruns"
    for folder, dirs, files in os.walk(mlruns):
        assert mode(Path(folder)) == 0o700, folder
        for name in files:
            assert mode(Path(folder, name)) == 0o600, Path(folder, name)
    assert any(mlruns.rglob("tags/mlflow.runName"))
    capfd.readouterr()


def test_local_model_artifacts_are_private(tmp_path, loose_umask):
    from amlplatform.runs.models import LocalRegistry

    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "model.pkl").write_bytes(b"weights")
    (src / "sub" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "model.pkl", 0o644)
    os.chmod(src / "sub" / "run.sh", 0o755)
    reg = LocalRegistry(tmp_path / "registry")
    rec = reg.register(src, "churn")
    version = tmp_path / "registry" / "churn" / rec["version"]
    assert mode(tmp_path / "registry" / "churn") == 0o700 and mode(version) == 0o700
    assert mode(version / "model.json") == 0o600
    artifacts = version / "artifacts" / "model"
    assert mode(artifacts) == 0o700 and mode(artifacts / "sub") == 0o700
    assert mode(artifacts / "model.pkl") == 0o600
    assert mode(artifacts / "sub" / "run.sh") == 0o700  # still runnable by its owner, by no one else
    reg.deployments.record("blue", "churn", rec["version"])
    assert mode(reg.deployments.root) == 0o700 and mode(reg.deployments.root / "blue.json") == 0o600


PIPELINE = """\
type: pipeline
settings:
  default_compute: local
jobs:
  one:
    type: command
    code: ./src
    command: echo "[${MYSECRET:-unset}] $TOKEN_ENV" > ${{outputs.out}}/o.txt
    environment: azureml:env:1
    environment_variables:
      TOKEN_ENV: tok-9876
    outputs:
      out:
        type: uri_folder
"""


def test_pipeline_steps_get_the_same_environment_and_private_records(project, capfd, loose_umask):
    (project / "src").mkdir()
    (project / "pipe.yml").write_text(PIPELINE)
    assert run_cli("submit", "pipe.yml", "--runs-dir", "runs") == 0
    assert run_cli("submit", "pipe.yml", "--runs-dir", "runs", "--pass-env", "MYSECRET") == 0  # reused: same step
    capfd.readouterr()
    runs = project / "runs"
    written = list(runs.rglob("o.txt"))
    assert written and all(p.read_text().strip() == "[unset] tok-9876" for p in written)
    reuse = runs / "reuse"
    assert reuse.is_dir()
    for folder, dirs, files in os.walk(runs):
        if Path(folder).name == "wd" or "/wd/" in folder:
            continue
        assert mode(Path(folder)) == 0o700, folder
        for name in files:
            path = Path(folder, name)
            assert mode(path) == 0o600, path
            assert "tok-9876" not in path.read_text(errors="replace") or name == "o.txt", path
