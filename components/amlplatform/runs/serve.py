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
415 (not ``application/json``), 421 (a ``Host`` that is not a loopback name), 503 (too many connections),
500 (the script or model raised: the exception type, and its message on a loopback server only; the
traceback goes to the log, never to the client).

Hardening (docs/serve.md says why, with sources):

- every connection has ``timeout`` seconds to send each whole request (headers and body), counted from
  the connection's start or its previous answer: a silent, half-open or trickling client is dropped;
- at most ``max_connections`` connections are served at once (one thread each); the next ones get a
  503 and are closed at once, so a flood of idle sockets holds the server for ``timeout`` at most;
- a server on a loopback address answers only to ``Host: localhost``, ``127.0.0.1`` or ``[::1]`` with its
  port (DNS rebinding); a non-loopback host needs a key (the command line generates one);
- ``POST /score`` needs ``Content-Type: application/json`` (a web page cannot send it cross-origin
  without a CORS preflight, which this server never grants);
- a body left unread by an error answer is read and dropped when small, else the connection is
  closed: it is never parsed as a second request;
- the ``Server`` header carries no version; ``stop()`` closes idle connections at once, lets the
  requests in flight finish for a short grace, then cuts them.

One request is scored at a time (a lock around ``run()`` / ``predict()``), as azmlinfsrv's default of
one worker does. The standard library's server suffices for a local test server; no web framework is added.
"""

import hmac
import importlib.util
import io
import ipaddress
import json
import os
import socket
import socketserver
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
# Managed online endpoints document no request-size limit (learn.microsoft.com/azure/machine-learning/
# how-to-manage-quotas, "Azure Machine Learning online endpoints": 180 s request time-out, 500 active
# connections, 5 MBPS per endpoint); a few MiB holds any JSON scoring request a local test sends.
DEFAULT_MAX_BODY = 4 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0  # seconds a client has to send each whole request
DEFAULT_MAX_CONNECTIONS = 64
DRAIN_LIMIT = 64 * 1024  # an unread body up to this size is read and dropped; a larger one closes the connection
STOP_GRACE = 0.5  # seconds stop() lets the requests in flight finish
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
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


def is_loopback(host: str) -> bool:
    """Whether ``--host`` is this machine only: ``localhost`` or an address in 127.0.0.0/8 or ``::1``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost, or "" (every interface)


def split_host(header: str) -> tuple[str, Optional[int]]:
    """``Host`` header -> (name, port or None); ``[::1]:5001`` -> ``("[::1]", 5001)``. ValueError if malformed."""
    header = header.strip()
    if header.startswith("["):
        end = header.find("]")
        if end < 0:
            raise ValueError(header)
        name, rest = header[: end + 1], header[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError(header)
        port = rest[1:] if rest else None
    else:
        name, sep, port_text = header.rpartition(":")
        if not sep:
            name, port = header, None
        else:
            port = port_text
    if not name:
        raise ValueError(header)
    if port is None:
        return name.lower(), None
    if not port.isdigit():
        raise ValueError(header)
    return name.lower(), int(port)


def is_json_media_type(value: Optional[str]) -> bool:
    """``application/json`` or ``application/<x>+json``, parameters (``; charset=utf-8``) allowed: what
    Flask's ``request.is_json`` accepts, which azmlinfsrv checks (415 otherwise)."""
    if not value:
        return False
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


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
                                              "413": {"description": "the body is over the size limit"},
                                              "415": {"description": "the body is not application/json"},
                                              "500": {"description": "the scoring code raised"}}}},
        },
    }
    if key_required:
        doc["securityDefinitions"] = {"Bearer": {"type": "apiKey", "name": "Authorization", "in": "header",
                                                 "description": "Bearer <key>"}}
        doc["security"] = [{"Bearer": []}]
    return doc


