"""Local scoring with the request/response contract of an Azure ML managed online endpoint.

``amlplatform serve MODEL`` loads a registered model (``name:version``, ``name@latest``) or a local
one (a folder or file) and answers on localhost, so a deployment can be tried before ``pulumi up``.

Routes - those of the Azure ML inference HTTP server (``azmlinfsrv``, package
``azureml-inference-server-http``; "Server Routes" in
learn.microsoft.com/azure/machine-learning/how-to-inference-server-http and its startup log
``Liveness Probe: GET /``, ``Score: POST /score``):

- ``GET /``              liveness and readiness: ``200 Healthy`` (text). The server only listens once
                         the model is loaded and ``init()`` returned, so a live server is a ready one.
                         Not behind the key: probes carry none (on Azure they do not pass the gateway).
- ``POST /score``        the scoring call. ``GET /score`` is 405 (``Allow: POST``).
- ``GET /swagger.json``  a Swagger 2.0 description of the two routes.

Scoring:

- a scoring script (``--scoring-script``, or ``score.py`` next to the model) with ``init()`` and
  ``run(raw_data)`` as Azure ML calls them: ``AZUREML_MODEL_DIR`` is set before the script is imported
  (the folder holding the model under its registered name, as Azure ML mounts it), ``init()`` runs
  once, ``run()`` gets the request body as a string and its return value is sent as JSON;
- an MLflow model folder (``MLmodel``) with no scoring script: ``mlflow.pyfunc.load_model`` and the
  request shape of Azure ML's no-code MLflow deployments (learn.microsoft.com/azure/machine-learning/
  how-to-deploy-mlflow-models-online-endpoints, "input_data"): ``{"input_data": {"columns": [...],
  "index": [...], "data": [[...]]}}`` (a pandas "split" frame), ``{"input_data": [[...]]}`` (an array)
  or ``{"input_data": {"name": [...]}}`` (named arrays); the predictions come back as a JSON list. A bare
  array is refused (400 ``MissingInputData``, the message showing it wrapped in ``input_data``), as Azure's
  no-code MLflow scoring script declares ``input_data`` a required input.

Auth: with a key (``--key`` / ``--key-env``), ``/score`` and ``/swagger.json`` need
``Authorization: Bearer <key>`` (compared in constant time); a missing or wrong key is ``401`` with
``WWW-Authenticate: Bearer``. Bad requests get JSON errors ``{"error": {"code", "message"}}``: 400 (not
JSON / no ``input_data`` / not UTF-8), 404, 405, 411 (no Content-Length), 413 (over ``max_body``),
500 (the script or model raised: the exception type and message; the traceback goes to the log).

One request is scored at a time (a lock around ``run()`` / ``predict()``), as azmlinfsrv's default of
one worker does; connections are handled by threads (``ThreadingHTTPServer``), HTTP/1.1 keep-alive.
The standard library's server suffices for a local test server; no web framework is added.
"""

import hmac
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

from amlplatform.errors import UserError
from amlplatform.runs.models import MLFLOW_MODEL, Resolved

DEFAULT_PORT = 5001  # azmlinfsrv's default port
DEFAULT_MAX_BODY = 100 * 1024 * 1024
HEALTHY = b"Healthy"


class ScoringError(Exception):
    """A request the scorer refuses: sent as a JSON error with this status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def to_jsonable(value: Any) -> Any:
    """numpy arrays and scalars, pandas frames and series -> plain JSON values."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and hasattr(value, "columns"):  # pandas DataFrame
        return to_jsonable(to_dict(orient="records"))
    tolist = getattr(value, "tolist", None)
    if callable(tolist):  # numpy arrays and scalars, pandas Series
        return to_jsonable(tolist())
    raise TypeError(f"the result is a {type(value).__name__}, which cannot be sent as JSON")


# ---------------------------------------------------------------- scorers


