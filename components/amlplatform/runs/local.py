"""The local target: run a command job (Azure ML job YAML) on this machine the way Azure ML would.

- ``run_command_job(job, store=..., out=..., notes=...)`` runs a ``runs.job.CommandJob``: inputs
  are materialised and outputs made while Preparing (``runs.materialize``), placeholders filled,
  ``environment_variables`` set, ``limits.timeout`` applied. ``runs.pipeline`` runs pipeline
  steps through the same ``execute``.

- The command runs in a COPY of the snapshot (``<run>/wd``), so files left out by the ignore
  file or the deny-list are missing exactly as they would be on a cluster.
- Like on Azure ML, the working folder has an ``outputs/`` folder: a link to the kept
  ``<run>/outputs`` (``$AMLPLATFORM_OUTPUTS_DIR`` names that kept folder, so paths printed under it
  stay true); where no link can be made, a plain folder moved to ``<run>/outputs`` when the
  command ends. The working copy is then removed.
- MLflow contract (as on Azure ML): the run is created up front in the file store
  ``<runs dir>/mlruns`` (written directly, see ``store.create_mlflow_run``: importing mlflow
  here would add about a second to every run) and ``MLFLOW_TRACKING_URI``, ``MLFLOW_RUN_ID``,
  ``MLFLOW_EXPERIMENT_NAME`` and ``MLFLOW_ALLOW_FILE_STORE=true`` are exported, so plain
  ``mlflow.start_run()`` / ``mlflow.log_metric()`` in the script log into it. mlflow need not
  be installed where amlplatform runs, only where the script runs.
- Output (stdout and stderr, merged) is streamed live to the terminal and to ``output.log``.
- The command runs in its own process group. Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal
  closed) to this process terminates that group (SIGTERM, then SIGKILL after a grace period) and
  records Canceled with exit code 130; ``timeout_seconds`` / ``limits.timeout`` does the same
  with a "timed out" reason and exit code 124. If this process is killed outright (SIGKILL), the
  next ``runs list``/``show`` finds the record's supervisor gone and marks it Failed (store.py).
  When the command ends on its own, background processes it left in the group are ended the
  same way (SIGTERM, grace, SIGKILL).
- The job's environment is built, not inherited (``job_environment``): of the caller's variables
  only ``BASE_ENV`` (PATH, HOME, user, locale, time zone, terminal, temp folder) and the names
  given with ``pass_env`` (``--pass-env NAME``) reach it; then the job's ``environment_variables``,
  and the variables the service sets for a job (MLflow tracking, below) plus the shim's own
  ``AMLPLATFORM_*``. It runs with umask 077; the record and what it writes are 0600/0700
  (``store.private_dir``). ``run.json`` keeps environment variable names, and values only where
  neither the name nor the value looks like a secret (``record_environment``). See
  docs/local-runs-security.md.
- Status history: NotStarted -> Preparing -> Running -> Completed | Failed | Canceled. A failure
  while preparing is recorded as Failed with its reason; no record is left Running.
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO, Callable, Mapping, Optional, Sequence

from amlplatform.errors import UserError
from amlplatform.exit_codes import EXIT_INTERRUPTED, EXIT_TIMEOUT
from amlplatform.runs.snapshot import HASH_VERSION, Snapshot, copy_snapshot
from amlplatform.runs.store import (
    JOB_UMASK,
    LOG,
    RunStore,
    open_private,
    private_dir,
    create_mlflow_run,
    end_mlflow_run,
    fresh_lifecycle,
    process_start_time,
    read_mlflow_metrics,
    read_mlflow_params,
)

GRACE_SECONDS = 10.0
EXIT_CANCELED = EXIT_INTERRUPTED  # the one exit-code table: amlplatform.exit_codes
_SHELL_WORDS = {"cd", "exec", "export", "source", ".", "set", "env", "eval", "time", "true", "false", "test", "["}
_SHELL_META = set("|&;<>()$`\\\"'*?[]#~=%{}\n")


# The caller's variables every local job gets. On Azure ML a job sees only what its image, the
# service and its own ``environment_variables`` set - never the submitter's shell - so locally the
# same, plus what a process needs to start on this machine at all. Anything else (a cloud key, a CI
# token) must be asked for by name with ``--pass-env NAME``.
BASE_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "TEMP", "TMP",
            "SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT")  # the last four: Windows cannot start Python without them
BASE_ENV_PREFIXES = ("LC_",)  # locale categories (LC_ALL, LC_CTYPE, ...)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names and values that look like secrets: their values are never written to run.json.
_SECRET_NAME = re.compile(r"(?:^|_)(?:SECRETS?|PASSWORD|PASSWD|PWD|PASS|TOKENS?|KEYS?|APIKEY|ACCESSKEY|CREDENTIALS?|"
                          r"AUTH|AUTHORIZATION|SAS|PAT|PRIVATE|CERT|CERTIFICATE|COOKIE|SESSION|SIG|SIGNATURE|"
                          r"CONNECTION_STRING|CONNECTIONSTRING|CONNSTR|DSN)(?:_|$)", re.I)
_SECRET_VALUE = re.compile(r"(?:[?&]sig=|AccountKey=|SharedAccessSignature|SharedAccessKey=|-----BEGIN |"
                           r"://[^/@\s:]+:[^/@\s]+@|password=|pwd=)", re.I)
REDACTED = "<redacted>"


def check_pass_env(names: Sequence[str]) -> list[str]:
    """``--pass-env`` names, checked (a variable name, not NAME=VALUE); duplicates dropped, order kept."""
    bad = [n for n in names if not isinstance(n, str) or not ENV_NAME.match(n)]
    if bad:
        raise UserError("--pass-env takes variable names (NAME; to set a value use --env NAME=VALUE):",
                        [f"{n!r} is not a variable name" for n in bad])
    return list(dict.fromkeys(names))


def job_environment(caller: Mapping[str, str], *, pass_env: Sequence[str] = (), declared: Mapping[str, str] = (),
                    extra: Mapping[str, str] = (), service: Mapping[str, str] = (),
                    venv: Optional[Path] = None) -> dict[str, str]:
    """The command's whole environment, in layers (later wins): the caller's ``BASE_ENV`` /
    ``BASE_ENV_PREFIXES`` variables, the caller's ``pass_env`` names, the job's ``declared``
    ``environment_variables``, ``extra`` (what preparing the job added), then ``service`` (the
    variables Azure ML sets for a job and the shim's own). PATH gets the shim's virtualenv first
    (``_child_path``) unless the job declares its own; with ``venv`` (the job's own environment,
    ``runs.envbuild``) that virtualenv's ``bin`` comes before everything, as if it were activated."""
    env = {k: v for k, v in caller.items() if k in BASE_ENV or k.startswith(BASE_ENV_PREFIXES)}
    env.update({k: caller[k] for k in pass_env if k in caller})
    env.update(declared)
    env.update(extra)
    env.update(service)
    env["PATH"] = _child_path(dict(declared), caller)
    if venv is not None:
        env["PATH"] = str(venv / "bin") + os.pathsep + env["PATH"]
        env["VIRTUAL_ENV"] = str(venv)
    return env


def looks_secret(name: str, value: Any) -> bool:
    return bool(_SECRET_NAME.search(name)) or bool(_SECRET_VALUE.search(str(value)))


def record_environment(declared: Mapping[str, str]) -> dict[str, str]:
    """The job's ``environment_variables`` as ``run.json`` keeps them: every name; the value only
    when neither name nor value looks like a secret (``REDACTED`` otherwise). Values of the caller's
    environment are never recorded."""
    return {k: (REDACTED if looks_secret(k, v) else v) for k, v in declared.items()}


class _Cancel(Exception):
    """Raised in the main thread by SIGTERM (SIGINT raises KeyboardInterrupt)."""


def command_problems(command: str, snapshot: Snapshot, *, path: Optional[str] = None, check_program: bool = True) -> list[str]:
    """Obvious mistakes found before anything runs: an unknown program, a script not in the snapshot.

    Only simple commands (no shell syntax) are checked; anything else is left to the shell.
    """
    try:
        words = shlex.split(command)
    except ValueError as exc:
        return [f"command: cannot be parsed ({exc}): {command!r}"]
    if not words or any(ch in _SHELL_META for w in words[:2] for ch in w):
        return []
    problems = []
    program = words[0]
    in_snapshot = set(snapshot.relpaths)
    if check_program and program not in _SHELL_WORDS:
        if "/" in program:
            rel = os.path.normpath(program).replace(os.sep, "/")
            if not os.path.isabs(program) and rel not in in_snapshot:
                problems.append(f"command: {program} is not in the snapshot of {snapshot.root}{_why_left_out(rel, snapshot)}")
        elif shutil.which(program, path=path if path is not None else os.environ.get("PATH", os.defpath)) is None:
            problems.append(f"command: program {program!r} is not found on PATH")
    if len(words) > 1 and os.path.basename(program).startswith("python") and words[1].endswith(".py"):
        script = words[1]
        rel = os.path.normpath(script).replace(os.sep, "/")
        if not os.path.isabs(script) and rel not in in_snapshot:
            problems.append(f"command: script {script} is not in the snapshot of {snapshot.root}{_why_left_out(rel, snapshot)}")
    return problems


def _why_left_out(rel: str, snapshot: Snapshot) -> str:
    for e in snapshot.excluded:
        folder = e.relpath.endswith("/")
        if e.relpath == rel or (folder and rel.startswith(e.relpath)):
            return f" (left out: {e.relpath} {e.reason})"
    return ""


def _shell() -> list[str]:
    bash = shutil.which("bash")
    return [bash, "-c"] if bash else ["/bin/sh", "-c"]


def _setup_mlflow(store: RunStore, record: dict[str, Any], extra_tags: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Create the MLflow run in the local file store (written directly: no mlflow import, which
    would cost about a second per run); the environment that points a child at it."""
    uri = store.mlruns.resolve().as_uri()
    env = {
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "MLFLOW_EXPERIMENT_NAME": record["experiment"],
    }
    tags = {"amlplatform.run_name": record["name"], "amlplatform.code_hash": record.get("code_hash") or "",
            **record.get("git", {})}
    if record.get("display_name"):
        tags["amlplatform.display_name"] = record["display_name"]
    tags.update(record.get("tags") or {})
    tags.update(extra_tags or {})
    try:
        created = create_mlflow_run(store.mlruns, record["experiment"], record["name"], tags)
    except OSError as exc:  # the run goes ahead without metrics
        record["mlflow"] = {"tracking_uri": uri, "available": False}
        record.setdefault("warnings", []).append(f"could not create the MLflow run: {exc}")
        return env
    record["mlflow"] = {"tracking_uri": uri, "available": True, **created}
    env["MLFLOW_RUN_ID"] = created["run_id"]
    env["MLFLOW_EXPERIMENT_ID"] = created["experiment_id"]
    return env


def _finish_mlflow(record: dict[str, Any], status: str) -> None:
    info = record.get("mlflow") or {}
    if not info.get("run_id"):
        return
    mlflow_status = {"Completed": "FINISHED", "Failed": "FAILED", "Canceled": "KILLED"}[status]
    try:
        end_mlflow_run(Path(info["run_dir"]), mlflow_status)
    except OSError as exc:  # the run itself is recorded either way
        record.setdefault("warnings", []).append(f"could not mark the MLflow run {mlflow_status}: {exc}")


def collect_metrics(record: dict[str, Any]) -> dict[str, Any]:
    run_dir = (record.get("mlflow") or {}).get("run_dir")
    if not run_dir:
        return {}
    return read_mlflow_metrics(Path(run_dir))


def _pump(src: BinaryIO, sinks: list[Any]) -> None:
    fd = src.fileno()
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        for sink in sinks:
            try:
                sink.write(chunk)
                sink.flush()
            except (OSError, ValueError):
                pass  # a closed terminal must not stop the log


def _live_members(pgid: int) -> bool:
    """Whether process group ``pgid`` has a member that is not a zombie.

    A killed orphan stays a zombie until whoever adopted it reaps it, and in a container the
    adopter (PID 1) may never do so; ``killpg(pgid, 0)`` alone would then report the group alive
    for ever. Where ``/proc`` is missing we cannot tell zombies apart and assume a live member.
    """
    try:
        pids = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return True
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()  # state ppid pgrp ... (the name may hold spaces)
        if len(fields) >= 3 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return True
    return False


def _group_alive(proc: subprocess.Popen) -> bool:
    proc.poll()  # reap the leader if it has ended, so it does not count as a member
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _live_members(proc.pid)


def _group_ended_within(proc: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _group_alive(proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _kill_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM the command's whole process group, SIGKILL whatever is left after ``grace`` seconds.

    Waits for the GROUP, not only for the command: a background process that ignores SIGTERM
    must not survive because the shell that started it exited at once."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        except PermissionError:  # the group now holds a process we may not signal: nothing more to do
            break
        if _group_ended_within(proc, wait):
            break
    try:
        proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        pass


def _end_leftovers(proc: subprocess.Popen, grace: float) -> None:
    """Background processes the command left behind end with the run, as on a cluster node:
    SIGTERM, then SIGKILL after ``grace`` seconds for any that ignore it."""
    if _group_alive(proc):
        _kill_group(proc, grace)


class Prepared:
    """What ``prepare`` (run while the record says Preparing) hands back: the final command and
    extra environment variables."""

    def __init__(self, command: str, env: Optional[dict[str, str]] = None) -> None:
        self.command = command
        self.env = dict(env or {})


def execute(
    record: dict[str, Any],
    snapshot: Snapshot,
    *,
    store: RunStore,
    out: Optional[BinaryIO] = None,
    notes: Optional[Any] = None,
    grace_seconds: float = GRACE_SECONDS,
    prepare: Optional[Callable[[dict[str, Any], Path], Prepared]] = None,
    cancel: Optional[threading.Event] = None,
    mlflow_tags: Optional[dict[str, str]] = None,
    pass_env: Sequence[str] = (),
    environment_variables: Optional[Mapping[str, str]] = None,
    venv: Optional[Path] = None,
) -> dict[str, Any]:
    """Create the record, run ``record["command"]`` in a copy of ``snapshot``, finish the record.

    The command's environment is ``job_environment``: ``environment_variables`` (the job's own, with
    their real values; ``record["environment_variables"]`` is the redacted copy ``run.json`` keeps)
    over the caller's ``BASE_ENV`` and ``pass_env`` names, under the MLflow and ``AMLPLATFORM_*``
    variables.

    ``prepare(record, run_dir)`` runs while Preparing (materialise inputs, substitute the command)
    and returns the command to run. ``cancel`` (set by another thread, e.g. a pipeline that is
    being stopped) ends the command's group and records Canceled. On the main thread, SIGTERM and
    SIGHUP do the same as Ctrl-C. ``record["exit_code"]`` is what ``amlplatform submit`` exits
    with: the command's code, 124 on timeout, 130 when canceled (the command's own code, if any,
    is kept as ``command_exit_code``).
    """
    out = out if out is not None else sys.stdout.buffer
    notes = notes if notes is not None else sys.stderr
    record["status"] = "NotStarted"
    record["status_history"] = [{"status": "NotStarted", "time": record["created_at"]}]
    store.create(record)
    run_dir = store.run_dir(record["name"])
    record["log"] = str(run_dir / LOG)
    record["outputs"] = str(run_dir / "outputs")
    wd = run_dir / "wd"
    timeout = record.get("timeout_seconds")

    on_main = threading.current_thread() is threading.main_thread()
    old_handlers: dict[int, Any] = {}

    def on_signal(signum, frame):  # SIGTERM / SIGHUP: cancel like Ctrl-C
        raise _Cancel(signum)

    proc: Optional[subprocess.Popen] = None
    pump: Optional[threading.Thread] = None
    try:
        if on_main:
            for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
                if sig is not None:
                    old_handlers[sig] = signal.signal(sig, on_signal)
        store.transition(record, "Preparing")
        _note(notes, f"run {record['name']}: preparing ({len(snapshot.files)} files, hash {snapshot.content_hash[:12]})")
        private_dir(wd)
        copy_snapshot(snapshot, wd)
        outputs_dir = _link_outputs(wd, Path(record["outputs"]))
        private_dir(wd / "logs")
        command = record["command"]
        extra_env: dict[str, str] = {}
        if prepare is not None:
            prepared = prepare(record, run_dir)
            command, extra_env = prepared.command, prepared.env
            record["command_resolved"] = command
        env_vars = dict(environment_variables or {})  # the real values: the record keeps them redacted
        service = _setup_mlflow(store, record, mlflow_tags)
        service.update(
            {
                "AMLPLATFORM_RUN_NAME": record["name"],
                "AMLPLATFORM_EXPERIMENT": record["experiment"],
                "AMLPLATFORM_OUTPUTS_DIR": str(outputs_dir),
                "AMLPLATFORM_CODE_HASH": snapshot.content_hash,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env = job_environment(os.environ, pass_env=pass_env, declared=env_vars, extra=extra_env, service=service,
                              venv=venv)
        if pass_env:
            record["pass_env"] = [n for n in pass_env if n in os.environ]  # names only, never values
            missing = [n for n in pass_env if n not in os.environ]
            if missing:
                record.setdefault("warnings", []).append(f"--pass-env: not set here, not passed: {', '.join(missing)}")
                _note(notes, f"note: --pass-env {', '.join(missing)}: not set in this shell; not passed to the job")
        if cancel is not None and cancel.is_set():
            raise _Cancel(None)
        with open_private(run_dir / LOG, "ab") as log:
            proc = subprocess.Popen(
                [*_shell(), command],
                cwd=wd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                umask=JOB_UMASK,  # outputs, logs, metrics the job writes: owner only
            )
            record["child"] = {"pid": proc.pid, "start_time": process_start_time(proc.pid)}
            store.transition(record, "Running")
            _note(notes, f"run {record['name']}: running {command}")
            pump = threading.Thread(target=_pump, args=(proc.stdout, [out, log]), daemon=True)
            pump.start()
            deadline = time.monotonic() + timeout if timeout else None
            timed_out = False
            while True:
                try:
                    proc.wait(timeout=0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    if deadline is not None and time.monotonic() >= deadline:
                        timed_out = True
                        break
                    if cancel is not None and cancel.is_set():
                        raise _Cancel(None)
            if timed_out:
                _kill_group(proc, grace_seconds)
            else:
                _end_leftovers(proc, grace_seconds)
            pump.join(timeout=5)
        record["command_exit_code"] = proc.returncode
        if timed_out:
            record["exit_code"] = EXIT_TIMEOUT
            _finish(store, record, wd, "Canceled", f"timed out after {timeout} s (limits.timeout)")
        elif proc.returncode == 0:
            record["exit_code"] = 0
            _finish(store, record, wd, "Completed")
        else:
            record["exit_code"] = proc.returncode if 0 < proc.returncode < 256 else 1
            _finish(store, record, wd, "Failed", _exit_reason(proc.returncode))
    except (KeyboardInterrupt, _Cancel) as exc:
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN) if on_main else None  # finish the record first
        try:
            if on_main:
                for sig in old_handlers:
                    signal.signal(sig, signal.SIG_IGN)
            if proc is not None:
                _kill_group(proc, grace_seconds)
                record["command_exit_code"] = proc.returncode
            record["exit_code"] = EXIT_CANCELED
            _finish(store, record, wd, "Canceled", _cancel_reason(exc))
        finally:
            if on_main:
                signal.signal(signal.SIGINT, old_int)
    except BaseException as exc:
        if proc is not None and proc.poll() is None:
            _kill_group(proc, grace_seconds)
        reason = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        record["exit_code"] = 2 if isinstance(exc, (UserError, OSError)) else 1  # the CLI's "error: ..." exit
        _finish(store, record, wd, "Failed", f"could not start: {reason}" if proc is None else reason)
        if isinstance(exc, (UserError, OSError)):
            raise UserError(f"run {record['name']} failed before the command started: {reason}") from None
        raise
    finally:
        if on_main:
            for sig, old in old_handlers.items():
                signal.signal(sig, old)
        _close_output(proc, pump)
    return record


def _cancel_reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    signum = exc.args[0] if exc.args else None
    if signum == signal.SIGTERM:
        return "terminated (SIGTERM)"
    if signum == getattr(signal, "SIGHUP", object()):
        return "hangup (SIGHUP: the terminal closed); the command's process group was ended"
    return "canceled (the pipeline was stopped)"


def _note(notes: Any, text: str) -> None:
    """A status line; a terminal that went away (SIGHUP) must not stop the record being finished."""
    try:
        print(text, file=notes if notes is not None else sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _close_output(proc: Optional[subprocess.Popen], pump: Optional[threading.Thread]) -> None:
    """Close our end of the output pipe once the pump has read it to the end.

    If a process that left the group (``setsid``) still holds the pipe, the pump is still blocked
    reading it and the pipe is left open: closing an fd another thread is reading could hand the
    fd number, and that thread's reads, to the next file this process opens."""
    if proc is None or proc.stdout is None:
        return
    if pump is not None:
        pump.join(timeout=2)
        if pump.is_alive():
            return
    try:
        proc.stdout.close()
    except OSError:
        pass


