"""Logs of a cluster job: the run history ``details`` call and the SAS URLs of the log files it names.

The contract, as azure-ai-ml 1.35 (``JobOperations.stream`` -> ``_job_ops_helper.stream_logs_until_completion``
-> ``RunOperations.get_run_details``) uses it:

- ``GET {api}/history/v1.0/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/
  workspaces/{ws}/runs/{jobName}/details?api-version=v1.0`` with a bearer token; the answer (``RunDetails``)
  carries ``status`` and ``logFiles``, a map of log name -> SAS URL of the blob (e.g.
  ``user_logs/std_log.txt``), plus ``error`` and ``warnings``.
- ``{api}`` is the workspace's data-plane host, ``https://{location}.api.azureml.ms`` in the public cloud
  (the SDK asks the workspace's ``discoveryUrl`` for its ``api`` key). We take it, without extra calls,
  from the job's ``Tracking`` service endpoint (``azureml://{host}/mlflow/v1.0/...``), else the stack's
  ``mlflow_tracking_uri``, else its ``location``; ``endpoint=`` or ``AMLPLATFORM_HISTORY_ENDPOINT`` override.
- Streamed files: those matching ``user_logs/std_log[\\D]*[0]*(?:_ps)?\\.txt`` (the primary process:
  ``std_log.txt``, ``std_log_process_0.txt``, ...); when none matches, the legacy
  ``azureml-logs/NN_*.txt`` files; sorted by name. ``all_files=True`` takes every ``user_logs/std_log*.txt``.
- The SDK downloads each file whole on every poll and prints the lines it has not printed yet; we ask
  for the new bytes only (``Range: bytes={offset}-``, one offset per file), which the blob service
  answers with 206, or 416 when there is nothing new.
- The SDK stops polling once the run history status leaves the in-progress states; we poll until
  Completed, Failed, Canceled (or NotResponding/Paused), then read every file once more, so the logs
  are drained.

Token scope: ``https://ml.azure.com/.default`` (the run history client's own default). The downloads
carry no token: the SAS in the URL is the credential, and it never appears in an error message.
"""

import codecs
import math
import os
import re
import time
from typing import Any, Callable, Mapping, Optional, TextIO
from urllib.parse import quote, urlsplit

from amlplatform.errors import UserError
from amlplatform.runs.rest import ArmPipeline, ServerError

ML_SCOPE = "https://ml.azure.com/.default"
HISTORY_API_VERSION = "v1.0"
ENV_HISTORY_ENDPOINT = "AMLPLATFORM_HISTORY_ENDPOINT"
STREAMED_LOG = re.compile(r"user_logs/std_log[\D]*[0]*(?:_ps)?\.txt")  # re.match: anchored at the start only
ALL_USER_LOGS = re.compile(r"user_logs/std_log.*\.txt")
LEGACY_COMMAND_LOG = re.compile(r"azureml-logs/[\d]{2}.+\.txt")
STOP_STATES = frozenset({"Completed", "Failed", "Canceled", "NotResponding", "Paused"})
DOWNLOAD_RETRY = {"retry_total": 4, "retry_status": 3, "retry_backoff_factor": 0.4, "retry_backoff_max": 30}


def _host_of(uri: Optional[str]) -> Optional[str]:
    if not isinstance(uri, str) or "://" not in uri:
        return None
    host = urlsplit(uri.strip()).netloc
    return f"https://{host}" if host else None


def history_endpoint(
    coords: Any, job: Optional[Mapping[str, Any]] = None, *, explicit: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
) -> str:
    """The run history host: explicit / ``AMLPLATFORM_HISTORY_ENDPOINT``, the job's Tracking endpoint,
    the stack's ``mlflow_tracking_uri``, the stack's ``location`` - first found wins."""
    env = os.environ if env is None else env
    if explicit or env.get(ENV_HISTORY_ENDPOINT):
        return (explicit or env[ENV_HISTORY_ENDPOINT]).rstrip("/")
    services = ((job or {}).get("properties") or {}).get("services") or {}
    tracking = (services.get("Tracking") or {}).get("endpoint") if isinstance(services, Mapping) else None
    for candidate in (_host_of(tracking), _host_of(getattr(coords, "mlflow_tracking_uri", None))):
        if candidate:
            return candidate
    location = getattr(coords, "location", None)
    if location:
        return f"https://{location.strip().lower().replace(' ', '')}.api.azureml.ms"
    raise UserError(
        "cannot tell the workspace's run history host: the job has no Tracking endpoint and the stack "
        f"outputs have neither mlflow_tracking_uri nor location (or set {ENV_HISTORY_ENDPOINT})"
    )


def streamed_logs(log_files: Mapping[str, str], *, all_files: bool = False) -> list[str]:
    """The log names azure-ai-ml streams for a command job, sorted."""
    pattern = ALL_USER_LOGS if all_files else STREAMED_LOG
    names = [n for n in log_files if pattern.match(n)]
    if not names:
        names = [n for n in log_files if LEGACY_COMMAND_LOG.match(n)]
    return sorted(names)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{quote(parts.path)}"


