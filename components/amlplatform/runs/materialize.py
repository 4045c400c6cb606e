"""Inputs and outputs of a job on the local target, and the command with its placeholders filled in.

What a local run does with each input (``runs.job.JobInput``), by where its ``path`` points:

- a literal (``value``): substituted as ONE shell word (``shlex.quote``; a plain value such as ``10``,
  ``0.01``, ``true`` or ``adam`` is unchanged). Azure ML substitutes the text unquoted on the cluster;
  locally an unquoted ``--set inputs.rows='1; echo $SECRET'`` would run the caller's shell syntax on
  this machine. See docs/local-runs-security.md;
- a local path: used where it is (it must exist), never copied;
- ``azureml://datastores/<name>/paths/<p>`` (short or workspace-qualified form): downloaded to
  ``<run>/inputs/<input name>/`` from the container the datastore maps to (``AMLPLATFORM_DATASTORES``,
  below); a ``uri_folder``/``mltable`` gets every blob under ``<p>/``, a ``uri_file`` the one blob;
- ``https://`` / ``http://`` blob URLs (``<account>.blob.core.windows.net/<container>/<p>``, or the
  path-style ``<host:port>/<account>/<container>/<p>`` of Azurite): downloaded the same way;
  another ``https://`` URL of a ``uri_file`` is fetched with a plain GET;
- ``mode: direct``: the URI itself is passed, nothing is downloaded (Azure ML passes the URI too);
- ``azureml:<name>:<version>`` / ``azureml:<name>@latest`` / ``azureml://registries/<r>/data/<name>/versions/<v>``:
  the data asset of the local asset store (``runs.assets``, filled by ``amlplatform data create``): its
  copied files, or the URI it was registered with (then read as above); for a model input
  (``mlflow_model``/``custom_model``) the local model registry's version (``amlplatform model register``).
  ``@latest`` is the most recently created version. A missing asset is a clear error naming the input.

Blob credentials, in order: a SAS in the URL; the account key of ``AZURE_STORAGE_CONNECTION_STRING``
when it names the same account (Azurite's well-known account in tests); else anonymous for a
plain URL (public containers) and ``DefaultAzureCredential`` for a datastore, or after an anonymous
read is refused. ``AMLPLATFORM_DATASTORES`` is a JSON object (or the path of a JSON file) mapping
datastore names to container URLs: ``{"workspaceblobstore": "https://acct.blob.core.windows.net/c"}``.

Outputs are folders kept with the run record: ``<run>/named-outputs/<output name>/`` (a
``uri_file`` output is the file ``<that folder>/<basename of its path, else its name>``). An
output ``path`` on a datastore is where Azure ML would write it; locally it is recorded, not uploaded.

Content identity (for pipeline step reuse): ``input_identity`` gives a SHA-256 over what an input
holds, without downloading remote data (blob names, sizes and ETags).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional
from urllib.parse import unquote, urlsplit, urlunsplit

from amlplatform.errors import UserError

ENV_DATASTORES = "AMLPLATFORM_DATASTORES"
ENV_ASSETS_DIR = "AMLPLATFORM_ASSETS_DIR"
ENV_CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
INPUTS_FOLDER = "inputs"
OUTPUTS_FOLDER = "named-outputs"
FILE_TYPES = ("uri_file",)
FOLDER_TYPES = ("uri_folder", "mltable")

# azureml://datastores/<name>/paths/<path> and the workspace-qualified form
# azureml://subscriptions/<s>/resourcegroups/<rg>/workspaces/<ws>/datastores/<name>/paths/<path>
DATASTORE_URI = re.compile(
    r"^azureml://(?:subscriptions/[^/]+/resource[gG]roups/[^/]+/(?:providers/Microsoft\.MachineLearningServices/)?"
    r"workspaces/[^/]+/)?datastores/(?P<store>[^/]+)/paths/(?P<path>.*)$"
)
ASSET_REF = re.compile(r"^azureml:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?::(?P<version>[^:@/]+)|@(?P<label>[^:@/]+))?$")
PLACEHOLDER = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
OPTIONAL_BLOCK = re.compile(r"\$\[\[(.*?)\]\]", re.S)


def redact(url: Optional[str]) -> Optional[str]:
    """A URL safe to record: a query string (a SAS token: ``sig=...``) is replaced, user:password dropped."""
    if not url or "://" not in url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = "<redacted>" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


@dataclass
class Materialized:
    """One input or output as the local command sees it."""

    name: str
    type: str
    value: str  # what ${{inputs.x}} / ${{outputs.y}} becomes
    source: Optional[str] = None  # the path/URI as written
    kind: str = "literal"  # literal | local | download | direct | asset | step_output | output
    mode: Optional[str] = None
    files: int = 0
    bytes: int = 0
    notes: list[str] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        value = redact(self.value) if self.kind == "direct" else self.value
        out = {"type": self.type, "value": value, "kind": self.kind}
        if self.source is not None:
            out["path"] = redact(self.source)  # never a SAS token in run.json
        if self.mode:
            out["mode"] = self.mode
        if self.kind == "download":
            out["downloaded"] = {"files": self.files, "bytes": self.bytes}
        if self.notes:
            out["notes"] = list(self.notes)
        return out


# ------------------------------------------------------------------------ command placeholders


def substitute(command: str, inputs: Mapping[str, Materialized], outputs: Mapping[str, Materialized], *,
               where: str = "command") -> str:
    """Fill ``${{inputs.x}}`` / ``${{outputs.y}}``; drop an optional ``$[[...]]`` block whose inputs
    are not given (Azure ML's optional-input syntax). Every value - path or literal - is one shell word
    (``shlex.quote``: unchanged when it holds only safe characters), so a value can never add shell
    syntax to the command (docs/local-runs-security.md)."""

    def block(m: re.Match) -> str:
        inner = m.group(1)
        refs = PLACEHOLDER.findall(inner)
        for scope, name in refs:
            table = inputs if scope == "inputs" else outputs
            if name not in table or table[name].value in (None, ""):
                return ""
        return inner

    command = OPTIONAL_BLOCK.sub(block, command)
    missing: list[str] = []

    def one(m: re.Match) -> str:
        scope, name = m.group(1), m.group(2)
        table = inputs if scope == "inputs" else outputs
        item = table.get(name)
        if item is None:
            missing.append(f"{where}: ${{{{{scope}.{name}}}}} names no {scope[:-1]} of the job "
                           f"(it has {', '.join(sorted(table)) or 'none'})")
            return m.group(0)
        return shlex.quote(str(item.value))

    out = PLACEHOLDER.sub(one, command)
    if missing:
        raise UserError("the command cannot be filled in:", missing)
    return out


# ------------------------------------------------------------------------ configuration


def datastores(env: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    env = os.environ if env is None else env
    raw = env.get(ENV_DATASTORES)
    if not raw:
        return {}
    text = raw
    if not raw.lstrip().startswith("{"):
        try:
            text = Path(raw).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{ENV_DATASTORES}: cannot read {raw}: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UserError(f"{ENV_DATASTORES}: not JSON ({exc}); expected {{\"<datastore>\": \"https://<account>.blob.core.windows.net/<container>\"}}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise UserError(f"{ENV_DATASTORES}: must map datastore names to container URLs")
    return data


MODEL_TYPES = ("mlflow_model", "custom_model", "triton_model")


def is_asset_input(path: Any) -> bool:
    """``azureml:name:version`` / ``azureml:name@latest`` / ``azureml://registries/<r>/data|models/...``."""
    from amlplatform.runs.assets import REGISTRY_REF

    return isinstance(path, str) and ((path.startswith("azureml:") and not path.startswith("azureml://"))
                                      or bool(REGISTRY_REF.match(path)))


def resolve_asset(ref: str, where: str, env: Optional[Mapping[str, str]] = None,
                  typ: Optional[str] = None) -> tuple[str, Path]:
    """A registered data asset (``runs.assets``, ``amlplatform data create``) or, for a model input
    (``mlflow_model``/``custom_model``/``triton_model``, or a ``.../models/...`` registry URI), a model version of
    the local model registry (``runs.models``) -> (the path it stands for, the record it came from)."""
    from amlplatform.runs.assets import REGISTRY_REF, AssetStore, assets_dir as store_dir, parse_ref

    env = os.environ if env is None else env
    m = REGISTRY_REF.match(ref)
    is_model = (m.group("plural") == "models") if m else typ in MODEL_TYPES
    if is_model:
        from amlplatform.runs.models import LocalRegistry, models_dir

        if m:  # the local model registry has no registries: a registry's model is the workspace's to resolve
            raise UserError(f"{where}: model {ref} is in registry {m.group('registry')!r}, which is not on this "
                            f"machine; register a local copy ('amlplatform model register --name {m.group('name')}') "
                            "and name it azureml:<name>:<version>, or run the job on Azure ML (--compute <cluster>)")
        registry = LocalRegistry(models_dir(env=env))
        try:
            resolved = registry.resolve(ref)
        except UserError as exc:
            raise UserError(f"{where}: model {ref}: {exc}; register it with 'amlplatform model register'") from None
        return str(resolved.model_path), registry.root / str(resolved.name) / str(resolved.version) / "model.json"
    found = AssetStore(store_dir(env=env)).get(parse_ref(ref, "data", where), where)
    return found.data_path(), found.folder / "asset.json"


# ------------------------------------------------------------------------ blob access


@dataclass
class BlobLocation:
    account_url: str  # scheme://host[:port][/account for path-style]
    account: str
    container: str
    prefix: str
    sas: str = ""


def _path_style(host: str) -> bool:
    host = host.split(":")[0]
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def blob_location(url: str) -> Optional[BlobLocation]:
    """A blob URL split into account, container and blob path; None if it is not a blob URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None
    segments = [unquote(s) for s in parts.path.split("/")[1:]]
    host = parts.netloc
    if _path_style(host):
        if len(segments) < 2:
            return None
        account, container, rest = segments[0], segments[1], segments[2:]
        account_url = urlunsplit((parts.scheme, host, "/" + account, "", ""))
    elif host.split(":")[0].lower().endswith(".blob.core.windows.net") or ".blob." in host.lower():
        if not segments or not segments[0]:
            return None
        account, container, rest = host.split(".")[0], segments[0], segments[1:]
        account_url = urlunsplit((parts.scheme, host, "", "", ""))
    else:
        return None
    return BlobLocation(account_url, account, container, "/".join(rest), parts.query)


def _connection_key(account: str, env: Mapping[str, str]) -> Optional[dict[str, str]]:
    cs = env.get(ENV_CONNECTION_STRING)
    if not cs:
        return None
    fields = dict(p.split("=", 1) for p in cs.split(";") if "=" in p)
    if fields.get("AccountName") == account and fields.get("AccountKey"):
        return {"account_name": account, "account_key": fields["AccountKey"]}
    return None


def _container_client(loc: BlobLocation, credential: Any):
    from azure.storage.blob import ContainerClient

    url = f"{loc.account_url}/{loc.container}" + (f"?{loc.sas}" if loc.sas else "")
    return ContainerClient.from_container_url(url, credential=credential)


def _credentials(loc: BlobLocation, env: Mapping[str, str], anonymous_first: bool) -> list[Any]:
    if loc.sas:
        return [None]
    key = _connection_key(loc.account, env)
    if key is not None:
        return [key]
    if loc.account_url.lower().startswith("http://"):
        # A plain-http container (Azurite's URLs are written so) can be read with a SAS, an account key
        # or anonymously, never with a Microsoft Entra token: azure-storage-blob refuses one over http
        # ("Token credential is only supported with HTTPS", _shared/base_client.py) and azure-ai-ml
        # only ever builds https:// storage URLs (constants STORAGE_ACCOUNT_URLS). Anonymous only;
        # a refusal then says what would work (_with_blob_client).
        return [None]

    def default():
        from amlplatform.runs.rest import _default_credential

        return _default_credential()

    return [None, default] if anonymous_first else [default]


def _with_blob_client(loc: BlobLocation, env: Mapping[str, str], anonymous_first: bool, what: str,
                      fn: Callable[[Any], Any]) -> Any:
    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

    last: Optional[Exception] = None
    for cred in _credentials(loc, env, anonymous_first):
        credential = cred() if callable(cred) else cred
        try:
            with _container_client(loc, credential) as client:
                return fn(client)
        except ClientAuthenticationError as exc:
            last = exc
        except HttpResponseError as exc:
            last = exc
            if exc.status_code not in (401, 403, 404) or credential is not None:
                break
        except AzureError as exc:
            last = exc
            break
        except ValueError as exc:  # azure-storage-blob's own refusals (a malformed URL or credential)
            raise UserError(f"{what}: cannot read {redact(loc.account_url)}/{loc.container}/{loc.prefix}: {exc}") from None
    detail = getattr(last, "message", None) or str(last)
    hint = ""
    if loc.account_url.lower().startswith("http://") and not loc.sas and _connection_key(loc.account, env) is None:
        hint = (f"; {loc.account_url} is plain http, where no Microsoft Entra token is ever sent: give the "
                f"account key in {ENV_CONNECTION_STRING} (for Azurite, its development account), a SAS in the URL, "
                "or the https:// URL")
    raise UserError(f"{what}: cannot read {loc.account_url}/{loc.container}/{loc.prefix}: "
                    f"{detail.splitlines()[0] if detail else last!r}{hint}")


def _is_folder_marker(blob: Any) -> bool:
    """A zero-length blob standing for a folder: ``hdi_isfolder=true`` metadata (hierarchical-namespace
    accounts, blobfuse) or a name ending in ``/``. It has no content to download."""
    meta = getattr(blob, "metadata", None) or {}
    return blob.name.endswith("/") or str(meta.get("hdi_isfolder", "")).lower() == "true"


def _list_blobs(loc: BlobLocation, is_file: bool, env: Mapping[str, str], anonymous_first: bool,
                what: str) -> list[tuple[str, int, str]]:
    """``[(blob name, size, etag)]`` of the file, or of every blob under the folder."""

    def run(client):
        if is_file:
            props = client.get_blob_client(loc.prefix).get_blob_properties()
            return [(loc.prefix, int(props.size), str(props.etag))]
        prefix = loc.prefix.rstrip("/")
        prefix = prefix + "/" if prefix else ""
        return sorted((b.name, int(b.size), str(b.etag)) for b in client.list_blobs(name_starts_with=prefix, include=["metadata"])
                      if not _is_folder_marker(b))

    blobs = _with_blob_client(loc, env, anonymous_first, what, run)
    if not blobs:
        raise UserError(f"{what}: nothing under {loc.account_url}/{loc.container}/{loc.prefix} (an empty or missing folder)")
    return blobs


def _download(loc: BlobLocation, blobs: list[tuple[str, int, str]], dest: Path, is_file: bool,
              env: Mapping[str, str], anonymous_first: bool, what: str) -> Path:
    from amlplatform.runs.store import open_private, private_dir

    private_dir(dest)
    root = dest.resolve()
    prefix = loc.prefix.rstrip("/")

    def run(client):
        target_file = None
        for name, _size, _etag in blobs:
            rel = Path(name).name if is_file else name[len(prefix) + 1 if prefix else 0:]
            target = (dest / rel).resolve()
            if target != root and root not in target.parents:
                raise UserError(f"{what}: blob {name!r} would be written outside {dest}")
            private_dir(target.parent)
            with open_private(target, "wb") as fh:
                client.get_blob_client(name).download_blob().readinto(fh)
            target_file = target
        return target_file

    last = _with_blob_client(loc, env, anonymous_first, what, run)
    return last if is_file else dest


# ------------------------------------------------------------------------ identity and materialising


def _hash_local(path: Path) -> str:
    from amlplatform.runs.snapshot import hash_files

    if path.is_file():
        return hash_files([(path.name, path, path.stat().st_size)])
    real = os.path.realpath(path)
    if os.path.dirname(real) == real:  # hashing the whole file system for step reuse would never end
        raise UserError(f"input folder {path} is the root of the file system; give the data's own folder")
    items = []
    for p in sorted(path.rglob("*")):
        if p.is_file():
            items.append((p.relative_to(path).as_posix(), p, p.stat().st_size))
    return hash_files(items)


def check_local_input(local: Path, path: Any, where: str) -> None:
    """A local input path must be an existing regular file or folder (``snapshot.special_file_kind``):
    a device (``/dev/zero``), FIFO or socket would hang or flood the job."""
    from amlplatform.runs.snapshot import special_file_kind

    special = special_file_kind(local)
    if special:
        raise UserError(f"{where}.path: {path!r} is {special}, not a regular file or a folder")
    if not local.exists():
        raise UserError(f"{where}.path: {path!r} does not exist ({local})")


def _field(inp: Any, name: str) -> Any:
    return inp.get(name) if isinstance(inp, Mapping) else getattr(inp, name, None)


def _remote(path: str, where: str, env: Mapping[str, str]) -> tuple[Optional[BlobLocation], bool]:
    """(blob location, anonymous first) of a datastore URI or a URL; (None, True) for a non-blob URL."""
    m = DATASTORE_URI.match(path)
    if m:
        stores = datastores(env)
        store = m.group("store")
        if store not in stores:
            raise UserError(f"{where}: datastore {store!r} of {path} is not known locally; set {ENV_DATASTORES} to a "
                            f"JSON object mapping it to its container URL, e.g. "
                            f"{{\"{store}\": \"https://<account>.blob.core.windows.net/<container>\"}}")
        base = stores[store].rstrip("/")
        split = urlsplit(base)
        url = urlunsplit((split.scheme, split.netloc, split.path + "/" + m.group("path").lstrip("/"), split.query, ""))
        loc = blob_location(url)
        if loc is None:
            raise UserError(f"{where}: {ENV_DATASTORES}[{store!r}] = {redact(base)!r} is not a blob container URL")
        return loc, False
    if path.startswith("azureml://"):
        raise UserError(f"{where}: {path}: only azureml://datastores/<name>/paths/<path> URIs can be read locally")
    return blob_location(path), True


def input_identity(inp: Any, where: str, env: Optional[Mapping[str, str]] = None,
                   bound: Optional[Path] = None) -> str:
    """A SHA-256 standing for what the input holds (for step reuse), without downloading it."""
    env = os.environ if env is None else env
    h = hashlib.sha256()
    typ = _field(inp, "type")
    h.update(f"{typ}\0{_field(inp, 'mode')}\0".encode())
    if bound is not None:
        h.update(b"local\0" + _hash_local(bound).encode())
        return h.hexdigest()
    if typ == "literal":
        h.update(b"literal\0" + json.dumps(_field(inp, "value")).encode())
        return h.hexdigest()
    path = _field(inp, "path")
    local = _field(inp, "local_path")
    if local is not None:
        local = Path(local)
        check_local_input(local, path, where)
        h.update(b"local\0" + _hash_local(local).encode())
        return h.hexdigest()
    if is_asset_input(path):
        target, asset_file = resolve_asset(path, where, env, typ)
        h.update(b"asset\0" + path.encode())
        resolved = _asset_target(target, asset_file)
        if isinstance(resolved, Path):
            h.update(_hash_local(resolved).encode())
        else:
            return input_identity({"type": typ, "path": resolved, "mode": _field(inp, "mode")}, where, env)
        return h.hexdigest()
    if isinstance(path, str):
        if _field(inp, "mode") == "direct":
            h.update(b"direct\0" + path.encode())
            return h.hexdigest()
        loc, anonymous_first = _remote(path, where, env)
        if loc is None:
            h.update(b"url\0" + path.encode())  # a plain URL: its address is all we know without fetching it
            return h.hexdigest()
        for name, size, etag in _list_blobs(loc, typ in FILE_TYPES, env, anonymous_first, where):
            h.update(f"{name}\0{size}\0{etag}\0".encode())
        return h.hexdigest()
    raise UserError(f"{where}: has no path or value")


def _asset_target(target: str, asset_file: Path) -> Any:
    from amlplatform.runs.job import classify_path

    if classify_path(target) == "local":
        p = Path(target).expanduser()
        return p if p.is_absolute() else (asset_file.parent / p).resolve()
    return target


def materialize_input(inp: Any, name: str, run_dir: Path, *, where: str,
                      env: Optional[Mapping[str, str]] = None, bound: Optional[Path] = None) -> Materialized:
    """Make one input available to a local command; see the module docstring."""
    env = os.environ if env is None else env
    typ = _field(inp, "type") or "uri_folder"
    mode = _field(inp, "mode")
    if bound is not None:
        return Materialized(name, typ, str(bound), source=str(bound), kind="step_output", mode=mode)
    if typ == "literal":
        value = _field(inp, "value")
        text = "" if value is None else ("true" if value is True else "false" if value is False else str(value))
        return Materialized(name, typ, text, kind="literal")
    path = _field(inp, "path")
    local = _field(inp, "local_path")
    if local is not None:
        local = Path(local)
        check_local_input(local, path, where)
        if typ in FILE_TYPES and not local.is_file():
            raise UserError(f"{where}.path: {path!r} is a folder, but the input's type is uri_file")
        if typ in FOLDER_TYPES and not local.is_dir():  # model types may be a file or a folder
            raise UserError(f"{where}.path: {path!r} is a file, but the input's type is {typ} (a folder)")
        return Materialized(name, typ, str(local), source=path, kind="local", mode=mode)
    if not isinstance(path, str):
        raise UserError(f"{where}: has no path or value")
    if is_asset_input(path):
        target, asset_file = resolve_asset(path, where, env, typ)
        resolved = _asset_target(target, asset_file)
        inner = {"type": typ, "mode": mode, "path": str(resolved) if isinstance(resolved, Path) else resolved,
                 "local_path": resolved if isinstance(resolved, Path) else None}
        m = materialize_input(inner, name, run_dir, where=where, env=env)
        m.notes.append(f"{'model' if asset_file.name == 'model.json' else 'data asset'} {path} from the local "
                       f"{'model registry' if asset_file.name == 'model.json' else 'asset store'} ({asset_file.parent})")
        m.source = path
        return m
    if mode == "direct":
        return Materialized(name, typ, path, source=path, kind="direct", mode=mode)
    loc, anonymous_first = _remote(path, where, env)
    dest = run_dir / INPUTS_FOLDER / name
    if loc is None:
        if typ not in FILE_TYPES:
            raise UserError(f"{where}.path: {redact(path)} is not a blob storage URL; only a uri_file can be fetched from "
                            "another web address")
        return _fetch_url(path, name, typ, dest, mode, where)
    is_file = typ in FILE_TYPES
    blobs = _list_blobs(loc, is_file, env, anonymous_first, where)
    target = _download(loc, blobs, dest, is_file, env, anonymous_first, where)
    return Materialized(name, typ, str(target), source=path, kind="download", mode=mode, files=len(blobs),
                        bytes=sum(b[1] for b in blobs))


def _fetch_url(url: str, name: str, typ: str, dest: Path, mode: Optional[str], where: str) -> Materialized:
    """A plain GET of a web address (a ``uri_file`` input that is not a blob URL), through the proxy
    the environment names for it (``runs.proxies``: the rule azure-core's blob downloads follow)."""
    import urllib3

    from amlplatform.runs.proxies import describe, pool_manager
    from amlplatform.runs.store import open_private, private_dir

    private_dir(dest)
    target = dest / (Path(urlsplit(url).path).name or name)
    http = pool_manager(url, retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=(429, 500, 502, 503, 504)),
                        timeout=urllib3.Timeout(connect=20, read=60))
    try:
        resp = http.request("GET", url, preload_content=False)
        try:
            if resp.status != 200:
                raise UserError(f"{where}.path: cannot fetch {redact(url)}{describe(url)}: the server answered {resp.status}")
            size = 0
            with open_private(target, "wb") as fh:
                for chunk in resp.stream(1 << 20):
                    fh.write(chunk)
                    size += len(chunk)
        finally:
            resp.release_conn()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UserError(f"{where}.path: cannot fetch {redact(url)}{describe(url)}: {reason}") from None
    finally:
        http.clear()
    return Materialized(name, typ, str(target), source=url, kind="download", mode=mode, files=1, bytes=size)


def prepare_output(out: Any, name: str, run_dir: Path) -> Materialized:
    """The folder (or file path, for uri_file) a local command writes output ``name`` to."""
    typ = _field(out, "type") or "uri_folder"
    path = _field(out, "path")
    from amlplatform.runs.store import private_dir

    folder = private_dir(run_dir / OUTPUTS_FOLDER / name)
    notes = []
    if path:
        notes.append(f"on Azure ML this output goes to {path}; locally it is kept with the run")
    if typ in FILE_TYPES:
        base = Path(urlsplit(path).path).name if path else ""
        value = folder / (base or name)
    else:
        value = folder
    return Materialized(name, typ, str(value), source=path, kind="output", mode=_field(out, "mode"), notes=notes)
