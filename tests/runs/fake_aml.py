"""A local fake of the Azure ML workspace endpoints the run shim calls, for tests with real parts.

- Runs ``http.server`` in a thread on 127.0.0.1 over TLS with a self-signed certificate made here
  (the production pipeline keeps ``BearerTokenCredentialPolicy``'s https rule; tests trust the
  certificate through the transport they pass in).
- Implements the REST sequence of ``design/runs.md``: code versions (list by hash, GET, PUT,
  ``startPendingUpload`` returning a real SAS for an Azurite container), environment versions,
  jobs (PUT, GET with a scripted status progression, cancel).
- Validates every request body against the published schema definitions in
  ``shared/data/aml-rest/<version>/job-definitions.json`` with ``jsonschema`` (Swagger
  discriminators expanded, unknown properties rejected, ``null`` rejected), checks the
  ``api-version`` query parameter and the bearer token, and answers with bodies shaped like the
  spec's examples.
- Run history (``GET /history/v1.0/.../runs/{job}/details?api-version=v1.0``, token for
  ``https://ml.azure.com/.default`` when ``history_token`` is set): ``status`` (the same scripted
  progression as the job GET) and ``logFiles`` - read-only SAS URLs of REAL append blobs in Azurite
  that a test writes with ``append_log`` (``on_details`` runs before each answer, to write between polls).
- Injects faults on request: a status (429 with ``Retry-After``, 500, 503) before handling, or a
  connection closed without an answer before or *after* handling (a stored job whose answer is lost).
"""

import copy
import datetime as dt
import json
import re
import socket
import ssl
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, quote, urlsplit

AML_REST = Path(__file__).resolve().parents[3] / "shared" / "data" / "aml-rest"
if not AML_REST.is_dir():  # the work tree may sit elsewhere; the shared data is at /work/shared
    AML_REST = Path("/work/shared/data/aml-rest")
COMMON_TYPES_PREFIX = "../../../../../common-types/resource-management/v3/types.json#/definitions/"
PROVIDER = "Microsoft.MachineLearningServices"

SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
RESOURCE_GROUP = "rg-aml-dev"
WORKSPACE = "mlw-dev"
TOKEN = "fake-token-for-tests"
# statuses after which a job never changes (azure-ai-ml RunHistoryConstants.TERMINAL_STATUSES)
TERMINAL = ("Completed", "Failed", "Canceled", "NotResponding", "Paused")
# recorded real answers (azure-sdk-for-python test recordings, see recordings/README.md)
RECORDINGS = Path(__file__).resolve().parent / "recordings"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((RECORDINGS / name).read_text(encoding="utf-8"))


def recorded_code_answer(code: dict[str, Any]) -> dict[str, Any]:
    """A code version as the service answers a PUT (recordings/command_job_builder.json,
    code_asset_path_update.json): ``description`` null, ``tags`` {} and ``isArchived`` false filled in, and
    ``isAnonymous`` false although the request sent true."""
    answer = copy.deepcopy(code)
    props = answer["properties"]
    answer["properties"] = {"description": None, "tags": {}, "isArchived": False, **props, "isAnonymous": False}
    return answer


def recorded_job_answer(job: dict[str, Any]) -> dict[str, Any]:
    """A job as the service answers its PUT and GET (recordings/command_job_builder.json,
    pipeline_job_create.json): every service entry with ``port``/``status``/``errorMessage``/``properties``
    null (and ``nodes`` for a pipeline), unset top-level fields filled (``componentId``/``identity`` null), each
    input with ``description`` null (and a non-literal one the default ``mode`` ReadOnlyMount), each output
    with ``description``/``uri`` null and ``mode`` ReadWriteMount. A command job also gets the run
    properties ``_azureml.ComputeTargetType`` and ``ContentSnapshotId``, ``limits`` null, ``parameters`` {},
    the default ``resources`` and the ``default`` artifact output; a pipeline job its ``azureml.*`` run
    properties (runsource, parameters, default compute and datastore, continue_on_step_failure) and
    ``sourceJobId`` null."""
    answer = copy.deepcopy(job)
    props = answer["properties"]
    kind = props.get("jobType")
    props.setdefault("description", None)
    props.setdefault("tags", {})
    for key in ("componentId", "identity"):
        props.setdefault(key, None)
    run_props = props.setdefault("properties", {})
    for service in (props.get("services") or {}).values():
        for key in ("port", "status", "errorMessage", "properties") + (("nodes",) if kind == "Pipeline" else ()):
            service.setdefault(key, None)
    for inp in (props.get("inputs") or {}).values():
        inp.setdefault("description", None)
        if inp.get("jobInputType") != "literal":
            inp.setdefault("mode", "ReadOnlyMount")
    outputs = props.get("outputs") or {}
    props["outputs"] = outputs
    for out in outputs.values():
        out.setdefault("description", None)
        out.setdefault("uri", None)
        out.setdefault("mode", "ReadWriteMount")
    if kind == "Command":
        if props.get("computeId"):
            run_props.setdefault("_azureml.ComputeTargetType", "amlctrain")
        run_props.setdefault("ContentSnapshotId", str(uuid.uuid5(uuid.NAMESPACE_URL, answer.get("id", ""))))
        props.setdefault("limits", None)
        props.setdefault("parameters", {})
        props.setdefault("environmentVariables", {})
        props["resources"] = {"instanceCount": 1, "instanceType": None, "properties": None, "shmSize": "2g",
                              "dockerArgs": None, **(props.get("resources") or {})}
        outputs.setdefault("default", {
            "description": None, "uri": f"azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{answer.get('name')}",
            "mode": "ReadWriteMount", "jobOutputType": "uri_folder"})
    elif kind == "Pipeline":
        settings = props.get("settings") or {}
        compute = props.get("computeId") or settings.get("default_compute") or ""
        literals = {k: v.get("value") for k, v in (props.get("inputs") or {}).items() if v.get("jobInputType") == "literal"}
        run_props.update({
            "azureml.DevPlatv2": "true", "azureml.runsource": "azureml.PipelineRun", "runSource": "MFE",
            "runType": "HTTP", "azureml.parameters": json.dumps(literals, separators=(",", ":")),
            "azureml.continue_on_step_failure": str(bool(settings.get("continue_on_step_failure", False))),
            "azureml.continue_on_failed_optional_input": "True",
            "azureml.defaultComputeName": compute.rsplit("/", 1)[-1],
            "azureml.defaultDataStoreName": settings.get("default_datastore", "").rsplit("/", 1)[-1] or DATASTORE,
            "azureml.pipelineComponent": "pipelinerun",
            **run_props})
        props.setdefault("sourceJobId", None)
    return answer


