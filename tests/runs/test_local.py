"""The local target end to end: job YAML runs, records, MLflow metrics, outputs, data inputs (local
paths, Azurite blobs, local data assets), failures, timeouts, Ctrl-C."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from amlplatform.errors import UserError
from amlplatform.runs.local import command_problems
from amlplatform.runs.store import RunStore, read_mlflow_metrics, runs_dir

from runs_helpers import REPO, VENV_BIN, default_signals, run_cli

EXAMPLE = REPO / "examples" / "train"


def only_run(store_dir: Path) -> dict:
    names = [p for p in store_dir.iterdir() if (p / "run.json").is_file()]
    assert len(names) == 1, names
    return json.loads((names[0] / "run.json").read_text())


def job_yaml(folder: Path, command: str, *, code: str = "./src", name: str = "job.yml", **fields) -> Path:
    """A command job YAML in ``folder`` running ``command`` locally."""
    import yaml

    data = {"$schema": "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json", "type": "command",
            "code": code, "command": command, "environment": "azureml:AzureML-sklearn-1.5@latest", "compute": "local",
            **fields}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_job(path: Path, store: RunStore, *overrides: str, **kw) -> dict:
    from amlplatform.runs.job import load_job
    from amlplatform.runs.local import run_command_job

    kw.setdefault("notes", Buf())
    kw.setdefault("out", Buf())
    return run_command_job(load_job(path, overrides), store=store, **kw)


class Buf:
    """Live output (bytes) or notes (text)."""

    def __init__(self):
        self.data = b""

    def write(self, b):
        self.data += b.encode() if isinstance(b, str) else b
        return len(b)

    def flush(self):
        pass


@pytest.fixture
def project(tmp_path):
    """The train example with a secret and an ignored data folder added."""
    src = tmp_path / "proj"
    shutil.copytree(EXAMPLE, src)
    (src / ".env").write_text("SECRET=1\n")
    (src / "data").mkdir()
    (src / "data" / "big.csv").write_text("x\n")
    return src


def test_submit_local_through_main_records_a_completed_run_with_metrics(project, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = run_cli("submit", str(project / "job.yml"), "--env", "EXTRA=1", "--tag", "who=test")
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "epoch 3" in out.out  # streamed live to the terminal
    store_dir = tmp_path / ".amlplatform" / "runs"
    rec = only_run(store_dir)
    assert rec["status"] == "Completed" and rec["exit_code"] == 0
    assert [h["status"] for h in rec["status_history"]] == ["NotStarted", "Preparing", "Running", "Completed"]
    assert rec["command"] == "python train.py --epochs ${{inputs.epochs}} --lr ${{inputs.lr}}"
    assert rec["command_resolved"] == "python train.py --epochs 3 --lr 0.1"
    assert rec["files"] == [".amlignore", "job.yml", "train.py"]  # no .env, no data/
    assert {e["relpath"] for e in rec["excluded"]} == {".env", "data/"}
    assert rec["tags"] == {"project": "amlplatform-example", "who": "test"}
    assert rec["environment_variables"] == {"TRAIN_MODE": "demo", "EXTRA": "1"}
    assert rec["metrics"]["loss"]["step"] == 3 and rec["metrics"]["loss"]["count"] == 3
    assert rec["params"] == {"epochs": "3", "lr": "0.1"}
    assert rec["duration_seconds"] >= 0
    assert json.loads((store_dir / rec["name"] / "outputs" / "model.json").read_text())["epochs"] == 3
    assert not (store_dir / rec["name"] / "wd").exists()
    assert "epoch 1: loss" in (store_dir / rec["name"] / "output.log").read_text()
    # MLflow's own view agrees: the child's plain start_run() attached to the recorded run
    mlrun = Path(rec["mlflow"]["run_dir"])
    assert read_mlflow_metrics(mlrun)["accuracy"]["value"] == pytest.approx(rec["metrics"]["accuracy"]["value"])
    assert "status: 3" in (mlrun / "meta.yaml").read_text()  # FINISHED
    from mlflow.tracking import MlflowClient  # and mlflow reads what we wrote without importing it

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    got = MlflowClient(tracking_uri=rec["mlflow"]["tracking_uri"]).get_run(rec["mlflow"]["run_id"])
    assert got.info.status == "FINISHED" and got.info.run_name == rec["name"]
    assert got.data.tags["amlplatform.code_hash"] == rec["code_hash"] and got.data.tags["who"] == "test"

    assert run_cli("runs", "show", rec["name"][:20]) == 0
    shown = capsys.readouterr().out
    assert "status:      Completed" in shown and "loss = 0.22313" in shown and "| epoch 3" in shown
    assert run_cli("runs", "list") == 0
    assert rec["name"] in capsys.readouterr().out
    assert run_cli("runs", "logs", "last") == 0
    assert "saved" in capsys.readouterr().out
    assert run_cli("runs", "show", "last", "--json") == 0
    assert json.loads(capsys.readouterr().out)["name"] == rec["name"]


def test_real_subprocess_of_the_installed_command(project, tmp_path):
    exe = VENV_BIN / "amlplatform"
    if not exe.exists():
        pytest.skip("amlplatform console script not installed in this interpreter's venv")
    env = {**os.environ, "AMLPLATFORM_RUNS_DIR": str(tmp_path / "runs"), "PYTHONPATH": str(REPO / "components")}
    proc = subprocess.run([str(exe), "submit", str(project / "job.yml"), "--set", "inputs.epochs=2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rec = only_run(tmp_path / "runs")
    assert rec["status"] == "Completed" and rec["metrics"]["loss"]["step"] == 2
    show = subprocess.run([str(exe), "runs", "show", rec["name"]], env=env, capture_output=True, text=True, timeout=60)
    assert "accuracy = " in show.stdout and "| epoch 2" in show.stdout


def test_failing_command_records_failed_and_passes_its_exit_code(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "fail.py").write_text("import sys\nprint('boom')\nsys.exit(3)\n")
    rc = run_cli("submit", str(job_yaml(tmp_path, "python fail.py")), "--runs-dir", str(tmp_path / "r"))
    assert rc == 3
    rec = only_run(tmp_path / "r")
    assert rec["status"] == "Failed" and rec["exit_code"] == 3 and rec["reason"] == "exit code 3"


@pytest.mark.parametrize(
    "command,needle",
    [("no-such-program-xyz --x", "program 'no-such-program-xyz' is not found on PATH"),
     ("python missing.py", "script missing.py is not in the snapshot"),
     ("python data/gen.py", "(left out: data/ .amlignore: data/)")],
)
def test_bad_commands_fail_before_any_record(tmp_path, command, needle):
    (tmp_path / "src" / "data").mkdir(parents=True)
    (tmp_path / "src" / "data" / "gen.py").write_text("")
    (tmp_path / "src" / ".amlignore").write_text("data/\n")
    store = RunStore(tmp_path / "r")
    with pytest.raises(UserError) as info:
        run_job(job_yaml(tmp_path, command), store)
    assert needle in str(info.value)
    assert store.names() == []


def test_shell_commands_are_left_to_the_shell():
    snap = type("S", (), {"relpaths": [], "root": Path("."), "excluded": []})()
    assert command_problems("echo hi && python x.py", snap) == []
    assert command_problems("FOO=1 python x.py", snap) == []


def test_setup_failure_is_recorded_failed_not_left_running(tmp_path, monkeypatch):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "t.py").write_text("")
    store = RunStore(tmp_path / "r")

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("amlplatform.runs.local.copy_snapshot", broken)
    with pytest.raises(UserError, match="failed before the command started"):
        run_job(job_yaml(tmp_path, "python t.py"), store)
    rec = only_run(tmp_path / "r")
    assert rec["status"] == "Failed" and "No space left" in rec["reason"]
    assert [h["status"] for h in rec["status_history"]] == ["NotStarted", "Preparing", "Failed"]


def is_gone(pid: int) -> bool:
    """Dead: no such process, or a zombie (an orphan's adopter may never reap it, e.g. a container's PID 1)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:].split()[0] == b"Z"


