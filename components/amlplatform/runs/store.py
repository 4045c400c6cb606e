"""Run records on disk: one folder per run under the runs folder, written atomically.

Layout of ``<runs dir>`` (default ``.amlplatform/runs`` under the current directory, or
``$AMLPLATFORM_RUNS_DIR``)::

    <run name>/run.json      the record (status history, exit code, git, code hash, files, metrics)
    <run name>/output.log    the combined stdout/stderr of the command
    <run name>/outputs/      what the command wrote to ./outputs
    mlruns/                  the MLflow file store shared by all local runs

``run.json`` is replaced with a temporary file + ``os.replace`` at each state change, so a
reader never sees half a record.
"""

import json
import os
import secrets
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from amlplatform.errors import UserError

ENV_RUNS_DIR = "AMLPLATFORM_RUNS_DIR"
DEFAULT_RUNS_DIR = Path(".amlplatform") / "runs"
RECORD = "run.json"
LOG = "output.log"
TERMINAL = frozenset({"Completed", "Failed", "Canceled"})


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def runs_dir(explicit: Optional[Path] = None, env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None) -> Path:
    """``--runs-dir`` beats ``$AMLPLATFORM_RUNS_DIR`` beats ``.amlplatform/runs`` under ``cwd``."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else Path(cwd)
    chosen = Path(explicit) if explicit else (Path(env[ENV_RUNS_DIR]) if env.get(ENV_RUNS_DIR) else DEFAULT_RUNS_DIR)
    chosen = chosen.expanduser()
    return chosen if chosen.is_absolute() else cwd / chosen


def write_json_atomic(path: Path, data: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def mlruns(self) -> Path:
        return self.root / "mlruns"

    def run_dir(self, name: str) -> Path:
        return self.root / name

    def new_name(self, experiment: str) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d_%H%M%S")
        return f"{experiment}_{stamp}_{secrets.token_hex(3)}"

    def _check_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"runs folder {self.root} is a file, not a folder (--runs-dir / $AMLPLATFORM_RUNS_DIR)")

    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        """Give the record a unique name (its folder is created exclusively) and save it."""
        self._check_root()
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            name = record.get("name") or self.new_name(record.get("experiment") or "default")
            try:
                self.run_dir(name).mkdir()
            except FileExistsError:
                record["name"] = None
                continue
            record["name"] = name
            self.save(record)
            return record
        raise UserError(f"could not pick a free run name under {self.root}")

    def save(self, record: dict[str, Any]) -> None:
        write_json_atomic(self.run_dir(record["name"]) / RECORD, record)

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

    def load(self, name: str) -> dict[str, Any]:
        path = self.run_dir(name) / RECORD
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"no run named {name!r} under {self.root}") from None
        except (OSError, ValueError) as exc:
            raise UserError(f"run record {path} cannot be read: {exc}") from None
        if not isinstance(data, dict):
            raise UserError(f"run record {path} is not a run record: expected a JSON object, got "
                            f"{type(data).__name__}")
        return data

    def names(self) -> list[str]:
        self._check_root()
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / RECORD).is_file())

    def records(self, experiment: Optional[str] = None) -> Iterator[dict[str, Any]]:
        """Records oldest first; unreadable ones are skipped."""
        out = []
        for name in self.names():
            try:
                rec = self.load(name)
            except UserError:
                continue
            if experiment is None or rec.get("experiment") == experiment:
                out.append(rec)
        out.sort(key=lambda r: (str(r.get("created_at") or ""), str(r.get("name") or "")))
        return iter(out)

    def resolve(self, ref: str) -> dict[str, Any]:
        """A run by full name, unique name prefix, or ``last`` (the newest)."""
        if ref == "last":
            recs = list(self.records())
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