class ScoringServer:
    """A threaded HTTP server around one scorer. ``start()`` binds and serves in a thread; ``url``.

    ``timeout``: seconds a connection has to send each whole request; ``max_connections``: connections
    served at once (more are answered 503 and closed); ``log``: where errors, dropped connections and (with
    ``access_log``) one line per request are written."""

    def __init__(
        self,
        scorer: Any,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        key: Optional[str] = None,
        max_body: int = DEFAULT_MAX_BODY,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        deployment: Optional[str] = None,
        log: Optional[TextIO] = None,
        access_log: bool = True,
    ) -> None:
        if key is not None and not key.strip():
            raise UserError("the key is empty: give a non-empty --key, or none to serve without auth")
        if not is_loopback(host) and not key:
            raise UserError(f"--host {host or '(every interface)'} is reachable from other machines: a key is required "
                            "(--key-env VAR or --key; the command line generates one when none is given)")
        if max_body <= 0:
            raise UserError(f"--max-body must be a positive number of bytes, got {max_body}")
        if not timeout > 0:
            raise UserError(f"--timeout must be a positive number of seconds, got {timeout}")
        if max_connections < 1:
            raise UserError(f"--max-connections must be at least 1, got {max_connections}")
        self.scorer = scorer
        self.host, self.port = host, int(port)
        self.loopback = is_loopback(host)
        self.key = key.encode("utf-8") if key else None
        self.max_body = int(max_body)
        self.timeout = float(timeout)
        self.max_connections = int(max_connections)
        self.deployment = deployment or "local"
        self.log, self.access_log = log, access_log
        self.lock = threading.Lock()
        self.closing = False
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._hosts: frozenset[str] = frozenset()
        self._server: Optional[_Server] = None
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

        self.closing = False
        try:
            self._server = _Server((self.host, self.port), Handler, self)
        except OSError as exc:
            raise UserError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc} (pick another --port)") from None
        bound = str(self._server.server_address[0])
        self._hosts = frozenset({*LOOPBACK_NAMES, f"[{bound}]" if ":" in bound else bound, self.host.lower()})
        return self

    def start(self) -> "ScoringServer":
        if self._server is None:
            self.bind()
        assert self._server is not None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="amlplatform-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Bind (if not yet) and serve in this thread until ``stop()`` or Ctrl-C."""
        if self._server is None:
            self.bind()
        assert self._server is not None
        self._server.serve_forever()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop listening; close the idle connections now; let the requests in flight finish for ``grace``
        seconds, then cut what is left. Returns in about ``grace`` seconds at most."""
        server, self._server = self._server, None
        if server is None:
            return
        self.closing = True
        if self._thread is not None:
            server.shutdown()  # ends serve_forever in its thread (polls every 0.5 s at most)
            self._thread = None
        server.server_close()  # the listening socket: no connection is accepted any more
        # a handler waiting for its next request reads end-of-file and ends; one scoring a request still
        # writes its answer (reads end, writes do not)
        for sock in self._open_connections():
            _shutdown(sock, socket.SHUT_RD)
        deadline = time.monotonic() + grace
        while self._open_connections() and time.monotonic() < deadline:
            time.sleep(0.01)
        for sock in self._open_connections():
            _shutdown(sock, socket.SHUT_RDWR)

    def __enter__(self) -> "ScoringServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- used by the handler

    def host_allowed(self, header: Optional[str]) -> bool:
        """A loopback server answers only to its loopback names with its own port (DNS rebinding: a page
        on evil.example whose name now resolves to 127.0.0.1 still sends ``Host: evil.example``)."""
        if not self.loopback:
            return True
        if not header:
            return False
        try:
            name, port = split_host(header)
        except ValueError:
            return False
        served = self._server.server_address[1] if self._server is not None else self.port
        return name in self._hosts and (port == served or (port is None and served == 80))

    def authorized(self, header: Optional[str]) -> bool:
        if self.key is None:
            return True
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer":  # auth schemes are case-insensitive (RFC 9110, section 11.1)
            return False
        return hmac.compare_digest(token.strip().encode("utf-8"), self.key)

    def score(self, body: str) -> Any:
        with self.lock:
            return self.scorer.score(body)

    def write_log(self, line: str) -> None:
        if self.log is not None:
            try:
                self.log.write(line if line.endswith("\n") else line + "\n")
                self.log.flush()
            except (OSError, ValueError):
                pass  # a closed or broken log stream never stops serving

    def _open_connections(self) -> list[socket.socket]:
        with self._conns_lock:
            return list(self._conns)

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(sock)


def _shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass  # already closed by the client or the handler


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode("utf-8")


class _Server(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with a bounded number of connection threads: over the cap, a connection is
    answered ``503`` and closed by the accepting thread, without reading from it."""

    daemon_threads = True
    request_queue_size = 128  # the listen backlog: connections waiting to be accepted

    def __init__(self, address: tuple[str, int], handler: type, owner: ScoringServer) -> None:
        self.owner = owner
        self._refusals_logged_at = float("-inf")
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # not HTTPServer's, which looks the host up in DNS (getfqdn)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port

    def process_request(self, request: Any, client_address: Any) -> None:
        owner = self.owner
        if owner.closing or not owner._slots.acquire(blocking=False):
            self._refuse(request, client_address)
            return
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address),
                                  name="amlplatform-serve-conn", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no thread can be started: treat as over the cap
            owner._slots.release()
            self._refuse(request, client_address)

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self.owner._slots.release()

    def _refuse(self, request: socket.socket, client_address: Any) -> None:
        body = _error_body("TooManyConnections",
                           f"this server serves {self.owner.max_connections} connections at once (--max-connections); retry")
        head = (f"HTTP/1.1 503 Service Unavailable\r\nServer: {_Handler.server_version}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nRetry-After: 1\r\n"
                "Connection: close\r\n\r\n").encode("ascii")
        try:
            request.setblocking(False)  # a fresh socket's send buffer takes this at once; never wait on a client
            request.send(head + body)
        except OSError:
            pass
        self.shutdown_request(request)
        now = time.monotonic()
        if now - self._refusals_logged_at > 5:  # one line per 5 s at most, however many are refused
            self._refusals_logged_at = now
            self.owner.write_log(f"{client_address[0]}: connection refused (503): {self.owner.max_connections} "
                                 "connections are being served (--max-connections)")

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return  # the client went away or was too slow: nothing to report
        self.owner.write_log(f"connection from {client_address[0]}: {type(exc).__name__}: {exc}\n"
                             f"{traceback.format_exc()}")