def wait_gone(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while not is_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return is_gone(pid)


def test_timeout_cancels_the_process_group(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    pidfile = tmp_path / "bg.pid"
    (tmp_path / "src" / "slow.sh").write_text(f"sleep 30 &\nchild=$!\necho $child > {pidfile}\necho started\nwait $child\n")
    t0 = time.monotonic()
    rc = run_cli("submit", str(job_yaml(tmp_path, "bash slow.sh")), "--timeout", "1", "--runs-dir", str(tmp_path / "r"))
    assert rc == 124 and time.monotonic() - t0 < 15
    rec = only_run(tmp_path / "r")
    assert rec["status"] == "Canceled" and rec["reason"].startswith("timed out after 1 s") and rec["exit_code"] == 124
    bg = int(pidfile.read_text())
    try:
        assert wait_gone(bg), "the background sleep outlived the timed-out run"
    finally:
        if not is_gone(bg):
            os.kill(bg, signal.SIGKILL)


@pytest.mark.parametrize("how", ["command exits", "timeout"])
def test_background_child_ignoring_sigterm_does_not_outlive_the_run(tmp_path, how):
    """SIGTERM, a grace period, then SIGKILL: for the whole group, not only the command itself."""
    (tmp_path / "src").mkdir()
    pidfile = tmp_path / "bg.pid"
    tail = "exit 0" if how == "command exits" else "sleep 30"
    (tmp_path / "src" / "bg.sh").write_text(
        f"( trap '' TERM; exec sleep 300 ) &\necho $! > {pidfile}\necho started\n{tail}\n")
    extra = {"limits": {"timeout": 1}} if how == "timeout" else {}
    t0 = time.monotonic()
    rec = run_job(job_yaml(tmp_path, "bash bg.sh", **extra), RunStore(tmp_path / "r"), grace_seconds=0.5)
    bg = int(pidfile.read_text())
    try:
        assert rec["status"] == ("Completed" if how == "command exits" else "Canceled"), rec
        assert wait_gone(bg, 1.0), "a background process that ignores SIGTERM outlived the run"
        assert time.monotonic() - t0 < 15
    finally:
        if not is_gone(bg):
            os.kill(bg, signal.SIGKILL)


def test_mlflow_contract_needs_no_mlflow_in_the_parent(tmp_path, monkeypatch):
    """The MLflow run is written to the file store without importing mlflow (it costs ~1 s)."""
    import builtins

    real_import = builtins.__import__

    def no_mlflow(name, *a, **k):
        if name.startswith("mlflow"):
            raise ImportError("no mlflow here")
        return real_import(name, *a, **k)

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "t.sh").write_text("echo $MLFLOW_TRACKING_URI $MLFLOW_EXPERIMENT_NAME ${MLFLOW_RUN_ID:-none}\n")
    path = job_yaml(tmp_path, "bash t.sh", experiment_name="e1")
    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    out = Buf()
    rec = run_job(path, RunStore(tmp_path / "r"), out=out)
    assert rec["status"] == "Completed" and rec["metrics"] == {}
    uri, experiment, run_id = out.data.decode().split()
    assert experiment == "e1" and run_id == rec["mlflow"]["run_id"]
    meta = Path(rec["mlflow"]["run_dir"]) / "meta.yaml"
    assert f"run_id: {json.dumps(run_id)}" in meta.read_text() and "status: 3" in meta.read_text()  # FINISHED
    assert uri == (tmp_path / "r" / "mlruns").resolve().as_uri()


def test_sigint_to_a_real_submit_cancels_cleanly(tmp_path):
    (tmp_path / "src").mkdir()
    marker = tmp_path / "child.pid"
    (tmp_path / "src" / "loop.py").write_text(
        "import os, time, pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text(str(os.getpid()))\n"
        "print('looping', flush=True)\n"
        "while True: time.sleep(0.1)\n"
    )
    path = job_yaml(tmp_path, "python loop.py")
    env = {**os.environ, "AMLPLATFORM_RUNS_DIR": str(tmp_path / "r"), "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    code = ("import sys; sys.path.insert(0, %r); from runs_helpers import run_cli; "
            "sys.exit(run_cli('submit', %r))") % (str(Path(__file__).parent), str(path))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_signals)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), proc.stderr.read1() if proc.poll() is not None else "child never started"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    rec = only_run(tmp_path / "r")
    assert rec["status"] == "Canceled" and rec["reason"] == "interrupted (Ctrl-C)" and rec["exit_code"] == 130
    assert [h["status"] for h in rec["status_history"]][-2:] == ["Running", "Canceled"]
    child = int(marker.read_text())
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # the child's process group was terminated too