def _child_path(env_vars: Mapping[str, str], caller: Optional[Mapping[str, str]] = None) -> str:
    """The child's PATH. When amlplatform runs from a virtualenv that is not activated, that
    virtualenv's ``bin`` comes first, as if it were: ``python`` is then the interpreter that
    has amlplatform (and usually mlflow) installed, not whatever else is on PATH."""
    caller = os.environ if caller is None else caller
    path = env_vars.get("PATH") or caller.get("PATH", os.defpath)
    if sys.prefix != sys.base_prefix and "PATH" not in env_vars:
        venv_bin = os.path.join(sys.prefix, "Scripts" if os.name == "nt" else "bin")
        if venv_bin not in path.split(os.pathsep):
            path = venv_bin + os.pathsep + path
    return path


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    if code == 127:
        return "exit code 127 (command not found)"
    return f"exit code {code}"


def _link_outputs(wd: Path, kept: Path) -> Path:
    """The working folder's ``outputs/`` is a link to the run's kept ``<run>/outputs``, so a path a
    script prints under ``$AMLPLATFORM_OUTPUTS_DIR`` (or ``./outputs``) stays true after the run
    (the working copy is removed). Where links cannot be made it is a plain folder moved at the end.
    Returns the folder ``$AMLPLATFORM_OUTPUTS_DIR`` names."""
    link = wd / "outputs"  # never in a snapshot (snapshot.DENY_ROOT_DIRS leaves outputs/ behind)
    private_dir(kept)
    try:
        os.symlink(kept, link, target_is_directory=True)
    except OSError:
        private_dir(link)
        return link
    return kept