# ------------------------------------------------------------------------- schema


def load_definitions(api_version: str = "2025-12-01") -> dict[str, Any]:
    """The spec's definitions with common-types refs mapped into the file (as SOURCES.md says),
    plus the definitions the excerpt leaves out that pipeline and data jobs need (``add_missing_definitions``)."""
    text = (AML_REST / api_version / "job-definitions.json").read_text(encoding="utf-8")
    return add_missing_definitions(json.loads(text.replace(COMMON_TYPES_PREFIX, "#/definitions/"))["definitions"])


def add_missing_definitions(defs: dict[str, Any]) -> dict[str, Any]:
    """The published spec (azure-rest-api-specs, machinelearningservices ``mfe.json``) defines every
    ``JobInputType`` / ``JobOutputType`` subtype with the shape of the ``uri_folder`` one (``uri`` +
    ``mode``; outputs also ``assetName``/``assetVersion``) and ``PipelineJob`` (``Pipeline``: ``inputs``,
    ``outputs``, ``jobs`` and ``settings`` as free-form objects, ``sourceJobId``); our excerpt carries
    only the command-job ones, so the others are made here from those shapes."""
    defs = copy.deepcopy(defs)
    names = {"mltable": "MLTable", "custom_model": "CustomModel", "mlflow_model": "MLFlowModel",
             "triton_model": "TritonModel"}
    for kind, stem in names.items():
        for side in ("Input", "Output"):
            base = defs[f"UriFolderJob{side}"]
            d = copy.deepcopy(base)
            d["x-ms-discriminator-value"] = kind
            if side == "Output":
                d["properties"].setdefault("assetVersion", {"type": "string", "x-nullable": True})
            defs.setdefault(f"{stem}Job{side}", d)
    for side in ("Output",):
        defs["UriFolderJobOutput"]["properties"].setdefault("assetVersion", {"type": "string", "x-nullable": True})
        defs["UriFileJobOutput"]["properties"].setdefault("assetVersion", {"type": "string", "x-nullable": True})
    defs.setdefault("PipelineJob", {
        "type": "object",
        "properties": {
            "inputs": {"type": "object", "additionalProperties": {"$ref": "#/definitions/JobInput"}},
            "outputs": {"type": "object", "additionalProperties": {"$ref": "#/definitions/JobOutput"}},
            "jobs": {"type": "object", "additionalProperties": {"type": "object"}},
            "settings": {"type": "object"},
            "sourceJobId": {"type": "string", "x-nullable": True},
        },
        "allOf": [{"$ref": "#/definitions/JobBaseProperties"}],
        "x-ms-discriminator-value": "Pipeline",
    })
    return defs


def _ref_name(node: Any) -> Optional[str]:
    if isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/definitions/"):
        return node["$ref"][len("#/definitions/"):]
    return None


