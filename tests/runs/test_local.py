"""The local backend end to end: records, MLflow metrics, outputs, failures, timeouts, Ctrl-C."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from amlplatform.errors import UserError
from amlplatform.runs.local import command_problems, run_local
from amlplatform.runs.snapshot import take_snapshot
from amlplatform.runs.spec import RunSpec
from amlplatform.runs.store import RunStore, read_mlflow_metrics, runs_dir

from runs_helpers import REPO, VENV_BIN, run_cli

EXAMPLE = REPO / "examples" / "train"


def only_run(store_dir: Path) -> dict:
    names = [p for p in store_dir.iterdir() if (p / "run.json").is_file()]
    assert len(names) == 1, names
    return json.loads((names[0] / "run.json").read_text())


@pytest.fixture
def project(tmp_path):
    src = tmp_path / "proj"
    shutil.copytree(EXAMPLE, src)
    (src / ".env").write_text("SECRET=1\n")
    (src / "data").mkdir()
    (src / "data" / "big.csv").write_text("x\n")
    return src


def test_submit_local_through_main_records_a_completed_run_with_metrics(project, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = run_cli("submit", str(project / "run.yaml"), "--env", "EXTRA=1", "--tag", "who=test")
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "epoch 3" in out.out  # streamed live to the terminal
    store_dir = tmp_path / ".amlplatform" / "runs"
    rec = only_run(store_dir)
    assert rec["status"] == "Completed" and rec["exit_code"] == 0
    assert [h["status"] for h in rec["status_history"]] == ["NotStarted", "Preparing", "Running", "Completed"]
    assert rec["command"] == "python train.py --epochs 3 --lr 0.1"
    assert rec["files"] == [".amlignore", "run.yaml", "train.py"]  # no .env, no data/
    assert {e["relpath"] for e in rec["excluded"]} == {".env", "data/"}
    assert rec["tags"] == {"project": "amlplatform-example", "who": "test"}
    assert rec["metrics"]["loss"]["step"] == 3 and rec["metrics"]["loss"]["count"] == 3
    assert rec["params"] == {"epochs": "3", "lr": "0.1"}
    assert rec["duration_seconds"] >= 0
    assert json.loads((store_dir / rec["name"] / "outputs" / "model.json").read_text())["epochs"] == 3
    assert not (store_dir / rec["name"] / "wd").exists()
    assert "epoch 1: loss" in (store_dir / rec["name"] / "output.log").read_text()
    # MLflow's own view agrees: the child's plain start_run() attached to the recorded run
    mlrun = Path(rec["mlflow"]["run_dir"])
    assert read_mlflow_metrics(mlrun)["accuracy"]["value"] == pytest.approx(rec["metrics"]["accuracy"]["value"])
    assert "FINISHED" in (mlrun / "meta.yaml").read_text() or "status: 3" in (mlrun / "meta.yaml").read_text()

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
    env = {**os.environ, "AMLPLATFORM_RUNS_DIR": str(tmp_path / "runs")}
    proc = subprocess.run([str(exe), "submit", "--source", str(project), "--script", "train.py", "--", "--epochs", "2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rec = only_run(tmp_path / "runs")
    assert rec["status"] == "Completed" and rec["metrics"]["loss"]["step"] == 2
    show = subprocess.run([str(exe), "runs", "show", rec["name"]], env=env, capture_output=True, text=True, timeout=60)
    assert "accuracy = " in show.stdout and "| epoch 2" in show.stdout


def test_failing_command_records_failed_and_passes_its_exit_code(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "fail.py").write_text("import sys\nprint('boom')\nsys.exit(3)\n")
    rc = run_cli("submit", "--source", str(tmp_path / "src"), "--command", "python fail.py", "--runs-dir", str(tmp_path / "r"))
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
    snap = take_snapshot(tmp_path / "src")
    store = RunStore(tmp_path / "r")
    with pytest.raises(UserError) as info:
        run_local(RunSpec(source=tmp_path / "src", command=command), snap, {}, store=store)
    assert needle in str(info.value)
    assert store.names() == []


def test_shell_commands_are_left_to_the_shell():
    snap = type("S", (), {"relpaths": [], "root": Path("."), "excluded": []})()
    assert command_problems("echo hi && python x.py", snap) == []
    assert command_problems("FOO=1 python x.py", snap) == []


def test_setup_failure_is_recorded_failed_not_left_running(tmp_path, monkeypatch):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "t.py").write_text("")
    snap = take_snapshot(tmp_path / "src")
    store = RunStore(tmp_path / "r")

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("amlplatform.runs.local.copy_snapshot", broken)
    with pytest.raises(UserError, match="failed before the command started"):
        run_local(RunSpec(source=tmp_path / "src", command="python t.py"), snap, {}, store=store)
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
    rc = run_cli("submit", "--source", str(tmp_path / "src"), "--command", "bash slow.sh", "--timeout", "1",
                 "--runs-dir", str(tmp_path / "r"))
    assert rc == 124 and time.monotonic() - t0 < 15
    rec = only_run(tmp_path / "r")
    assert rec["status"] == "Canceled" and rec["reason"].startswith("timed out after 1 s")
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
    snap = take_snapshot(tmp_path / "src")
    spec = RunSpec(source=tmp_path / "src", command="bash bg.sh", timeout_seconds=1 if how == "timeout" else None)
    out = tmp_path / "out.bin"
    t0 = time.monotonic()
    with open(out, "wb") as fh:
        rec = run_local(spec, snap, {}, store=RunStore(tmp_path / "r"), out=fh, grace_seconds=0.5)
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

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "t.sh").write_text("echo $MLFLOW_TRACKING_URI $MLFLOW_EXPERIMENT_NAME ${MLFLOW_RUN_ID:-none}\n")
    snap = take_snapshot(tmp_path / "src")
    out = tmp_path / "out.bin"
    with open(out, "wb") as fh:
        rec = run_local(RunSpec(source=tmp_path / "src", command="bash t.sh", experiment="e1"), snap, {},
                        store=RunStore(tmp_path / "r"), out=fh)
    assert rec["status"] == "Completed" and rec["metrics"] == {}
    uri, experiment, run_id = out.read_text().split()
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
    env = {**os.environ, "AMLPLATFORM_RUNS_DIR": str(tmp_path / "r"), "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    code = ("import sys; sys.path.insert(0, %r); from runs_helpers import run_cli; "
            "sys.exit(run_cli('submit', '--source', %r, '--command', 'python loop.py'))") % (str(Path(__file__).parent), str(tmp_path / "src"))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), proc.stderr.read1() if proc.poll() is not None else "child never started"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    rec = only_run(tmp_path / "r")
    assert rec["status"] == "Canceled" and rec["reason"] == "interrupted (Ctrl-C)"
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
        store.create({"name": name, "experiment": "exp", "created_at": name})
    with pytest.raises(UserError, match="matches 2 runs"):
        store.resolve("exp_")
    assert run_cli("runs", "show", "nope", "--runs-dir", str(tmp_path)) == 2
    assert "no run named 'nope'" in capsys.readouterr().err


RUNS_MODULES = {"azure", "azure_logs", "coordinates", "gitinfo", "local", "rest", "snapshot", "spec", "store"}


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
        "names += ['amlplatform.cli', 'amlplatform.cli.runs']  # the submit/runs command line too\n"
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
