"""``Run``: one submitted job, the same type for a local run and a workspace (Azure ML) job.

Made by ``amlplatform.runs.submit`` / ``get_run`` / ``list_runs`` (``runs.api``), never directly.

- ``name``, ``backend`` (``"local"`` or ``"workspace"``), ``type`` (``command`` / ``pipeline``),
  ``experiment``, ``dry_run``.
- ``status``: the current status (read again on every access until the run has ended), one of
  Azure ML's run states (NotStarted ... Completed, Failed, Canceled, NotResponding, Paused).
- ``wait(timeout=None)``: until the run ends (``TimeoutError`` after ``timeout`` seconds: the run
  goes on); returns the run.
- ``metrics``: ``{name: latest value}`` of the MLflow metrics the script logged (a workspace job's from
  the workspace's MLflow tracking server).
- ``outputs``: ``{name: where}``: a local ``Path``; a workspace job's
  ``azureml://jobs/<job>/outputs/<name>/paths/`` URI (the form ``az ml model create --path`` takes).
- ``logs()``: the run's output as text (a local pipeline: every step's, each line under ``[step]``;
  a workspace job: ``user_logs/std_log.txt`` of the run history).
- ``cancel()``: stop it (a local run this process started: its command's process group is ended,
  the record says Canceled; a workspace job: ``POST .../jobs/<name>/cancel``). A local run another
  process runs is not signalled from here (``UserError`` saying which process runs it).
- ``details``: the run record (local) or the job as the service answers it (workspace);
  ``requests``: a workspace dry run's requests (method, url, body), in order.

Nothing here prints (progress reaches ``on_event``, see ``runs.events``).
"""

import io
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, TextIO

from amlplatform.errors import UserError
from amlplatform.runs.events import EventCallback, emitter

LOCAL = "local"
WORKSPACE = "workspace"
# Azure ML run states (azure-ai-ml entities/_job/job.py JobStatus / RunHistoryConstants)
RUN_STATES = ("NotStarted", "Queued", "Preparing", "Provisioning", "Starting", "Running", "CancelRequested",
              "Finalizing", "Completed", "Failed", "Canceled", "NotResponding", "Paused", "Unknown")
# azure-ai-ml operations/_run_history_constants.py RunHistoryConstants.TERMINAL_STATUSES
ENDED = frozenset({"Completed", "Failed", "Canceled", "NotResponding", "Paused"})
# a workspace job's answer is read again after this long (a status read twice in a row asks once)
FRESH_SECONDS = 1.0


