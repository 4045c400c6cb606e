"""The Python API of the runtime shim; ``amlplatform submit`` and ``amlplatform runs`` are a layer over it.

    from amlplatform.runs import submit
    run = submit("job.yml", compute="local", set={"inputs.epochs": 5})
    run.wait()
    run.status, run.metrics, run.outputs, run.logs()

- ``submit(job, ...)``: a job YAML (the file ``az ml job create --file`` takes) run on this machine
  (``compute="local"``, or a job without compute and no workspace named) or submitted to the
  workspace a stack created (``stack=`` / ``outputs_file=`` / ``resource_group=`` +
  ``workspace_name=``, or the ``AMLPLATFORM_*`` variables: ``runs.coordinates``). Returns a ``Run``
  (``runs.run``) for both. Locally the run goes on in a background thread unless ``wait=True``
  (then it runs in the calling thread, and Ctrl-C / SIGTERM cancel it as in ``amlplatform submit``);
  in a workspace ``submit`` returns once the job is created (``wait=True``: once it has ended).
  ``dry_run=True`` runs and sends nothing: the ``Run`` carries what would happen (``run.requests``:
  the workspace requests with their bodies).
- ``get_run(name)`` / ``list_runs(...)``: recorded local runs (found from anywhere in the project:
  ``runs.store.runs_dir``), or a workspace job by name.

Nothing here prints: progress and notes reach ``on_event`` (``runs.events``), a local run's live
output reaches ``output`` (a binary stream; by default it is only in the run's log).
"""

import atexit
import os
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Mapping, Optional, Sequence, Union

from amlplatform.errors import UserError
from amlplatform.runs.events import Discard, EventCallback, NoteLines, emitter
from amlplatform.runs.run import LOCAL, RUN_STATES, WORKSPACE, Run

__all__ = ["submit", "get_run", "list_runs", "Run", "load", "runs_locally", "workspace_named"]

PathLike = Union[str, "os.PathLike[str]"]

# compute= takes what the job file's compute: takes (runs.job._compute): 'local', a name (azureml:
# prefix optional) or the compute's ARM id; an empty value or another path is refused.
COMPUTE_ARM_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/[^/]+/computes/[^/]+$", re.I)
# ``${{inputs.NAME}}`` in a command (also inside an optional ``$[[ ... ]]`` part).
INPUT_REF = re.compile(r"\$\{\{\s*inputs\.([A-Za-z0-9_]+)\s*\}\}")


# ---------------------------------------------------------------- the job


def compute_override(value: str, *, label: str = "compute") -> str:
    """``--set compute=...`` for ``value``: ``local``, ``azureml:<name>`` or the compute's ARM id."""
    compute = str(value).strip()
    bare = compute[len("azureml:"):] if compute.startswith("azureml:") else compute
    if not bare or ("/" in bare and not COMPUTE_ARM_ID.match(bare)):
        raise UserError(f"{label}: must be 'local' or a cluster name (azureml: prefix optional), got {value!r}")
    return compute if compute == "local" or compute.startswith("azureml:") else "azureml:" + compute


