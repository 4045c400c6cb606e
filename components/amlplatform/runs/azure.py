"""The Azure ML backend: upload code and data, register environments and components, submit the job.

A job YAML (``amlplatform.runs.job``) becomes the REST sequence azure-ai-ml 1.35 sends for
``ml_client.jobs.create_or_update`` (bodies: ``amlplatform.runs.jobbody``), all under
``W = {endpoint}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}``:

1. code (per local ``code:`` folder): ``GET W/codes/{name}/versions?hash=&hashVersion=202208`` - a
   hit reuses that version; else ``POST .../versions/1/startPendingUpload``, the files to
   ``<SAS container>/<folder name>/<relative path>`` (``If-None-Match: *``, as azure-storage-blob
   sends for azure-ai-ml's ``overwrite=False``), the metadata ``upload_status=completed``,
   ``name``, ``version`` on the first blob (azure-ai-ml's ``_set_confirmation_metadata``), then
   ``PUT .../versions/1`` with ``codeUri`` = ``urljoin(blobUri, "<container>/<folder name>")``
   (azure-ai-ml ``ArtifactStorageInfo.full_storage_path``). A ``409`` "Asset paths cannot be
   updated." (azure-ai-ml ``ASSET_PATH_ERROR``) means the version exists: it is read back and
   reused when its hash is ours.
2. local data inputs: ``GET W/datastores/workspaceblobstore`` and ``POST .../listSecrets``
   (``{"expirableSecret": true, "expireAfterHours": 1}``, azure-ai-ml ``_list_secrets``), then the
   files to ``LocalUpload/<object hash>/<name>/...`` in that datastore's container unless the
   first blob already carries ``upload_status=completed`` (azure-ai-ml ``check_blob_exists``: no
   re-upload of unchanged data); the input's ``uri`` becomes
   ``azureml://datastores/workspaceblobstore/paths/LocalUpload/<hash>/<name>`` (+ ``/`` for a folder).
3. inline environments: ``PUT W/environments/CliV2AnonymousEnvironment/versions/<sha256>``.
4. pipelines: each step's anonymous component ``PUT W/components/azureml_anonymous/versions/<hash>``.
5. ``PUT W/jobs/{jobName}``; then ``GET W/jobs/{jobName}`` until a terminal status (azure-ai-ml
   ``RunHistoryConstants.TERMINAL_STATUSES``: Completed, Failed, Canceled, NotResponding,
   Paused); ``POST W/jobs/{jobName}/cancel`` to cancel.

Idempotency: the code name is a function of the content hash, the job name and a submission id are
chosen before the first attempt; a ``409`` on the job is accepted only when the stored job carries
our submission id. Nothing is half-done: a failed upload registers nothing, and no job is PUT
before its code, data, environments and components exist.

Only azure-core / azure-storage-blob are imported here (the CLI imports this module lazily).
"""

import os
import re
import secrets
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union
from urllib.parse import quote, unquote, urljoin, urlsplit

from amlplatform.errors import UserError
from amlplatform.runs import jobbody
from amlplatform.runs.coordinates import WorkspaceCoordinates
from amlplatform.runs.job import LOCAL, CommandJob, PipelineJob
from amlplatform.runs.rest import DEFAULT_ENDPOINT, Answer, ArmPipeline, ServerError, need

DEFAULT_API_VERSION = "2025-12-01"
ENV_API_VERSION = "AMLPLATFORM_API_VERSION"
HASH_VERSION = "202208"
CODE_VERSION = "1"
ANONYMOUS_ENV_NAME = jobbody.ANONYMOUS_ENV_NAME
SUBMISSION_PROPERTY = "amlplatform.submission_id"
CODE_HASH_PROPERTY = "amlplatform.code_hash"
# azure-ai-ml operations/_run_history_constants.py RunHistoryConstants.TERMINAL_STATUSES
TERMINAL_STATES = frozenset({"Completed", "Failed", "Canceled", "NotResponding", "Paused"})
# azure-ai-ml _artifacts/_constants.py UPLOAD_CONFIRMATION and ASSET_PATH_ERROR
UPLOAD_CONFIRMATION = {"upload_status": "completed"}
ASSET_PATH_ERROR = "asset paths cannot be updated"

_HASH = re.compile(r"^[0-9a-f]{64}$")
JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_PROGRESS = Callable[[int, int], None]
Job = Union[CommandJob, PipelineJob]