def default_delay(elapsed: float, low: float = 2.0, high: float = 60.0) -> float:
    """Seconds to wait before the next poll: a sigmoid of the time spent so far, ~2 s at first, ~60 s after
    a few minutes (the shape azure-ai-ml polls with)."""
    return max(low, min(high, high / (1.0 + 100.0 * math.exp(-elapsed / 20.0))))


class LogReader:
    """Byte offsets per log name; ``read_new`` downloads only what was added since the last call."""

    def __init__(self, pipeline: Any) -> None:
        self._pipeline = pipeline
        self.offsets: dict[str, int] = {}

    def read_new(self, name: str, url: str) -> bytes:
        from azure.core.exceptions import AzureError
        from azure.core.rest import HttpRequest

        offset = self.offsets.get(name, 0)
        request = HttpRequest("GET", url, headers={"Range": f"bytes={offset}-", "x-ms-range": f"bytes={offset}-"})
        try:
            response = self._pipeline.send_request(request)
            response.read()
        except AzureError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            first = re.sub(r"sig=[^&\s'\"]+", "sig=REDACTED", first)  # transport errors quote the URL
            raise UserError(f"download of log {name} from {_redact(url)} failed: {first}") from None
        status = response.status_code
        if status in (404, 416):  # not written yet / nothing new
            return b""
        if status == 206:
            data = response.content
            start = _content_range_start(response.headers.get("Content-Range"))
            if start is not None and start != offset:
                raise UserError(f"download of log {name} from {_redact(url)}: asked for bytes from {offset}, got from {start}")
            self.offsets[name] = offset + len(data)
        elif status == 200:  # the server ignored the range and sent the whole file
            whole = response.content
            data = whole[offset:] if len(whole) >= offset else whole  # shorter than before: rewritten, print it all
            self.offsets[name] = len(whole)
        else:
            raise UserError(f"download of log {name} from {_redact(url)}: the storage service answered {status}")
        return data


def _content_range_start(value: Optional[str]) -> Optional[int]:
    m = re.match(r"bytes (\d+)-", value or "")
    return int(m.group(1)) if m else None


def _download_pipeline(transport: Any = None, retry: Optional[Mapping[str, Any]] = None) -> Any:
    """Plain HTTP GETs of SAS URLs through azure-core (retries honouring Retry-After), no auth policy."""
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import (
        HeadersPolicy, HttpLoggingPolicy, ProxyPolicy, RequestIdPolicy, RetryPolicy, UserAgentPolicy,
    )

    from amlplatform.runs.rest import _version

    policies = [
        RequestIdPolicy(),
        HeadersPolicy(),
        UserAgentPolicy(sdk_moniker=f"amlplatform/{_version()}", user_agent_use_env=True),
        ProxyPolicy(),
        RetryPolicy(**{**DOWNLOAD_RETRY, **(retry or {})}),
        HttpLoggingPolicy(),
    ]
    return PipelineClient(base_url="", policies=policies, transport=transport)