def test_runs_dir_precedence(tmp_path):
    assert runs_dir(None, {}, tmp_path) == tmp_path / ".amlplatform" / "runs"
    assert runs_dir(None, {"AMLPLATFORM_RUNS_DIR": "x"}, tmp_path) == tmp_path / "x"
    assert runs_dir(tmp_path / "y", {"AMLPLATFORM_RUNS_DIR": "x"}, tmp_path) == tmp_path / "y"


def test_unknown_run_and_ambiguous_prefix(tmp_path, capsys):
    store = RunStore(tmp_path)
    for name in ("exp_1", "exp_2"):
        store.create({"name": name, "experiment": "exp", "status": "Completed", "created_at": name})
    with pytest.raises(UserError, match="matches 2 runs"):
        store.resolve("exp_")
    assert run_cli("runs", "show", "nope", "--runs-dir", str(tmp_path)) == 2
    assert "no run named 'nope'" in capsys.readouterr().err


RUNS_MODULES = {"azure", "azure_logs", "coordinates", "gitinfo", "local", "materialize", "pipeline", "rest", "snapshot", "store"}


def test_runs_package_imports_nothing_from_pulumi():
    """Every module of the package, found with pkgutil (a new module is checked without editing this test),
    and the submit/runs command line."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import amlplatform.runs as pkg\n"
        "names = sorted(m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'))\n"
        f"missing = {sorted(RUNS_MODULES)!r}\n"
        "missing = [m for m in missing if pkg.__name__ + '.' + m not in names]\n"
        "assert not missing, ('pkgutil did not find', missing)\n"
        "names += ['amlplatform.cli', 'amlplatform.cli.runs', 'amlplatform.cli.model', 'amlplatform.cli.serve']  # their command line too\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "    assert name in sys.modules\n"
        "pulumi = [m for m in sys.modules if m.split('.')[0].startswith('pulumi')]\n"
        "assert not pulumi, pulumi\n"
        "heavy = [m for m in ('mlflow', 'yaml') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print(len(names))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) >= len(RUNS_MODULES)


# ------------------------------------------------------------------------ Azure ML job YAML on the local target

from azurite import ACCOUNT_KEY, ACCOUNT_NAME, azurite  # noqa: E402,F401 - session fixture

from amlplatform.runs.job import load_job  # noqa: E402
from amlplatform.runs.local import run_command_job  # noqa: E402
from amlplatform.runs.materialize import substitute, Materialized, blob_location  # noqa: E402

PREP = """import argparse, os, pathlib
p = argparse.ArgumentParser()
p.add_argument("--data"); p.add_argument("--out"); p.add_argument("--n", type=int); p.add_argument("--file")
a = p.parse_args()
src = pathlib.Path(a.data)
rows = sorted((src / "rows.csv").read_text().splitlines()) if src.is_dir() else src.read_text().splitlines()
pathlib.Path(a.out, "clean.csv").write_text("\\n".join(rows[: a.n]) + "\\n")
if a.file:
    pathlib.Path(a.file).write_text("single file output\\n")
