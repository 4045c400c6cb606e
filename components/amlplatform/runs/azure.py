"""The Azure ML backend: upload the snapshot as a code version and submit a Command job over ARM.

The REST sequence (docs: ``design/runs.md``), all under
``W = {endpoint}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}``:

1. ``GET W/codes/{name}/versions?hash=&hashVersion=202208`` - a hit reuses that code version;
2. ``POST W/codes/{name}/versions/1/startPendingUpload`` - a temporary blob folder and a SAS;
3. each file to ``<container>/<folder>/<relative path>`` with azure-storage-blob (``overwrite=True``);
4. ``PUT W/codes/{name}/versions/1`` - the code version (``codeUri``, ``isAnonymous``, hash properties);
5. (images only) ``PUT W/environments/CliV2AnonymousEnvironment/versions/{md5}``, as azure-ai-ml does;
6. ``PUT W/jobs/{jobName}`` - the job; then ``GET W/jobs/{jobName}`` until a terminal status,
   ``POST W/jobs/{jobName}/cancel`` to cancel.

Idempotency: the code name is a function of the content hash, the job name and a submission id are
chosen before the first attempt. A retried PUT after a lost answer therefore names the same
resource; a ``409`` on the job is accepted only when the stored job carries our submission id, a
``409`` on the code version only when it holds the same content hash (a ``400`` whose error says
"already exists" counts as a ``409`` for both). Nothing is half-done: a
failed upload registers no code version, and no job is PUT without a code id.

Only azure-core / azure-storage-blob are imported here (the CLI imports this module lazily).
"""

import hashlib
import os
import re
import secrets
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional, TextIO
from urllib.parse import quote, urlsplit

from amlplatform.errors import UserError
from amlplatform.runs.coordinates import WorkspaceCoordinates
from amlplatform.runs.rest import DEFAULT_ENDPOINT, Answer, ArmPipeline, ServerError, need

DEFAULT_API_VERSION = "2025-12-01"
ENV_API_VERSION = "AMLPLATFORM_API_VERSION"
HASH_VERSION = "202208"
CODE_VERSION = "1"
ANONYMOUS_ENV_NAME = "CliV2AnonymousEnvironment"  # the name azure-ai-ml registers image environments under
CURATED_REGISTRY = "azureml"
SUBMISSION_PROPERTY = "amlplatform.submission_id"
CODE_HASH_PROPERTY = "amlplatform.code_hash"
TERMINAL_STATES = frozenset({"Completed", "Failed", "Canceled"})

_HASH = re.compile(r"^[0-9a-f]{64}$")
JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_PROGRESS = Callable[[int, int], None]


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
    spec: Any, content_hash: str, *, now: Optional[datetime] = None, rand: Optional[str] = None
) -> str:
    """A fresh job name ``<experiment>-<UTC time>-<hash prefix>-<random>`` (Azure ML: letters,
    digits, '-' and '_', starting with a letter or digit, at most 255)."""
    now = now or datetime.now(timezone.utc)
    rand = rand if rand is not None else secrets.token_hex(3)
    if not re.fullmatch(r"[a-z0-9]{1,16}", rand):
        raise ValueError(f"rand must be 1-16 lowercase letters or digits, got {rand!r}")
    slug = re.sub(r"[^a-z0-9]+", "-", str(getattr(spec, "experiment", "") or "").lower()).strip("-")[:60] or "run"
    return f"{slug}-{now.strftime('%Y%m%d-%H%M%S')}-{content_hash[:6]}-{rand}"


def anonymous_environment_version(image: str) -> str:
    """The version azure-ai-ml gives an anonymous environment made of an image only: md5 of md5(image)."""
    inner = hashlib.md5(image.encode("utf-8")).hexdigest()  # noqa: S324 - a name, not security
    return hashlib.md5(inner.encode("utf-8")).hexdigest()  # noqa: S324


# ---------------------------------------------------------------- environment and job body


def _environment_kind(value: str) -> str:
    try:
        from amlplatform.runs.spec import environment_kind

        return environment_kind(value)
    except ImportError:  # pragma: no cover - spec.py ships with the package
        if value.lower().startswith(("/subscriptions/", "azureml:/subscriptions/")):
            return "arm"
        return "image" if "/" in value else "asset"