class RunHistoryClient:
    """Run history calls of one workspace (scope ``https://ml.azure.com/.default``) and log downloads."""

    def __init__(
        self,
        coords: Any,
        *,
        endpoint: str,
        credential: Any = None,
        transport: Any = None,
        retry: Optional[Mapping[str, Any]] = None,
        download_transport: Any = None,
        download_retry: Optional[Mapping[str, Any]] = None,
        logging_enable: bool = False,
    ) -> None:
        self.coords = coords
        self.pipeline = ArmPipeline(
            endpoint, api_version=HISTORY_API_VERSION, credential=credential, transport=transport, retry=retry,
            logging_enable=logging_enable, scope=ML_SCOPE,
        )
        self.downloads = _download_pipeline(download_transport, download_retry)
        self._w = coords.workspace_id

    def close(self) -> None:
        self.pipeline.close()
        self.downloads.close()

    def __enter__(self) -> "RunHistoryClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def get_details(self, job_name: str) -> dict[str, Any]:
        """``RunDetails`` of the job: checked for ``status`` (text) and ``logFiles`` (name -> URL)."""
        path = f"/history/v1.0{self._w}/runs/{job_name}/details"
        label = f"read the run details (GET {path})"
        try:
            answer = self.pipeline.call("read the run details", "GET", path)
        except ServerError as exc:
            if exc.status == 404:
                raise UserError(f"no run named {job_name!r} in the run history of workspace "
                                f"{self.coords.workspace_name}") from None
            raise
        body = answer.body
        if not isinstance(body, dict):
            raise UserError(f"{label}: the service's answer is not a JSON object")
        status = body.get("status")
        if not isinstance(status, str) or not status:
            raise UserError(f"{label}: the service's answer has {'no' if status is None else 'a bad'} 'status'"
                            + ("" if status is None else f": {status!r}"))
        files = body.get("logFiles")
        if files is None:
            body["logFiles"] = {}  # nothing written yet (a queued job)
        elif not isinstance(files, dict):
            raise UserError(f"{label}: the service's answer has a bad 'logFiles': expected a map of log name to URL")
        else:
            for name, url in files.items():
                if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
                    raise UserError(f"{label}: the service's answer has a bad 'logFiles.{name}': not a URL")
        return body

    def get_log_files(self, job_name: str) -> dict[str, str]:
        """Every log file of the job: name -> SAS URL."""
        return dict(self.get_details(job_name)["logFiles"])

    def stream_logs(
        self,
        job_name: str,
        out: TextIO,
        *,
        follow: bool = True,
        sleep: Optional[Callable[[float], None]] = None,
        delay: Callable[[float], float] = default_delay,
        on_status: Optional[Callable[[str, dict[str, Any]], None]] = None,
        all_files: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> dict[str, Any]:
        """Print what the job's logs gained since the last look, until the job ends (``follow``) or once.

        Each file gets a ``Streaming <name>`` header before its first bytes (as azure-ai-ml prints).
        Returns the last run details (``status``, ``error``, ``warnings``).
        """
        sleep = sleep or time.sleep
        reader = LogReader(self.downloads)
        decoders: dict[str, Any] = {}
        start = clock()
        last = None
        while True:
            details = self.get_details(job_name)
            status = details["status"]
            if on_status is not None and status != last:
                on_status(status, details)
            last = status
            files = details["logFiles"]
            for name in streamed_logs(files, all_files=all_files):
                data = reader.read_new(name, files[name])
                if not data:
                    continue
                if name not in decoders:
                    decoders[name] = codecs.getincrementaldecoder("utf-8")(errors="replace")
                    out.write(f"\nStreaming {name}\n{'=' * (len(name) + 10)}\n\n")
                out.write(decoders[name].decode(data))
            out.flush()
            if not follow or status in STOP_STATES:
                for name, decoder in decoders.items():
                    tail = decoder.decode(b"", final=True)
                    if tail:
                        out.write(tail)
                out.flush()
                return details
            sleep(delay(clock() - start))


# The workspace's MLflow tracking server (azureml-examples sdk/python/using-mlflow/using-rest-api/
# using_mlflow_rest_api.ipynb): https://{location}.api.azureml.ms/mlflow/v1.0<workspace id>/api/2.0/mlflow/...,
# with an ARM token (resource https://management.azure.com); the MLflow run id of a job is its name.
MLFLOW_PREFIX = "/mlflow/v1.0"


def job_metrics(coords: Any, job_name: str, *, endpoint: str, credential: Any = None, transport: Any = None,
                retry: Optional[Mapping[str, Any]] = None) -> dict[str, float]:
    """``{metric: latest value}`` of a job: MLflow REST ``GET .../api/2.0/mlflow/runs/get?run_id=<job>``
    (``run.data.metrics``: the latest value of each key, mlflow.org REST API ``Run``/``RunData``/``Metric``)."""
    path = f"{MLFLOW_PREFIX}{coords.workspace_id}/api/2.0/mlflow/runs/get"
    label = f"read the job's metrics (GET {path})"
    pipeline = ArmPipeline(endpoint, api_version=None, credential=credential, transport=transport, retry=retry)
    try:
        try:
            answer = pipeline.call("read the job's metrics", "GET", path, params={"run_id": job_name})
        except ServerError as exc:
            if exc.status == 404:
                raise UserError(f"no MLflow run named {job_name!r} in the tracking store of workspace "
                                f"{coords.workspace_name}") from None
            raise
    finally:
        pipeline.close()
    data = ((answer.body or {}).get("run") or {}).get("data") if isinstance(answer.body, dict) else None
    metrics = (data or {}).get("metrics") or []
    if not isinstance(metrics, list):
        raise UserError(f"{label}: the service's answer has a bad 'run.data.metrics': expected a list")
    out: dict[str, float] = {}
    for m in metrics:
        if not isinstance(m, Mapping) or not isinstance(m.get("key"), str) or not isinstance(m.get("value"), (int, float)):
            raise UserError(f"{label}: the service's answer has a bad metric: {m!r}")
        out[m["key"]] = float(m["value"])
    return dict(sorted(out.items()))


def details_error(details: Mapping[str, Any]) -> Optional[str]:
    """The error message of failed run details (``error.error.message`` or ``error.message``), if any."""
    err = details.get("error")
    if not isinstance(err, Mapping):
        return None
    inner = err.get("error") if isinstance(err.get("error"), Mapping) else err
    code, message = inner.get("code"), inner.get("message")
    if not (code or message):
        return None
    return f"{code}: {message}" if code and message else str(code or message)