def prepare_definitions(defs: dict[str, Any]) -> dict[str, Any]:
    """Make Swagger 2.0 definitions checkable by a JSON Schema 2020-12 validator.

    - polymorphism: a base with ``discriminator`` becomes ``<Base>__poly`` that requires a known
      discriminator value and applies the matching subtype (``x-ms-discriminator-value``);
    - closed objects: a ``$ref`` used as a property value, map value or array item gets
      ``unevaluatedProperties: false`` so a misspelt field is an error, not silently dropped.
    """
    defs = copy.deepcopy(defs)
    subtypes: dict[str, dict[str, str]] = {}
    for name, d in defs.items():
        for part in d.get("allOf", []):
            base = _ref_name(part)
            if base and "discriminator" in defs.get(base, {}):
                subtypes.setdefault(base, {})[d.get("x-ms-discriminator-value", name)] = name
    poly = {}
    for base, subs in subtypes.items():
        key = defs[base]["discriminator"]
        poly[f"{base}__poly"] = {
            "$ref": f"#/definitions/{base}",
            "properties": {key: {"enum": sorted(subs)}},
            "required": [key],
            "allOf": [
                {"if": {"properties": {key: {"const": v}}, "required": [key]}, "then": {"$ref": f"#/definitions/{s}"}}
                for v, s in sorted(subs.items())
            ],
        }

    def rewrite(node: Any, *, in_inheritance: bool = False, site: bool = False) -> Any:
        if isinstance(node, list):
            return [rewrite(n, in_inheritance=in_inheritance) for n in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for k, v in node.items():
            if k == "allOf":
                out[k] = [rewrite(p, in_inheritance=True) for p in v]
            elif k == "properties" and isinstance(v, dict):
                out[k] = {pk: rewrite(pv, site=True) for pk, pv in v.items()}
            elif k in ("additionalProperties", "items") and isinstance(v, dict):
                out[k] = rewrite(v, site=True)
            else:
                out[k] = rewrite(v) if isinstance(v, (dict, list)) else v
        target = _ref_name(out)
        if target and not in_inheritance:
            if target in subtypes:
                out["$ref"] = f"#/definitions/{target}__poly"
            if site and defs.get(target, {}).get("type") == "object":
                out["unevaluatedProperties"] = False
        return out

    prepared = {name: rewrite(d) for name, d in defs.items()}
    prepared.update(poly)
    return prepared


_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


class SchemaChecker:
    """Validators for the request bodies, by definition name (``JobBase``, ``CodeVersion``, ...)."""

    def __init__(self, api_version: str = "2025-12-01") -> None:
        import jsonschema

        self._jsonschema = jsonschema
        self.definitions = prepare_definitions(load_definitions(api_version))
        self._format = jsonschema.FormatChecker(formats=())
        self._format.checks("duration")(lambda value: not isinstance(value, str) or bool(_DURATION.match(value)))
        self._cache: dict[str, Any] = {}

    def validator(self, name: str) -> Any:
        if name not in self._cache:
            schema = {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "definitions": self.definitions,
                "$ref": f"#/definitions/{name}",
                "unevaluatedProperties": False,
            }
            self._jsonschema.Draft202012Validator.check_schema(schema)
            self._cache[name] = self._jsonschema.Draft202012Validator(schema, format_checker=self._format)
        return self._cache[name]

    def problems(self, name: str, body: Any) -> list[str]:
        errors = sorted(self.validator(name).iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
        # a failing subschema hides its annotations, so unevaluatedProperties then flags every
        # sibling field: keep that error only where nothing deeper explains it
        paths = [tuple(e.absolute_path) for e in errors if e.validator != "unevaluatedProperties"]
        errors = [
            e for e in errors
            if e.validator != "unevaluatedProperties"
            or not any(p[: len(e.absolute_path)] == tuple(e.absolute_path) for p in paths)
        ]
        out = []
        for e in errors:
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            out.append(f"{name} {where}: {e.message}")
        return out


# ------------------------------------------------------------------------- TLS


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost: (cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-aml.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "fake-aml-cert.pem", folder / "fake-aml-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


# ------------------------------------------------------------------------- the fake


@dataclass
class Fault:
    """``kind``: "status" (answer ``status`` before handling), "drop" (close the connection before
    handling) or "drop_after" (handle the request, then close the connection without answering)."""

    kind: str
    status: int = 503
    retry_after: Optional[str] = None


@dataclass
class Call:
    method: str
    op: str
    path: str
    query: dict[str, str]
    status: Optional[int] = None  # None: connection dropped
    body: Any = None
    user_agent: str = ""


@dataclass
class BlobStore:
    """Where pending uploads go: an Azurite (or real) blob endpoint and its account key."""

    service_url: str  # e.g. http://127.0.0.1:10000/devstoreaccount1
    account_name: str
    account_key: str
    container: str = "azureml-blobstore-pending"


_W = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    + re.escape(PROVIDER)
    + r"/workspaces/(?P<ws>[^/]+)(?P<rest>/.*)?$",
    re.IGNORECASE,
)
_ROUTES = [
    ("GET", re.compile(r"^/codes/(?P<name>[^/]+)/versions$"), "code_list"),
    ("POST", re.compile(r"^/codes/(?P<name>[^/]+)/versions/(?P<version>[^/]+)/startPendingUpload$"), "pending"),
    ("PUT", re.compile(r"^/codes/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$"), "code_put"),
    ("GET", re.compile(r"^/codes/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$"), "code_get"),
    ("PUT", re.compile(r"^/environments/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$"), "env_put"),
    ("GET", re.compile(r"^/environments/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$"), "env_get"),
    ("PUT", re.compile(r"^/components/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$"), "component_put"),
    ("GET", re.compile(r"^/components/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$"), "component_get"),
    ("GET", re.compile(r"^/datastores/(?P<name>[^/]+)$"), "datastore_get"),
    ("POST", re.compile(r"^/datastores/(?P<name>[^/]+)/listSecrets$"), "datastore_secrets"),
    ("PUT", re.compile(r"^/jobs/(?P<name>[^/]+)$"), "job_put"),
    ("GET", re.compile(r"^/jobs/(?P<name>[^/]+)$"), "job_get"),
    ("POST", re.compile(r"^/jobs/(?P<name>[^/]+)/cancel$"), "job_cancel"),
]
HISTORY_PREFIX = "/history/v1.0"
_HISTORY_ROUTES = [("GET", re.compile(r"^/runs/(?P<name>[^/]+)/details$"), "history_details")]
# the workspace's MLflow tracking server (azureml-examples using_mlflow_rest_api.ipynb): ARM token, MLflow REST paths
MLFLOW_PREFIX = "/mlflow/v1.0"
_MLFLOW_ROUTES = [("GET", re.compile(r"^/api/2\.0/mlflow/runs/get$"), "mlflow_run_get")]
HISTORY_API_VERSION = "v1.0"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
_ENV_PUT_KEYS = {"image", "isAnonymous", "osType", "description", "tags", "properties", "condaFile", "isArchived"}
_COMPONENT_PUT_KEYS = {"componentSpec", "isAnonymous", "isArchived", "description", "tags", "properties"}
DATASTORE = "workspaceblobstore"
# the service's answer to a PUT of an existing code version with another codeUri (azure-ai-ml
# _artifacts/_constants.py ASSET_PATH_ERROR = "(UserError) Asset paths cannot be updated.")
ASSET_PATH_MESSAGE = "Asset paths cannot be updated."


class FakeAML:
    """One fake workspace. ``start()`` then use ``endpoint``, ``ca_file``, ``coords()``; ``stop()``.

    Inspect ``jobs``, ``codes``, ``environments``, ``calls`` and ``violations`` (request bodies that
    broke the schema: every test should end with none).
    """

    def __init__(
        self,
        blobs: BlobStore,
        cert_dir: Path,
        *,
        api_version: str = "2025-12-01",
        token: str = TOKEN,
        existing_job: str = "conflict",  # or "update": a same-body PUT of an existing job answers 200
        status_script: tuple[str, ...] = ("Queued", "Preparing", "Running", "Finalizing", "Completed"),
        verify_code_blobs: bool = True,
        blob_uri_style: Callable[[str], str] = lambda url: url,
        strict: bool = True,
    ) -> None:
        self.blobs = blobs
        self.cert_dir = Path(cert_dir)
        self.api_version = api_version
        self.token = token
        self.existing_job = existing_job
        self.status_script = tuple(status_script)
        self.verify_code_blobs = verify_code_blobs
        self.blob_uri_style = blob_uri_style
        # strict=False (benchmarks driving azure-ai-ml itself): any api-version, bodies not checked
        # against our 2025-12-01 excerpt (azure-ai-ml sends other api-versions with their own fields)
        self.strict = strict
        self.schema = SchemaChecker(api_version)
        self.examples = AML_REST / api_version / "examples"
        self.lock = threading.RLock()
        self.codes: dict[tuple[str, str], dict[str, Any]] = {}
        self.environments: dict[tuple[str, str], dict[str, Any]] = {}
        self.components: dict[tuple[str, str], dict[str, Any]] = {}
        self.datastore_container = f"azureml-blobstore-{uuid.uuid4().hex[:12]}"
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_steps: Counter[str] = Counter()
        self.pending: dict[tuple[str, str, str], str] = {}
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.faults: Callable[[str, str], Optional[Fault]] = lambda method, op: None
        self.request = threading.local()  # .headers of the request being served (for fault plans)
        self.history_token: Optional[str] = None  # run history calls need this token when set (else ``token``)
        self.logs_container = f"{blobs.container}-logs"[:63]
        self.job_logs: dict[str, list[str]] = {}  # job -> log names written with append_log
        # job -> MLflow metrics (dicts with key, value, timestamp, step) that runs/get answers
        self.metrics: dict[str, list[dict[str, Any]]] = {}
        # called (job, status) before each run details answer: write logs "between polls" here
        self.on_details: Callable[[str, str], None] = lambda job, status: None
        self.details_hook: Callable[[dict[str, Any]], Any] = lambda body: body  # rewrite a details answer
        # rewrite an answer before it is sent: (op, status, body) -> (status, body); bytes are sent raw
        self.answer_hook: Callable[[str, int, Any], tuple[int, Any]] = lambda op, status, body: (status, body)
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.ca_file: Optional[Path] = None
        self.endpoint = ""

    # ---- lifecycle

    def start(self) -> "FakeAML":
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient(self.blobs.service_url, credential={
            "account_name": self.blobs.account_name, "account_key": self.blobs.account_key})
        for container in (self.blobs.container, self.logs_container, self.datastore_container):
            try:
                service.create_container(container)
            except Exception as exc:  # ResourceExistsError when a second fake shares the container
                if "ContainerAlreadyExists" not in str(exc):
                    raise
        cert, key = make_certificate(self.cert_dir)
        self.ca_file = cert
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.endpoint = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-aml", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeAML":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def workspace_id(self) -> str:
        return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/{PROVIDER}/workspaces/{WORKSPACE}"

    def coords(self, **kwargs: Any) -> Any:
        from amlplatform.runs.coordinates import WorkspaceCoordinates

        return WorkspaceCoordinates(SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE, location="westeurope", **kwargs)

    def ops(self) -> list[str]:
        """The operations answered so far, in order (dropped ones included)."""
        return [c.op for c in self.calls]

    # ---- helpers for answers

    def example(self, relpath: str, status: str = "200") -> dict[str, Any]:
        data = json.loads((self.examples / relpath).read_text(encoding="utf-8"))
        return copy.deepcopy(data["responses"][status].get("body", {}))

    def _envelope(self, example: str, status: str, rid: str, name: str, kind: str, properties: dict[str, Any]) -> dict[str, Any]:
        body = self.example(example, status)
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body.update(id=rid, name=name, type=f"{PROVIDER}/workspaces/{kind}", properties=properties)
        body["systemData"].update(createdAt=now, lastModifiedAt=now, createdBy="tests@example.com",
                                  lastModifiedBy="tests@example.com")
        return body

    def _container(self, name: str) -> Any:
        from azure.storage.blob import ContainerClient

        c = ContainerClient(self.blobs.service_url, name, credential={
            "account_name": self.blobs.account_name, "account_key": self.blobs.account_key})
        try:
            c.create_container()
        except Exception as exc:
            if "ContainerAlreadyExists" not in str(exc):
                raise
        return c

    def _sas(self, container: Optional[str] = None) -> str:
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        return generate_container_sas(
            self.blobs.account_name,
            container or self.blobs.container,
            account_key=self.blobs.account_key,
            permission=ContainerSasPermissions(read=True, write=True, list=True, add=True, create=True),
            expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1),
        )

    def _logs(self) -> Any:
        from azure.storage.blob import ContainerClient

        return ContainerClient(self.blobs.service_url, self.logs_container, credential={
            "account_name": self.blobs.account_name, "account_key": self.blobs.account_key})

    def log_blob(self, job: str, name: str) -> str:
        return f"ExperimentRun/dcid.{job}/{name}"

    def append_log(self, job: str, name: str, data: bytes) -> None:
        """Append to a job's log file: a real append blob in Azurite (created on first use)."""
        blob = self._logs().get_blob_client(self.log_blob(job, name))
        with self.lock:
            if name not in self.job_logs.setdefault(job, []):
                blob.create_append_blob()
                self.job_logs[job].append(name)
        if data:
            blob.append_block(data)

    def _log_sas_url(self, job: str, name: str) -> str:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        blob = self.log_blob(job, name)
        sas = generate_blob_sas(self.blobs.account_name, self.logs_container, blob,
                                account_key=self.blobs.account_key, permission=BlobSasPermissions(read=True),
                                expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
        return f"{self.blobs.service_url}/{self.logs_container}/{quote(blob)}?{sas}"

    def blob_names(self, prefix: str = "", container: Optional[str] = None) -> list[str]:
        """Blob names in one container, or (default) ``<container>/<blob>`` across the pending upload containers."""
        from azure.storage.blob import ContainerClient

        names = []
        for c in ([container] if container else sorted(set(self.pending.values()))):
            client = ContainerClient(self.blobs.service_url, c, credential={
                "account_name": self.blobs.account_name, "account_key": self.blobs.account_key})
            found = [b.name for b in client.list_blobs(name_starts_with=prefix or None)]
            names += found if container else [f"{c}/{n}" for n in found]
        return sorted(names)

    def blob_metadata(self, container: str, name: str) -> dict[str, str]:
        from azure.storage.blob import ContainerClient

        client = ContainerClient(self.blobs.service_url, container, credential={
            "account_name": self.blobs.account_name, "account_key": self.blobs.account_key})
        return dict(client.get_blob_client(name).get_blob_properties().metadata or {})

    def read_blob(self, name: str, container: Optional[str] = None) -> bytes:
        from azure.storage.blob import ContainerClient

        if container is None:
            container, name = name.split("/", 1)
        client = ContainerClient(self.blobs.service_url, container, credential={
            "account_name": self.blobs.account_name, "account_key": self.blobs.account_key})
        return client.download_blob(name).readall()

    def data_blob_names(self, prefix: str = "") -> list[str]:
        return self.blob_names(prefix, container=self.datastore_container)

    # ---- operations: return (status, body); raise _Reject for a 4xx with an ARM error body

    def handle(self, op: str, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            status, answer, headers = getattr(self, f"op_{op}")(params, query, body)
        # the stored request (``jobs``, ``codes``) stays as sent; the answer has the recorded real shape
        if op in ("job_put", "job_get"):
            answer = recorded_job_answer(answer)
        elif op == "code_put":
            answer = recorded_code_answer(answer)
        return status, answer, headers

    def op_code_list(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        wanted = q.get("hash")
        if wanted is not None and q.get("hashVersion") != "202208":
            raise _Reject(400, "InvalidHashVersion", f"hashVersion must be 202208, got {q.get('hashVersion')!r}")
        items = [
            v for (name, _), v in sorted(self.codes.items())
            if (wanted is not None and v["properties"].get("properties", {}).get("hash_sha256") == wanted)
            or (wanted is None and name == p["name"])
        ]  # a hash lookup is workspace-wide, as the service's is
        listing = json.loads((self.examples / "Workspace/CodeVersion/list.json").read_text())["responses"]["200"]["body"]
        listing["value"] = items
        listing.pop("nextLink", None)
        return 200, listing, {}

    def op_pending(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        self._check("PendingUploadRequestDto", body)
        if body.get("pendingUploadType") != "TemporaryBlobReference":
            raise _Reject(400, "UserError", "pendingUploadType must be TemporaryBlobReference")
        upload_id = body.get("pendingUploadId") or uuid.uuid4().hex
        key = (p["name"], p["version"], upload_id)
        # the real answer: a fresh temporary container; blobUri names it (spelt with the explicit default
        # port on the real service: https://<account>.blob.core.windows.net:443/<container>), sasUri is a
        # container SAS on the same host written without the port
        container = self.pending.setdefault(key, str(uuid.uuid4()))  # create or get
        self._container(container)
        answer = self.example("Workspace/CodeVersion/createOrGetStartPendingUpload.json")
        answer["blobReferenceForConsumption"].update(
            blobUri=self.blob_uri_style(f"{self.blobs.service_url}/{container}"),
            storageAccountArmId=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
            f"Microsoft.Storage/storageAccounts/{self.blobs.account_name}",
        )
        answer["blobReferenceForConsumption"]["credential"].update(
            credentialType="SAS", sasUri=f"{self.blobs.service_url}/{container}?{self._sas(container)}"
        )
        answer.update(pendingUploadId=upload_id, pendingUploadType="TemporaryBlobReference")
        return 200, answer, {}

    def op_code_put(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        self._check("CodeVersion", body)
        props = body["properties"]
        uri = urlsplit(props.get("codeUri", ""))
        service = urlsplit(self.blobs.service_url)
        parts = uri.path[len(service.path):].strip("/").split("/", 1) if uri.path.startswith(service.path) else []
        container = parts[0] if parts else ""
        folder = parts[1] if len(parts) > 1 else ""
        default = {"https": 443, "http": 80}
        if (uri.hostname, uri.port or default.get(uri.scheme)) != (service.hostname, service.port or default.get(service.scheme)) \
                or container not in set(self.pending.values()):
            raise _Reject(400, "UserError", f"codeUri {props.get('codeUri')!r} is not a pending upload of this workspace")
        if self.verify_code_blobs and not self.blob_names(folder + "/" if folder else "", container=container):
            raise _Reject(400, "UserError", f"nothing was uploaded to {props['codeUri']}")
        key = (p["name"], p["version"])
        stored_props = {**props, "provisioningState": "Succeeded"}
        if key in self.codes:
            if self.codes[key]["properties"] == stored_props:
                return 200, self.codes[key], {}
            # the real answer to a second PUT with another codeUri
            raise _Reject(409, "UserError", ASSET_PATH_MESSAGE)
        rid = f"{self.workspace_id}/codes/{p['name']}/versions/{p['version']}"
        self.codes[key] = self._envelope("Workspace/CodeVersion/createOrUpdate.json", "201", rid, p["version"],
                                         "codes/versions", stored_props)
        return 201, self.codes[key], {}

    def op_code_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if (p["name"], p["version"]) not in self.codes:
            raise _Reject(404, "ResourceNotFound", "code version not found")
        return 200, self.codes[(p["name"], p["version"])], {}

    def op_env_put(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        # EnvironmentVersion is not among the published definitions we carry: check its shape by hand
        props = body.get("properties") if isinstance(body, dict) else None
        problems = []
        if not isinstance(props, dict) or set(body) != {"properties"}:
            problems.append("EnvironmentVersion: body must be {'properties': {...}}")
        else:
            problems += [f"EnvironmentVersion properties/{k}: unknown" for k in set(props) - _ENV_PUT_KEYS]
            if not isinstance(props.get("image"), str) or not props["image"]:
                problems.append("EnvironmentVersion properties/image: required text")
        if problems:
            self.violations.extend(problems)
            raise _Reject(400, "UserError", "; ".join(problems))
        key = (p["name"], p["version"])
        if key in self.environments:
            if self.environments[key]["properties"]["image"] == props["image"]:
                return 200, self.environments[key], {}
            raise _Reject(409, "Conflict", "environment version exists with another image")
        rid = f"{self.workspace_id}/environments/{p['name']}/versions/{p['version']}"
        self.environments[key] = self._envelope("Workspace/EnvironmentVersion/createOrUpdate.json", "201", rid,
                                                p["version"], "environments/versions",
                                                {**props, "environmentType": "UserCreated"})
        return 201, self.environments[key], {}

    def op_env_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if (p["name"], p["version"]) not in self.environments:
            raise _Reject(404, "ResourceNotFound", "environment version not found")
        return 200, self.environments[(p["name"], p["version"])], {}

    def op_component_put(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        # ComponentVersion is not among the definitions we carry: check its shape by hand
        props = body.get("properties") if isinstance(body, dict) else None
        problems = []
        if not isinstance(props, dict) or set(body) != {"properties"}:
            problems.append("ComponentVersion: body must be {'properties': {...}}")
        else:
            problems += [f"ComponentVersion properties/{k}: unknown" for k in set(props) - _COMPONENT_PUT_KEYS]
            spec = props.get("componentSpec")
            if not isinstance(spec, dict) or spec.get("type") != "command" or not spec.get("command"):
                problems.append("ComponentVersion properties/componentSpec: a command component (type, command) is required")
            else:
                env = spec.get("environment", "")
                if env.startswith("/subscriptions/") and env.lower() not in {v["id"].lower() for v in self.environments.values()}:
                    problems.append(f"componentSpec/environment {env!r} does not exist")
                if spec.get("code") and spec["code"].lower() not in {v["id"].lower() for v in self.codes.values()}:
                    problems.append(f"componentSpec/code {spec['code']!r} is not a code version of this workspace")
        if problems:
            self.violations.extend(problems)
            raise _Reject(400, "UserError", "; ".join(problems))
        key = (p["name"], p["version"])
        if key in self.components:
            if self.components[key]["properties"]["componentSpec"] == props["componentSpec"]:
                return 200, self.components[key], {}
            raise _Reject(409, "UserError", "component version exists with other content")
        rid = f"{self.workspace_id}/components/{p['name']}/versions/{p['version']}"
        self.components[key] = self._envelope("Workspace/CodeVersion/createOrUpdate.json", "201", rid, p["version"],
                                              "components/versions", {**props, "provisioningState": "Succeeded"})
        return 201, self.components[key], {}

    def op_component_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if (p["name"], p["version"]) not in self.components:
            raise _Reject(404, "ResourceNotFound", "component version not found")
        return 200, self.components[(p["name"], p["version"])], {}

    def op_datastore_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if p["name"] != DATASTORE:
            raise _Reject(404, "UserError", f"datastore {p['name']} not found")
        answer = self.example("Datastore/get.json")
        answer.update(id=f"{self.workspace_id}/datastores/{DATASTORE}", name=DATASTORE,
                      type=f"{PROVIDER}/workspaces/datastores")
        answer["properties"].update(isDefault=True, accountName=self.blobs.account_name,
                                    containerName=self.datastore_container, description=None, tags={})
        return 200, answer, {}

    def op_datastore_secrets(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if p["name"] != DATASTORE:
            raise _Reject(404, "UserError", f"datastore {p['name']} not found")
        answer = self.example("Datastore/listSecrets.json")
        answer["key"] = self.blobs.account_key
        return 200, answer, {}

    def op_job_put(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        self._check("JobBase", body)
        name = p["name"]
        if not _NAME.match(name):
            raise _Reject(400, "UserError", f"job name {name!r} is not valid")
        props = body["properties"]
        codes = {v["id"].lower() for v in self.codes.values()}
        if props.get("codeId") and props["codeId"].lower() not in codes:
            raise _Reject(400, "UserError", f"codeId {props['codeId']!r} is not a code version of this workspace")
        env = props.get("environmentId", "")
        if env.startswith("/subscriptions/") and env.lower() not in {v["id"].lower() for v in self.environments.values()}:
            raise _Reject(400, "UserError", f"environmentId {env!r} does not exist")
        compute = props.get("computeId")
        if (compute is not None or props.get("jobType") == "Command") and not re.match(
                re.escape(self.workspace_id) + r"/computes/[^/]+$", compute or "", re.I):
            raise _Reject(400, "UserError", f"computeId {props.get('computeId')!r} is not a compute of this workspace")
        components = {v["id"].lower() for v in self.components.values()}
        for step, node in (props.get("jobs") or {}).items():
            if str(node.get("componentId", "")).lower() not in components:
                raise _Reject(400, "UserError", f"jobs.{step}.componentId {node.get('componentId')!r} is not a component "
                              "of this workspace")
        for iname, inp in (props.get("inputs") or {}).items():
            uri = inp.get("uri") or ""
            m = re.match(r"^azureml://datastores/([^/]+)/paths/(.+)$", uri)
            if m and m.group(1) == DATASTORE and m.group(2).startswith("LocalUpload/") and not self.data_blob_names(
                    m.group(2).rstrip("/")):
                raise _Reject(400, "UserError", f"inputs.{iname}.uri {uri!r}: nothing at that path")
        if name in self.jobs:
            stored = {k: v for k, v in self.jobs[name]["properties"].items() if k not in ("status", "services")}
            if self.existing_job == "update" and stored == props:
                return 200, self.jobs[name], {}
            raise _Reject(409, "UserError", f"A job with name {name} already exists.")
        rid = f"{self.workspace_id}/jobs/{name}"
        studio = f"https://ml.azure.com/runs/{name}?wsid={self.workspace_id}"
        # the real service names its run history host here: azureml://{location}.api.azureml.ms/mlflow/v1.0/...
        tracking = f"azureml://{urlsplit(self.endpoint).netloc}/mlflow/v1.0{self.workspace_id}?"
        # the first status the service answers a job PUT with, as recorded: Starting for a command job,
        # Preparing for a pipeline (tests/runs/recordings: command_job_builder, pipeline_job_create)
        first = "Preparing" if props.get("jobType") == "Pipeline" else "Starting"
        stored_props = {**props, "status": first,
                        "services": {"Studio": {"endpoint": studio, "jobServiceType": "Studio"},
                                     "Tracking": {"endpoint": tracking, "jobServiceType": "Tracking"}}}
        self.jobs[name] = self._envelope("Job/CommandJob/createOrUpdate.json", "201", rid, name, "jobs", stored_props)
        return 201, self.jobs[name], {}

    def op_job_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        job = self.jobs.get(p["name"])
        if job is None:
            raise _Reject(404, "UserError", f"job {p['name']} not found")
        self._advance(p["name"])
        return 200, job, {}

    def _advance(self, name: str) -> str:
        """One step of the scripted status progression (every job GET and run details call takes one)."""
        props = self.jobs[name]["properties"]
        if props["status"] == "CancelRequested":
            props["status"] = "Canceled"
        elif props["status"] not in TERMINAL:
            step = self.job_steps[name]
            if step < len(self.status_script):
                props["status"] = self.status_script[step]
                self.job_steps[name] += 1
        return props["status"]

    def op_mlflow_run_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        """MLflow REST ``runs/get`` (mlflow.org REST API: ``{"run": {"info", "data": {"metrics": [Metric]}}}``,
        the latest value of each metric); the MLflow run id of an Azure ML job is its name."""
        name = q.get("run_id") or ""
        if name not in self.jobs:
            raise _Reject(404, "RESOURCE_DOES_NOT_EXIST", f"Run '{name}' not found")
        info = {"run_id": name, "run_uuid": name, "status": "FINISHED"}
        return 200, {"run": {"info": info, "data": {"metrics": list(self.metrics.get(name, [])), "params": [],
                                                    "tags": []}}}, {}

    def op_history_details(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        name = p["name"]
        if name not in self.jobs:
            raise _Reject(404, "UserError", f"run {name} not found")
        status = self._advance(name)
        self.lock.release()  # the test's hook writes blobs (slow): not under the fake's lock
        try:
            self.on_details(name, status)
        finally:
            self.lock.acquire()
        job = self.jobs[name]
        details = {
            "runId": name,
            "runUuid": str(uuid.uuid5(uuid.NAMESPACE_URL, job["id"])),
            "target": job["properties"].get("computeId", "").rsplit("/", 1)[-1],
            "status": status,
            "properties": dict(job["properties"].get("properties") or {}),
            "warnings": [],
            "logFiles": {log: self._log_sas_url(name, log) for log in self.job_logs.get(name, [])},
        }
        if status == "Failed":
            details["error"] = {"error": {"code": "UserError", "message": "the script exited with code 1"}}
        return 200, self.details_hook(details), {}

    def op_job_cancel(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        job = self.jobs.get(p["name"])
        if job is None:
            raise _Reject(404, "UserError", f"job {p['name']} not found")
        if job["properties"]["status"] not in TERMINAL:
            job["properties"]["status"] = "CancelRequested"
        return 202, None, {"Location": f"{self.endpoint}{job['id']}?api-version={self.api_version}"}

    def _check(self, definition: str, body: Any) -> None:
        if not self.strict:
            return
        problems = self.schema.problems(definition, body)
        if problems:
            self.violations.extend(problems)
            raise _Reject(400, "UserError", "request body does not match the schema: " + "; ".join(problems[:5]))


class _Reject(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Handler(BaseHTTPRequestHandler):
    owner: FakeAML
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        fake = self.owner
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        op, params = self._route(method, url.path)
        call = Call(method, op, url.path, query, user_agent=self.headers.get("User-Agent", ""))
        with fake.lock:
            fake.calls.append(call)
        fake.request.headers = self.headers
        fault = fake.faults(method, op) if op != "unknown" else None
        if fault is not None and fault.kind == "drop":
            return self._drop()
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return self._answer(call, fault.status, _error("ServerBusy" if fault.status == 429 else "InternalError",
                                                          "injected fault"), headers)
        try:
            history = op.startswith("history_")
            token = (fake.history_token or fake.token) if history else fake.token
            if self.headers.get("Authorization") != f"Bearer {token}":
                raise _Reject(401, "AuthenticationFailed", "missing or wrong bearer token")
            api_version = HISTORY_API_VERSION if history else fake.api_version
            if fake.strict and not op.startswith("mlflow_") and query.get("api-version") != api_version:
                raise _Reject(400, "InvalidApiVersionParameter",
                              f"api-version {query.get('api-version')!r} is not supported; use {api_version}")
            if op == "unknown":
                raise _Reject(404, "NotFound", f"no such operation: {method} {url.path}")
            body: Any = None
            if method in ("PUT", "POST") and raw:
                if "application/json" not in (self.headers.get("Content-Type") or ""):
                    raise _Reject(415, "UnsupportedMediaType", "send JSON")
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise _Reject(400, "InvalidRequestContent", "body is not JSON") from None
            elif method == "PUT" or op == "pending":
                raise _Reject(400, "InvalidRequestContent", "a body is required")
            call.body = body
            status, answer, headers = fake.handle(op, params, query, body)
        except _Reject as rej:
            status, answer, headers = rej.status, _error(rej.code, rej.message), {}
        if fault is not None and fault.kind == "drop_after":
            return self._drop()
        status, answer = fake.answer_hook(op, status, answer)
        self._answer(call, status, answer, headers)

    def _route(self, method: str, path: str) -> tuple[str, dict[str, str]]:
        routes = _ROUTES
        if path.startswith(HISTORY_PREFIX + "/"):
            path, routes = path[len(HISTORY_PREFIX):], _HISTORY_ROUTES
        elif path.startswith(MLFLOW_PREFIX + "/"):
            path, routes = path[len(MLFLOW_PREFIX):], _MLFLOW_ROUTES
        m = _W.match(path)
        fake = self.owner
        if not m or (m["sub"], m["rg"].lower(), m["ws"].lower()) != (SUBSCRIPTION, RESOURCE_GROUP.lower(), WORKSPACE.lower()):
            return "unknown", {}
        for verb, pattern, op in routes:
            mm = pattern.match(m["rest"] or "")
            if verb == method and mm:
                return op, mm.groupdict()
        del fake
        return "unknown", {}

    def _answer(self, call: Call, status: int, body: Any, headers: dict[str, str]) -> None:
        data = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
        call.status = status  # before writing: the client may look as soon as it has the answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


# ------------------------------------------------------------------------- test wiring


class FakeCredential:
    """A ``TokenCredential`` handing out the fake's token (records the scopes it was asked for)."""

    def __init__(self, token: str = TOKEN, tokens: Optional[dict[str, str]] = None) -> None:
        self.token = token
        self.tokens = dict(tokens or {})  # scope -> token, for scopes that get their own (audience) token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        import time

        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(self.tokens.get(scopes[0], self.token) if scopes else self.token, int(time.time()) + 3600)


FAST_RETRY = {"retry_backoff_factor": 0.01, "retry_backoff_max": 0.05}


def client_for(fake: FakeAML, **kwargs: Any) -> Any:
    """An ``AzureMLClient`` aimed at the fake: trusts its certificate, fast retries, fake token."""
    from azure.core.pipeline.transport import RequestsTransport

    from amlplatform.runs.azure import AzureMLClient

    kwargs.setdefault("credential", FakeCredential())
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("transport", RequestsTransport(connection_verify=str(fake.ca_file)))
    kwargs.setdefault("blob_options", {"retry_total": 2})
    kwargs.setdefault("storage_url", lambda account, endpoint, protocol: fake.blobs.service_url)
    return AzureMLClient(kwargs.pop("coords", None) or fake.coords(), endpoint=fake.endpoint, **kwargs)


def history_client_for(fake: FakeAML, **kwargs: Any) -> Any:
    """A run history ``RunHistoryClient`` aimed at the fake (log downloads go to Azurite over plain http)."""
    from azure.core.pipeline.transport import RequestsTransport

    from amlplatform.runs.azure_logs import RunHistoryClient

    kwargs.setdefault("credential", FakeCredential())
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("download_retry", FAST_RETRY)
    kwargs.setdefault("transport", RequestsTransport(connection_verify=str(fake.ca_file)))
    kwargs.setdefault("endpoint", fake.endpoint)
    return RunHistoryClient(kwargs.pop("coords", None) or fake.coords(), **kwargs)


def _fixture_module() -> Any:
    import pytest

    @pytest.fixture
    def fake_aml(azurite: Any, tmp_path: Path) -> Any:
        """A fresh fake workspace whose pending uploads go to a fresh container in the session's Azurite."""
        if not (AML_REST / "2025-12-01" / "job-definitions.json").is_file():
            pytest.skip(f"the Azure ML REST contract data is missing ({AML_REST})")
        from azurite import ACCOUNT_KEY, ACCOUNT_NAME

        blobs = BlobStore(azurite.service_url, ACCOUNT_NAME, ACCOUNT_KEY, container=f"pending-{uuid.uuid4().hex[:12]}")
        fake = FakeAML(blobs, tmp_path / "tls").start()
        yield fake
        fake.stop()
        assert fake.violations == [], "request bodies broke the published schema"

    return fake_aml


fake_aml = _fixture_module()