def environment_id_for(environment: Optional[str], coords: WorkspaceCoordinates) -> str:
    """The ``environmentId`` of the job body for the spec's ``environment``.

    - ``name:version`` or ``azureml:name:version`` -> ``azureml:name:version``;
    - ``name@latest`` / ``azureml:name@latest`` -> the curated registry's ``latest`` label for
      curated names (``AzureML-...``), else ``azureml:name@latest`` (the workspace's latest);
    - a bare curated name -> the curated registry's ``latest`` label;
    - an ARM id (``/subscriptions/...``) or ``azureml://...`` id -> as is;
    - a docker image -> the anonymous environment azure-ai-ml would register for it
      (``.../environments/CliV2AnonymousEnvironment/versions/<md5>``); ``submit`` registers it.
    """
    if not environment or not environment.strip():
        raise UserError("environment: is required for a cluster run (a registered 'name:version', a curated name or an image)")
    value = environment.strip()
    if value.startswith("azureml://"):
        return value
    kind = _environment_kind(value[len("azureml:"):] if value.startswith("azureml:/") else value)
    if kind == "arm":
        return value[len("azureml:"):] if value.startswith("azureml:") else value
    if kind == "image":
        return f"{coords.workspace_id}/environments/{ANONYMOUS_ENV_NAME}/versions/{anonymous_environment_version(value)}"
    name = value[len("azureml:"):] if value.startswith("azureml:") else value
    if "@" in name:
        base, label = name.split("@", 1)
        if base.lower().startswith("azureml-"):
            return f"azureml://registries/{CURATED_REGISTRY}/environments/{base}/labels/{label}"
        return f"azureml:{base}@{label}"
    if ":" in name:
        return f"azureml:{name}"
    if name.lower().startswith("azureml-"):
        return f"azureml://registries/{CURATED_REGISTRY}/environments/{name}/labels/latest"
    return f"azureml:{name}@latest"


def _distribution(dist: Any) -> Optional[dict[str, Any]]:
    if dist is None:
        return None
    kind = getattr(dist, "type", None) or getattr(dist, "distribution_type", None)
    out: dict[str, Any] = {"distributionType": kind}
    if kind in ("PyTorch", "Mpi"):
        if getattr(dist, "process_count_per_instance", None) is not None:
            out["processCountPerInstance"] = int(dist.process_count_per_instance)
    elif kind == "TensorFlow":
        if getattr(dist, "worker_count", None) is not None:
            out["workerCount"] = int(dist.worker_count)
        if getattr(dist, "parameter_server_count", None) is not None:
            out["parameterServerCount"] = int(dist.parameter_server_count)
    else:
        raise UserError(f"distribution.type must be PyTorch, Mpi or TensorFlow, got {kind!r}")
    return out


def _version() -> str:
    from amlplatform import __version__

    return __version__


def build_job_body(
    spec: Any,
    *,
    code_id: str,
    coords: WorkspaceCoordinates,
    git: Mapping[str, str],
    content_hash: str,
    submission_id: Optional[str] = None,
    environment_id: Optional[str] = None,
) -> dict[str, Any]:
    """The body of ``PUT W/jobs/{name}`` for a run spec (pure: no network; ``--dry-run`` shows it).

    ``properties`` carries the git information (Azure ML names), the code hash and, for a real
    submission, the submission id that makes a retried or conflicting PUT recognisable.
    """
    if getattr(spec, "compute", "local") == "local":
        raise UserError("compute: a cluster name is needed to submit to Azure ML (compute 'local' runs on this machine)")
    props: dict[str, Any] = {
        "jobType": "Command",
        "command": spec.command,
        "codeId": code_id,
        "environmentId": environment_id or environment_id_for(spec.environment, coords),
        "computeId": coords.compute_id(spec.compute),
        "experimentName": spec.experiment,
        "resources": {"instanceCount": int(spec.instance_count)},
    }
    if spec.display_name:
        props["displayName"] = spec.display_name
    if spec.environment_variables:
        props["environmentVariables"] = {str(k): str(v) for k, v in spec.environment_variables.items()}
    dist = _distribution(spec.distribution)
    if dist:
        props["distribution"] = dist
    if spec.timeout_seconds:
        props["limits"] = {"jobLimitsType": "Command", "timeout": f"PT{int(spec.timeout_seconds)}S"}
    run_props = {str(k): str(v) for k, v in (git or {}).items() if v is not None}
    run_props[CODE_HASH_PROPERTY] = content_hash
    run_props["amlplatform.hash_version"] = HASH_VERSION
    run_props["amlplatform.version"] = _version()
    if submission_id:
        run_props[SUBMISSION_PROPERTY] = submission_id
    props["properties"] = run_props
    if spec.tags:
        props["tags"] = {str(k): str(v) for k, v in spec.tags.items()}
    return {"properties": props}


