"""Run records survive anything: a killed or hung-up ``submit``, corrupt or foreign ``run.json`` files,
and exit codes in the record equal to the command line's. Real subprocesses, real signals."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from amlplatform.runs.store import RunStore, process_alive, process_start_time, this_process

from runs_helpers import REPO, VENV_BIN, default_signals, run_cli

COMPONENTS = REPO / "components"


def cli_env(runs: Path) -> dict:
    return {**os.environ, "AMLPLATFORM_RUNS_DIR": str(runs), "PYTHONPATH": str(COMPONENTS),
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}


def start_submit(tmp_path: Path, script: str, *extra: str) -> tuple[subprocess.Popen, Path]:
    """``amlplatform submit`` of a looping script as a real process; waits until the command runs."""
    src = tmp_path / "src"
    src.mkdir()
    marker = tmp_path / "child.pid"
    (src / "loop.py").write_text(
        "import os, time, pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text(str(os.getpid()))\n"
        f"{script}\n"
        "print('looping', flush=True)\n"
        "while True: time.sleep(0.1)\n"
    )
    job = tmp_path / "job.yml"
    job.write_text("type: command\ncode: ./src\ncommand: python loop.py\ncompute: local\n"
                   "environment: azureml:AzureML-sklearn-1.5@latest\n")
    proc = subprocess.Popen([sys.executable, "-m", "amlplatform.cli", "submit", str(job), *extra],
                            cwd=tmp_path, env=cli_env(tmp_path / "r"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_signals)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"submit ended early: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    assert marker.exists(), "the command never started"
    time.sleep(0.2)
    return proc, marker


def only_record(runs: Path) -> dict:
    recs = [json.loads((p / "run.json").read_text()) for p in runs.iterdir() if (p / "run.json").is_file()]
    assert len(recs) == 1, recs
    return recs[0]


def wait_dead(pid: int, start_time, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while process_alive(pid, start_time) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not process_alive(pid, start_time)


def test_sigkill_of_submit_is_found_by_the_next_runs_list(tmp_path, capsys):
    proc, marker = start_submit(tmp_path, "")
    child = int(marker.read_text())
    child_start = process_start_time(child)
    rec = only_record(tmp_path / "r")
    assert rec["status"] == "Running"
    assert rec["supervisor"]["pid"] == proc.pid and rec["child"]["pid"] == child
    proc.kill()
    proc.wait(timeout=10)
    try:
        assert process_alive(child, child_start), "the command should outlive a SIGKILLed supervisor"
        assert run_cli("runs", "list", "--runs-dir", str(tmp_path / "r")) == 0
        out = capsys.readouterr()
        assert "Failed" in out.out
        assert "was left Running" in out.err and "marked Failed" in out.err
        rec = only_record(tmp_path / "r")
        assert rec["status"] == "Failed"
        assert f"pid {proc.pid}" in rec["reason"] and "orphaned command" in rec["reason"]
        assert [h["status"] for h in rec["status_history"]][-2:] == ["Running", "Failed"]
        assert wait_dead(child, child_start), "the orphaned command was not ended"
        # a second look changes nothing
        assert run_cli("runs", "show", rec["name"], "--runs-dir", str(tmp_path / "r")) == 0
        assert only_record(tmp_path / "r")["status_history"] == rec["status_history"]
    finally:
        if process_alive(child, child_start):
            os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize("sig,reason", [(signal.SIGHUP, "hangup (SIGHUP"), (signal.SIGTERM, "terminated (SIGTERM)")])
def test_sighup_or_sigterm_of_submit_ends_the_command_group_and_records_it(tmp_path, sig, reason):
    proc, marker = start_submit(tmp_path, "")
    child = int(marker.read_text())
    child_start = process_start_time(child)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        rec = only_record(tmp_path / "r")
        assert rec["status"] == "Canceled" and rec["reason"].startswith(reason)
        assert rec["exit_code"] == proc.returncode == 130
        assert wait_dead(child, child_start)
    finally:
        if process_alive(child, child_start):
            os.kill(child, signal.SIGKILL)


def test_sighup_ignored_by_the_command_still_ends_it(tmp_path):
    """The group gets SIGTERM, then SIGKILL after the grace period."""
    proc, marker = start_submit(tmp_path, "import signal; signal.signal(signal.SIGHUP, signal.SIG_IGN)")
    child = int(marker.read_text())
    child_start = process_start_time(child)
    proc.send_signal(signal.SIGHUP)
    try:
        proc.communicate(timeout=30)
        assert wait_dead(child, child_start)
        assert only_record(tmp_path / "r")["status"] == "Canceled"
    finally:
        if process_alive(child, child_start):
            os.kill(child, signal.SIGKILL)


def test_sigint_exit_code_in_the_record_equals_the_cli(tmp_path):
    proc, marker = start_submit(tmp_path, "")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    rec = only_record(tmp_path / "r")
    assert rec["exit_code"] == proc.returncode == 130 and rec["status"] == "Canceled"


def job_file(tmp_path: Path, command: str) -> str:
    job = tmp_path / "job.yml"
    job.write_text(f"type: command\ncode: ./src\ncommand: {command}\ncompute: local\n"
                   "environment: azureml:AzureML-sklearn-1.5@latest\n")
    return str(job)


def test_timeout_exit_code_in_the_record_equals_the_cli(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "slow.py").write_text("import time\ntime.sleep(30)\n")
    rc = run_cli("submit", job_file(tmp_path, "python slow.py"), "--timeout", "1", "--runs-dir", str(tmp_path / "r"))
    rec = only_record(tmp_path / "r")
    assert rc == rec["exit_code"] == 124
    assert rec["command_exit_code"] is not None and rec["command_exit_code"] < 0  # killed by the timeout


def test_failed_command_exit_code_in_the_record_equals_the_cli(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f.py").write_text("raise SystemExit(7)\n")
    rc = run_cli("submit", job_file(tmp_path, "python f.py"), "--runs-dir", str(tmp_path / "r"))
    assert rc == only_record(tmp_path / "r")["exit_code"] == 7


@pytest.mark.parametrize("content,why", [
    ("{not json", "cannot be read"),
    ("[1, 2, 3]", "a JSON list, not an object"),
    ('{"hello": "world"}', "not a run record of amlplatform"),
    ('{"name": "someone-else", "status": "Completed"}', "names another run"),
    ('{"name": "bad_run", "status": "Completed", "status_history": [{"status": 1}]}', "status_history is not a list"),
    ('{"name": "bad_run", "status": "Completed", "duration_seconds": "long"}', "duration_seconds is not a number"),
    ('{"name": "bad_run", "status": "Completed", "metrics": {"loss": 3}}', "metrics are not {value, step}"),
    ('{"name": "bad_run", "status": ["Completed"]}', "status is not text"),
    ("", "cannot be read"),
])
def test_corrupt_or_foreign_records_are_skipped_with_a_warning(tmp_path, capsys, content, why):
    store = RunStore(tmp_path)
    good = store.create({"experiment": "e", "status": "Completed", "status_history": [], "created_at": "t"})
    (tmp_path / "bad_run").mkdir()
    (tmp_path / "bad_run" / "run.json").write_text(content)
    assert run_cli("runs", "list", "--runs-dir", str(tmp_path)) == 0
    out = capsys.readouterr()
    assert good["name"] in out.out and "bad_run" not in out.out
    assert "warning: skipped" in out.err and why in out.err and "Traceback" not in out.err
    assert run_cli("runs", "list", "--json", "--runs-dir", str(tmp_path)) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == [good["name"]]
    assert run_cli("runs", "show", "bad_run", "--runs-dir", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and why in err and "Traceback" not in err
    assert run_cli("runs", "show", "last", "--runs-dir", str(tmp_path)) == 0


def test_a_reused_pid_is_not_taken_for_the_supervisor(tmp_path):
    """Our own pid with another start time: another process has that pid now, so the supervisor is gone."""
    warnings = []
    store = RunStore(tmp_path, warn=warnings.append)
    me = this_process()
    if me["start_time"] is None:
        pytest.skip("no /proc: start times cannot be compared here")
    alive = store.create({"experiment": "e", "status": "Running", "status_history": [], "supervisor": me})
    reused = store.create({"experiment": "e", "status": "Running", "status_history": [],
                           "supervisor": {**me, "start_time": me["start_time"] - 1}})
    assert store.load(alive["name"])["status"] == "Running"
    assert store.load(reused["name"])["status"] == "Failed"
    assert len(warnings) == 1 and reused["name"] in warnings[0]


def test_records_from_another_host_are_left_alone(tmp_path):
    store = RunStore(tmp_path, warn=lambda m: None)
    rec = store.create({"experiment": "e", "status": "Running", "status_history": [],
                        "supervisor": {"pid": 999999, "start_time": 1, "host": "another-machine"}})
    assert store.load(rec["name"])["status"] == "Running"


def test_runs_folder_never_marks_the_repository_dirty(tmp_path, capsys):
    """A repository whose own .gitignore does not mention .amlplatform/ stays clean after a run."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text("print('hi')\n")
    (repo / "job.yml").write_text("type: command\ncode: .\ncommand: python train.py\ncompute: local\n"
                                  "environment: azureml:AzureML-sklearn-1.5@latest\n")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "train.py", "job.yml"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        assert run_cli("submit", "job.yml") == 0
        assert run_cli("submit", "job.yml") == 0
    finally:
        os.chdir(cwd)
    assert (repo / ".amlplatform" / "runs").is_dir()
    status = subprocess.run([*git, "status", "--porcelain", "--untracked-files=all", "--ignored=no"],
                            capture_output=True, text=True)
    assert status.stdout == ""
    runs = repo / ".amlplatform" / "runs"
    recs = sorted((json.loads((p / "run.json").read_text()) for p in runs.iterdir() if (p / "run.json").is_file()),
                  key=lambda r: r["created_at"])
    assert [r["git"]["azureml.git.dirty"] for r in recs] == ["False", "False"]  # the first run's record did not dirty it