print("rows", len(rows), "mode", os.environ.get("MODE"), "nested", (src / "sub" / "deep.txt").exists() if src.is_dir() else "-")
import mlflow
with mlflow.start_run():
    mlflow.log_metric("rows", len(rows))
"""


def command_job(root: Path, data_path: str, *, extra: str = "", input_type: str = "uri_folder") -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "prep.py").write_text(PREP)
    job = f"""$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
code: ./src
command: >-
  python prep.py --data ${{{{inputs.raw}}}} --out ${{{{outputs.clean}}}} --n ${{{{inputs.n}}}}
  $[[--file ${{{{outputs.single}}}}]]
inputs:
  raw:
    type: {input_type}
    path: {data_path}
  n: 2
outputs:
  clean:
    type: uri_folder
  single:
    type: uri_file
environment: azureml:AzureML-sklearn-1.5@latest
environment_variables:
  MODE: demo
compute: local
experiment_name: data-job
{extra}"""
    (root / "job.yml").write_text(job)
    return root / "job.yml"


def test_command_job_with_local_data_input_and_outputs(tmp_path):
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "rows.csv").write_text("c,3\na,1\nb,2\n")
    (tmp_path / "data" / "sub" / "deep.txt").write_text("x")
    path = command_job(tmp_path, "./data")
    out, store = Buf(), RunStore(tmp_path / "runs")
    rec = run_command_job(load_job(path), store=store, out=out, notes=Buf())
    assert rec["status"] == "Completed" and rec["exit_code"] == 0, rec
    assert b"rows 3 mode demo nested True" in out.data
    assert rec["inputs"]["raw"] == {"type": "uri_folder", "value": str(tmp_path / "data"), "kind": "local", "path": "./data"}
    clean = Path(rec["named_outputs"]["clean"]["value"])
    assert clean == store.run_dir(rec["name"]) / "named-outputs" / "clean"
    assert clean.joinpath("clean.csv").read_text() == "a,1\nb,2\n"
    assert Path(rec["named_outputs"]["single"]["value"]).read_text() == "single file output\n"
    assert rec["command_resolved"].startswith(f"python prep.py --data {tmp_path / 'data'} --out {clean} --n 2 --file ")
    assert rec["metrics"]["rows"]["value"] == 3  # the MLflow contract holds for job YAML too
    assert rec["experiment"] == "data-job" and rec["environment"]["ref"] == "azureml:AzureML-sklearn-1.5@latest"


def test_command_job_timeout_records_124(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "slow.py").write_text("import time\ntime.sleep(30)\n")
    (tmp_path / "job.yml").write_text("type: command\ncode: ./src\ncommand: python slow.py\ncompute: local\n"
                                      "environment: azureml:x@latest\nlimits:\n  timeout: 1\n")
    rec = run_command_job(load_job(tmp_path / "job.yml"), store=RunStore(tmp_path / "runs"), out=Buf(), notes=Buf(),
                          grace_seconds=0.5)
    assert rec["status"] == "Canceled" and rec["exit_code"] == 124 and rec["reason"].startswith("timed out after 1 s")


def upload(azurite, container: str, blobs: dict, public: bool = False) -> None:
    from azure.storage.blob import BlobServiceClient

    svc = BlobServiceClient(account_url=azurite.service_url, credential={"account_name": ACCOUNT_NAME, "account_key": ACCOUNT_KEY})
    c = svc.get_container_client(container)
    c.create_container(public_access="container" if public else None)
    for name, data in blobs.items():
        c.upload_blob(name, data, overwrite=True)


def test_datastore_folder_input_is_downloaded_from_azurite(azurite, tmp_path, monkeypatch):
    upload(azurite, "datastore1", {"raw/v1/rows.csv": b"z,9\ny,8\nx,7\n", "raw/v1/sub/deep.txt": b"x",
                                   "raw/v10/rows.csv": b"not me\n"})
    from azure.storage.blob import BlobServiceClient

    svc = BlobServiceClient(account_url=azurite.service_url, credential={"account_name": ACCOUNT_NAME, "account_key": ACCOUNT_KEY})
    # a folder marker as hierarchical-namespace accounts and blobfuse write them: not a file to download
    svc.get_blob_client("datastore1", "raw/v1/sub").upload_blob(b"", metadata={"hdi_isfolder": "true"})
    monkeypatch.setenv("AMLPLATFORM_DATASTORES", json.dumps({"workspaceblobstore": f"{azurite.service_url}/datastore1"}))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    path = command_job(tmp_path, "azureml://datastores/workspaceblobstore/paths/raw/v1")
    out, store = Buf(), RunStore(tmp_path / "runs")
    rec = run_command_job(load_job(path), store=store, out=out, notes=Buf())
    assert rec["status"] == "Completed", (rec, out.data)
    assert b"rows 3 mode demo nested True" in out.data  # the folder, with its sub-folder, and not raw/v10
    got = Path(rec["inputs"]["raw"]["value"])
    assert got == store.run_dir(rec["name"]) / "inputs" / "raw"
    assert rec["inputs"]["raw"]["downloaded"] == {"files": 2, "bytes": 13}
    assert Path(rec["named_outputs"]["clean"]["value"], "clean.csv").read_text() == "x,7\ny,8\n"


def test_https_file_input_from_a_public_container_and_a_private_one(azurite, tmp_path, monkeypatch):
    upload(azurite, "public1", {"files/rows.csv": b"b\na\n"}, public=True)
    upload(azurite, "private1", {"files/rows.csv": b"q\np\n"})
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    path = command_job(tmp_path, f"{azurite.service_url}/public1/files/rows.csv", input_type="uri_file")
    rec = run_command_job(load_job(path), store=RunStore(tmp_path / "runs"), out=Buf(), notes=Buf())
    assert rec["status"] == "Completed" and Path(rec["inputs"]["raw"]["value"]).read_bytes() == b"b\na\n"
    # a private container needs the key: with it the download works
    path = command_job(tmp_path, f"{azurite.service_url}/private1/files/rows.csv", input_type="uri_file")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    rec = run_command_job(load_job(path), store=RunStore(tmp_path / "runs"), out=Buf(), notes=Buf())
    assert rec["status"] == "Completed" and Path(rec["inputs"]["raw"]["value"]).read_bytes() == b"q\np\n"


def test_missing_blob_and_unknown_datastore_are_clear_errors(azurite, tmp_path, monkeypatch):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    upload(azurite, "empty1", {"other/x": b"1"})
    monkeypatch.setenv("AMLPLATFORM_DATASTORES", json.dumps({"ds": f"{azurite.service_url}/empty1"}))
    store = RunStore(tmp_path / "runs")
    path = command_job(tmp_path, "azureml://datastores/ds/paths/missing/folder")
    with pytest.raises(UserError, match=r"inputs.raw: nothing under .*/empty1/missing/folder"):
        run_command_job(load_job(path), store=store, out=Buf(), notes=Buf())
    rec = only_run(tmp_path / "runs")
    assert rec["status"] == "Failed" and "nothing under" in rec["reason"] and rec["exit_code"] == 2
    path = command_job(tmp_path, "azureml://datastores/nope/paths/x")
    with pytest.raises(UserError, match="datastore 'nope' of .* is not known locally; set AMLPLATFORM_DATASTORES"):
        run_command_job(load_job(path), store=RunStore(tmp_path / "runs2"), out=Buf(), notes=Buf())


def test_data_asset_from_the_local_asset_store_or_a_clear_error(tmp_path, monkeypatch):
    from amlplatform.runs.assets import create_asset

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text("k\nj\n")
    (tmp_path / "rows.yml").write_text("name: rows\npath: https://example.com/nowhere.csv\ntype: uri_file\n")
    (tmp_path / "rows2.yml").write_text("name: rows\npath: ./data\n")
    monkeypatch.setenv("AMLPLATFORM_ASSETS_DIR", str(tmp_path / "assets"))
    create_asset("data", tmp_path / "rows.yml")
    create_asset("data", tmp_path / "rows2.yml")  # version 2: a copy of ./data in the store
    stored = tmp_path / "assets" / "data" / "rows" / "2" / "files" / "data"
    for ref in ("azureml:rows:2", "azureml:rows@latest"):
        path = command_job(tmp_path, ref)
        rec = run_command_job(load_job(path), store=RunStore(tmp_path / "r" / ref[-1]), out=Buf(), notes=Buf())
        assert rec["status"] == "Completed" and rec["inputs"]["raw"]["value"] == str(stored)
        assert "local asset store" in rec["inputs"]["raw"]["notes"][0]
    path = command_job(tmp_path, "azureml:other:3")
    with pytest.raises(UserError, match=r"inputs.raw: data azureml:other:3 is not in the local asset store .*"
                                        r"amlplatform data create --file"):
        run_command_job(load_job(path), store=RunStore(tmp_path / "r3"), out=Buf(), notes=Buf())


def test_substitution_quotes_paths_and_drops_unset_optional_blocks():
    ins = {"p": Materialized("p", "uri_folder", "/a b/c", kind="local"), "lit": Materialized("lit", "literal", "x y")}
    outs = {"o": Materialized("o", "uri_folder", "/out", kind="output")}
    assert substitute("run ${{inputs.p}} ${{ inputs.lit }} ${{outputs.o}}", ins, outs) == "run '/a b/c' 'x y' /out"
    assert substitute("run $[[--opt ${{inputs.missing}}]] $[[--p ${{inputs.p}}]]", ins, outs) == "run  --p '/a b/c'"
    with pytest.raises(UserError, match=r"\$\{\{outputs.nope\}\} names no output"):
        substitute("x ${{outputs.nope}}", ins, outs)


@pytest.mark.parametrize("url,expected", [
    ("https://acct.blob.core.windows.net/c/a/b.csv", ("https://acct.blob.core.windows.net", "acct", "c", "a/b.csv")),
    ("http://127.0.0.1:10000/devstoreaccount1/c/x", ("http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1", "c", "x")),
    ("https://acct.blob.core.windows.net/c", ("https://acct.blob.core.windows.net", "acct", "c", "")),
])
def test_blob_locations(url, expected):
    loc = blob_location(url)
    assert (loc.account_url, loc.account, loc.container, loc.prefix) == expected
    assert blob_location("https://example.com/file.csv") is None


_path_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(_path_text, _path_text)
def test_substituted_paths_are_one_shell_word_each(a, b):
    ins = {"a": Materialized("a", "uri_folder", a, kind="local")}
    outs = {"b": Materialized("b", "uri_folder", b, kind="output")}
    import shlex

    assert shlex.split(substitute("python x.py --in ${{inputs.a}} --out ${{outputs.b}}", ins, outs)) == [
        "python", "x.py", "--in", a, "--out", b]


_name = st.from_regex(r"[a-z0-9]{3,12}", fullmatch=True)
_blob = st.lists(st.from_regex(r"[A-Za-z0-9_.-]{1,10}", fullmatch=True).filter(lambda s: s not in (".", "..")),
                 min_size=0, max_size=4).map("/".join)


@settings(max_examples=60, deadline=None)
@given(_name, _name, _blob, st.sampled_from(["virtual-host", "path-style"]))
def test_blob_locations_round_trip(account, container, blob, style):
    if style == "virtual-host":
        base = f"https://{account}.blob.core.windows.net"
        url = f"{base}/{container}" + (f"/{blob}" if blob else "")
    else:
        base = f"http://127.0.0.1:10000/{account}"
        url = f"{base}/{container}" + (f"/{blob}" if blob else "")
    loc = blob_location(url)
    assert (loc.account_url, loc.account, loc.container, loc.prefix) == (base, account, container, blob)


def test_a_sas_token_is_never_recorded(azurite, tmp_path, monkeypatch):
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    upload(azurite, "sas1", {"d/rows.csv": b"s\nr\n"})
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    sas = generate_container_sas(ACCOUNT_NAME, "sas1", account_key=ACCOUNT_KEY,
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    path = command_job(tmp_path, f"{azurite.service_url}/sas1/d?{sas}")
    store = RunStore(tmp_path / "runs")
    rec = run_command_job(load_job(path), store=store, out=Buf(), notes=Buf())
    assert rec["status"] == "Completed", rec
    assert Path(rec["inputs"]["raw"]["value"], "rows.csv").read_bytes() == b"s\nr\n"  # the SAS was used
    assert rec["inputs"]["raw"]["path"] == f"{azurite.service_url}/sas1/d?<redacted>"
    sig = [p for p in sas.split("&") if p.startswith("sig=")][0]
    assert sig not in (store.run_dir(rec["name"]) / "run.json").read_text()


def test_outputs_dir_names_the_kept_folder_and_dot_outputs_lands_there(tmp_path):
    store = RunStore(tmp_path / "runs")
    src = tmp_path / "src"
    src.mkdir()
    (src / "w.py").write_text(
        "import os, pathlib\n"
        "d = pathlib.Path(os.environ['AMLPLATFORM_OUTPUTS_DIR'])\n"
        "(d / 'a.txt').write_text('a')\n"
        "pathlib.Path('outputs', 'b.txt').write_text('b')\n"
        "print(d / 'a.txt')\n")
    rec = run_job(job_yaml(tmp_path, "python w.py"), store)
    assert rec["status"] == "Completed"
    printed = Path((tmp_path / "runs" / rec["name"] / "output.log").read_text().strip())
    assert printed.read_text() == "a"  # the path the script printed is still there after the run
    assert printed.parent == Path(rec["outputs"]) and (printed.parent / "b.txt").read_text() == "b"
    assert not (tmp_path / "runs" / rec["name"] / "wd").exists()