def api_version_from(explicit: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> str:
    """``--api-version`` beats ``AMLPLATFORM_API_VERSION`` beats ``DEFAULT_API_VERSION``."""
    env = os.environ if env is None else env
    value = explicit or env.get(ENV_API_VERSION) or DEFAULT_API_VERSION
    if not _API_VERSION.match(value):
        raise UserError(f"api-version must look like 2025-12-01 or 2025-01-01-preview, got {value!r}")
    return value


# ---------------------------------------------------------------- names (chosen before any attempt)


def code_name_for(content_hash: str) -> str:
    """Code container name for a snapshot: a function of its content, so every retry and every
    concurrent submission of the same code names the same code version (``<name>/versions/1``)."""
    if not isinstance(content_hash, str) or not _HASH.match(content_hash):
        raise ValueError(f"content hash must be 64 lowercase hex digits, got {content_hash!r}")
    return f"amlplatform-{content_hash}"


def job_name_for(
    job: Any, content_hash: str, *, now: Optional[datetime] = None, rand: Optional[str] = None
) -> str:
    """A fresh job name ``<experiment>-<UTC time>-<hash prefix>-<random>`` (Azure ML: letters,
    digits, '-' and '_', starting with a letter or digit, at most 255)."""
    now = now or datetime.now(timezone.utc)
    rand = rand if rand is not None else secrets.token_hex(3)
    if not re.fullmatch(r"[a-z0-9]{1,16}", rand):
        raise ValueError(f"rand must be 1-16 lowercase letters or digits, got {rand!r}")
    experiment = getattr(job, "experiment_name", None) or getattr(job, "experiment", "")
    slug = re.sub(r"[^a-z0-9]+", "-", str(experiment or "").lower()).strip("-")[:60] or "run"
    return f"{slug}-{now.strftime('%Y%m%d-%H%M%S')}-{(content_hash or '0' * 6)[:6]}-{rand}"


def same_url_origin(a: str, b: str) -> bool:
    """Equal scheme, host and port, a default port (https 443, http 80) written or not: the real
    ``startPendingUpload`` answer spells ``blobUri`` with ``:443`` and ``sasUri`` without."""
    pa, pb = urlsplit(a), urlsplit(b)
    default = {"https": 443, "http": 80}

    def port(p: Any) -> Optional[int]:
        try:
            return p.port or default.get(p.scheme.lower())
        except ValueError:
            return None

    return (pa.scheme.lower(), (pa.hostname or "").lower(), port(pa)) == (
        pb.scheme.lower(), (pb.hostname or "").lower(), port(pb))


def _version() -> str:
    from amlplatform import __version__

    return __version__


def studio_url(job: Mapping[str, Any]) -> Optional[str]:
    """The Azure ML studio link the service puts on a job (``properties.services.Studio.endpoint``)."""
    services = (job.get("properties") or {}).get("services") or {}
    studio = services.get("Studio") or {}
    return studio.get("endpoint") if isinstance(studio, Mapping) else None


# ---------------------------------------------------------------- the plan (pure: --dry-run shows it)


@dataclass
class Plan:
    """What a submission needs, found without any network call.

    ``codes``: local code folder -> its snapshot; ``data``: local data path -> its DataSnapshot;
    ``environments``: environment key -> (environmentId, PUT (path, body) or None); ``git``: run
    properties; ``job_name``.
    """

    job: Any
    job_name: str
    codes: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    environments: dict[str, tuple[str, Optional[tuple[str, dict[str, Any]]]]] = field(default_factory=dict)
    git: dict[str, str] = field(default_factory=dict)
    datastore: str = jobbody.DEFAULT_DATASTORE

    @property
    def content_hash(self) -> str:
        """The main code hash (the command job's code, else the first step's), '' without code."""
        return next(iter(self.codes.values())).content_hash if self.codes else ""

    def data_uri(self, path: Path) -> str:
        d = self.data[str(path)]
        return f"azureml://datastores/{self.datastore}/paths/{d.upload_prefix}" + ("" if d.is_file else "/")


def _env_key(env: Any) -> str:
    return repr(env)


def all_steps(steps: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Every step, those of pipeline components too (keyed ``<step>.<inner step>``), inner ones first; a registered
    pipeline component's steps are the workspace's (not sent again)."""
    out: list[tuple[str, Any]] = []
    for name, step in steps.items():
        if step.kind == "pipeline" and step.pipeline is not None and not step.registered:
            out += all_steps(step.pipeline.jobs, f"{prefix}{name}.")
        out.append((prefix + name, step))
    return out


def _command_jobs(job: Job) -> list[tuple[Optional[str], CommandJob]]:
    if isinstance(job, PipelineJob):
        # a registered component is the workspace's already (its code and environment are not sent again); a
        # pipeline component step has no command of its own
        return [(name, step.job) for name, step in all_steps(job.jobs)
                if not step.registered and step.kind != "pipeline"]
    if getattr(job, "type", None) == "sweep":
        return [(None, job.trial)]
    return [(None, job)]


def make_plan(job: Job, *, job_name: Optional[str] = None, snapshot: Callable[[Path], Any],
              data_snapshot: Callable[[Path], Any], git: Mapping[str, str], workspace_id: str) -> Plan:
    """Snapshot every local code folder and data input and work out the environments."""
    if job.compute == LOCAL or (isinstance(job, PipelineJob) and job.is_local):
        raise UserError("compute: 'local' runs on this machine; give --compute <cluster> (or compute: azureml:<name>) "
                        "to submit to Azure ML")
    plan = Plan(job=job, job_name="", git=dict(git))
    for _step, cj in _command_jobs(job):
        if cj.compute == LOCAL:
            raise UserError(f"jobs.{_step}.compute: 'local' cannot run inside an Azure ML pipeline")
        if cj.code is not None and cj.code.local_path is not None:
            key = str(cj.code.local_path)
            if key not in plan.codes:
                if not cj.code.local_path.is_dir():
                    raise UserError(f"code: {cj.code.local_path} is not a folder (Azure ML code is a folder)")
                plan.codes[key] = snapshot(cj.code.local_path)
        k = _env_key(cj.environment)
        if k not in plan.environments:
            plan.environments[k] = jobbody.environment_request(cj.environment, workspace_id)
        for inp in cj.inputs.values():
            if inp.path_kind == "local" and inp.local_path is not None and inp.binding is None:
                plan.data.setdefault(str(inp.local_path), data_snapshot(inp.local_path))
    if isinstance(job, PipelineJob):
        for inp in job.inputs.values():
            if inp.path_kind == "local" and inp.local_path is not None:
                plan.data.setdefault(str(inp.local_path), data_snapshot(inp.local_path))
    plan.job_name = job_name or job.name or job_name_for(job, plan.content_hash)
    if not JOB_NAME.match(plan.job_name):
        raise UserError(f"name: job names are 1-255 letters, digits, '-' or '_' starting with a letter or digit, "
                        f"got {plan.job_name!r}")
    return plan


def run_properties(plan: Plan, submission_id: Optional[str]) -> dict[str, str]:
    props = {str(k): str(v) for k, v in plan.git.items() if v is not None}
    if plan.content_hash:
        props[CODE_HASH_PROPERTY] = plan.content_hash
        props["amlplatform.hash_version"] = HASH_VERSION
    props["amlplatform.version"] = _version()
    if submission_id:
        props[SUBMISSION_PROPERTY] = submission_id
    return props


def planned_code_id(coords: WorkspaceCoordinates, content_hash: str) -> str:
    """The id ``upload_code`` registers for this content (unless the workspace already has it)."""
    return f"{coords.workspace_id}/codes/{code_name_for(content_hash)}/versions/{CODE_VERSION}"


def _compute_ids(job: Job, coords: WorkspaceCoordinates) -> dict[str, str]:
    names = {cj.compute for _s, cj in _command_jobs(job) if cj.compute}
    if isinstance(job, PipelineJob):
        names |= {s.own_compute for _n, s in all_steps(job.jobs) if s.own_compute}
    if job.compute:
        names.add(job.compute)
    if isinstance(job, PipelineJob) and job.settings.default_compute:
        names.add(job.settings.default_compute)
    return {n: coords.compute_id(n) for n in names}


def registered_component_id(ref: str, coords: WorkspaceCoordinates, latest: Mapping[str, str]) -> str:
    """What azure-ai-ml sends for a registered component (``OperationOrchestrator.get_asset_arm_id``): a registry
    URI as it is; ``name:version`` as the version's ARM id; ``name@latest`` as the ARM id of the most recently
    created version (``latest``: name -> that version, looked up before the job is sent); another label as
    the label's ARM id (``LABELLED_RESOURCE_ID_FORMAT``)."""
    from amlplatform.runs.assets import REGISTRY_REF, SHORT_REF

    if REGISTRY_REF.match(ref):
        return ref
    m = SHORT_REF.match(ref)
    if m is None:  # an ARM id (azureml:/subscriptions/...)
        return ref[len("azureml:"):] if ref.startswith("azureml:") else ref
    base = f"{coords.workspace_id}/components/{m.group('name')}"
    if m.group("version"):
        return f"{base}/versions/{m.group('version')}"
    if m.group("label") == "latest" and m.group("name") in latest:
        return f"{base}/versions/{latest[m.group('name')]}"
    return f"{base}/labels/{m.group('label')}"


def latest_components(job: Job) -> list[str]:
    """Names of the registered workspace components the job names ``@latest`` (each needs one lookup)."""
    from amlplatform.runs.assets import SHORT_REF

    if not isinstance(job, PipelineJob):
        return []
    names = []
    for _n, step in all_steps(job.jobs):
        m = SHORT_REF.match(step.registered or "") if step.registered and not step.registered.startswith("azureml://") else None
        if m and m.group("label") == "latest" and m.group("name") not in names:
            names.append(m.group("name"))
    return names


def job_bodies(plan: Plan, coords: WorkspaceCoordinates, *, code_ids: Mapping[str, str],
               submission_id: Optional[str], latest: Optional[Mapping[str, str]] = None
               ) -> tuple[dict[str, tuple[str, dict[str, Any]]], dict[str, Any]]:
    """``(components by step: (path, body), job body)`` once code ids are known (pure). ``latest``: registered
    components named ``@latest`` -> their latest version (``AzureMLClient.latest_component_version``)."""
    job = plan.job
    computes = _compute_ids(job, coords)
    props = run_properties(plan, submission_id)

    def code_id(cj: CommandJob) -> Optional[str]:
        if cj.code is None:
            return None
        if cj.code.local_path is not None:
            return code_ids[str(cj.code.local_path)]
        ref = cj.code.ref or ""
        return ref[len("azureml:"):] if ref.lower().startswith("azureml:/subscriptions/") else ref

    def uris(cj: CommandJob) -> dict[str, str]:
        return {n: plan.data_uri(i.local_path) for n, i in cj.inputs.items()
                if i.path_kind == "local" and i.local_path is not None and i.binding is None}

    if getattr(job, "type", None) == "sweep":
        body = jobbody.sweep_body(
            job, name=plan.job_name, code_id=code_id(job.trial),
            environment_id=plan.environments[_env_key(job.trial.environment)][0],
            compute_id=computes.get(job.compute) if job.compute else None,
            input_uris=uris(job.trial), run_properties=props)
        return {}, body
    if isinstance(job, CommandJob):
        body = jobbody.command_body(
            job, name=plan.job_name, code_id=code_id(job),
            environment_id=plan.environments[_env_key(job.environment)][0],
            compute_id=computes.get(job.compute) if job.compute else None,
            input_uris=uris(job), run_properties=props)
        return {}, body
    components: dict[str, tuple[str, dict[str, Any]]] = {}
    component_ids: dict[str, str] = {}
    step_uris: dict[tuple[str, str], str] = {}
    step_code_ids: dict[str, Optional[str]] = {}
    step_env_ids: dict[str, str] = {}
    for name, step in all_steps(job.jobs):  # the steps of a pipeline component before the component itself
        for n, u in uris(step.job).items():
            step_uris[(name, n)] = u
        if step.registered:
            component_ids[name] = registered_component_id(step.registered, coords, latest or {})
            continue
        if step.kind == "pipeline":
            inner = jobbody.pipeline_nodes(step.pipeline.jobs, component_ids=component_ids, compute_ids=computes,
                                           step_input_uris=step_uris, step_code_ids=step_code_ids,
                                           step_environment_ids=step_env_ids, prefix=f"{name}.")
            cbody = jobbody.pipeline_component_body(jobbody.pipeline_component_spec(step, inner))
        else:
            step_code_ids[name] = code_id(step.job)
            step_env_ids[name] = plan.environments[_env_key(step.job.environment)][0]
            spec = jobbody.component_spec(step, code_id=step_code_ids[name], environment_id=step_env_ids[name])
            cbody = jobbody.component_body(spec)
        version = cbody["properties"]["componentSpec"]["version"]
        path = f"{coords.workspace_id}/components/{jobbody.ANONYMOUS_COMPONENT_NAME}/versions/{version}"
        components[name] = (path, cbody)
        component_ids[name] = path
    pipeline_uris = {n: plan.data_uri(i.local_path) for n, i in job.inputs.items()
                     if i.path_kind == "local" and i.local_path is not None}
    body = jobbody.pipeline_body(job, name=plan.job_name, component_ids=component_ids, compute_ids=computes,
                                 input_uris=pipeline_uris, step_input_uris=step_uris, run_properties=props,
                                 step_code_ids=step_code_ids, step_environment_ids=step_env_ids)
    return components, body


def describe_submission(plan: Plan, coords: WorkspaceCoordinates, *, api_version: str = DEFAULT_API_VERSION,
                        endpoint: str = DEFAULT_ENDPOINT) -> dict[str, Any]:
    """The requests ``submit`` would send, without any network call (``submit --dry-run --format json``).

    ``{"job_name", "requests": [{"method", "url", "body"?, "note"?}]}``; the job body is exactly what
    ``submit`` PUTs when no code version is reused (only the submission id, drawn at submit time, is left out).
    """
    w = endpoint.rstrip("/") + coords.workspace_id
    q = f"?api-version={api_version}"
    requests: list[dict[str, Any]] = []
    code_ids = {}
    for key, snap in plan.codes.items():
        name = code_name_for(snap.content_hash)
        code = f"{w}/codes/{name}/versions"
        code_ids[key] = planned_code_id(coords, snap.content_hash)
        folder = Path(key).name
        requests += [
            {"method": "GET", "url": f"{code}{q}&hash={snap.content_hash}&hashVersion={HASH_VERSION}",
             "note": f"code {key}: reuse the version with this hash if the workspace has one; else the next calls"},
            {"method": "POST", "url": f"{code}/{CODE_VERSION}/startPendingUpload{q}",
             "body": {"pendingUploadId": "<new uuid>", "pendingUploadType": "TemporaryBlobReference"}},
            {"method": "PUT", "url": f"<SAS container>/{folder}/<relative path>",
             "headers": {"If-None-Match": "*"},
             "note": f"{len(snap.files)} files, {snap.total_bytes} bytes; then the first blob's metadata "
                     f"upload_status=completed, name={name}, version={CODE_VERSION}"},
            {"method": "PUT", "url": f"{code}/{CODE_VERSION}{q}",
             "body": {"properties": {"codeUri": f"<blobUri>/{folder}", "isAnonymous": True,
                                     "properties": {"hash_sha256": snap.content_hash, "hash_version": HASH_VERSION}}}},
        ]
    if plan.data:
        ds = f"{w}/datastores/{plan.datastore}"
        requests += [{"method": "GET", "url": f"{ds}{q}"},
                     {"method": "POST", "url": f"{ds}/listSecrets{q}",
                      "body": {"expirableSecret": True, "expireAfterHours": 1}}]
        for key, d in plan.data.items():
            requests.append({"method": "PUT", "url": f"<datastore container>/{d.upload_prefix}/...",
                             "headers": {"If-None-Match": "*"},
                             "note": f"data {key}: {len(d.files)} files, {d.total_bytes} bytes, unless "
                                     f"{d.upload_prefix} is already uploaded (upload_status=completed)"})
    for env_id, put in plan.environments.values():
        if put is not None:
            requests.append({"method": "PUT", "url": f"{endpoint.rstrip('/')}{put[0]}{q}", "body": put[1]})
    for cname in latest_components(plan.job):  # name@latest: the most recently created version, looked up first
        requests.append({"method": "GET", "url": f"{w}/components/{cname}/versions{q}&$orderBy=createdtime%20desc&$top=1",
                         "note": f"component {cname}@latest: its most recently created version (the job body below "
                                 "names the label until it is looked up)"})
    components, body = job_bodies(plan, coords, code_ids=code_ids, submission_id=None)
    for path, cbody in components.values():
        requests.append({"method": "PUT", "url": f"{endpoint.rstrip('/')}{path}{q}", "body": cbody})
    requests.append({"method": "PUT", "url": f"{w}/jobs/{plan.job_name}{q}", "body": body})
    return {"job_name": plan.job_name, "requests": requests}


# ---------------------------------------------------------------- the client


@dataclass
class UploadResult:
    code_id: str
    reused: bool
    files: int = 0
    bytes: int = 0


@dataclass
class DataResult:
    uri: str
    reused: bool
    files: int = 0
    bytes: int = 0


def _silent(done: int, total: int) -> None:
    """No progress shown: the shim prints nothing (the command line passes its progress bar)."""


def _standard_storage_url(account: str, endpoint: str, protocol: str) -> str:
    """azure-ai-ml ``STORAGE_ACCOUNT_URLS["AzureBlob"]``: ``https://{account}.blob.{endpoint}``."""
    return f"{protocol or 'https'}://{account}.blob.{endpoint or 'core.windows.net'}"


class AzureMLClient:
    """REST calls to one workspace over azure-core's pipeline (see the module docstring).

    ``storage_url(account, endpoint, protocol)`` gives a datastore's blob service URL (tests and
    benchmarks aim it at Azurite)."""

    def __init__(
        self,
        coords: WorkspaceCoordinates,
        *,
        api_version: str = DEFAULT_API_VERSION,
        credential: Any = None,
        endpoint: str = DEFAULT_ENDPOINT,
        transport: Any = None,
        poll_interval: float = 2.0,
        max_poll_interval: float = 60.0,
        retry: Optional[Mapping[str, Any]] = None,
        blob_options: Optional[Mapping[str, Any]] = None,
        upload_concurrency: int = 8,
        logging_enable: bool = False,
        storage_url: Callable[[str, str, str], str] = _standard_storage_url,
    ) -> None:
        self.coords = coords
        self.credential = credential
        self.api_version = api_version_from(api_version, {})
        self.pipeline = ArmPipeline(
            endpoint, api_version=self.api_version, credential=credential, transport=transport,
            retry=retry, logging_enable=logging_enable,
        )
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval)
        self.blob_options = dict(blob_options or {})
        self.upload_concurrency = max(1, int(upload_concurrency))
        self.storage_url = storage_url
        self.last_upload: Optional[UploadResult] = None
        self.uploads: list[Union[UploadResult, DataResult]] = []
        self._w = coords.workspace_id
        self._datastores: dict[str, Any] = {}

    def close(self) -> None:
        self.pipeline.close()

    def __enter__(self) -> "AzureMLClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def bytes_uploaded(self) -> int:
        return sum(u.bytes for u in self.uploads)

    # ---- code

    def find_code_by_hash(self, content_hash: str) -> Optional[str]:
        """The id of a code version in the workspace with this content hash, or ``None``."""
        name = code_name_for(content_hash)
        path = f"{self._w}/codes/{name}/versions"
        try:
            answer = self.pipeline.call(
                "look up code by hash", "GET", path, params={"hash": content_hash, "hashVersion": HASH_VERSION}
            )
        except ServerError as exc:
            if exc.status == 404:
                return None
            raise
        label = f"look up code by hash (GET {path})"
        items = need(answer.body, "value", label, list)
        for item in items:
            if not isinstance(item, Mapping):
                continue
            stored = ((item.get("properties") or {}).get("properties") or {}).get("hash_sha256")
            if stored not in (None, content_hash):
                continue  # the service filtered loosely; only an equal hash is the same code
            return need(item, "id", label)
        return None

    def upload_code(self, snapshot: Any, *, progress: Optional[_PROGRESS] = None) -> str:
        """Register the snapshot as an anonymous code version and return its id (dedupe by hash)."""
        content_hash = snapshot.content_hash
        existing = self.find_code_by_hash(content_hash)
        if existing:
            self.last_upload = UploadResult(existing, reused=True)
            self.uploads.append(self.last_upload)
            return existing

        name, version = code_name_for(content_hash), CODE_VERSION
        base = f"{self._w}/codes/{name}/versions/{version}"
        label = f"start the code upload (POST {base}/startPendingUpload)"
        answer = self.pipeline.call(
            "start the code upload", "POST", f"{base}/startPendingUpload",
            body={"pendingUploadId": str(uuid.uuid4()), "pendingUploadType": "TemporaryBlobReference"},
            retry_post=True,
        )
        blob_uri = need(answer.body, "blobReferenceForConsumption.blobUri", label)
        sas_uri = need(answer.body, "blobReferenceForConsumption.credential.sasUri", label)
        container, folder = split_upload_target(blob_uri, sas_uri, label)
        source_name = Path(snapshot.root).resolve().name
        prefix = f"{folder}/{source_name}" if folder else source_name
        from azure.storage.blob import ContainerClient

        client = ContainerClient.from_container_url(sas_uri, **self.blob_options)
        total, _reused = self._upload_files(client, [(f"{prefix}/{f.relpath}", f) for f in snapshot.files],
                                            metadata={"name": name, "version": version}, progress=progress,
                                            what=f"the code to {_redact(container)}", sas_uri=sas_uri)
        # azure-ai-ml: full_storage_path = urljoin(storage_account_url=blobUri, f"{container}/{relative_path}")
        container_name = urlsplit(container).path.strip("/").split("/")[-1]
        code_uri = urljoin(blob_uri, f"{container_name}/{prefix}")
        body = {
            "properties": {
                "codeUri": code_uri,
                "isAnonymous": True,
                "properties": {"hash_sha256": content_hash, "hash_version": HASH_VERSION},
            }
        }
        try:
            answer = self.pipeline.call("register the code version", "PUT", base, body=body, ok=(200, 201))
            code_id = need(answer.body, "id", f"register the code version (PUT {base})")
        except ServerError as exc:
            if not _is_conflict(exc):  # 409 "Asset paths cannot be updated.", or "already exists"
                raise
            # the version exists (an earlier or concurrent submission of the same code registered it)
            code_id = self._existing_code(base, content_hash, exc)
        self.last_upload = UploadResult(code_id, reused=False, files=len(snapshot.files), bytes=total)
        self.uploads.append(self.last_upload)
        return code_id

    def _existing_code(self, base: str, content_hash: str, conflict: ServerError) -> str:
        answer = self.pipeline.call("read the existing code version", "GET", base)
        stored = ((answer.body or {}).get("properties") or {}).get("properties") or {}
        if stored.get("hash_sha256") != content_hash:
            raise UserError(f"{conflict}\n  the code version exists with other content; not overwriting it")
        return need(answer.body, "id", f"read the existing code version (GET {base})")

    def _upload_files(self, container: Any, items: list[tuple[str, Any]], *, metadata: Mapping[str, str],
                      progress: Optional[_PROGRESS], what: str, sas_uri: Optional[str] = None) -> tuple[int, bool]:
        """Upload ``(blob name, SnapshotFile)`` items the way azure-ai-ml's ``BlobStorageClient.upload`` does:
        the first blob (in sorted order) is the indicator; if it carries ``upload_status=completed`` the
        content is already there (nothing is sent); if it exists unconfirmed (a broken earlier upload)
        blobs are overwritten; else each is created with ``If-None-Match: *``. The indicator then gets
        ``{upload_status: completed, name, version}``. Returns (bytes sent, reused).

        With a container SAS (code uploads) the Put Blob calls go through ``blobput.SasBlobPutter``
        (the same requests, less Python per call)."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        from amlplatform.runs.blobput import MAX_SINGLE_PUT, SasBlobPutter

        items = sorted(items, key=lambda x: str(x[1].path))
        indicator = items[0][0]
        try:
            try:
                props = container.get_blob_client(indicator).get_blob_properties()
                meta = {k.lower(): v for k, v in (props.metadata or {}).items()}
                if UPLOAD_CONFIRMATION.items() <= meta.items():
                    return 0, True
                overwrite = True  # an unconfirmed earlier upload: replace it, as azure-ai-ml does
            except ResourceNotFoundError:
                overwrite = False
            total = sum(int(f.size) for _n, f in items)
            putter = SasBlobPutter(sas_uri, pool_size=self.upload_concurrency) if sas_uri else None
            report = progress if progress is not None else _silent
            done = 0
            lock = threading.Lock()

            def put(item: tuple[str, Any]) -> None:
                nonlocal done
                blob_name, f = item
                try:
                    size = os.stat(f.path).st_size
                except OSError as exc:
                    raise UserError(f"upload of {f.relpath}: cannot read it any more ({exc.strerror}); "
                                    "nothing was registered") from None
                if size != f.size:
                    raise UserError(f"upload of {f.relpath}: the file changed while submitting ({f.size} -> {size} "
                                    "bytes); nothing was registered, submit again")
                if putter is not None and size <= MAX_SINGLE_PUT:
                    with open(f.path, "rb") as fh:
                        data = fh.read()
                    if len(data) != size:
                        raise UserError(f"upload of {f.relpath}: the file changed while submitting; nothing was "
                                        "registered, submit again")
                    putter.put(blob_name, data, overwrite=overwrite)
                else:
                    with open(f.path, "rb") as fh:
                        container.upload_blob(blob_name, fh, length=size, overwrite=overwrite, max_concurrency=1)
                with lock:
                    done += size
                    current = done
                report(current, total)

            report(0, total)
            pool = ThreadPoolExecutor(max_workers=self.upload_concurrency)
            try:
                for future in [pool.submit(put, it) for it in items]:
                    future.result()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # stop at the first failure (or Ctrl-C)
                raise
            pool.shutdown(wait=True)
            container.get_blob_client(indicator).set_blob_metadata({**UPLOAD_CONFIRMATION, **metadata})
        except AzureError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(f"upload of {what} failed: {first}; nothing was registered") from None
        except UserError as exc:
            if str(exc).startswith("upload of "):
                raise
            raise UserError(f"upload of {what} failed: {exc}; nothing was registered") from None
        finally:
            container.close()
            if "putter" in locals() and putter is not None:
                putter.close()
        return total, False

    # ---- data

    def datastore(self, name: str) -> Any:
        """A ContainerClient for a blob datastore, with the credential ``listSecrets`` gives."""
        if name in self._datastores:
            return self._datastores[name]
        path = f"{self._w}/datastores/{name}"
        label = f"read the datastore (GET {path})"
        answer = self.pipeline.call("read the datastore", "GET", path)
        props = need(answer.body, "properties", label, dict)
        kind = props.get("datastoreType")
        if kind != "AzureBlob":
            raise UserError(f"datastore {name!r} is {kind}; amlplatform uploads local inputs to blob datastores only")
        account = need(answer.body, "properties.accountName", label)
        container = need(answer.body, "properties.containerName", label)
        url = self.storage_url(account, props.get("endpoint") or "core.windows.net", props.get("protocol") or "https")
        credential: Any = None
        creds = props.get("credentials") or {}
        if creds.get("credentialsType") not in ("None", None):
            answer = self.pipeline.call("read the datastore's secret", "POST", f"{path}/listSecrets",
                                        body={"expirableSecret": True, "expireAfterHours": 1}, retry_post=True)
            secret = answer.body or {}
            if secret.get("secretsType") == "AccountKey":
                credential = {"account_name": account, "account_key": need(secret, "key", f"list secrets of {name}")}
            elif secret.get("secretsType") == "Sas":
                credential = need(secret, "sasToken", f"list secrets of {name}")
        if credential is None:
            from amlplatform.runs.rest import _default_credential, _LazyCredential

            # an identity-based datastore: the user's own token (azure-ai-ml does the same)
            credential = self.credential or _LazyCredential(_default_credential)
        self._datastores[name] = (url, container, credential)
        return self._datastores[name]

    def upload_data(self, data: Any, *, datastore: str = jobbody.DEFAULT_DATASTORE,
                    progress: Optional[_PROGRESS] = None) -> DataResult:
        """Upload a local data input to ``LocalUpload/<hash>/<name>`` of the datastore (skipped when there)."""
        url, container_name, credential = self.datastore(datastore)
        if data.is_file:
            items = [(f"{data.upload_prefix}", data.files[0])]
        else:
            items = [(f"{data.upload_prefix}/{f.relpath}", f) for f in data.files]
        uri = f"azureml://datastores/{datastore}/paths/{data.upload_prefix}" + ("" if data.is_file else "/")
        if isinstance(credential, dict) and not self.blob_options:
            # the common case, an unchanged input: one signed HEAD, no azure-storage-blob import
            from amlplatform.runs.blobput import blob_metadata_shared_key

            indicator = sorted(items, key=lambda x: str(x[1].path))[0][0]
            meta = blob_metadata_shared_key(url, container_name, indicator, credential["account_name"],
                                            credential["account_key"])
            if meta is not None and UPLOAD_CONFIRMATION.items() <= meta.items():
                result = DataResult(uri, reused=True)
                self.uploads.append(result)
                return result
        from azure.storage.blob import ContainerClient

        container = ContainerClient(url, container_name, credential=credential, **self.blob_options)
        sent, reused = self._upload_files(container, items, metadata={"name": str(uuid.uuid4()),
                                                                      "version": str(uuid.uuid4())},
                                          progress=progress, what=f"data {data.source}")
        result = DataResult(uri, reused=reused, files=0 if reused else len(items), bytes=sent)
        self.uploads.append(result)
        return result

    # ---- environments and components

    def ensure_asset(self, what: str, path: str, body: Mapping[str, Any], same: Callable[[Mapping[str, Any]], bool]) -> str:
        """PUT an anonymous asset version (idempotent: an existing equal one is reused)."""
        try:
            answer = self.pipeline.call(f"register the {what}", "PUT", path, body=dict(body), ok=(200, 201))
        except ServerError as exc:
            if not _is_conflict(exc):
                raise
            answer = self.pipeline.call(f"read the {what}", "GET", path)
            if not same(answer.body or {}):
                raise UserError(f"{exc}\n  the {what} exists with other content") from None
        return need(answer.body, "id", f"register the {what} (PUT {path})")

    # ---- jobs

    def submit(self, plan: Plan, *, progress: Optional[_PROGRESS] = None,
               submission_id: Optional[str] = None) -> dict[str, Any]:
        """Upload (or reuse) code and data, register environments and components, create the job."""
        submission_id = submission_id or uuid.uuid4().hex
        # everything that can fail without the network fails before the first call
        job_bodies(plan, self.coords, code_ids={k: "-" for k in plan.codes}, submission_id=submission_id)
        for env_id, put in plan.environments.values():
            if put is not None:
                image = put[1]["properties"]["image"]
                self.ensure_asset("environment", put[0], put[1],
                                  lambda got, image=image: (got.get("properties") or {}).get("image") == image)
        code_ids = {key: self.upload_code(snap, progress=progress) for key, snap in plan.codes.items()}
        for data in plan.data.values():
            self.upload_data(data, datastore=plan.datastore, progress=progress)
        latest = {n: self.latest_component_version(n) for n in latest_components(plan.job)}
        components, body = job_bodies(plan, self.coords, code_ids=code_ids, submission_id=submission_id, latest=latest)
        for path, cbody in components.values():  # inner components first: a pipeline component names them
            spec = cbody["properties"]["componentSpec"]
            key = "jobs" if spec.get("type") == "pipeline" else "command"
            self.ensure_asset("step component", path, cbody,
                              lambda got, spec=spec, key=key: ((got.get("properties") or {}).get("componentSpec") or {}).get(
                                  key) == spec[key])
        return self.create_job(plan.job_name, body, submission_id)

    def latest_component_version(self, name: str) -> str:
        """The most recently created version of a registered component, as azure-ai-ml resolves ``name@latest``
        (``_asset_utils._get_latest``: the versions list ordered ``createdtime desc``, ``top=1``)."""
        path = f"{self._w}/components/{name}/versions"
        answer = self.pipeline.call(f"find the latest version of component {name}", "GET", path,
                                    params={"$orderBy": "createdtime desc", "$top": "1"})
        values = (answer.body or {}).get("value") or []
        if not values:
            raise UserError(f"component {name}@latest: the workspace has no component named {name!r}")
        return need(values[0], "name", f"the latest version of component {name}")

    def create_job(self, job_name: str, body: Mapping[str, Any], submission_id: str) -> dict[str, Any]:
        path = f"{self._w}/jobs/{job_name}"
        try:
            answer = self.pipeline.call("create the job", "PUT", path, body=dict(body), ok=(200, 201))
        except ServerError as exc:
            if not _is_conflict(exc):
                raise
            # a retried PUT whose first answer was lost, or a real name clash: read the job back
            try:
                job = self.get_job(job_name)
            except UserError:
                raise exc from None  # no such job after all: the conflict was about something else
            stored = ((job.get("properties") or {}).get("properties") or {}).get(SUBMISSION_PROPERTY)
            if stored != submission_id:
                raise UserError(
                    f"create the job (PUT {path}): a different job named {job_name!r} already exists; "
                    "pick another name (--set name=...)"
                ) from None
            return job
        return _job(answer, f"create the job (PUT {path})")

    def get_job(self, name: str) -> dict[str, Any]:
        path = f"{self._w}/jobs/{name}"
        try:
            answer = self.pipeline.call("read the job", "GET", path)
        except ServerError as exc:
            if exc.status == 404:
                raise UserError(f"no job named {name!r} in workspace {self.coords.workspace_name}") from None
            raise
        return _job(answer, f"read the job (GET {path})")

    def wait(
        self,
        name: str,
        *,
        on_status: Optional[Callable[[str, dict[str, Any]], None]] = None,
        sleep: Optional[Callable[[float], None]] = None,
        timeout: Optional[float] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> dict[str, Any]:
        """Poll until a terminal status (``TERMINAL_STATES``); the delay grows from ``poll_interval``
        toward ``max_poll_interval`` and starts again from the bottom whenever the status changes.
        ``timeout`` (seconds): ``TimeoutError`` once it has passed and the job has not ended (the
        job goes on)."""
        sleep = sleep or time.sleep
        delay = self.poll_interval
        last = None
        deadline = None if timeout is None else clock() + float(timeout)
        while True:
            job = self.get_job(name)
            status = need(job, "properties.status", f"read the job (GET .../jobs/{name})")
            if on_status is not None:
                on_status(status, job)
            if status in TERMINAL_STATES:
                return job
            if status != last and last is not None:
                delay = self.poll_interval
            last = status
            if deadline is not None:
                left = deadline - clock()
                if left <= 0:
                    raise TimeoutError(f"job {name} is still {status} after {timeout:g} s (it goes on)")
                delay = min(delay, left)
            sleep(delay)
            delay = min(self.max_poll_interval, delay * 2)

    def cancel(self, name: str) -> None:
        path = f"{self._w}/jobs/{name}/cancel"
        try:
            self.pipeline.call("cancel the job", "POST", path, ok=(200, 202), retry_post=True)
        except ServerError as exc:
            if exc.status == 404:
                raise UserError(f"no job named {name!r} in workspace {self.coords.workspace_name}") from None
            raise


def _job(answer: Answer, label: str) -> dict[str, Any]:
    need(answer.body, "name", label)
    need(answer.body, "properties", label, dict)
    return answer.body


def _is_conflict(exc: ServerError) -> bool:
    if exc.status == 409:
        return True
    text = f"{exc.code or ''} {exc}".lower()
    return exc.status == 400 and ("already exists" in text or "alreadyexists" in text or ASSET_PATH_ERROR in text)


def split_upload_target(blob_uri: str, sas_uri: str, label: str) -> tuple[str, str]:
    """(container URL, folder inside it) from the pending upload's blob URI and container SAS URI.

    The hosts are compared after normalising default ports (``same_url_origin``)."""
    sas, blob = urlsplit(sas_uri), urlsplit(blob_uri)
    if not sas.query or "sig=" not in sas.query:
        raise UserError(f"{label}: the service's answer has a bad 'blobReferenceForConsumption.credential.sasUri' (no SAS token)")
    container_path = sas.path.rstrip("/")
    if not same_url_origin(blob_uri, sas_uri) or not (
        blob.path.rstrip("/") == container_path or blob.path.startswith(container_path + "/")
    ):
        raise UserError(
            f"{label}: the service's answer has a 'blobReferenceForConsumption.blobUri' outside the SAS container"
        )
    folder = blob.path[len(container_path):].strip("/")
    return f"{sas.scheme}://{sas.netloc}{container_path}", unquote(folder)


_split_upload_target = split_upload_target


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{quote(parts.path)}"