def _finish(store: RunStore, record: dict[str, Any], wd: Path, status: str, reason: Optional[str] = None) -> None:
    """Move outputs back, close the MLflow run, read metrics, record the terminal state."""
    outputs = Path(record["outputs"])
    try:
        if (wd / "outputs").is_symlink():
            (wd / "outputs").unlink()  # the files are in the kept folder already
        elif (wd / "outputs").is_dir():
            if outputs.exists():
                shutil.rmtree(outputs)
            shutil.move(str(wd / "outputs"), str(outputs))
        else:
            private_dir(outputs)
    except OSError as exc:
        record.setdefault("warnings", []).append(f"could not keep the outputs folder: {exc}")
    _finish_mlflow(record, status)
    try:
        record["metrics"] = collect_metrics(record)
        run_dir = (record.get("mlflow") or {}).get("run_dir")
        record["params"] = read_mlflow_params(Path(run_dir)) if run_dir else {}
    except OSError as exc:
        record.setdefault("warnings", []).append(f"could not read metrics: {exc}")
    store.transition(record, status, reason)
    shutil.rmtree(wd, ignore_errors=True)


# ------------------------------------------------------------------------ Azure ML job YAML: command jobs


def empty_snapshot() -> Snapshot:
    """What a job without ``code`` gets: no files (Azure ML uploads nothing either)."""
    from amlplatform.runs.snapshot import hash_files

    return Snapshot(Path(os.devnull).parent, [], [], 0, hash_files([]), None)