def planned_code_id(coords: WorkspaceCoordinates, content_hash: str) -> str:
    """The id ``upload_code`` registers for this content (unless the workspace already has it)."""
    return f"{coords.workspace_id}/codes/{code_name_for(content_hash)}/versions/{CODE_VERSION}"


def describe_submission(
    spec: Any,
    snapshot: Any,
    coords: WorkspaceCoordinates,
    git: Mapping[str, str],
    *,
    api_version: str = DEFAULT_API_VERSION,
    endpoint: str = DEFAULT_ENDPOINT,
    job_name: Optional[str] = None,
) -> dict[str, Any]:
    """What ``submit`` would send, without any network call (for ``submit --dry-run``).

    Returns ``{"job_name", "compute_id", "environment_id", "code_id", "requests": [{"method", "url", "body"?, "note"?}]}``;
    the job body is exactly ``build_job_body``'s (without the submission id, which is drawn at submit time).
    """
    content_hash = snapshot.content_hash
    job_name = job_name or job_name_for(spec, content_hash)
    environment_id = environment_id_for(spec.environment, coords)
    code_id = planned_code_id(coords, content_hash)
    body = build_job_body(spec, code_id=code_id, coords=coords, git=git, content_hash=content_hash,
                          environment_id=environment_id)
    w = endpoint.rstrip("/") + coords.workspace_id
    q = f"?api-version={api_version}"
    code = f"{w}/codes/{code_name_for(content_hash)}/versions"
    requests: list[dict[str, Any]] = [
        {"method": "GET", "url": f"{code}{q}&hash={content_hash}&hashVersion={HASH_VERSION}",
         "note": "reuse the code if the workspace has this hash; else the next three calls"},
        {"method": "POST", "url": f"{code}/{CODE_VERSION}/startPendingUpload{q}",
         "body": {"pendingUploadType": "TemporaryBlobReference"}},
        {"method": "PUT", "url": "<blob folder from the previous answer>/<relative path>",
         "note": f"{len(snapshot.files)} files, {snapshot.total_bytes} bytes"},
        {"method": "PUT", "url": f"{code}/{CODE_VERSION}{q}",
         "body": {"properties": {"codeUri": "<blob folder>", "isAnonymous": True,
                                 "properties": {"hash_sha256": content_hash, "hash_version": HASH_VERSION}}}},
    ]
    if _environment_kind(spec.environment.strip()) == "image" and not spec.environment.startswith("azureml"):
        requests.insert(0, {"method": "PUT", "url": f"{endpoint.rstrip('/')}{environment_id}{q}",
                            "body": {"properties": {"image": spec.environment.strip(), "isAnonymous": True, "osType": "Linux"}},
                            "note": "the anonymous environment for the image, as azure-ai-ml registers it"})
    requests.append({"method": "PUT", "url": f"{w}/jobs/{job_name}{q}", "body": body})
    return {"job_name": job_name, "compute_id": body["properties"]["computeId"], "environment_id": environment_id,
            "code_id": code_id, "requests": requests}


def studio_url(job: Mapping[str, Any]) -> Optional[str]:
    """The Azure ML studio link the service puts on a job (``properties.services.Studio.endpoint``)."""
    services = (job.get("properties") or {}).get("services") or {}
    studio = services.get("Studio") or {}
    return studio.get("endpoint") if isinstance(studio, Mapping) else None


# ---------------------------------------------------------------- terminal feedback


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:
        return False


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


