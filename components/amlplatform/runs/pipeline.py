"""Pipelines on the local target: steps in dependency order, independent steps in parallel, step reuse.

``run_pipeline_job(job, store=..., out=..., notes=...)`` runs a ``runs.job.PipelineJob``:

- A step starts when every step whose output it reads has Completed; independent steps run at
  the same time, at most ``max_parallel`` (default: the number of CPUs, at most 4). Live output of
  each step is prefixed with ``[step]``.
- A step's inputs bound to ``${{parent.jobs.<s>.outputs.<o>}}`` are the producer's output folder;
  inputs bound to ``${{parent.inputs.x}}`` are the pipeline's input (materialised like a command
  job's, ``runs.materialize``).
- **Reuse**, as Azure ML's (a step is reused when its component -- code, command, environment --
  its inputs and its settings are unchanged and it is deterministic, ``is_deterministic`` default
  true): the reuse key of a step is a SHA-256 over its code hash (the azure-ai-ml 202208 content
  hash of its ``code`` folder), its command as written, its environment, environment variables,
  ``limits.timeout``, its output declarations and the content identity of every input (local
  files hashed; a producer's output folder hashed; remote blobs by name, size and ETag, without
  downloading). A step whose key matches an earlier Completed run of any pipeline, whose output
  folders still exist, is not run: its record says ``reused_from`` and its outputs are that run's
  outputs. ``settings.force_rerun: true`` or ``is_deterministic: false`` always re-runs. The
  pipeline record says, per step, whether it was reused and, if not, why it ran (no earlier run,
  or what changed since the last run of the same step of the same pipeline file: code, command,
  environment, which inputs...).
- A step that fails stops the pipeline (running steps are canceled, later ones not started) unless
  ``settings.continue_on_step_failure: true``, when only the steps that depend on it are skipped.
  Ctrl-C, SIGTERM or SIGHUP cancel every running step (their process groups are ended) and
  record the pipeline Canceled (exit code 130).
- The pipeline run and every step run are records in the store (``type: pipeline`` /
  ``type: command`` with ``pipeline`` and ``step``), each step with its own MLflow run tagged
  ``mlflow.parentRunId`` = the pipeline's MLflow run.

Reuse index: ``<runs dir>/reuse/<key>.json`` -> the run whose outputs stand for that key, and
``<runs dir>/reuse/steps/<pipeline file + step>.json`` -> the key parts of that step's last run.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO, Mapping, Optional, Sequence

from amlplatform.errors import UserError
from amlplatform.exit_codes import EXIT_FAILED
from amlplatform.runs import local
from amlplatform.runs.store import (LOG, PRIVATE_FILE_MODE, RunStore, create_mlflow_run, end_mlflow_run,
                                    fresh_lifecycle, now_iso, private_dir, write_json_atomic)

REUSE_DIR = "reuse"


class _PrefixedOut:
    """Live output of parallel steps, one ``[step] `` prefix per line, lines not interleaved mid-way."""

    def __init__(self, sink: BinaryIO, prefix: str, lock: threading.Lock) -> None:
        self.sink, self.prefix, self.lock = sink, prefix.encode(), lock
        self.buf = b""

    def write(self, data: bytes) -> int:
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        if lines:
            with self.lock:
                self.sink.write(b"".join(self.prefix + line + b"\n" for line in lines))
        return len(data)

    def flush(self) -> None:
        with self.lock:
            try:
                self.sink.flush()
            except (OSError, ValueError):
                pass

    def close_line(self) -> None:
        if self.buf:
            with self.lock:
                self.sink.write(self.prefix + self.buf + b"\n")
            self.buf = b""


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _env_identity(env: Mapping[str, str]) -> dict[str, Any]:
    """Environment variables as a reuse key part: the names and a SHA-256 of names and values, so the
    reuse store (a file under the runs folder) never holds a value in plaintext."""
    items = sorted(env.items())
    return {"names": [k for k, _ in items],
            "sha256": hashlib.sha256(json.dumps(items, ensure_ascii=False).encode("utf-8")).hexdigest()}


def step_key_parts(step: Any, snapshot: Any, bound: Mapping[str, Path], env: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """What the reuse key of a step is made of (see the module docstring)."""
    from amlplatform.runs.materialize import input_identity

    job = step.job
    inputs = {}
    for name, inp in sorted(job.inputs.items()):
        inputs[name] = input_identity(inp, f"jobs.{step.name}.inputs.{name}", env, bound=bound.get(name))
    outputs = {name: [o.type, o.mode] for name, o in sorted(job.outputs.items())}
    return {
        "code": snapshot.content_hash,
        "command": job.command,
        "environment": local._environment_record(job.environment),
        "environment_variables": _env_identity(job.environment_variables or {}),
        "timeout": job.timeout,
        "outputs": outputs,
        "inputs": inputs,
    }


def _why_rerun(previous: Optional[dict[str, Any]], parts: dict[str, Any], previous_status: Optional[str] = None) -> str:
    """Why a step runs instead of being reused, from the key parts of the last run of the same step."""
    if previous is None:
        return "no earlier run of this step"
    changed = []
    labels = {"code": "code", "command": "command", "environment": "environment",
              "environment_variables": "environment variables", "timeout": "limits.timeout", "outputs": "outputs"}
    for key, label in labels.items():
        if previous.get(key) != parts.get(key):
            changed.append(label)
    old_in, new_in = previous.get("inputs") or {}, parts.get("inputs") or {}
    for name in sorted(set(old_in) | set(new_in)):
        if old_in.get(name) != new_in.get(name):
            changed.append(f"input {name}")
    if not changed:
        if previous_status not in (None, "Completed"):
            return f"the last run with these settings did not complete ({previous_status})"
        return "the earlier run with these settings is gone, failed, or lost its outputs"
    return "changed since the last run: " + ", ".join(changed)


class _Reuse:
    def __init__(self, store: RunStore) -> None:
        self.root = store.root / REUSE_DIR
        self.store = store

    def lookup(self, key: str) -> Optional[dict[str, Any]]:
        """The Completed run recorded for ``key`` whose outputs still exist, else None."""
        try:
            entry = json.loads((self.root / f"{key}.json").read_text(encoding="utf-8"))
            rec = self.store.load(entry["run"])
        except (OSError, ValueError, KeyError, TypeError, UserError):
            return None
        if rec.get("status") != "Completed" or rec.get("reuse_key") != key:
            return None
        for out in (rec.get("named_outputs") or {}).values():
            value = Path(out.get("value", ""))
            folder = value if out.get("type") != "uri_file" else value.parent
            if not folder.exists():
                return None
        return rec

    def remember(self, key: str, run_name: str) -> None:
        private_dir(self.root)
        write_json_atomic(self.root / f"{key}.json", {"run": run_name, "time": now_iso()}, durable=False)

    def _step_file(self, identity: str) -> Path:
        return self.root / "steps" / f"{hashlib.sha256(identity.encode()).hexdigest()[:32]}.json"

    def last(self, identity: str) -> tuple[Optional[dict[str, Any]], Optional[str]]:
        """The key parts and the status of the last run of this step of this pipeline file."""
        try:
            entry = json.loads(self._step_file(identity).read_text(encoding="utf-8"))
            return entry["parts"], entry.get("status")
        except (OSError, ValueError, KeyError, TypeError):
            return None, None

    def remember_parts(self, identity: str, parts: dict[str, Any], status: str) -> None:
        path = self._step_file(identity)
        private_dir(path.parent)
        write_json_atomic(path, {"parts": parts, "status": status}, durable=False)


def _pipeline_record(job: Any, name: Optional[str]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "pipeline",
        "job_file": str(job.source) if job.source else None,
        "experiment": local._safe_experiment(job.experiment_name),
        "display_name": job.display_name,
        "description": job.description,
        "compute": "local",
        "command": None,
        "tags": dict(job.tags or {}),
        **fresh_lifecycle(),
        "inputs": {n: _pipeline_input(i) for n, i in job.inputs.items()},
        "named_outputs": {},
        "steps": {},
    }


def _pipeline_input(inp: Any) -> dict[str, Any]:
    """A pipeline-level input as the record shows it (the shape of a step's ``inputs`` entries)."""
    from amlplatform.runs.materialize import redact

    if inp.local_path is not None:
        return {"type": inp.type, "value": str(inp.local_path), "kind": "local", "path": redact(str(inp.path or inp.local_path))}
    if inp.path is not None:
        return {"type": inp.type, "value": redact(inp.path), "kind": "path"}
    return {"type": inp.type, "value": inp.value, "kind": "literal"}


def run_pipeline_job(
    job: Any,
    *,
    store: RunStore,
    out: Optional[BinaryIO] = None,
    notes: Optional[Any] = None,
    max_parallel: Optional[int] = None,
    grace_seconds: float = local.GRACE_SECONDS,
    pass_env: Sequence[str] = (),
    environment_mode: str = "job",
    cancel: Optional[threading.Event] = None,
) -> dict[str, Any]:
    """Run a ``type: pipeline`` job on this machine; return the pipeline's final run record.

    ``pass_env`` names caller variables every step gets (``local.job_environment``); each step runs in
    its own environment (``runs.envbuild``) unless ``environment_mode`` is "current". ``cancel`` (set by
    another thread: ``Run.cancel()`` of the Python API) stops the pipeline as Ctrl-C does: running steps
    are canceled, the rest skipped, the pipeline recorded Canceled."""
    from amlplatform.runs.gitinfo import git_properties

    out = out if out is not None else sys.stdout.buffer
    notes = notes if notes is not None else sys.stderr
    pass_env = local.check_pass_env(pass_env)
    max_parallel = max_parallel or max(1, min(4, os.cpu_count() or 1))
    settings = job.settings
    force = bool(settings.force_rerun)
    continue_on_failure = bool(settings.continue_on_step_failure)

    # Everything that can be checked before anything runs: code folders, commands.
    snapshots: dict[str, Any] = {}
    by_folder: dict[str, Any] = {}
    problems: list[str] = []
    for sname, step in job.jobs.items():
        try:
            code = step.job.code
            key = str(code.local_path) if code is not None and code.local_path is not None else f"<none:{sname}>"
            if key not in by_folder:
                by_folder[key] = local.job_snapshot(step.job)
            snapshots[sname] = by_folder[key]
            env_vars = dict(step.job.environment_variables or {})
            problems += [f"jobs.{sname}.{p}" for p in
                         local.command_problems(step.job.command, by_folder[key][0], path=local._child_path(env_vars))]
        except UserError as exc:
            problems.append(f"jobs.{sname}: {exc}")
    if problems:
        raise UserError("the pipeline cannot run:", problems)
    gits: dict[str, dict[str, str]] = {}

    def git_of(folder: Path) -> dict[str, str]:
        k = str(folder)
        if k not in gits:
            gits[k] = git_properties(folder)
        return gits[k]

    record = _pipeline_record(job, job.name)
    record["steps"] = {s: {"status": "NotStarted", "depends_on": list(job.jobs[s].depends_on)} for s in job.order()}
    record["status"] = "NotStarted"
    record["status_history"] = [{"status": "NotStarted", "time": record["created_at"]}]
    store.create(record)
    lock = threading.Lock()
    out_lock = threading.Lock()
    cancel = cancel if cancel is not None else threading.Event()
    reuse = _Reuse(store)

    uri = store.mlruns.resolve().as_uri()
    try:
        parent_mlflow = create_mlflow_run(store.mlruns, record["experiment"], record["name"],
                                          {"amlplatform.type": "pipeline", **record["tags"]})
        record["mlflow"] = {"tracking_uri": uri, "available": True, **parent_mlflow}
    except OSError as exc:
        parent_mlflow = None
        record.setdefault("warnings", []).append(f"could not create the MLflow run: {exc}")

    def save() -> None:
        with lock:
            store.save(record)

    def step_note(text: str) -> None:
        local._note(notes, f"pipeline {record['name']}: {text}")

    results: dict[str, dict[str, Any]] = {}

    def run_step(sname: str) -> dict[str, Any]:
        step = job.jobs[sname]
        snapshot, folder = snapshots[sname]
        bound: dict[str, Path] = {}
        for iname, inp in step.job.inputs.items():
            b = inp.binding
            if b is not None and b.scope == "step_outputs":
                producer = results[b.step]
                bound[iname] = Path(producer["named_outputs"][b.name]["value"])
        parts = step_key_parts(step, snapshot, bound)
        key = _digest(parts)
        identity = f"{record.get('job_file') or job.base_dir}#{sname}"
        previous, previous_status = reuse.last(identity)
        earlier = None
        if step.kind == "sweep":
            why = "a sweep step runs its trials every time"
        elif force:
            why = "settings.force_rerun is true"
        elif not step.is_deterministic:
            why = "is_deterministic is false"
        else:
            earlier = reuse.lookup(key)
            why = None if earlier is not None else _why_rerun(previous, parts, previous_status)
        extra = {"pipeline": record["name"], "step": sname, "reuse_key": key, "is_deterministic": step.is_deterministic,
                 "experiment": record["experiment"]}  # step runs belong to the pipeline's experiment, as on Azure ML
        name = f"{record['name']}_{sname}"
        if earlier is not None:
            rec = _reused_record(store, step, snapshot, git_of(folder), name, earlier, extra)
            with lock:
                record["steps"][sname].update({"status": "Completed", "run": rec["name"], "reused": True,
                                               "reused_from": earlier["name"],
                                               "why": f"reused: code, command, environment and inputs unchanged "
                                                      f"since run {earlier['name']}"})
            save()
            step_note(f"step {sname}: reused run {earlier['name']}")
            reuse.remember_parts(identity, parts, "Completed")
            return rec
        with lock:
            record["steps"][sname].update({"status": "Running", "run": name, "reused": False, "why": why})
        save()
        step_note(f"step {sname}: running ({why})")
        sink = _PrefixedOut(out, f"[{sname}] ", out_lock)
        tags = {"amlplatform.pipeline": record["name"], "amlplatform.step": sname}
        if parent_mlflow is not None:
            tags["mlflow.parentRunId"] = parent_mlflow["run_id"]
        job_for_step = step.job
        try:
            if step.kind == "sweep":
                from amlplatform.runs.sweep import run_sweep_job, step_sweep_job

                rec = run_sweep_job(step_sweep_job(step, name=name, experiment=record["experiment"]), store=store,
                                    out=sink, notes=_Quiet(notes), bound_inputs=bound, extra=extra, mlflow_tags=tags,
                                    where=f"jobs.{sname}.trial", cancel=cancel, pass_env=pass_env,
                                    environment_mode=environment_mode)
                return rec
            rec = local.run_command_job(job_for_step, store=store, out=sink, notes=_Quiet(notes), grace_seconds=grace_seconds,
                                        snapshot=snapshot, git=git_of(folder), bound_inputs=bound, cancel=cancel,
                                        extra={**extra, "name": name}, mlflow_tags=tags, where=f"jobs.{sname}",
                                        pass_env=pass_env, environment_mode=environment_mode)
        finally:
            sink.close_line()
        if rec["status"] == "Completed" and step.is_deterministic:
            reuse.remember(key, rec["name"])
        reuse.remember_parts(identity, parts, rec["status"])
        return rec

    on_main = threading.current_thread() is threading.main_thread()
    old_handlers: dict[int, Any] = {}

    def on_signal(signum, frame):
        raise local._Cancel(signum)

    pending = list(job.order())
    running: dict[cf.Future, str] = {}
    failed: list[str] = []
    canceled_reason: Optional[str] = None
    pool = cf.ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="step")
    try:
        if on_main:
            for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
                if sig is not None:
                    old_handlers[sig] = signal.signal(sig, on_signal)
        store.transition(record, "Running")
        step_note(f"running {len(pending)} steps (at most {max_parallel} at a time)")
        elsewhere = sorted(f"{s} ({job.jobs[s].job.compute})" for s in pending
                           if job.jobs[s].job.compute not in (None, "local"))
        if elsewhere:
            local._note(notes, f"note: steps with their own compute run here too: {', '.join(elsewhere)}")
        while pending or running:
            if not cancel.is_set():
                for sname in list(pending):
                    deps = job.jobs[sname].depends_on
                    if any(d in failed or record["steps"][d]["status"] == "Skipped" for d in deps):
                        pending.remove(sname)
                        bad = [d for d in deps if d in failed or record["steps"][d]["status"] == "Skipped"]
                        with lock:
                            record["steps"][sname].update({"status": "Skipped", "why": f"step {bad[0]} did not complete"})
                        save()
                        continue
                    if all(d in results for d in deps) and len(running) < max_parallel:
                        pending.remove(sname)
                        running[pool.submit(run_step, sname)] = sname
            else:
                canceled_reason = canceled_reason or "canceled (the pipeline was stopped)"
                for sname in pending:
                    with lock:
                        record["steps"][sname].update({"status": "Skipped", "why": canceled_reason})
                pending = []
                save()
            if not running:
                if pending:  # nothing can start: the rest depends on a step that did not complete
                    continue
                break
            done, _ = cf.wait(list(running), timeout=0.2, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                sname = running.pop(fut)
                try:
                    rec = fut.result()
                except UserError as exc:
                    with lock:
                        record["steps"][sname].update({"status": "Failed", "why": str(exc)})
                    failed.append(sname)
                    step_note(f"step {sname}: failed before it ran: {exc}")
                else:
                    with lock:
                        record["steps"][sname].update({"status": rec["status"], "run": rec["name"],
                                                       "exit_code": rec.get("exit_code")})
                        if rec.get("reason"):
                            record["steps"][sname]["reason"] = rec["reason"]
                    if rec["status"] == "Completed":
                        results[sname] = rec
                        if not record["steps"][sname].get("reused"):
                            step_note(f"step {sname}: Completed")
                    else:
                        failed.append(sname)
                        step_note(f"step {sname}: {rec['status']}" + (f" ({rec['reason']})" if rec.get("reason") else ""))
                save()
                if failed and not continue_on_failure and not cancel.is_set():
                    canceled_reason = f"step {failed[0]} did not complete (settings.continue_on_step_failure is false)"
                    cancel.set()
    except (KeyboardInterrupt, local._Cancel) as exc:
        if on_main:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            for sig in old_handlers:
                signal.signal(sig, signal.SIG_IGN)
        cancel.set()
        canceled_reason = local._cancel_reason(exc)
        cf.wait(list(running))
        for fut, sname in running.items():
            try:
                rec = fut.result()
                record["steps"][sname].update({"status": rec["status"], "run": rec["name"], "exit_code": rec.get("exit_code")})
            except BaseException as e:  # noqa: BLE001 - recorded, the pipeline is being canceled anyway
                record["steps"][sname].update({"status": "Failed", "why": str(e)})
        for sname in pending:
            record["steps"][sname].update({"status": "Skipped", "why": canceled_reason})
        _finish_pipeline(store, record, "Canceled", canceled_reason, local.EXIT_CANCELED, parent_mlflow)
        if on_main:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        return record
    finally:
        pool.shutdown(wait=True)
        if on_main:
            for sig, old in old_handlers.items():
                signal.signal(sig, old)
    outputs = {}
    for pname in job.outputs:
        for sname, step in job.jobs.items():
            for oname, o in step.job.outputs.items():
                if o.binding is not None and o.binding.name == pname and sname in results:
                    outputs[pname] = {"type": o.type, "value": results[sname]["named_outputs"][oname]["value"],
                                      "kind": "output", "step": sname, "step_output": oname}
    record["named_outputs"] = outputs
    reused = [s for s, v in record["steps"].items() if v.get("reused")]
    record["reused_steps"] = reused
    if failed:
        first = record["steps"][failed[0]]
        code = first.get("exit_code") if isinstance(first.get("exit_code"), int) and first.get("exit_code") else EXIT_FAILED
        status = "Canceled" if all(record["steps"][f]["status"] == "Canceled" for f in failed) and not any(
            record["steps"][f]["status"] == "Failed" for f in failed) else "Failed"
        reason = f"step {failed[0]}: {first.get('reason') or first.get('why') or first['status']}"
        _finish_pipeline(store, record, status, reason, code if status == "Failed" else local.EXIT_CANCELED, parent_mlflow)
    elif canceled_reason:  # stopped from another thread before any step failed
        _finish_pipeline(store, record, "Canceled", canceled_reason, local.EXIT_CANCELED, parent_mlflow)
    else:
        _finish_pipeline(store, record, "Completed", None, 0, parent_mlflow)
    return record


class _Quiet:
    """Step status lines go through the pipeline's own notes; a step's 'preparing'/'running' lines are
    dropped (``print`` writes the text and its newline in two calls: the newline follows its line)."""

    def __init__(self, notes: Any) -> None:
        self.notes = notes
        self.passing = False

    def write(self, text: str) -> int:
        if text == "\n":
            return self.notes.write(text) if self.passing else 1
        self.passing = text.startswith("note:")
        return self.notes.write(text) if self.passing else len(text)

    def flush(self) -> None:
        try:
            self.notes.flush()
        except (OSError, ValueError):
            pass


def _finish_pipeline(store: RunStore, record: dict[str, Any], status: str, reason: Optional[str], code: int,
                     parent_mlflow: Optional[dict[str, str]]) -> None:
    record["exit_code"] = code
    if parent_mlflow is not None:
        try:
            end_mlflow_run(Path(parent_mlflow["run_dir"]), {"Completed": "FINISHED", "Failed": "FAILED"}.get(status, "KILLED"))
        except OSError as exc:
            record.setdefault("warnings", []).append(f"could not end the MLflow run: {exc}")
    store.transition(record, status, reason)


def _reused_record(store: RunStore, step: Any, snapshot: Any, git: dict[str, str], name: str,
                   earlier: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """A step run that did not run: its outputs, metrics and exit code are the earlier run's."""
    rec = local.job_record(step.job, snapshot, git, name=name)
    rec.update(extra)
    rec.update({
        "reused_from": earlier["name"],
        "inputs": earlier.get("inputs") or {},
        "named_outputs": earlier.get("named_outputs") or {},
        "outputs": earlier.get("outputs"),
        "command_resolved": earlier.get("command_resolved"),
        "metrics": earlier.get("metrics") or {},
        "params": earlier.get("params") or {},
        "mlflow": earlier.get("mlflow") or {},
        "exit_code": 0,
        "log": earlier.get("log"),
    })
    rec["status"] = "NotStarted"
    rec["status_history"] = [{"status": "NotStarted", "time": rec["created_at"]}]
    store.create(rec)
    earlier_log = store.run_dir(earlier["name"]) / LOG
    if earlier_log.is_file():  # `runs logs <reused step>` shows the output that made these outputs
        try:
            os.link(earlier_log, store.run_dir(rec["name"]) / LOG)
        except OSError:
            try:
                shutil.copyfile(earlier_log, store.run_dir(rec["name"]) / LOG)
                os.chmod(store.run_dir(rec["name"]) / LOG, PRIVATE_FILE_MODE)
            except OSError:
                pass
    rec["log"] = str(store.run_dir(rec["name"]) / LOG)
    store.transition(rec, "Completed", f"reused run {earlier['name']} (same code, command, environment and inputs)")
    return rec


def summary_lines(record: dict[str, Any]) -> list[str]:
    """One line per step of a pipeline record, for ``runs show``: status, run, reused or why it ran."""
    lines = []
    steps = record.get("steps") or {}
    width = max((len(s) for s in steps), default=0)
    for name, step in steps.items():
        if not isinstance(step, dict):
            continue
        status = step.get("status", "?")
        if step.get("reused"):
            detail = f"reused {step.get('reused_from')}"
        else:
            detail = step.get("why") or ""
            if step.get("reason"):
                detail = f"{detail}; {step['reason']}" if detail else step["reason"]
        run = step.get("run") or "-"
        lines.append(f"{name.ljust(width)}  {status:<10} {run}" + (f"  ({detail})" if detail else ""))
    return lines