def job_snapshot(job: Any) -> tuple[Snapshot, Path]:
    """The snapshot of a command job's ``code`` folder and the folder git is asked about."""
    from amlplatform.runs.snapshot import take_snapshot

    code = getattr(job, "code", None)
    if code is None:
        return empty_snapshot(), Path(job.base_dir)
    if getattr(code, "local_path", None) is None:
        raise UserError(f"code: {code.ref!r} is a remote reference; a local run needs a local code folder")
    folder = Path(code.local_path)
    if not folder.is_dir():
        raise UserError(f"code: {folder} is not a folder")
    return take_snapshot(folder), folder


def _safe_experiment(name: Optional[str]) -> str:
    import re

    text = re.sub(r"[^A-Za-z0-9_-]", "_", name or "default")[:255]
    return text or "default"


def _environment_record(env: Any) -> dict[str, Any]:
    if env is None:
        return {}
    out = {"kind": env.kind}
    for key in ("ref", "image", "name", "version", "label"):
        value = getattr(env, key, None)
        if value is not None:
            out[key] = value
    if getattr(env, "conda_file", None) is not None:
        out["conda_file"] = str(env.conda_file)
    return out


def job_record(job: Any, snapshot: Snapshot, git: dict[str, str], *, name: Optional[str] = None) -> dict[str, Any]:
    """The run record of a command job before it runs."""
    resources = getattr(job, "resources", None)
    return {
        "name": name or getattr(job, "name", None),
        "type": "command",
        "job_file": str(job.source) if getattr(job, "source", None) else None,
        "experiment": _safe_experiment(getattr(job, "experiment_name", None)),
        "display_name": getattr(job, "display_name", None),
        "description": getattr(job, "description", None),
        "compute": "local",
        "command": job.command,
        "source": str(snapshot.root) if snapshot.files else None,
        "environment": _environment_record(getattr(job, "environment", None)),
        "environment_variables": record_environment(dict(getattr(job, "environment_variables", None) or {})),
        "tags": dict(getattr(job, "tags", None) or {}),
        "timeout_seconds": getattr(job, "timeout", None),
        "instance_count": getattr(resources, "instance_count", None) if resources is not None else None,
        "code_hash": snapshot.content_hash,
        "hash_version": HASH_VERSION,
        "ignore_file": snapshot.ignore_file,
        "files_count": len(snapshot.files),
        "total_bytes": snapshot.total_bytes,
        "files": snapshot.relpaths,
        "excluded": [{"relpath": e.relpath, "reason": e.reason} for e in snapshot.excluded],
        "git": dict(git),
        **fresh_lifecycle(),
    }


