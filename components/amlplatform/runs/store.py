"""Run records on disk: one folder per run under the runs folder, written atomically.

Layout of ``<runs dir>`` (default ``.amlplatform/runs`` of the project: the current directory's, or
its nearest parent's with a ``.amlplatform/`` folder or a ``.git``; or ``$AMLPLATFORM_RUNS_DIR``)::

    <run name>/run.json      the record (status history, exit code, git, code hash, files, metrics)
    <run name>/output.log    the combined stdout/stderr of the command
    <run name>/outputs/      what the command wrote to ./outputs
    mlruns/                  the MLflow file store shared by all local runs

``run.json`` is replaced with a temporary file + ``os.replace`` at each state change, so a
reader never sees half a record.

Records survive a supervisor that dies: every record carries ``supervisor`` (pid, process start
time, host) of the ``amlplatform submit`` that runs it and ``child`` (pid/process group and start
time) of the command. A reader (``runs list``/``show``) that finds a record still NotStarted,
Preparing or Running whose supervisor is gone (no such process, or a different process with that
pid: the start time differs) marks it Failed with the reason, after ending the orphaned command
process group if it still runs (only the group whose leader has the recorded start time).
A ``run.json`` that is not JSON, not an object, or not a record of this tool (no matching
``name``, no ``status``) is skipped with a warning, never a traceback.

The runs folder holds a ``.gitignore`` of ``*``, so runs under a git repository never mark it
dirty, whatever the repository's own ``.gitignore`` says (the default ``.amlplatform/`` gets one
too).

Private by default: what this module and the local target write under the runs folder is
readable by its owner only - folders 0700, files 0600 (``private_dir``, ``open_private``; the job
itself runs with umask 077), because outputs, logs and metrics routinely hold data and secrets a
shared machine's other users must not read (docs/local-runs-security.md).

The MLflow file store is written here without importing mlflow (an import costs about a second):
``create_mlflow_run`` / ``end_mlflow_run`` write the experiment and run ``meta.yaml`` files the
way mlflow's ``FileStore`` does (mlflow 3.x layout, statuses RUNNING=1, FINISHED=3, FAILED=4,
KILLED=5 as in ``mlflow.entities.RunStatus``), so a script's plain ``mlflow.start_run()`` with
``MLFLOW_RUN_ID`` attaches to it and ``mlflow server --backend-store-uri <mlruns>`` shows it.
"""

import hashlib
import json
import os
import re
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional

from amlplatform.errors import UserError

ENV_RUNS_DIR = "AMLPLATFORM_RUNS_DIR"
DEFAULT_RUNS_DIR = Path(".amlplatform") / "runs"
RECORD = "run.json"
LOG = "output.log"
TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
ACTIVE = frozenset({"NotStarted", "Preparing", "Running"})
_RECORD_KEYS = ("name", "status")
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")  # Azure ML job names; also a safe folder name


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
JOB_UMASK = 0o077  # what the job process creates is private too


def private_dir(path: Path) -> Path:
    """Make ``path`` and any missing parents as folders only the owner can open (0700); an existing
    folder is left as it is. (``Path.mkdir(parents=True, mode=...)`` gives parents the default mode.)"""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, PRIVATE_DIR_MODE)  # whatever the process umask
    return path


def private_tree(root: Path) -> None:
    """Folders under ``root`` (and ``root``) 0700, files 0600 - 0700 where the owner could run them."""
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, PRIVATE_DIR_MODE)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, 0o700 if os.stat(path).st_mode & 0o100 else PRIVATE_FILE_MODE)