def set_items(values: Union[Mapping[str, Any], Sequence[str], None]) -> list[str]:
    """``set=`` as ``--set`` items: ``{"inputs.rows": 5}`` -> ``["inputs.rows=5"]``; a nested mapping
    sets each of its fields; a list of ``"FIELD=VALUE"`` texts is taken as it is."""
    if values is None:
        return []
    if isinstance(values, (str, bytes)):
        raise UserError(f"set: give a mapping of field paths to values (or a list of 'FIELD=VALUE'), got {values!r}")
    if not isinstance(values, Mapping):
        return [str(v) for v in values]
    items: list[str] = []

    def add(key: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                add(f"{key}.{k}", v)
        elif isinstance(value, (list, tuple, set)):
            raise UserError(f"set: {key}: a list cannot be set field by field; set a mapping or text")
        elif isinstance(value, bool):
            items.append(f"{key}={'true' if value else 'false'}")
        elif value is None:
            raise UserError(f"set: {key}: None is not a value (leave the field out)")
        else:
            items.append(f"{key}={value}")

    for key, value in values.items():
        add(str(key), value)
    return items


def load(job: PathLike, *, set: Union[Mapping[str, Any], Sequence[str], None] = None,  # noqa: A002 - az's name
         compute: Optional[str] = None, name: Optional[str] = None) -> Any:
    """Read, override and validate a job YAML (``runs.job.load_job``); ``UserError`` lists every bad field."""
    from amlplatform.runs.job import load_job

    overrides = set_items(set)
    if compute is not None:
        overrides.append(f"compute={compute_override(compute)}")
    if name is not None:
        overrides.append(f"name={name}")
    return load_job(Path(job), overrides)


def unused_input_warnings(job: Any) -> list[str]:
    """Inputs a command job's command never names. Accepted, as ``az ml job create --set`` and
    azure-ai-ml accept them (a script can still read one from its environment on Azure ML), but
    most often a misspelt ``--set inputs.NAME=...``: say so."""
    from amlplatform.runs.job import PipelineJob

    if isinstance(job, PipelineJob):
        return []
    if job.type == "sweep":
        job = job.trial
    used = set(INPUT_REF.findall(job.command or ""))
    out = []
    for iname in job.inputs:
        if iname in used:
            continue
        near = [u for u in sorted(used) if u not in job.inputs]
        hint = f" (the command uses ${{{{inputs.{near[0]}}}}}, which has no value)" if len(near) == 1 else ""
        out.append(f"inputs.{iname} is not used by the command (no ${{{{inputs.{iname}}}}} in it); "
                   f"it is passed to the job anyway{hint}")
    return out


def workspace_named(*, stack: Optional[str] = None, outputs_file: Optional[PathLike] = None,
                    resource_group: Optional[str] = None, workspace_name: Optional[str] = None) -> bool:
    return bool(stack or outputs_file or resource_group or workspace_name)


def runs_locally(job: Any, *, workspace: bool) -> bool:
    """A job runs here when its compute is ``local`` (a pipeline: every step's), or when it names no
    compute and no workspace is named."""
    from amlplatform.runs.job import PipelineJob

    return bool(job.is_local or (not isinstance(job, PipelineJob) and job.compute is None and not workspace))


def coordinates(*, stack: Optional[str] = None, outputs_file: Optional[PathLike] = None,
                resource_group: Optional[str] = None, workspace_name: Optional[str] = None,
                subscription_id: Optional[str] = None, env: Optional[Mapping[str, str]] = None,
                cwd: Optional[Path] = None) -> Any:
    """The workspace (``runs.coordinates.resolve_coordinates``)."""
    from amlplatform.runs.coordinates import resolve_coordinates

    return resolve_coordinates(stack=stack, outputs_file=Path(outputs_file) if outputs_file is not None else None,
                               resource_group=resource_group, workspace_name=workspace_name,
                               subscription_id=subscription_id, env=os.environ if env is None else env,
                               cwd=Path.cwd() if cwd is None else cwd)


# ---------------------------------------------------------------- submit


def submit(
    job: Union[PathLike, Any],
    *,
    compute: Optional[str] = None,
    set: Union[Mapping[str, Any], Sequence[str], None] = None,  # noqa: A002 - the az CLI's name
    name: Optional[str] = None,
    stack: Optional[str] = None,
    outputs_file: Optional[PathLike] = None,
    resource_group: Optional[str] = None,
    workspace_name: Optional[str] = None,
    subscription_id: Optional[str] = None,
    api_version: Optional[str] = None,
    dry_run: bool = False,
    wait: bool = False,
    runs_dir: Optional[PathLike] = None,
    on_event: Optional[EventCallback] = None,
    output: Optional[BinaryIO] = None,
    pass_env: Sequence[str] = (),
    local_environment: str = "job",
) -> Run:
    """Run a job YAML here or submit it to a workspace; see the module docstring.

    ``job``: the YAML's path (or a job ``load`` returned: then ``compute``/``set``/``name`` go to ``load``).
    ``set``: fields to override, ``{"inputs.epochs": 5}`` as ``--set inputs.epochs=5``.
    ``pass_env`` (local runs): names of this process's variables the job gets too (``--pass-env``);
    ``local_environment``: "job" builds and uses the job's own environment here, "current" this Python's.
    """
    if local_environment not in ("job", "current"):
        raise UserError(f"local_environment: give 'job' or 'current', got {local_environment!r}")
    emit = emitter(on_event)
    if isinstance(job, (str, bytes, os.PathLike)):
        job = load(os.fsdecode(job), set=set, compute=compute, name=name)
        for warning in unused_input_warnings(job):
            emit("warning", warning)
    elif set is not None or compute is not None or name is not None:
        raise UserError("submit: set=, compute= and name= go with a job file; for a loaded job give them to load()")
    workspace = workspace_named(stack=stack, outputs_file=outputs_file, resource_group=resource_group,
                                workspace_name=workspace_name)
    local = runs_locally(job, workspace=workspace)
    if local and (workspace or api_version is not None):
        given = ("stack" if stack else "outputs_file" if outputs_file else "resource_group" if resource_group else
                 "workspace_name" if workspace_name else "api_version")
        raise UserError(f"{given}= is for a cluster; this job's compute is 'local' (give compute=CLUSTER)")
    if local and job.compute is None:
        job = replace(job, compute="local")  # no compute and no workspace named: run here
    if local:
        from amlplatform.runs.job import prepare_local

        job = prepare_local(job)  # nested pipelines flattened; registered environments from the local asset store
        if dry_run:
            return _dry_run_local(job)
        return _submit_local(job, runs_dir=runs_dir, wait=wait, on_event=on_event, output=output,
                             pass_env=pass_env, environment_mode=local_environment)
    if pass_env:
        raise UserError("pass_env= is for local runs; on a cluster the job gets its environment_variables only")
    coords = coordinates(stack=stack, outputs_file=outputs_file, resource_group=resource_group,
                         workspace_name=workspace_name, subscription_id=subscription_id)
    return _submit_workspace(job, coords, api_version=api_version, dry_run=dry_run, wait=wait, on_event=on_event)


# ---------------------------------------------------------------- local


def _dry_run_local(job: Any) -> Run:
    from amlplatform.runs.job import PipelineJob
    from amlplatform.runs.snapshot import take_snapshot

    steps = [(n, s.job) for n, s in job.jobs.items()] if isinstance(job, PipelineJob) else [(None, job)]
    described = []
    for sname, j in steps:
        snap = take_snapshot(j.code.local_path) if j.code is not None and j.code.local_path is not None else None
        described.append({"step": sname, "command": j.command,
                          "code": str(snap.root) if snap else None,
                          "code_hash": snap.content_hash if snap else None,
                          "files": [f.relpath for f in snap.files] if snap else [],
                          "inputs": {k: (str(i.local_path) if i.local_path else i.path if i.path else i.value)
                                     for k, i in j.inputs.items()},
                          "outputs": sorted(j.outputs)})
    return Run(job.name or "(dry run)", LOCAL, dry_run={"compute": "local", "type": job.type, "steps": described},
               job_type=job.type, experiment=job.experiment_name)


class _AnnouncingStore:
    """The run store, telling the submitting thread the name of the first record it creates."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.created = threading.Event()
        self.name: Optional[str] = None

    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        out = self._store.create(record)
        if self.name is None:
            self.name = out["name"]
            self.created.set()
        return out

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._store, attr)


_LIVE: "set[Run]" = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _cancel_live_runs() -> None:
    """At interpreter exit, background local runs are canceled (their command groups ended), not orphaned."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for run in live:
        if run._cancel is not None:
            run._cancel.set()
    for run in live:
        if run._thread is not None:
            run._thread.join(30)


def _submit_local(job: Any, *, runs_dir: Optional[PathLike], wait: bool, on_event: Optional[EventCallback],
                  output: Optional[BinaryIO], pass_env: Sequence[str] = (), environment_mode: str = "job") -> Run:
    from amlplatform.runs.job import PipelineJob
    from amlplatform.runs.store import RunStore, runs_dir as default_runs_dir

    store = RunStore(default_runs_dir(Path(runs_dir) if runs_dir is not None else None))
    out = output if output is not None else Discard()
    notes = NoteLines(on_event)
    pipeline = isinstance(job, PipelineJob)

    def execute(target: Any, cancel: Optional[threading.Event]) -> dict[str, Any]:
        if pipeline:
            from amlplatform.runs.pipeline import run_pipeline_job

            return run_pipeline_job(job, store=target, out=out, notes=notes, cancel=cancel, pass_env=pass_env,
                                    environment_mode=environment_mode)
        if job.type == "sweep":
            from amlplatform.runs.sweep import run_sweep_job

            return run_sweep_job(job, store=target, out=out, notes=notes, cancel=cancel, pass_env=pass_env,
                                 environment_mode=environment_mode)
        from amlplatform.runs.local import run_command_job

        return run_command_job(job, store=target, out=out, notes=notes, cancel=cancel, pass_env=pass_env,
                               environment_mode=environment_mode)

    if wait:
        record = execute(store, None)
        return Run(record["name"], LOCAL, store=store, record=record)

    announcing = _AnnouncingStore(store)
    cancel = threading.Event()
    holder: dict[str, Any] = {}
    run_box: list[Run] = []

    def body() -> None:
        try:
            holder["record"] = execute(announcing, cancel)
        except BaseException as exc:  # noqa: BLE001 - handed to submit() or Run.wait()
            holder["error"] = exc
            if run_box:
                run_box[0]._error = exc
        finally:
            announcing.created.set()
            if run_box:
                with _LIVE_LOCK:
                    _LIVE.discard(run_box[0])

    thread = threading.Thread(target=body, name="amlplatform-run", daemon=True)
    thread.start()
    announcing.created.wait()
    if announcing.name is None:  # it stopped before there was a record: bad input, a command that cannot run
        thread.join()
        raise holder["error"]
    run = Run(announcing.name, LOCAL, store=store)
    run._thread, run._cancel = thread, cancel
    run_box.append(run)
    if "error" in holder:
        run._error = holder["error"]
    if thread.is_alive():
        with _LIVE_LOCK:
            _LIVE.add(run)
    return run


# ---------------------------------------------------------------- workspace


def client_options() -> dict[str, Any]:
    """Test and benchmark hooks, read from the environment: a CA bundle for a local fake service
    (``AMLPLATFORM_CA_BUNDLE``) and a blob endpoint for datastores (``AMLPLATFORM_BLOB_ENDPOINT``,
    e.g. Azurite's ``http://127.0.0.1:10000/devstoreaccount1``). The ARM endpoint itself is
    ``AMLPLATFORM_ARM_ENDPOINT``."""
    options: dict[str, Any] = {}
    ca = os.environ.get("AMLPLATFORM_CA_BUNDLE")
    if ca:
        from azure.core.pipeline.transport import RequestsTransport

        options["transport"] = RequestsTransport(connection_verify=ca)
    blob = os.environ.get("AMLPLATFORM_BLOB_ENDPOINT")
    if blob:
        options["storage_url"] = lambda account, endpoint, protocol: blob
    arm = os.environ.get("AMLPLATFORM_ARM_ENDPOINT")
    if arm:
        options["endpoint"] = arm
    return options


def credential() -> Any:
    """One lazily created DefaultAzureCredential for the ARM and the run history calls of a run."""
    from amlplatform.runs.rest import _default_credential, _LazyCredential

    return _LazyCredential(_default_credential)


def git_folder(job: Any) -> Path:
    """Where the git information of a submission is read: the first local code folder, else the job file's."""
    from amlplatform.runs.job import PipelineJob

    jobs = [s.job for s in job.jobs.values()] if isinstance(job, PipelineJob) else [job]
    for j in jobs:
        if j.code is not None and j.code.local_path is not None:
            return j.code.local_path
    return job.base_dir


def make_plan(job: Any, coords: Any) -> Any:
    from amlplatform.runs import azure
    from amlplatform.runs.gitinfo import git_properties
    from amlplatform.runs.snapshot import take_data_snapshot, take_snapshot

    return azure.make_plan(job, snapshot=take_snapshot, data_snapshot=take_data_snapshot,
                           git=git_properties(git_folder(job)), workspace_id=coords.workspace_id)


def _submit_workspace(job: Any, coords: Any, *, api_version: Optional[str], dry_run: bool, wait: bool,
                      on_event: Optional[EventCallback]) -> Run:
    from amlplatform.runs import azure

    emit = emitter(on_event)
    version = azure.api_version_from(api_version)
    plan = make_plan(job, coords)
    name = plan.job_name
    if dry_run:
        described = azure.describe_submission(plan, coords, api_version=version)
        return Run(name, WORKSPACE, coords=coords, api_version=version, dry_run=described, plan=plan,
                   job_type=job.type, experiment=job.experiment_name)
    emit("submitting", f"job {name}: submitting a {job.type} job to workspace {coords.workspace_name}",
         job=name, type=job.type, workspace=coords.workspace_name)
    cred = credential()
    with azure.AzureMLClient(coords, api_version=version, credential=cred, **client_options()) as client:
        try:
            created = client.submit(plan, progress=lambda done, total: emit("upload", "", done=done, total=total))
        except KeyboardInterrupt:
            _cancel_interrupted_submit(client, name, emit)
            raise
        reused = [u for u in client.uploads if u.reused]
        emit("uploaded", f"job {name}: uploaded {client.bytes_uploaded} bytes ({len(reused)} of {len(client.uploads)} "
                         "uploads already in the workspace)",
             job=name, bytes=client.bytes_uploaded, reused=len(reused), uploads=len(client.uploads))
        status = (created.get("properties") or {}).get("status", "created")
        studio = azure.studio_url(created)
        emit("created", f"job {name}: {status}" + (f"  {studio}" if studio else ""), job=name, status=status,
             studio=studio)
    run = Run(name, WORKSPACE, job=created, coords=coords, api_version=version, credential=cred)
    if wait:
        run.wait(on_event=on_event)
    return run


def _cancel_interrupted_submit(client: Any, job_name: str, emit: Any) -> None:
    """Ctrl-C while uploading or creating the job: the job PUT may have reached the service, so
    look the job up and cancel it if it exists (the outcome is an ``interrupted`` event)."""
    from amlplatform.runs.azure import TERMINAL_STATES

    emit("interrupted", f"interrupted; checking whether job {job_name} was created ...", job=job_name,
         outcome="checking")
    try:
        found = client.get_job(job_name)
    except UserError as exc:
        if str(exc).startswith("no job named"):
            emit("interrupted", f"job {job_name}: not created; nothing to cancel", job=job_name, outcome="not_created")
        else:
            emit("interrupted", f"job {job_name}: could not check it ({exc})", job=job_name, outcome="check_failed",
                 error=str(exc))
        return
    status = (found.get("properties") or {}).get("status")
    if status in TERMINAL_STATES:
        emit("interrupted", f"job {job_name}: already {status}; nothing to cancel", job=job_name,
             outcome="already_ended", status=status)
        return
    try:
        client.cancel(job_name)
    except UserError as exc:
        emit("interrupted", f"job {job_name}: was created, but the cancel failed ({exc})", job=job_name,
             outcome="cancel_failed", error=str(exc))
        return
    emit("interrupted", f"job {job_name}: was created; cancel requested", job=job_name, outcome="cancel_requested")


# ---------------------------------------------------------------- finding runs


def _store(runs_dir: Optional[PathLike]) -> Any:
    from amlplatform.runs.store import RunStore, runs_dir as default_runs_dir

    return RunStore(default_runs_dir(Path(runs_dir) if runs_dir is not None else None))


def get_run(name: str, *, runs_dir: Optional[PathLike] = None, stack: Optional[str] = None,
            outputs_file: Optional[PathLike] = None, resource_group: Optional[str] = None,
            workspace_name: Optional[str] = None, subscription_id: Optional[str] = None,
            api_version: Optional[str] = None, workspace: bool = False) -> Run:
    """A recorded local run (by name, unique prefix or ``last``), or, when a workspace is named (or
    ``workspace=True``: the one the ``AMLPLATFORM_*`` variables name), that workspace's job of this name."""
    if workspace or workspace_named(stack=stack, outputs_file=outputs_file, resource_group=resource_group,
                                    workspace_name=workspace_name):
        from amlplatform.runs import azure

        if not azure.JOB_NAME.match(name):
            raise UserError(f"{name!r} is not an Azure ML job name (letters, digits, '-' and '_')")
        coords = coordinates(stack=stack, outputs_file=outputs_file, resource_group=resource_group,
                             workspace_name=workspace_name, subscription_id=subscription_id)
        run = Run(name, WORKSPACE, coords=coords, api_version=azure.api_version_from(api_version),
                  credential=credential())
        run._refresh()  # an unknown job name fails here, not at first use
        return run
    store = _store(runs_dir)
    record = store.resolve(name)
    return Run(record["name"], LOCAL, store=store, record=record)


def list_runs(*, limit: Optional[int] = None, status: Union[str, Iterable[str], None] = None,
              experiment: Optional[str] = None, steps: bool = True,
              runs_dir: Optional[PathLike] = None) -> list[Run]:
    """Recorded local runs, oldest first: the newest ``limit`` of them, of ``status`` (one or several,
    case-insensitive) and ``experiment``; ``steps=False`` leaves out the step runs of pipelines."""
    store = _store(runs_dir)
    records = select_records(store.records(), limit=limit, status=status, experiment=experiment, steps=steps)
    return [Run(r["name"], LOCAL, store=store, record=r) for r in records]


def select_records(records: Iterable[dict[str, Any]], *, limit: Optional[int] = None,
                   status: Union[str, Iterable[str], None] = None, experiment: Optional[str] = None,
                   steps: bool = True) -> list[dict[str, Any]]:
    """The records of ``list_runs`` / ``runs list``, from all records oldest first."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UserError(f"limit: must be a whole number of at least 1, got {limit!r}")
    wanted = None
    if status is not None:
        given = [status] if isinstance(status, str) else list(status)
        by_lower = {s.lower(): s for s in RUN_STATES}
        bad = [s for s in given if str(s).lower() not in by_lower]
        if bad:
            raise UserError(f"status: {', '.join(map(repr, bad))} is not a run status (one of {', '.join(RUN_STATES)})")
        wanted = {by_lower[str(s).lower()] for s in given}
    out = [r for r in records
           if (experiment is None or r.get("experiment") == experiment)
           and (wanted is None or r.get("status") in wanted)
           and (steps or not r.get("pipeline"))]
    return out[-limit:] if limit is not None else out