class _DeadlineReader(io.RawIOBase):
    """The socket, read with a deadline for the whole request rather than a timeout per ``recv`` (which
    a client sending one byte every few seconds would never trigger)."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock, self.timeout = sock, timeout
        self.deadline = time.monotonic() + timeout

    def readable(self) -> bool:
        return True

    def arm(self) -> None:
        self.deadline = time.monotonic() + self.timeout

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete request within {self.timeout:g} s")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    server_owner: ScoringServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "amlplatform-serve"  # and no "BaseHTTP/x Python/y" (see version_string)

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        owner = self.server_owner
        self.rfile.close()  # the buffered reader over the socket, replaced by one with a deadline
        self._reader = _DeadlineReader(self.connection, owner.timeout)
        self.rfile = io.BufferedReader(self._reader, 64 * 1024)
        self._unread: Optional[int] = 0
        owner._track(self.connection, True)

    def finish(self) -> None:
        self.server_owner._track(self.connection, False)
        super().finish()

    def handle_one_request(self) -> None:
        self._reader.arm()  # the client has `timeout` seconds from now to send the whole next request
        self._unread = 0
        self._request_id = str(uuid.uuid4())
        super().handle_one_request()  # a TimeoutError while reading ends the connection (log_error)
        if not self.close_connection and self._unread:
            self._drain()
        if self.server_owner.closing:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is written by _send when the access log is on

    def log_error(self, format: str, *args: Any) -> None:
        owner = self.server_owner
        if format.startswith("Request timed out"):  # the standard library's words for our deadline
            return owner.write_log(f"{self.client_address[0]}: connection dropped: no complete request within "
                                   f"{owner.timeout:g} s (--timeout)")
        owner.write_log(f"{self.client_address[0]}: {format % args}")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ---- the body

    def _body_framing(self) -> Optional[int]:
        """Bytes of body the request announces, or None when it cannot be known safely (chunked, several or
        malformed Content-Length: RFC 9112 section 6.3 says to close the connection after answering)."""
        if self.headers.get("Transfer-Encoding") is not None:
            return None
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return 0
        if len(lengths) > 1:
            return None
        text = lengths[0].strip()
        return int(text) if text.isdigit() else None

    def _drain(self) -> None:
        """Read and drop the body an error answer left unread, so it is not taken for the next request;
        too large, unknown or too slow: the connection is closed instead."""
        left = self._unread
        self._unread = 0
        if left is None or left > DRAIN_LIMIT:
            self.close_connection = True
            return
        try:
            while left > 0:
                chunk = self.rfile.read(min(left, 16 * 1024))
                if not chunk:
                    break
                left -= len(chunk)
        except (TimeoutError, OSError):
            self.close_connection = True

    # ---- routes

    def _dispatch(self, method: str) -> None:
        self._t0 = time.perf_counter()
        self._unread = self._body_framing()
        owner = self.server_owner
        path = self.path.split("?", 1)[0]
        if not owner.host_allowed(self.headers.get("Host")):
            shown = (self.headers.get("Host") or "")[:100]
            port = owner._server.server_address[1] if owner._server is not None else owner.port
            return self._error(421, "HostNotAllowed",
                               f"Host {shown!r} is not a name of this server: on a loopback address it answers to "
                               f"localhost, 127.0.0.1 or [::1] with port {port} only (give --host to serve other names)")
        if path == "/":
            if method != "GET":
                return self._error(405, "MethodNotAllowed", f"{method} / is not supported; GET / is the health check", allow="GET")
            return self._send(200, HEALTHY, "text/plain; charset=utf-8")
        if path not in ("/score", "/swagger.json"):
            return self._error(404, "NotFound", f"no route {path[:200]}; the routes are GET /, POST /score, GET /swagger.json")
        if not owner.authorized(self.headers.get("Authorization")):
            return self._error(401, "Unauthorized", "missing or wrong key: send 'Authorization: Bearer <key>'",
                               extra={"WWW-Authenticate": "Bearer"})
        if path == "/swagger.json":
            if method != "GET":
                return self._error(405, "MethodNotAllowed", "GET /swagger.json only", allow="GET")
            return self._json(200, swagger(owner.key is not None))
        if method != "POST":
            return self._error(405, "MethodNotAllowed", f"{method} /score is not supported; POST the request body", allow="POST")
        if not is_json_media_type(self.headers.get("Content-Type")):
            # azmlinfsrv answers 415 "Expects Content-Type to be application/json" for a run() with an input
            # schema (microsoft/azureml-inference-server, azureml_inference_server_http/server/input_parsers.py,
            # ObjectInput); required here for every request, as it keeps web pages from posting cross-origin
            return self._error(415, "UnsupportedMediaType",
                               f"send the body with Content-Type: application/json "
                               f"(got {(self.headers.get('Content-Type') or 'none')[:100]!r})")
        if self.headers.get("Transfer-Encoding") is not None or self.headers.get("Content-Length") is None:
            return self._error(411, "LengthRequired", "send the body with a Content-Length header")
        length = self._unread
        if length is None:
            return self._error(400, "BadContentLength", "Content-Length must be one non-negative whole number")
        if length > owner.max_body:
            self._unread = None  # never drained: a body declared too large is not read at all (connection closed)
            return self._error(413, "PayloadTooLarge", f"the body is {length} bytes; the limit is {owner.max_body} (--max-body)")
        raw = self.rfile.read(length) if length else b""
        self._unread = 0
        if len(raw) < length:
            self.close_connection = True
            return  # the client closed before sending its whole body: no one to answer
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._error(400, "NotUtf8", "the request body is not UTF-8 text")
        try:
            result = owner.score(text)
        except ScoringError as exc:
            return self._error(exc.status, exc.code, exc.message)
        except Exception as exc:
            owner.write_log(f"scoring failed (request {self._request_id}): {type(exc).__name__}: {exc}\n"
                            f"{traceback.format_exc()}")
            # azmlinfsrv answers "An unexpected error occurred in scoring script. Check the logs for more info."
            # (server/routes.py, handle_score); on this machine the exception's message helps and stays here
            detail = f"{type(exc).__name__}: {exc}" if owner.loopback else type(exc).__name__
            return self._error(500, "ScoringError", f"the scoring code raised {detail} (the traceback is in the "
                                                    f"server's log, request {self._request_id})")
        try:
            payload = json.dumps(to_jsonable(result)).encode("utf-8")
        except (TypeError, ValueError) as exc:
            return self._error(500, "ResultNotJson", f"the scoring result cannot be sent as JSON: {exc}")
        self._send(200, payload, "application/json")

    # ---- answers

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def _error(self, status: int, code: str, message: str, *, allow: Optional[str] = None,
               extra: Optional[dict[str, str]] = None) -> None:
        headers = dict(extra or {})
        if allow:
            headers["Allow"] = allow
        self._send(status, _error_body(code, message), "application/json", headers)

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """The standard library's own errors (bad request line, 414, 431, 501 unknown method), as JSON
        errors; the connection is closed after them, as the standard library does."""
        short = self.responses.get(code, ("Error", ""))[0]
        self.log_error("code %d, message %s", code, message or short)
        self.close_connection = True
        self._unread = None
        self._send(code, _error_body(short.replace(" ", ""), message or short), "application/json")

    def _send(self, status: int, data: bytes, content_type: str, headers: Optional[dict[str, str]] = None) -> None:
        owner = self.server_owner
        self.connection.settimeout(owner.timeout)  # a client that does not read its answer is dropped too
        if self._unread is None or (self._unread or 0) > DRAIN_LIMIT or owner.closing:
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", getattr(self, "_request_id", None) or str(uuid.uuid4()))
        request_headers = getattr(self, "headers", None)
        client_id = request_headers.get("x-ms-client-request-id") if request_headers is not None else None
        if client_id:
            self.send_header("x-ms-client-request-id", client_id[:100])  # azmlinfsrv's HEADER_LIMIT
        # a managed online endpoint names the deployment that answered in this header
        self.send_header("azureml-model-deployment", owner.deployment)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        if owner.access_log:
            ms = (time.perf_counter() - getattr(self, "_t0", time.perf_counter())) * 1000
            owner.write_log(f"{self.command} {(self.path or '')[:200]} {status} {ms:.1f} ms")