class Run:
    """One local run or workspace job (see the module docstring); made by ``runs.api``."""

    def __init__(self, name: str, backend: str, *, store: Any = None, record: Optional[dict[str, Any]] = None,
                 job: Optional[dict[str, Any]] = None, coords: Any = None, api_version: Optional[str] = None,
                 credential: Any = None, dry_run: Optional[dict[str, Any]] = None, plan: Any = None,
                 job_type: Optional[str] = None, experiment: Optional[str] = None) -> None:
        self.name = name
        self.backend = backend
        self.dry_run = dry_run  # what a dry run would do (None for a real run)
        self.plan = plan  # a workspace dry run's snapshot plan (codes, data, git)
        self.coords = coords  # the workspace (WorkspaceCoordinates) of a workspace run
        self._store = store
        self._record = record
        self._job = job
        self._api_version = api_version
        self._credential = credential
        self._type = job_type
        self._experiment = experiment
        self._thread: Optional[threading.Thread] = None
        self._cancel: Optional[threading.Event] = None
        self._error: Optional[BaseException] = None
        self._fetched = time.monotonic() if job is not None else float("-inf")

    def __repr__(self) -> str:
        # the status last read: showing a run never calls the service
        if self.dry_run is not None:
            last: Optional[str] = "NotStarted (dry run)"
        elif self.backend == LOCAL:
            last = (self._record or {}).get("status")
        else:
            last = ((self._job or {}).get("properties") or {}).get("status")
        return f"Run(name={self.name!r}, backend={self.backend!r}, status={last!r})"

    # ---------------------------------------------------------------- what it is

    def _known(self) -> None:
        if self.dry_run is None and self._record is None and self._job is None:
            self._refresh()

    @property
    def type(self) -> Optional[str]:
        self._known()
        if self._record is not None:
            return self._record.get("type", "command")
        if self._job is not None:
            kind = (self._job.get("properties") or {}).get("jobType")
            return {"Command": "command", "Pipeline": "pipeline"}.get(kind, kind)
        return self._type

    @property
    def experiment(self) -> Optional[str]:
        self._known()
        if self._record is not None:
            return self._record.get("experiment")
        if self._job is not None:
            return (self._job.get("properties") or {}).get("experimentName")
        return self._experiment

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The requests a workspace dry run would send (empty for anything else)."""
        return list((self.dry_run or {}).get("requests") or [])

    @property
    def details(self) -> dict[str, Any]:
        """The run record (local) or the job as the service answers it (workspace), read now."""
        self._refresh()
        return dict((self._record if self.backend == LOCAL else self._job) or self.dry_run or {})

    @property
    def status(self) -> Optional[str]:
        if self.dry_run is not None:
            return "NotStarted"
        self._refresh()
        if self.backend == LOCAL:
            return (self._record or {}).get("status") or "NotStarted"
        return ((self._job or {}).get("properties") or {}).get("status")

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def _refresh(self) -> None:
        if self.dry_run is not None:
            return
        if self.backend == LOCAL:
            if self._record is None or self._record.get("status") not in ENDED:
                try:
                    self._record = self._store.load(self.name)
                except UserError:
                    if self._thread is None:
                        raise
                    # the run's thread has not written its record yet
            return
        if self._job is None or (
                (self._job.get("properties") or {}).get("status") not in ENDED
                and time.monotonic() - self._fetched > FRESH_SECONDS):
            with self._client() as client:
                self._job = client.get_job(self.name)
            self._fetched = time.monotonic()

    def _not_dry(self, what: str) -> None:
        if self.dry_run is not None:
            raise UserError(f"run {self.name}: a dry run ran nothing; there is nothing to {what}")

    # ---------------------------------------------------------------- the workspace

    def _client(self) -> Any:
        from amlplatform.runs import azure
        from amlplatform.runs.api import client_options

        return azure.AzureMLClient(self.coords, api_version=self._api_version, credential=self._credential,
                                   **client_options())

    # ---------------------------------------------------------------- waiting

    def wait(self, timeout: Optional[float] = None, *, on_event: Optional[EventCallback] = None) -> "Run":
        """Until the run ends; ``TimeoutError`` when ``timeout`` seconds pass first (the run goes on).
        A local run started in the background re-raises what stopped it from running (``UserError``)."""
        self._not_dry("wait for")
        emit = emitter(on_event)
        if self.backend == LOCAL:
            if self._thread is not None:
                self._thread.join(timeout)
                if self._thread.is_alive():
                    raise TimeoutError(f"run {self.name} is still {self.status} after {timeout:g} s (it goes on)")
                if self._error is not None:
                    raise self._error
            else:
                self._wait_other_process(timeout)
            self._refresh()
            emit("status", f"run {self.name}: {self.status}", job=self.name, status=self.status, details=self._record)
            return self

        def on_status(status: str, job: dict[str, Any]) -> None:
            emit("status", f"job {self.name}: {status}", job=self.name, status=status, details=job)

        with self._client() as client:
            self._job = client.wait(self.name, on_status=on_status, timeout=timeout)
        self._fetched = time.monotonic()
        return self

    def _wait_other_process(self, timeout: Optional[float]) -> None:
        """A local run another process supervises: read its record until it has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while True:
            self._record = self._store.load(self.name)  # a dead supervisor is found and recorded here
            if self._record.get("status") in ENDED:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {self.name} is still {self._record.get('status')} after {timeout:g} s "
                                   "(it goes on)")
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(1.0, delay * 2)

    # ---------------------------------------------------------------- results

    @property
    def metrics(self) -> dict[str, float]:
        """``{metric: latest value}`` logged with MLflow (a running run: what it has logged so far)."""
        if self.dry_run is not None:
            return {}
        if self.backend != LOCAL:
            from amlplatform.runs import azure_logs

            if self._job is None:
                self._refresh()
            endpoint = azure_logs.history_endpoint(self.coords, self._job)  # the same data-plane host
            return azure_logs.job_metrics(self.coords, self.name, endpoint=endpoint, credential=self._credential)
        from amlplatform.runs.local import collect_metrics

        self._refresh()
        record = self._record or {}
        found = record.get("metrics") or {}
        if not found and record.get("status") not in ENDED:
            found = collect_metrics(record)
        return {k: m["value"] for k, m in sorted(found.items()) if isinstance(m, Mapping) and "value" in m}

    @property
    def outputs(self) -> dict[str, Any]:
        """``{output name: Path}`` locally, ``{output name: azureml://jobs/<job>/outputs/<name>/paths/}`` in a workspace."""
        if self.dry_run is not None:
            return {}
        self._refresh()
        if self.backend == LOCAL:
            named = (self._record or {}).get("named_outputs") or {}
            return {n: Path(o["value"]) for n, o in named.items() if isinstance(o, Mapping) and o.get("value")}
        outputs = ((self._job or {}).get("properties") or {}).get("outputs") or {}
        # the job-output form azure-ai-ml documents for model paths (azureml-examples
        # cli/jobs/basics/hello-model-as-output.yml): azureml://jobs/<job>/outputs/<output>/paths/<path>
        return {n: f"azureml://jobs/{self.name}/outputs/{n}/paths/" for n in outputs}

    def logs(self, *, all_ranks: bool = False) -> str:
        """The run's output as text so far (see the module docstring)."""
        self._not_dry("read the logs of")
        out = io.StringIO()
        if self.backend == LOCAL:
            self._refresh()
            out.write(local_log_text(self._store, self._record or {}))
        else:
            self.stream_logs(out, follow=False, all_ranks=all_ranks)
        return out.getvalue()

    def stream_logs(self, out: TextIO, *, follow: bool = True, all_ranks: bool = False,
                    on_status: Optional[Callable[[str, dict[str, Any]], None]] = None) -> dict[str, Any]:
        """A workspace job's logs written to ``out`` (run history ``logFiles``), until it ends when
        ``follow``; returns the last run details (``status``, ``error``)."""
        self._not_dry("read the logs of")
        if self.backend == LOCAL:
            raise UserError(f"run {self.name} is a local run; its log is {self._store.run_dir(self.name)}")
        from amlplatform.runs import azure_logs

        if self._job is None:
            self._refresh()
        endpoint = azure_logs.history_endpoint(self.coords, self._job)
        with azure_logs.RunHistoryClient(self.coords, endpoint=endpoint, credential=self._credential) as history:
            return history.stream_logs(self.name, out, follow=follow, all_files=all_ranks, on_status=on_status)

    # ---------------------------------------------------------------- stopping

    def cancel(self) -> None:
        """Ask the run to stop (see the module docstring); a run that has ended is left alone."""
        self._not_dry("cancel")
        if self.backend != LOCAL:
            if self.status in ENDED:
                return
            with self._client() as client:
                client.cancel(self.name)
            self._fetched = float("-inf")
            return
        if self._thread is not None:
            if self._cancel is not None:
                self._cancel.set()
            return
        self._refresh()
        record = self._record or {}
        if record.get("status") in ENDED:
            return
        # Another process runs it. Signalling that process is not safe in general (a notebook's kernel
        # has no SIGTERM handler and would die), so say how to stop it instead.
        sup = record.get("supervisor") or {}
        where = f"process {sup.get('pid')} on {sup.get('host') or 'this machine'}"
        raise UserError(f"run {self.name} is run by {where}, not by this Python process; stop it there (Ctrl-C; "
                        f"an `amlplatform submit` also stops on `kill -TERM {sup.get('pid')}`)")


def local_log_text(store: Any, record: Mapping[str, Any]) -> str:
    """A local run's log as text; a pipeline's: each step's log in step order, each line under ``[step]``."""
    from amlplatform.runs.store import LOG

    def read(run: str) -> str:
        try:
            return (store.run_dir(run) / LOG).read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n")
        except FileNotFoundError:
            return ""

    if record.get("type") != "pipeline":
        return read(record["name"])
    steps = record.get("steps") or {}
    width = max((len(s) for s in steps), default=0)
    lines = []
    for sname, step in steps.items():
        if not step.get("run"):
            continue
        prefix = f"[{sname}]".ljust(width + 2) + " "
        lines += [prefix + line for line in read(step["run"]).splitlines()]
    return "".join(line + "\n" for line in lines)