def open_private(path: Path, mode: str = "wb", encoding: Optional[str] = None) -> Any:
    """``open(path, mode)`` for ``"wb"``/``"ab"``/``"w"``/``"a"``, creating the file 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    return os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")



def fresh_lifecycle() -> dict[str, Any]:
    """The lifecycle fields every new run record (command, pipeline, step) starts with: created now,
    no status yet; the store fills them in as the run goes (see ``RunStore.transition``)."""
    return {"created_at": now_iso(), "status": None, "status_history": [], "exit_code": None,
            "started_at": None, "ended_at": None, "duration_seconds": None, "reason": None, "metrics": {}}

def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def project_root(cwd: Path) -> Path:
    """Where the project's ``.amlplatform/`` is, found as git finds ``.git``: ``cwd`` or the nearest
    parent holding a ``.amlplatform/`` folder, else the nearest holding ``.git`` (a repository root),
    else ``cwd`` itself."""
    cwd = Path(cwd).absolute()
    for folder in (cwd, *cwd.parents):
        if (folder / ".amlplatform").is_dir():
            return folder
        if (folder / ".git").exists():
            return folder
    return cwd


def runs_dir(explicit: Optional[Path] = None, env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None) -> Path:
    """``--runs-dir`` beats ``$AMLPLATFORM_RUNS_DIR`` beats ``.amlplatform/runs`` of the project
    (``project_root``: from any subfolder, the same records). A relative ``--runs-dir`` or
    ``$AMLPLATFORM_RUNS_DIR`` is taken from ``cwd``."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else Path(cwd)
    if not explicit and not env.get(ENV_RUNS_DIR):
        return project_root(cwd) / DEFAULT_RUNS_DIR
    chosen = Path(explicit) if explicit else Path(env[ENV_RUNS_DIR])
    chosen = chosen.expanduser()
    return chosen if chosen.is_absolute() else cwd / chosen