def job_prepare(job: Any, *, bound_inputs: Optional[Mapping[str, Path]] = None, where: str = "",
                env: Optional[Mapping[str, str]] = None) -> Callable[[dict[str, Any], Path], Prepared]:
    """The ``prepare`` step of a command job: materialise inputs, make output folders, fill the command."""
    from amlplatform.runs import materialize as m

    bound_inputs = dict(bound_inputs or {})
    prefix = f"{where}." if where else ""

    def prepare(record: dict[str, Any], run_dir: Path) -> Prepared:
        inputs = {}
        for name, inp in job.inputs.items():
            inputs[name] = m.materialize_input(inp, name, run_dir, where=f"{prefix}inputs.{name}", env=env,
                                               bound=bound_inputs.get(name))
        outputs = {name: m.prepare_output(o, name, run_dir) for name, o in job.outputs.items()}
        record["inputs"] = {n: x.as_record() for n, x in inputs.items()}
        record["named_outputs"] = {n: x.as_record() for n, x in outputs.items()}
        command = m.substitute(job.command, inputs, outputs, where=f"{prefix}command")
        return Prepared(command)

    return prepare


def run_command_job(
    job: Any,
    *,
    store: RunStore,
    out: Optional[BinaryIO] = None,
    notes: Optional[Any] = None,
    grace_seconds: float = GRACE_SECONDS,
    snapshot: Optional[Snapshot] = None,
    git: Optional[dict[str, str]] = None,
    bound_inputs: Optional[Mapping[str, Path]] = None,
    cancel: Optional[threading.Event] = None,
    extra: Optional[dict[str, Any]] = None,
    mlflow_tags: Optional[dict[str, str]] = None,
    where: str = "",
    pass_env: Sequence[str] = (),
    environment_mode: str = "job",
) -> dict[str, Any]:
    """Run a ``type: command`` job (``runs.job.CommandJob``) on this machine; return the final record.

    The command gets the environment ``job_environment`` builds: the caller's variables only as far
    as ``BASE_ENV`` and ``pass_env`` (``--pass-env NAME``) name them.

    Inputs are materialised and outputs made while the record says Preparing (``runs.materialize``);
    ``${{inputs.x}}`` / ``${{outputs.y}}`` in the command are filled with their local paths or
    values; ``environment_variables`` are set; ``limits.timeout`` ends it with exit code 124. The
    environment (image, conda file, registered environment) applies on Azure ML; locally the
    command runs with this machine's tools (the virtualenv amlplatform runs from comes first on PATH).
    ``bound_inputs`` (pipelines) gives inputs that are another step's output folder.
    """
    from amlplatform.runs.gitinfo import git_properties

    if snapshot is None:
        snapshot, folder = job_snapshot(job)
    else:
        folder = Path(snapshot.root)
    if git is None:
        git = git_properties(folder)
    pass_env = check_pass_env(pass_env)
    env_vars = dict(getattr(job, "environment_variables", None) or {})
    problems = command_problems(job.command, snapshot, path=_child_path(env_vars))
    if problems:
        raise UserError("the command cannot run:", [f"{where}.{p}" if where else p for p in problems])
    record = job_record(job, snapshot, git)
    record.update(extra or {})
    launch = distributed_launch(job)
    resources = getattr(job, "resources", None)
    if launch is not None:
        record["distribution_local"] = {"type": job.distribution.type, "processes": launch[1]}
        _note(notes, f"note: {job.distribution.type} distribution: {launch[1]} processes on this machine, as one "
                     "node, with the variables Azure ML sets; resources.instance_count applies on a cluster")
    elif (resources is not None and (resources.instance_count or 1) > 1) or getattr(job, "distribution", None) is not None:
        _note(notes, "note: local runs start one process; resources.instance_count and distribution apply on a cluster")
    venv = job_venv(job, record, notes=notes, mode=environment_mode, quiet=bool(where))
    prepare = job_prepare(job, bound_inputs=bound_inputs, where=where)
    if launch is not None:
        inner = prepare

        def prepare(record: dict[str, Any], run_dir: Path) -> Prepared:  # noqa: F811 - the launcher around it
            p = inner(record, run_dir)
            return Prepared(f"{launch[0]} -- {shlex.quote(p.command)}", p.env)
    return execute(record, snapshot, store=store, out=out, notes=notes, grace_seconds=grace_seconds,
                   prepare=prepare, cancel=cancel,
                   mlflow_tags=mlflow_tags, pass_env=pass_env, environment_variables=env_vars, venv=venv)