class ByteProgress:
    """An upload progress bar on a terminal; silent when the stream is not a TTY."""

    def __init__(self, stream: Optional[TextIO] = None, *, label: str = "uploading", enabled: Optional[bool] = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = _is_tty(self.stream) if enabled is None else enabled
        self.label = label
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        frac = done / total if total else 1.0
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        self.stream.write(f"\r{self.label} [{bar}] {_human(done)}/{_human(total)}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


class StatusLine:
    """``on_status`` for ``wait``: one live line on a terminal, one line per change otherwise."""

    def __init__(self, job_name: str, stream: Optional[TextIO] = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.job_name = job_name
        self.stream = stream or sys.stderr
        self.tty = _is_tty(self.stream)
        self.clock = clock
        self.start = clock()
        self.last: Optional[str] = None

    def __call__(self, status: str, job: Mapping[str, Any]) -> None:
        elapsed = int(self.clock() - self.start)
        text = f"{self.job_name}: {status} ({elapsed // 60}m{elapsed % 60:02d}s)"
        if self.tty:
            end = "\n" if status in TERMINAL_STATES else ""
            self.stream.write("\r\033[K" + text + end)
        elif status != self.last:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.last = status


# ---------------------------------------------------------------- the client


@dataclass
class UploadResult:
    code_id: str
    reused: bool
    files: int = 0
    bytes: int = 0


class AzureMLClient:
    """REST calls to one workspace over azure-core's pipeline (see the module docstring)."""

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
        upload_concurrency: int = 4,
        logging_enable: bool = False,
    ) -> None:
        self.coords = coords
        self.api_version = api_version_from(api_version, {})
        self.pipeline = ArmPipeline(
            endpoint, api_version=self.api_version, credential=credential, transport=transport,
            retry=retry, logging_enable=logging_enable,
        )
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval)
        self.blob_options = dict(blob_options or {})
        self.upload_concurrency = max(1, int(upload_concurrency))
        self.last_upload: Optional[UploadResult] = None
        self._w = coords.workspace_id

    def close(self) -> None:
        self.pipeline.close()

    def __enter__(self) -> "AzureMLClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

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
        _, folder = _split_upload_target(blob_uri, sas_uri, label)

        total = self._upload_files(snapshot, sas_uri, folder, progress)

        body = {
            "properties": {
                "codeUri": blob_uri,
                "isAnonymous": True,
                "properties": {"hash_sha256": content_hash, "hash_version": HASH_VERSION},
            }
        }
        try:
            answer = self.pipeline.call("register the code version", "PUT", base, body=body, ok=(200, 201))
            code_id = need(answer.body, "id", f"register the code version (PUT {base})")
        except ServerError as exc:
            if not _is_conflict(exc):  # 409, or 400 "already exists": the same test as the job's
                raise
            # a concurrent submission of the same code registered it first: the same hash is the same code
            code_id = self._existing_code(base, content_hash, exc)
        self.last_upload = UploadResult(code_id, reused=False, files=len(snapshot.files), bytes=total)
        return code_id

    def _existing_code(self, base: str, content_hash: str, conflict: ServerError) -> str:
        answer = self.pipeline.call("read the existing code version", "GET", base)
        stored = ((answer.body or {}).get("properties") or {}).get("properties") or {}
        if stored.get("hash_sha256") != content_hash:
            raise UserError(f"{conflict}\n  the code version exists with other content; not overwriting it")
        return need(answer.body, "id", f"read the existing code version (GET {base})")

    def _upload_files(self, snapshot: Any, sas_uri: str, folder: str, progress: Optional[_PROGRESS]) -> int:
        from azure.core.exceptions import AzureError
        from azure.storage.blob import ContainerClient

        files = list(snapshot.files)
        total = sum(int(f.size) for f in files)
        report = progress if progress is not None else ByteProgress()
        done = 0
        lock = threading.Lock()

        def advance(n: int) -> None:
            nonlocal done
            with lock:
                done += n
                current = done
            report(current, total)

        container = ContainerClient.from_container_url(sas_uri, **self.blob_options)

        def put(f: Any) -> None:
            blob_name = f"{folder}/{f.relpath}" if folder else f.relpath
            try:
                size = os.stat(f.path).st_size
            except OSError as exc:
                raise UserError(f"upload of {f.relpath}: cannot read it any more ({exc.strerror}); nothing was registered") from None
            if size != f.size:
                raise UserError(
                    f"upload of {f.relpath}: the file changed while submitting ({f.size} -> {size} bytes); "
                    "nothing was registered, submit again"
                )
            with open(f.path, "rb") as fh:
                container.upload_blob(blob_name, fh, length=size, overwrite=True, max_concurrency=1)
            advance(size)

        report(0, total)
        try:
            with container:
                pool = ThreadPoolExecutor(max_workers=self.upload_concurrency)
                try:
                    for future in [pool.submit(put, f) for f in files]:
                        future.result()
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)  # stop at the first failure (or Ctrl-C)
                    raise
                pool.shutdown(wait=True)
        except AzureError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(f"upload of the code to {_redact(sas_uri)} failed: {first}; nothing was registered") from None
        return total

    def ensure_environment(self, image: str) -> str:
        """Register (idempotently) the anonymous environment for a docker image, as azure-ai-ml does."""
        version = anonymous_environment_version(image)
        path = f"{self._w}/environments/{ANONYMOUS_ENV_NAME}/versions/{version}"
        body = {"properties": {"image": image, "isAnonymous": True, "osType": "Linux"}}
        try:
            answer = self.pipeline.call("register the image environment", "PUT", path, body=body, ok=(200, 201))
        except ServerError as exc:
            if not _is_conflict(exc):
                raise
            answer = self.pipeline.call("read the image environment", "GET", path)
            if ((answer.body or {}).get("properties") or {}).get("image") != image:
                raise UserError(f"{exc}\n  the environment version exists with another image") from None
        return need(answer.body, "id", f"register the image environment (PUT {path})")

    # ---- jobs

    def submit(
        self,
        spec: Any,
        snapshot: Any,
        git: Mapping[str, str],
        *,
        job_name: Optional[str] = None,
        progress: Optional[_PROGRESS] = None,
        submission_id: Optional[str] = None,
    ) -> dict[str, Any]:
        """Upload (or reuse) the code, then create the job; returns the job as the service answered it."""
        content_hash = snapshot.content_hash
        if job_name is not None and not JOB_NAME.match(job_name):
            raise UserError(f"job name must be 1-255 letters, digits, '-' or '_' starting with a letter or digit, got {job_name!r}")
        job_name = job_name or job_name_for(spec, content_hash)
        submission_id = submission_id or uuid.uuid4().hex
        # everything that can fail without the network fails before the first call
        environment_id = environment_id_for(spec.environment, self.coords)
        build_job_body(spec, code_id="-", coords=self.coords, git=git, content_hash=content_hash,
                       environment_id=environment_id)
        if _environment_kind(spec.environment.strip()) == "image" and not spec.environment.startswith("azureml"):
            environment_id = self.ensure_environment(spec.environment.strip())
        code_id = self.upload_code(snapshot, progress=progress)
        body = build_job_body(
            spec, code_id=code_id, coords=self.coords, git=git, content_hash=content_hash,
            submission_id=submission_id, environment_id=environment_id,
        )
        path = f"{self._w}/jobs/{job_name}"
        try:
            answer = self.pipeline.call("create the job", "PUT", path, body=body, ok=(200, 201))
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
                    "pick another --name"
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
    ) -> dict[str, Any]:
        """Poll until Completed, Failed or Canceled; the delay grows from ``poll_interval`` toward
        ``max_poll_interval`` and starts again from the bottom whenever the status changes."""
        sleep = sleep or time.sleep
        delay = self.poll_interval
        last = None
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
    return exc.status == 400 and ("already exists" in text or "alreadyexists" in text)


def _split_upload_target(blob_uri: str, sas_uri: str, label: str) -> tuple[str, str]:
    """(container URL, folder inside it) from the pending upload's blob URI and container SAS URI."""
    sas, blob = urlsplit(sas_uri), urlsplit(blob_uri)
    if not sas.query or "sig=" not in sas.query:
        raise UserError(f"{label}: the service's answer has a bad 'blobReferenceForConsumption.credential.sasUri' (no SAS token)")
    container_path = sas.path.rstrip("/")
    if (blob.scheme, blob.netloc) != (sas.scheme, sas.netloc) or not (
        blob.path == container_path or blob.path.startswith(container_path + "/")
    ):
        raise UserError(
            f"{label}: the service's answer has a 'blobReferenceForConsumption.blobUri' outside the SAS container"
        )
    folder = blob.path[len(container_path):].strip("/")
    from urllib.parse import unquote

    return f"{sas.scheme}://{sas.netloc}{container_path}", unquote(folder)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{quote(parts.path)}"