def test_an_explicit_run_name_is_used_once(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ok.py").write_text("print('ok')\n")
    job = job_file(tmp_path, "python ok.py")
    assert run_cli("submit", job, "--name", "my-run_1", "--runs-dir", str(tmp_path / "r")) == 0
    assert only_record(tmp_path / "r")["name"] == "my-run_1"
    capsys.readouterr()
    assert run_cli("submit", job, "--name", "my-run_1", "--runs-dir", str(tmp_path / "r")) == 2
    assert "a run named 'my-run_1' already exists" in capsys.readouterr().err
    assert run_cli("submit", job, "--name", "../escape", "--runs-dir", str(tmp_path / "r")) == 2
    assert "is not a valid" in capsys.readouterr().err
    assert not (tmp_path / "escape").exists()


def test_concurrent_readers_mark_a_dead_supervisor_once(tmp_path):
    """Several `runs list` processes at once: one transition to Failed, not one per reader."""
    store = RunStore(tmp_path, warn=lambda m: None)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    rec = store.create({"experiment": "e", "status": "Running", "status_history": [{"status": "Running", "time": "t"}],
                        "supervisor": {"pid": dead.pid, "start_time": -1, "host": this_process()["host"]}})  # -1: a reused pid differs too
    env = {**os.environ, "PYTHONPATH": str(COMPONENTS)}
    readers = [subprocess.Popen([sys.executable, "-m", "amlplatform.cli", "runs", "list", "--runs-dir", str(tmp_path)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    outs = [r.communicate(timeout=60) for r in readers]
    assert all(r.returncode == 0 for r in readers), outs
    saved = json.loads((tmp_path / rec["name"] / "run.json").read_text())
    assert [h["status"] for h in saved["status_history"]] == ["Running", "Failed"]
    assert all(b"Failed" in out for out, _ in outs)


_json = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=8)
_KEYS = ["status", "status_history", "created_at", "duration_seconds", "exit_code", "metrics", "params", "git",
         "mlflow", "tags", "experiment", "reason", "command", "source", "outputs", "warnings", "total_bytes",
         "files_count", "display_name", "compute", "code_hash", "ignore_file", "log"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(_KEYS), _json, max_size=8),
       st.sampled_from(["Running", "Completed", "Failed"]))
def test_no_run_json_makes_runs_list_or_show_trace_back(tmp_path_factory, fields, status):
    """Whatever a run.json holds, `runs list` and `runs show` answer (the record, or skipped / an error)."""
    import contextlib
    import io

    root = tmp_path_factory.mktemp("runs")
    (root / "odd_run").mkdir()
    (root / "odd_run" / "run.json").write_text(json.dumps({"status": status, **fields, "name": "odd_run"}))
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        assert run_cli("runs", "list", "--runs-dir", str(root)) == 0
        assert run_cli("runs", "list", "--json", "--runs-dir", str(root)) == 0
        assert run_cli("runs", "show", "odd_run", "--runs-dir", str(root)) in (0, 2)
        assert run_cli("runs", "show", "odd_run", "--json", "--runs-dir", str(root)) in (0, 2)


def test_a_record_left_running_by_an_older_amlplatform_is_finished(tmp_path):
    """Records written before supervisors were recorded kept the command's pid only: once it is gone,
    the record is marked Failed instead of staying Running for ever."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for name, pid in (("old_dead", dead.pid), ("old_alive", alive.pid)):
            (tmp_path / name).mkdir()
            (tmp_path / name / "run.json").write_text(json.dumps(
                {"name": name, "experiment": "e", "status": "Running", "pid": pid,
                 "status_history": [{"status": "Running", "time": "2026-01-01T00:00:00.000Z"}]}))
        warnings = []
        store = RunStore(tmp_path, warn=warnings.append)
        if not process_alive(dead.pid, None):  # (the pid was not reused in between)
            assert store.load("old_dead")["status"] == "Failed"
            assert "older amlplatform" in store.load("old_dead")["reason"]
        assert store.load("old_alive")["status"] == "Running"
    finally:
        alive.kill()
        alive.wait()