class ScriptScorer:
    """An Azure ML scoring script: ``init()`` once, ``run(raw_data: str)`` per request."""

    kind = "script"

    def __init__(self, script: Path, model_dir: Path) -> None:
        script = Path(script).resolve()
        if not script.is_file():
            raise UserError(f"scoring script {script} does not exist")
        os.environ["AZUREML_MODEL_DIR"] = str(Path(model_dir).resolve())
        folder = str(script.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # Azure ML runs the script from its code folder: sibling imports work
        name = f"amlplatform_score_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(name, script)
        if spec is None or spec.loader is None:
            raise UserError(f"scoring script {script} cannot be loaded as Python")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise UserError(f"scoring script {script} failed to import: {_where(exc)}") from None
        self.run: Callable[[str], Any] = getattr(module, "run", None)  # type: ignore[assignment]
        if not callable(self.run):
            raise UserError(f"scoring script {script} has no run(raw_data) function (Azure ML calls run() per request)")
        init = getattr(module, "init", None)
        if init is not None:
            if not callable(init):
                raise UserError(f"scoring script {script}: init is not a function")
            try:
                init()
            except Exception as exc:
                raise UserError(f"scoring script {script}: init() failed: {_where(exc)}") from None
        self.script = script

    def score(self, body: str) -> Any:
        return self.run(body)


class MlflowScorer:
    """An MLflow model folder served with ``mlflow.pyfunc`` and Azure ML's ``input_data`` request shape."""

    kind = "mlflow"

    def __init__(self, model_path: Path) -> None:
        try:
            import mlflow.pyfunc
        except ImportError as exc:
            raise UserError(f"serving an MLflow model needs mlflow (and the model's own packages): {exc}") from None
        try:
            self.model = mlflow.pyfunc.load_model(str(model_path))
        except Exception as exc:
            raise UserError(f"MLflow model {model_path} cannot be loaded: {_where(exc)}") from None

    @staticmethod
    def model_input(body: str) -> Any:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ScoringError(400, "InvalidJson", f"the request body is not JSON: {exc}") from None
        if not isinstance(data, dict) or "input_data" not in data:
            # Azure ML's no-code MLflow scoring script (Azure/azureml-assets, assets/training/model_management/
            # environments/mlflow-model-inference/context/mlflow_score_script.py) declares
            # ``@input_schema("input_data", ...)`` on run() (required; only "params" is optional): the managed
            # deployment takes a JSON object with "input_data", never a bare array.
            shape = ('{"input_data": {"columns": [...], "index": [...], "data": [[...]]}} (a split frame), '
                     '{"input_data": [[...]]} (an array of rows) or {"input_data": {"name": [...]}} (named arrays)')
            if isinstance(data, list):
                rows = json.dumps(data)
                if len(rows) > 200:
                    rows = rows[:200] + " ..."
                raise ScoringError(400, "MissingInputData",
                                   f'a bare JSON array is not accepted, as on an Azure ML MLflow deployment: send the rows '
                                   f'as {{"input_data": {rows}}}; the accepted shapes are {shape}')
            raise ScoringError(400, "MissingInputData", f"an MLflow deployment takes {shape}")
        payload = data["input_data"]
        import numpy as np

        if isinstance(payload, list):
            return np.asarray(payload)
        if isinstance(payload, dict) and "data" in payload:
            import pandas as pd

            extra = set(payload) - {"columns", "index", "data"}
            if extra:
                raise ScoringError(400, "BadInputData", f"input_data: unknown keys {sorted(extra)} (a split frame has columns, index, data)")
            try:
                return pd.DataFrame(data=payload["data"], columns=payload.get("columns"), index=payload.get("index"))
            except (ValueError, TypeError) as exc:
                raise ScoringError(400, "BadInputData", f"input_data is not a valid split frame: {exc}") from None
        if isinstance(payload, dict) and payload and all(isinstance(v, list) for v in payload.values()):
            return {str(k): np.asarray(v) for k, v in payload.items()}
        raise ScoringError(400, "BadInputData", "input_data must be a list, a split frame {columns, data} or named lists")

    def score(self, body: str) -> Any:
        return self.model.predict(self.model_input(body))


def bundled_script(resolved: Resolved) -> Optional[Path]:
    """The ``score.py`` inside a model folder, used when no ``--scoring-script`` is given; else ``None``."""
    inside = resolved.model_path / "score.py"
    return inside if resolved.model_path.is_dir() and inside.is_file() else None


def needs_scoring_script(resolved: Resolved) -> bool:
    """Whether ``serve`` needs ``--scoring-script`` for this model: a custom model with no ``score.py`` inside."""
    return resolved.model_type != MLFLOW_MODEL and bundled_script(resolved) is None


def load_scorer(resolved: Resolved, scoring_script: Optional[Path] = None) -> Any:
    """The scorer for a model: the given script; else MLflow for an MLflow folder; else a
    ``score.py`` inside the model folder; else an error saying what is missing."""
    if scoring_script is not None:
        return ScriptScorer(Path(scoring_script), resolved.model_dir)
    if resolved.model_type == MLFLOW_MODEL:
        return MlflowScorer(resolved.model_path)
    inside = bundled_script(resolved)
    if inside is not None:
        return ScriptScorer(inside, resolved.model_dir)
    raise UserError(f"{resolved.model_path} is a custom model: give its scoring script with --scoring-script "
                    "(a Python file with init() and run(raw_data), as for an Azure ML deployment)")


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    at = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{at}"


# ---------------------------------------------------------------- the server


def swagger(key_required: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "swagger": "2.0",
        "info": {"title": "amlplatform local scoring", "version": "1.0",
                 "description": "The routes of an Azure ML online deployment, served on this machine"},
        "schemes": ["http"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": {
            "/": {"get": {"operationId": "ServiceHealthCheck", "description": "liveness and readiness",
                          "produces": ["text/plain"], "responses": {"200": {"description": "Healthy"}}}},
            "/score": {"post": {"operationId": "RunMLService", "description": "score the request body",
                                "parameters": [{"name": "body", "in": "body", "required": True, "schema": {}}],
                                "responses": {"200": {"description": "the scoring result (JSON)"},
                                              "400": {"description": "bad request"},
                                              "401": {"description": "missing or wrong key"},
                                              "500": {"description": "the scoring code raised"}}}},
        },
    }
    if key_required:
        doc["securityDefinitions"] = {"Bearer": {"type": "apiKey", "name": "Authorization", "in": "header",
                                                 "description": "Bearer <key>"}}
        doc["security"] = [{"Bearer": []}]
    return doc


class ScoringServer:
    """A threaded HTTP server around one scorer. ``start()`` binds and serves in a thread; ``url``."""

    def __init__(
        self,
        scorer: Any,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        key: Optional[str] = None,
        max_body: int = DEFAULT_MAX_BODY,
        deployment: Optional[str] = None,
        log: Optional[TextIO] = None,
    ) -> None:
        if key is not None and not key.strip():
            raise UserError("the key is empty: give a non-empty --key, or none to serve without auth")
        self.scorer = scorer
        self.host, self.port = host, int(port)
        self.key = key.encode("utf-8") if key else None
        self.max_body = int(max_body)
        self.deployment = deployment or "local"
        self.log = log
        self.lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not started")
        host, port = self._server.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}"

    def bind(self) -> "ScoringServer":
        owner = self

        class Handler(_Handler):
            server_owner = owner

        try:
            self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        except OSError as exc:
            raise UserError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc} (pick another --port)") from None
        self._server.daemon_threads = True
        return self

    def start(self) -> "ScoringServer":
        """Bind and serve in a background thread (tests, the benchmark)."""
        if self._server is None:
            self.bind()
        assert self._server is not None
        self._thread = threading.Thread(target=self._server.serve_forever, name="amlplatform-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Bind (if not yet) and serve in this thread until ``stop()`` or Ctrl-C."""
        if self._server is None:
            self.bind()
        assert self._server is not None
        self._server.serve_forever()

    def stop(self) -> None:
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "ScoringServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def authorized(self, header: Optional[str]) -> bool:
        if self.key is None:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer "):].strip().encode("utf-8"), self.key)

    def score(self, body: str) -> Any:
        with self.lock:
            return self.scorer.score(body)


class _Handler(BaseHTTPRequestHandler):
    server_owner: ScoringServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "amlplatform-serve"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is written by _send when a log stream is set

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        self._t0 = time.perf_counter()
        owner = self.server_owner
        path = self.path.split("?", 1)[0]
        if path == "/":
            if method != "GET":
                return self._error(405, "MethodNotAllowed", f"{method} / is not supported; GET / is the health check", allow="GET")
            return self._send(200, HEALTHY, "text/plain; charset=utf-8")
        if path not in ("/score", "/swagger.json"):
            return self._error(404, "NotFound", f"no route {path}; the routes are GET /, POST /score, GET /swagger.json")
        if not owner.authorized(self.headers.get("Authorization")):
            return self._error(401, "Unauthorized", "missing or wrong key: send 'Authorization: Bearer <key>'",
                               extra={"WWW-Authenticate": "Bearer"})
        if path == "/swagger.json":
            if method != "GET":
                return self._error(405, "MethodNotAllowed", "GET /swagger.json only", allow="GET")
            return self._json(200, swagger(owner.key is not None))
        if method != "POST":
            return self._error(405, "MethodNotAllowed", f"{method} /score is not supported; POST the request body", allow="POST")
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower() or self.headers.get("Content-Length") is None:
            return self._error(411, "LengthRequired", "send the body with a Content-Length header")
        try:
            length = int(self.headers["Content-Length"])
            if length < 0:
                raise ValueError
        except ValueError:
            return self._error(400, "BadContentLength", f"Content-Length {self.headers['Content-Length']!r} is not a size")
        if length > owner.max_body:
            return self._error(413, "PayloadTooLarge", f"the body is {length} bytes; the limit is {owner.max_body}")
        raw = self.rfile.read(length) if length else b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._error(400, "NotUtf8", "the request body is not UTF-8 text")
        try:
            result = owner.score(text)
        except ScoringError as exc:
            return self._error(exc.status, exc.code, exc.message)
        except Exception as exc:
            if owner.log is not None:
                owner.log.write(f"scoring failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                owner.log.flush()
            return self._error(500, "ScoringError", f"the scoring code raised {_where(exc)}")
        try:
            payload = json.dumps(to_jsonable(result)).encode("utf-8")
        except (TypeError, ValueError) as exc:
            return self._error(500, "ResultNotJson", f"the scoring result cannot be sent as JSON: {exc}")
        self._send(200, payload, "application/json")

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def _error(self, status: int, code: str, message: str, *, allow: Optional[str] = None,
               extra: Optional[dict[str, str]] = None) -> None:
        headers = dict(extra or {})
        if allow:
            headers["Allow"] = allow
        if status in (411, 413):
            self.close_connection = True  # the body was not read: the connection cannot be reused
            headers["Connection"] = "close"
        self._send(status, json.dumps({"error": {"code": code, "message": message}}).encode("utf-8"),
                   "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: Optional[dict[str, str]] = None) -> None:
        owner = self.server_owner
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        client_id = self.headers.get("x-ms-client-request-id")
        if client_id:
            self.send_header("x-ms-client-request-id", client_id[:200])
        # a managed online endpoint names the deployment that answered in this header
        self.send_header("azureml-model-deployment", owner.deployment)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        if owner.log is not None:
            ms = (time.perf_counter() - getattr(self, "_t0", time.perf_counter())) * 1000
            owner.log.write(f"{self.command} {self.path} {status} {ms:.1f} ms\n")
            owner.log.flush()