def write_json_atomic(path: Path, data: Any, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` as JSON: a reader sees the old or the new file, never half.

    ``durable`` also fsyncs the data before the rename (survives a power cut); intermediate states
    skip it (each fsync costs ~10 ms, and a record lost to a power cut is skipped with a warning)."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False)
            fh.write("\n")
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def record_shape_problems(data: Mapping[str, Any]) -> list[str]:
    """What in a parsed ``run.json`` does not have the shape readers rely on (empty: a usable record)."""
    bad = []
    if not isinstance(data.get("status"), str):
        bad.append("status is not text")
    history = data.get("status_history", [])
    if not isinstance(history, list) or not all(
            isinstance(h, dict) and isinstance(h.get("status"), str) and isinstance(h.get("time"), str) for h in history):
        bad.append("status_history is not a list of {status, time}")
    for key in ("duration_seconds",):
        if data.get(key) is not None and not _is_num(data[key]):
            bad.append(f"{key} is not a number")
    if data.get("exit_code") is not None and not (isinstance(data["exit_code"], int) and not isinstance(data["exit_code"], bool)):
        bad.append("exit_code is not a whole number")
    for key in ("metrics", "params", "git", "mlflow", "tags"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            bad.append(f"{key} is not an object")
    metrics = data.get("metrics") or {}
    if isinstance(metrics, dict) and not all(
            isinstance(m, dict) and _is_num(m.get("value")) and isinstance(m.get("step"), int)
            and not isinstance(m.get("step"), bool) for m in metrics.values()):
        bad.append("metrics are not {value, step}")
    mlf = data.get("mlflow") or {}
    if isinstance(mlf, dict) and any(mlf.get(k) is not None and not isinstance(mlf[k], str)
                                     for k in ("run_id", "run_dir", "tracking_uri", "experiment_id")):
        bad.append("mlflow is not {run_id, run_dir, tracking_uri} text")
    elif isinstance(mlf, dict) and mlf.get("run_id") and not isinstance(mlf.get("tracking_uri"), str):
        bad.append("mlflow has a run_id but no tracking_uri")
    for key in ("total_bytes", "files_count"):
        if data.get(key) is not None and not _is_num(data[key]):
            bad.append(f"{key} is not a number")
    if "experiment" in data and not isinstance(data["experiment"], str):
        bad.append("experiment is not text")
    for key in ("created_at", "reason", "command", "source", "outputs"):
        if data.get(key) is not None and not isinstance(data[key], str):
            bad.append(f"{key} is not text")
    if data.get("warnings") is not None and not isinstance(data["warnings"], list):
        bad.append("warnings is not a list")
    return bad


def _default_warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def process_start_time(pid: int) -> Optional[int]:
    """The start time of process ``pid`` (clock ticks since boot, field 22 of ``/proc/<pid>/stat``);
    None where ``/proc`` is missing or the process is gone. Two processes that reuse one pid differ here."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()  # state is field 3; starttime is field 22
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2:].split()[:1] == [b"Z"]


def process_alive(pid: int, start_time: Optional[int]) -> bool:
    """Whether the process that had ``pid`` and ``start_time`` still runs (a zombie is not running)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else: the start time decides
    except OSError:
        return False
    if _is_zombie(pid):
        return False
    if start_time is not None:
        now = process_start_time(pid)
        if now is not None and now != start_time:
            return False  # the pid was reused by another process
    return True


def this_process() -> dict[str, Any]:
    pid = os.getpid()
    return {"pid": pid, "start_time": process_start_time(pid), "host": socket.gethostname()}


class RunStore:
    """Run records under ``root``. ``warn`` gets one line per skipped or repaired record
    (default: ``warning: ...`` on stderr)."""

    def __init__(self, root: Path, warn: Optional[Callable[[str], None]] = None) -> None:
        self.root = Path(root)
        self.warn = warn or _default_warn
        self._lock = threading.Lock()

    @property
    def mlruns(self) -> Path:
        return self.root / "mlruns"

    def run_dir(self, name: str) -> Path:
        return self.root / name

    def new_name(self, experiment: str) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d_%H%M%S")
        return f"{experiment}_{stamp}_{secrets.token_hex(3)}"

    def _ensure_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"runs folder {self.root} is a file, not a folder (--runs-dir / $AMLPLATFORM_RUNS_DIR)")
        if (self.root / ".gitignore").is_file():
            return
        created = not self.root.exists()
        private_dir(self.root)
        if not created and not any(self.root.iterdir()):
            os.chmod(self.root, PRIVATE_DIR_MODE)  # an empty folder named for the runs: ours from now on
        ignore = "# amlplatform run records: never part of the repository\n*\n"
        for folder in (self.root, self.root.parent if self.root.parent.name == ".amlplatform" else None):
            if folder is not None and not (folder / ".gitignore").exists():
                try:
                    with open_private(folder / ".gitignore", "w", encoding="utf-8") as fh:
                        fh.write(ignore)
                except OSError:
                    pass  # a read-only parent: the records still work

    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        """Give the record a unique name (its folder is created exclusively) and save it.

        The supervisor (this process) is recorded unless the record already names one."""
        self._ensure_root()
        record.setdefault("supervisor", this_process())
        explicit = record.get("name")
        if explicit is not None and (not isinstance(explicit, str) or not _RUN_NAME.fullmatch(explicit)):
            raise UserError(f"name: {explicit!r} is not a valid run name (letters, digits, '-' and '_', "
                            "starting with a letter or digit; at most 255)")
        for _ in range(20):
            name = record.get("name") or self.new_name(record.get("experiment") or "default")
            try:
                self.run_dir(name).mkdir(mode=PRIVATE_DIR_MODE)
                os.chmod(self.run_dir(name), PRIVATE_DIR_MODE)
            except FileExistsError:
                if explicit is not None:  # as on Azure ML, a job name is used once
                    raise UserError(f"name: a run named {explicit!r} already exists under {self.root}; "
                                    "give another name (or leave name out for a fresh one)") from None
                record["name"] = None
                continue
            record["name"] = name
            self.save(record)
            return record
        raise UserError(f"could not pick a free run name under {self.root}")

    def save(self, record: dict[str, Any]) -> None:
        """Write the record; fsynced once it is terminal (see ``write_json_atomic``)."""
        write_json_atomic(self.run_dir(record["name"]) / RECORD, record, durable=record.get("status") in TERMINAL)

    def transition(self, record: dict[str, Any], status: str, reason: Optional[str] = None) -> None:
        entry = {"status": status, "time": now_iso()}
        if reason:
            entry["reason"] = reason
            record["reason"] = reason
        record.setdefault("status_history", []).append(entry)
        record["status"] = status
        if status == "Running":
            record["started_at"] = entry["time"]
        if status in TERMINAL:
            record["ended_at"] = entry["time"]
            if record.get("started_at"):
                record["duration_seconds"] = round(
                    (parse_iso(entry["time"]) - parse_iso(record["started_at"])).total_seconds(), 3
                )
        self.save(record)

    def _read(self, name: str) -> dict[str, Any]:
        """The record of folder ``name``; UserError saying why when it is not one of ours."""
        path = self.run_dir(name) / RECORD
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"no run named {name!r} under {self.root}") from None
        except (OSError, ValueError) as exc:
            raise UserError(f"run record {path} cannot be read: {exc}") from None
        if not isinstance(data, dict):
            raise UserError(f"run record {path} is not a run record (a JSON {type(data).__name__}, not an object)")
        missing = [k for k in _RECORD_KEYS if k not in data]
        if missing:
            raise UserError(f"run record {path} is not a run record of amlplatform (no {', '.join(missing)})")
        if data.get("name") != name:
            raise UserError(f"run record {path} names another run ({data.get('name')!r}, folder {name!r})")
        bad = record_shape_problems(data)
        if bad:
            raise UserError(f"run record {path} is not a run record of amlplatform ({'; '.join(bad)})")
        return data

    def load(self, name: str) -> dict[str, Any]:
        """A record, with a dead supervisor detected and recorded (see the module docstring)."""
        return self.check_supervisor(self._read(name))

    def check_supervisor(self, record: dict[str, Any]) -> dict[str, Any]:
        """Mark an active record whose supervisor died Failed (ending its orphaned command group)."""
        if record.get("status") not in ACTIVE:
            return record
        sup = record.get("supervisor")
        if not isinstance(sup, dict) or not isinstance(sup.get("pid"), int):
            # a record of an older amlplatform: it kept only the command's pid ("pid"); when that
            # process is gone, the run is over and nobody is going to finish the record
            legacy = record.get("pid")
            if isinstance(legacy, int) and not isinstance(legacy, bool) and not process_alive(legacy, None):
                return self._mark_dead(record, f"the command (pid {legacy}) ended and the record was never finished "
                                               "(written by an older amlplatform whose process was killed?)")
            return record
        if sup.get("host") not in (None, socket.gethostname()):
            return record  # run by another machine sharing this folder: we cannot tell
        if process_alive(sup["pid"], sup.get("start_time")):
            return record
        return self._mark_dead(record, None)

    def _mark_dead(self, record: dict[str, Any], why: Optional[str]) -> dict[str, Any]:
        sup = record.get("supervisor") or {}
        marker = self.run_dir(record["name"]) / ".supervisor-gone"
        with self._lock:
            try:  # one reader marks it, even when several `runs list` run at once
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE))
            except FileExistsError:
                return self._wait_marked(record)
            except OSError:
                return record  # a read-only runs folder: report it as it is
            try:
                fresh = self._read(record["name"])
            except UserError:
                return record
            if fresh.get("status") not in ACTIVE:
                return fresh  # it finished while we looked
            reason = why or f"the supervisor (amlplatform, pid {sup.get('pid')}) ended without finishing the record (killed?)"
            child = fresh.get("child")
            if isinstance(child, dict) and isinstance(child.get("pid"), int):
                if process_alive(child["pid"], child.get("start_time")):
                    try:
                        os.killpg(child["pid"], signal.SIGKILL)
                        reason += f"; its orphaned command (process group {child['pid']}) was killed"
                    except OSError as exc:
                        reason += f"; its orphaned command (process group {child['pid']}) could not be killed: {exc}"
            self.transition(fresh, "Failed", reason)
            self.warn(f"run {fresh['name']} was left {record['status']}: {reason}; marked Failed")
            return fresh

    def _wait_marked(self, record: dict[str, Any]) -> dict[str, Any]:
        """Another reader is marking this record: give it a moment, then read what it wrote."""
        for _ in range(40):
            try:
                fresh = self._read(record["name"])
            except UserError:
                return record
            if fresh.get("status") not in ACTIVE:
                return fresh
            time.sleep(0.05)
        return record

    def names(self) -> list[str]:
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"runs folder {self.root} is a file, not a folder (--runs-dir / $AMLPLATFORM_RUNS_DIR)")
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / RECORD).is_file())

    def records(self, experiment: Optional[str] = None) -> Iterator[dict[str, Any]]:
        """Records oldest first; unreadable or foreign ones are skipped with a warning."""
        out = []
        for name in self.names():
            try:
                rec = self.load(name)
            except UserError as exc:
                self.warn(f"skipped: {exc}")
                continue
            if experiment is None or rec.get("experiment") == experiment:
                out.append(rec)
        out.sort(key=lambda r: (str(r.get("created_at") or ""), str(r.get("name") or "")))
        return iter(out)

    def resolve(self, ref: str) -> dict[str, Any]:
        """A run by full name, unique name prefix, or ``last`` (the newest top-level run: a
        pipeline or a sweep, not its last step or trial; those are shown by their names)."""
        if ref == "last":
            recs = [r for r in self.records() if not r.get("pipeline") and not r.get("sweep")]
            if not recs:
                raise UserError(f"no runs under {self.root}")
            return recs[-1]
        if (self.run_dir(ref) / RECORD).is_file():
            return self.load(ref)
        matches = [n for n in self.names() if n.startswith(ref)]
        if len(matches) == 1:
            return self.load(matches[0])
        if not matches:
            raise UserError(f"no run named {ref!r} under {self.root} (see 'amlplatform runs list')")
        raise UserError(f"{ref!r} matches {len(matches)} runs; give more of the name:", matches[:10])


def read_mlflow_metrics(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Metrics of one MLflow file-store run folder, read from its files (no mlflow import).

    ``{key: {"value": last value, "step": its step, "timestamp": ms, "count": n}}``; the file
    store keeps one file per metric key (keys with ``/`` are sub-folders), one line per logged
    value: ``<timestamp> <value> <step>``.
    """
    metrics_root = Path(run_dir) / "metrics"
    out: dict[str, dict[str, Any]] = {}
    if not metrics_root.is_dir():
        return out
    for path in sorted(p for p in metrics_root.rglob("*") if p.is_file()):
        key = path.relative_to(metrics_root).as_posix()
        last = None
        count = 0
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 2:
                continue
            try:
                ts, value = int(parts[0]), float(parts[1])
                step = int(parts[2]) if len(parts) > 2 else 0
            except ValueError:
                continue
            count += 1
            # MLflow's "latest" is the highest step, then the newest timestamp
            if last is None or (step, ts) >= (last["step"], last["timestamp"]):
                last = {"value": value, "step": step, "timestamp": ts}
        if last is not None:
            last["count"] = count
            out[key] = last
    return out


def read_mlflow_params(run_dir: Path) -> dict[str, str]:
    params_root = Path(run_dir) / "params"
    if not params_root.is_dir():
        return {}
    return {
        p.relative_to(params_root).as_posix(): p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(params_root.rglob("*"))
        if p.is_file()
    }


# ------------------------------------------------------------------ MLflow file store, without mlflow

MLFLOW_STATUS = {"RUNNING": 1, "SCHEDULED": 2, "FINISHED": 3, "FAILED": 4, "KILLED": 5}
_mlflow_lock = threading.Lock()


_YAML_PRINTABLE = re.compile("[\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _yaml_quote(text: str) -> str:
    """A YAML double-quoted scalar: printable characters as they are, the rest escaped (``\\uXXXX`` /
    ``\\UXXXXXXXX``, which YAML has and JSON lacks for characters beyond the BMP)."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in "\t\n\r\x85\u2028\u2029\ufeff" or not _YAML_PRINTABLE.fullmatch(ch):  # line breaks and BOM too
            code = ord(ch)
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _yaml_quote(str(value))


def _write_meta(folder: Path, fields: Mapping[str, Any]) -> None:
    text = "".join(f"{k}: {_yaml_scalar(v) if v != [] else '[]'}\n" for k, v in fields.items())
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".yaml", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, folder / "meta.yaml")


def _read_meta_field(path: Path, key: str) -> Optional[str]:
    """One top-level scalar of a meta.yaml (written by mlflow's yaml.safe_dump or by us), as text."""
    import yaml

    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    value = data.get(key) if isinstance(data, dict) else None
    return None if value is None else str(value)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _experiment_id(mlruns: Path, name: str) -> str:
    """The id of experiment ``name`` in the file store, creating it when missing.

    A new experiment's id is derived from its name, so two processes creating it at once make
    the same folder with the same meta.yaml (mlflow itself uses a random integer id)."""
    if mlruns.is_dir():
        for meta in mlruns.glob("*/meta.yaml"):
            if meta.parent.name != ".trash" and _read_meta_field(meta, "name") == name:
                return meta.parent.name
    else:
        private_dir(mlruns)
    if not (mlruns / "0" / "meta.yaml").is_file():  # what mlflow's FileStore creates with a new root
        _create_experiment(mlruns, "0", "Default")
    private_dir(mlruns / ".trash")
    exp_id = str(int(hashlib.sha256(name.encode()).hexdigest()[:15], 16))
    _create_experiment(mlruns, exp_id, name)
    return exp_id


def _create_experiment(mlruns: Path, exp_id: str, name: str) -> None:
    folder = private_dir(mlruns / exp_id)
    now = _now_ms()
    _write_meta(folder, {
        "artifact_location": folder.resolve().as_uri(),
        "creation_time": now,
        "experiment_id": exp_id,
        "last_update_time": now,
        "lifecycle_stage": "active",
        "name": name,
    })


def create_mlflow_run(mlruns: Path, experiment: str, run_name: str, tags: Mapping[str, str]) -> dict[str, str]:
    """Create a RUNNING run in the MLflow file store ``mlruns``; ``{experiment_id, run_id, run_dir}``."""
    with _mlflow_lock:
        exp_id = _experiment_id(mlruns, experiment)
    run_id = uuid.uuid4().hex
    run_dir = mlruns / exp_id / run_id
    for sub in ("metrics", "params", "artifacts", "tags"):
        private_dir(run_dir / sub)
    all_tags = {"mlflow.runName": run_name, "mlflow.user": _user(), **tags}
    for key, value in all_tags.items():
        if not key or key.startswith(("/", ".")) or ".." in key.split("/"):
            continue  # mlflow rejects such tag names too
        path = run_dir / "tags" / key
        private_dir(path.parent)
        with open_private(path, "w", encoding="utf-8") as fh:
            fh.write(str(value))
    _write_meta(run_dir, _run_meta(run_dir, exp_id, run_id, run_name, "RUNNING", _now_ms(), None))
    return {"experiment_id": exp_id, "run_id": run_id, "run_dir": str(run_dir)}


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return "unknown"


def _run_meta(run_dir: Path, exp_id: str, run_id: str, run_name: str, status: str, start: int, end: Optional[int]) -> dict:
    return {
        "artifact_uri": (run_dir / "artifacts").resolve().as_uri(),
        "end_time": end,
        "entry_point_name": "",
        "experiment_id": exp_id,
        "lifecycle_stage": "active",
        "run_id": run_id,
        "run_name": run_name,
        "source_name": "",
        "source_type": 4,
        "source_version": "",
        "start_time": start,
        "status": MLFLOW_STATUS[status],
        "tags": [],
        "user_id": _user(),
    }


def end_mlflow_run(run_dir: Path, status: str) -> None:
    """Mark a file-store run FINISHED / FAILED / KILLED (as ``MlflowClient.set_terminated``)."""
    run_dir = Path(run_dir)
    meta = run_dir / "meta.yaml"
    start = _read_meta_field(meta, "start_time")
    name = _read_meta_field(meta, "run_name") or run_dir.name
    if start is None:
        raise OSError(f"{meta} is missing or has no start_time")
    _write_meta(run_dir, _run_meta(run_dir, run_dir.parent.name, run_dir.name, name, status,
                                   int(start), _now_ms()))