def distributed_launch(job: Any) -> Optional[tuple[str, int]]:
    """``(launcher command, processes)`` for a job whose distribution starts several processes on a node
    (``process_count_per_instance`` > 1; TensorFlow: workers plus parameter servers > 1), else None."""
    d = getattr(job, "distribution", None)
    if d is None:
        return None
    launcher = shlex.quote(str(Path(__file__).with_name("dist_launcher.py")))
    if d.type == "tensorflow":
        workers, servers = d.worker_count or 1, d.parameter_server_count or 0
        if workers + servers <= 1:
            return None
        return (f"python {launcher} --type tensorflow --workers {workers} --parameter-servers {servers}",
                workers + servers)
    n = d.process_count_per_instance or 1
    if n <= 1:
        return None
    return f"python {launcher} --type {d.type} --processes {n}", n


def job_venv(job: Any, record: dict[str, Any], *, notes: Any, mode: str = "job", quiet: bool = False) -> Optional[Path]:
    """The job's own environment here (``runs.envbuild``): the cached virtualenv it runs in, built on first
    use, or None to run with this machine's Python; the record says which and why."""
    from amlplatform.runs import envbuild

    plan = envbuild.plan_for(getattr(job, "environment", None), mode=mode)
    for text in plan.notes:
        if not quiet or plan.kind == "venv":
            _note(notes, f"note: {text}")
    if plan.kind != "venv":
        record["environment_build"] = {"kind": "current", "why": plan.notes[0] if plan.notes else "no environment"}
        return None
    built = envbuild.ensure(plan, notes=lambda t: _note(notes, f"note: {t}"))
    record["environment_build"] = {**built.as_record(), "source": plan.source,
                                   **({"conda_only": list(plan.conda_only)} if plan.conda_only else {})}
    return built.path
