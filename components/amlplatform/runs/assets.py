"""The local asset store: data assets, components and environments, as ``az ml data|component|environment
create --file X.yml`` registers them in a workspace (models have their own registry, ``runs.models``, with
the same idioms).

``AssetStore.create(kind, yaml_file, name=None, version=None, registry=None)`` reads the same YAML file
``az ml <kind> create --file`` takes, validates it with the rules azure-ai-ml applies when it loads it
(``load_data`` / ``load_component`` / ``load_environment``; the contract tests hold azure-ai-ml 1.35 as
the oracle) and records a version; ``get`` / ``versions`` / ``names`` / ``resolve`` read it back. A job
file's ``azureml:<name>:<version>``, ``azureml:<name>@latest`` and
``azureml://registries/<registry>/<components|environments|data|models>/<name>/versions/<version>``
references are resolved here when the job runs locally (``runs.job`` for a step's component,
``runs.api`` for a job's environment, ``runs.materialize`` for data and model inputs).

Versions, as the service gives them (azure-ai-ml ``operations/_data_operations.py``,
``_component_operations.py``, ``_environment_operations.py``, ``_utils/_asset_utils.py``):

- without a version, data and components get the next whole number (``_create_or_update_autoincrement``:
  the container's ``nextVersion``, ``1`` for a new name); an environment first tries the latest version
  again and takes the next number only when that one holds other content
  (``EnvironmentOperations._try_update_latest_version``);
- an existing version is never changed: the same content again is the same version (a PUT of equal
  content is accepted), other content is refused, as the service's 409 refuses it;
- ``@latest`` is the most recently created version ("Latest is defined as the most recently created, not
  the most recently updated", ``_asset_utils._get_latest``); a registry asset needs an explicit version
  ("Data asset version is required for registry", ``DataOperations.create_or_update``).

Names: a component's is azure-ai-ml's ``ComponentNameStr`` (``^[a-z][a-z0-9_]*$``: "should only contain
lower letter, number, underscore and start with a lower letter"); data and environment names are the
model registry's rule (``runs.models.NAME``: letters, digits, ``-``, ``_``, ``.``, starting with a letter
or digit), which refuses ``../x``, ``/abs`` and every other name that could leave the store's folder.

Layout (default ``.amlplatform/assets`` of the project, as ``.amlplatform/runs`` and ``/models``;
``$AMLPLATFORM_ASSETS_DIR`` or ``--assets-dir`` elsewhere)::

    <kind>/<name>/<version>/asset.json        the record (written last: a version without it does not exist)
    <kind>/<name>/<version>/<kind>.yml        component / environment: the definition as registered, its
                                              local paths pointing into files/
    <kind>/<name>/<version>/files/...         the files registered with it, copied as a snapshot (the code
                                              rules of ``runs.snapshot``: deny-list, .amlignore/.gitignore):
                                              a data asset's local path, a component's code (a pipeline
                                              component's: each step's, its component files inlined), an
                                              environment's build context
    registries/<registry>/<kind>/<name>/...   the same for ``--registry <name>`` (``azureml://registries/...``)

Nothing here imports Pulumi or azure-ai-ml; ``yaml`` is imported when a file is read.
"""

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from amlplatform.errors import UserError
from amlplatform.runs.models import NAME, VERSION, next_version
from amlplatform.runs.store import PRIVATE_DIR_MODE, now_iso, private_dir, private_tree, write_json_atomic

ENV_ASSETS_DIR = "AMLPLATFORM_ASSETS_DIR"
DEFAULT_ASSETS_DIR = Path(".amlplatform") / "assets"
RECORD = "asset.json"
FILES = "files"
KINDS = ("data", "component", "environment")
PLURAL = {"data": "data", "component": "components", "environment": "environments", "model": "models"}
KIND_OF_PLURAL = {v: k for k, v in PLURAL.items()}
DATA_TYPES = ("uri_file", "uri_folder", "mltable")  # azure-ai-ml DataSchema.type
COMPONENT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # azure-ai-ml PythonFuncNameStr (ComponentNameStr)
REGISTRY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,32}$")  # Azure ML registry names (2-33 characters)
# azureml:<name>:<version> | azureml:<name>@<label> (the prefix optional where the CLI strips it)
SHORT_REF = re.compile(r"^(?:azureml:)?(?P<name>[^:@/]+)(?::(?P<version>[^:@/]+)|@(?P<label>[^:@/]+))$")
# azureml://registries/<r>/<plural>/<name>/versions/<v> | .../labels/<label> (azure-ai-ml REGISTRY_URI_FORMAT)
REGISTRY_REF = re.compile(r"^azureml://registries/(?P<registry>[^/]+)/(?P<plural>components|environments|data|models)/"
                          r"(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+)|/labels/(?P<label>[^/]+))?$")
LATEST = "latest"
_DATA_KEYS = ("$schema", "name", "version", "description", "tags", "properties", "type", "path", "datastore", "id")
_ENV_EXTRA = ("$schema",)


@dataclass(frozen=True)
class AssetRef:
    """A parsed reference: ``kind`` data/component/environment/model, ``version`` or ``label`` (latest)."""

    kind: str
    name: str
    version: Optional[str] = None
    label: Optional[str] = None
    registry: Optional[str] = None

    @property
    def text(self) -> str:
        if self.registry:
            tail = f"versions/{self.version}" if self.version else f"labels/{self.label or LATEST}"
            return f"azureml://registries/{self.registry}/{PLURAL[self.kind]}/{self.name}/{tail}"
        return f"azureml:{self.name}:{self.version}" if self.version else f"azureml:{self.name}@{self.label or LATEST}"


def is_reference(text: Any) -> bool:
    return isinstance(text, str) and (text.startswith("azureml:") and not text.startswith("azureml://")
                                      or bool(REGISTRY_REF.match(text)))


def parse_ref(text: str, kind: str, where: str = "") -> AssetRef:
    """``azureml:n:v``, ``azureml:n@latest`` or a registry URI of ``kind`` -> ``AssetRef``; else a ``UserError``
    naming ``where``."""
    prefix = f"{where}: " if where else ""
    m = REGISTRY_REF.match(text or "")
    if m:
        got = KIND_OF_PLURAL[m.group("plural")]
        if got != kind:
            raise UserError(f"{prefix}{text!r} names {m.group('plural')}, not {PLURAL[kind]}")
        ref = AssetRef(kind, m.group("name"), m.group("version"), m.group("label") if not m.group("version") else None,
                       m.group("registry"))
    else:
        m = SHORT_REF.match(text or "")
        if not m:
            raise UserError(f"{prefix}{text!r} is not a reference: give azureml:<name>:<version>, azureml:<name>@latest "
                            f"or azureml://registries/<registry>/{PLURAL[kind]}/<name>/versions/<version>")
        ref = AssetRef(kind, m.group("name"), m.group("version"), m.group("label"))
    check_name(ref.name, kind, where)
    if ref.version is not None:
        check_version(ref.version, where)
    if ref.registry is not None and not REGISTRY_NAME.match(ref.registry):
        raise UserError(f"{prefix}registry name {ref.registry!r} must be 2-33 letters, digits, '-' or '_'")
    if ref.version is None and (ref.label or LATEST) != LATEST:
        raise UserError(f"{prefix}{text}: the only label known locally is @latest")
    return ref


def check_name(name: Any, kind: str, where: str = "") -> str:
    prefix = f"{where}: " if where else ""
    if kind == "component":
        if not isinstance(name, str) or not COMPONENT_NAME.match(name):
            raise UserError(f"{prefix}Component name should only contain lower letter, number, underscore and start "
                            f"with a lower letter. Currently got {name}.")
        return name
    if not isinstance(name, str) or not NAME.match(name):
        raise UserError(f"{prefix}{kind} name must be 1-255 letters, digits, '-', '_' or '.', starting with a letter "
                        f"or digit, got {name!r}")
    return name


def check_version(version: Any, where: str = "") -> str:
    prefix = f"{where}: " if where else ""
    if not isinstance(version, str) or not VERSION.match(version):
        raise UserError(f"{prefix}version must be 1-50 letters, digits, '-', '_' or '.', starting with a letter or "
                        f"digit, got {version!r}")
    return version


def assets_dir(explicit: Optional[Path] = None, env: Optional[Mapping[str, str]] = None,
               cwd: Optional[Path] = None) -> Path:
    """``--assets-dir`` beats ``$AMLPLATFORM_ASSETS_DIR`` beats ``.amlplatform/assets`` of the project
    (``runs.store.project_root``, as the run records and the model registry)."""
    from amlplatform.runs.store import project_root

    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else Path(cwd)
    if not explicit and not env.get(ENV_ASSETS_DIR):
        return project_root(cwd) / DEFAULT_ASSETS_DIR
    chosen = (Path(explicit) if explicit else Path(env[ENV_ASSETS_DIR])).expanduser()
    return chosen if chosen.is_absolute() else cwd / chosen


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _version_order(rec: Mapping[str, Any]) -> tuple:
    v = str(rec.get("version"))
    return (str(rec.get("created_at") or ""), (0, int(v), "") if v.isdigit() else (1, 0, v))


# ---------------------------------------------------------------- reading the YAML files az ml takes


@dataclass
class _Prepared:
    """A validated definition: what is stored (``spec``), its files (``copies``: (snapshot, folder under
    files/)), and the content identity."""

    name: str
    version: Optional[str]
    spec: dict[str, Any]
    copies: list[tuple[Any, str]]
    content: str
    description: Optional[str] = None
    tags: Optional[dict[str, str]] = None
    summary: Optional[dict[str, Any]] = None


def _read(path: Path) -> dict[str, Any]:
    from amlplatform.runs.job import read_yaml

    return dict(read_yaml(Path(path)))


def _problems_error(path: Path, kind: str, problems: list[str]) -> UserError:
    return UserError(f"{kind} file {path} is not valid:", problems)


def _tags(value: Any, problems: list[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append("tags: Not a valid mapping type.")
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _meta(data: Mapping[str, Any], kind: str, name: Optional[str], version: Optional[str], problems: list[str]
          ) -> tuple[Optional[str], Optional[str]]:
    """--name / --version override the file's (as ``az ml ... create --name/--version`` do)."""
    n = name if name is not None else data.get("name")
    v = version if version is not None else data.get("version")
    if n is None:
        problems.append("name: Missing data for required field.")
    else:
        try:
            check_name(n, kind, "name")
        except UserError as exc:
            problems.append(str(exc))
            n = None
    if v is not None:
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            problems.append(f"version: Type {type(v)} is not supported for version.")  # azure-ai-ml VersionField
            v = None
        else:
            v = str(v)  # VersionField: "Will always convert to string"
            try:
                check_version(v, "version")
            except UserError as exc:
                problems.append(str(exc))
                v = None
    return n, v


def _prepare_data(path: Path, data: Mapping[str, Any], name: Optional[str], version: Optional[str]) -> _Prepared:
    from amlplatform.runs.job import classify_path, _local
    from amlplatform.runs.models import model_snapshot

    problems: list[str] = []
    for k in data:
        if k not in _DATA_KEYS:
            problems.append(f"{k}: Unknown field.")
    n, v = _meta(data, "data", name, version, problems)
    typ = data.get("type", "uri_folder")
    if typ not in DATA_TYPES:
        problems.append("type: Must be one of: uri_file, uri_folder, mltable.")
    raw = data.get("path")
    copies: list[tuple[Any, str]] = []
    stored_path = raw
    content: Any = None
    if raw is None:
        problems.append("path: Missing data for required field.")
    elif not isinstance(raw, str):
        problems.append("path: Not a valid string.")
    elif classify_path(raw) == "local":
        local = _local(path.resolve().parent, raw)
        if not local.exists():
            problems.append(f"path: local path {raw!r} does not exist ({local})")
        elif typ == "uri_file" and not local.is_file():
            problems.append(f"path: {raw!r} is a folder; type uri_file needs a file")
        elif typ in ("uri_folder", "mltable") and not local.is_dir():
            problems.append(f"path: {raw!r} is a file; type {typ} needs a folder")
        elif typ == "mltable" and not (local / "MLTable").is_file():
            # azure-ai-ml DataOperations._validate: "No MLTable file found" for an mltable folder
            problems.append(f"path: {raw!r} has no MLTable file; type mltable needs one")
        elif not problems:
            snap = model_snapshot(local)
            copies.append((snap, FILES))
            stored_path = f"{FILES}/{local.name}"
            content = snap.content_hash
    elif raw.startswith("azureml:") and not raw.startswith("azureml://"):
        problems.append(f"path: {raw!r}: a data asset's path is a local path, a URL or an azureml://datastores/ URI")
    tags = _tags(data.get("tags"), problems)
    if problems:
        raise _problems_error(path, "data", problems)
    spec = {"type": typ, "path": stored_path, **({"datastore": data["datastore"]} if data.get("datastore") else {})}
    identity = {"type": typ, "path": stored_path if content is None else None, "files": content}
    return _Prepared(n or "", v, spec, copies, _digest(identity), data.get("description"), tags,
                     {"type": typ, "path": stored_path, "source": raw})


def _inline_environment(env: Any, base_dir: Path, where: str, problems: list[str],
                        copies: list[tuple[Any, str]], folder: str) -> tuple[Any, Any]:
    """An environment mapping made self-contained: ``conda_file`` inlined, a local ``build.path`` copied to
    ``files/<folder>``. Returns (stored value, identity)."""
    from amlplatform.runs.job import _local, classify_path
    from amlplatform.runs.snapshot import take_snapshot

    if not isinstance(env, Mapping):
        return env, env
    out = dict(env)
    identity: dict[str, Any] = {k: v for k, v in out.items() if k not in ("name", "version")}
    cf = out.get("conda_file")
    if isinstance(cf, str):
        p = _local(base_dir, cf)
        try:
            import yaml

            out["conda_file"] = yaml.safe_load(p.read_text(encoding="utf-8"))
            identity["conda_file"] = out["conda_file"]
        except FileNotFoundError:
            problems.append(f"{where}conda_file: No such file or directory: {p}")
        except (OSError, ValueError) as exc:
            problems.append(f"{where}conda_file: {cf!r} cannot be read as YAML: {exc}")
    build = out.get("build")
    if isinstance(build, Mapping) and isinstance(build.get("path"), str) and classify_path(build["path"]) == "local":
        p = _local(base_dir, build["path"])
        if not p.is_dir():
            problems.append(f"{where}build.path: {build['path']!r} is not a folder ({p})")
        else:
            snap = take_snapshot(p)
            copies.append((snap, f"{FILES}/{folder}"))
            out["build"] = {**build, "path": f"{FILES}/{folder}"}
            identity["build"] = {**build, "path": snap.content_hash}
    return out, identity


def _prepare_environment(path: Path, data: Mapping[str, Any], name: Optional[str], version: Optional[str]) -> _Prepared:
    from amlplatform.runs.job import _Problems, _environment

    problems: list[str] = []
    n, v = _meta(data, "environment", name, version, problems)
    body = {k: x for k, x in data.items() if k not in _ENV_EXTRA}
    checked = _Problems()
    env = _environment(body, "", path.resolve().parent, checked)
    problems += [p.replace("(root): ", "") for p in checked.items]
    copies: list[tuple[Any, str]] = []
    stored, identity = _inline_environment(body, path.resolve().parent, "", problems, copies, "build")
    said = [p for p in problems if p.startswith("conda_file:")]
    problems = [p for p in problems if not p.startswith("conda_file:")] + said[-1:]  # a missing conda file said once
    tags = _tags(data.get("tags"), problems)
    if problems or env is None:
        raise _problems_error(path, "environment", problems or ["not an environment"])
    stored = {k: x for k, x in stored.items() if k not in ("name", "version")}
    return _Prepared(n or "", v, stored, copies, _digest(identity), data.get("description"), tags,
                     {"image": env.image, "conda": env.conda is not None, "build": env.build_path is not None})


def _frozen(data: Mapping[str, Any], base_dir: Path, copies: list[tuple[Any, str]], tag: str, problems: list[str],
            depth: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """A component made self-contained, as ``az ml component create`` uploads what it names: a local ``code`` folder
    copied to ``files/<tag>code``, an inline environment's files inlined or copied, and (a pipeline component)
    each step the same way, a step's component file inlined as a mapping, a step's local input copied. Every path
    of the result is relative to the version folder. Returns (stored mapping, content identity)."""
    from amlplatform.runs.job import MAX_NESTING, _local, classify_path
    from amlplatform.runs.models import model_snapshot
    from amlplatform.runs.snapshot import take_snapshot

    if depth > MAX_NESTING:  # check_component refused loops; this only bounds the copy
        problems.append(f"{tag}: pipeline components nest deeper than {MAX_NESTING} levels")
        return dict(data), {}
    out = {k: x for k, x in data.items() if k != "version"}
    identity: dict[str, Any] = {k: x for k, x in out.items() if k not in ("name", "code", "environment", "jobs")}
    code = data.get("code")
    if isinstance(code, str) and classify_path(code) == "local":
        snap = take_snapshot(_local(base_dir, code))
        copies.append((snap, f"{FILES}/{tag}code"))
        out["code"] = f"{FILES}/{tag}code"
        identity["code"] = snap.content_hash
    if "environment" in data:
        out["environment"], identity["environment"] = _inline_environment(
            data.get("environment"), base_dir, f"{tag.replace('/', '.')}environment.", problems, copies,
            f"{tag}environment")
    jobs = data.get("jobs")
    if isinstance(jobs, Mapping):
        out["jobs"], identity["jobs"] = {}, {}
        for n, raw in jobs.items():
            if not isinstance(raw, Mapping):
                continue
            step_tag = f"{tag}jobs/{n}/"
            comp = raw.get("component")
            if isinstance(comp, str) and classify_path(comp) == "local":
                cpath = _local(base_dir, comp)
                comp = _read(cpath)
                comp_dir = cpath.parent
            else:
                comp_dir = base_dir
            step, step_id = _frozen({k: x for k, x in raw.items() if k != "component"}, base_dir, copies, step_tag,
                                    problems, depth + 1)
            if isinstance(comp, Mapping):
                step["component"], step_id["component"] = _frozen(comp, comp_dir, copies, f"{step_tag}component/",
                                                                  problems, depth + 1)
            elif comp is not None:
                step["component"] = step_id["component"] = comp  # a registered component: stays a reference
            inputs = raw.get("inputs")
            if isinstance(inputs, Mapping):
                step["inputs"] = dict(inputs)
                for k, v in inputs.items():
                    p = v.get("path") if isinstance(v, Mapping) else None
                    if isinstance(p, str) and "${{" not in p and classify_path(p) == "local":
                        snap = model_snapshot(_local(base_dir, p))
                        copies.append((snap, f"{FILES}/{step_tag}inputs/{k}"))
                        step["inputs"][k] = {**v, "path": f"{FILES}/{step_tag}inputs/{k}/{_local(base_dir, p).name}"}
                        step_id.setdefault("inputs", {})[k] = snap.content_hash
            out["jobs"][str(n)] = step
            identity["jobs"][str(n)] = step_id
    return out, identity


def _prepare_component(path: Path, data: Mapping[str, Any], name: Optional[str], version: Optional[str]) -> _Prepared:
    from amlplatform.runs.job import check_component

    problems: list[str] = []
    n, v = _meta(data, "component", name, version, problems)
    problems += check_component(path, data)
    tags = _tags(data.get("tags"), problems)
    if problems:
        raise _problems_error(path, "component", problems)
    copies: list[tuple[Any, str]] = []
    stored, identity = _frozen(data, path.resolve().parent, copies, "", problems)
    if problems:
        raise _problems_error(path, "component", problems)
    stored["name"] = n
    typ = data.get("type", "command")
    return _Prepared(n or "", v, stored, copies, _digest(identity), data.get("description"), tags,
                     {"type": typ, "command": data.get("command")})


_PREPARE = {"data": _prepare_data, "environment": _prepare_environment, "component": _prepare_component}


# ---------------------------------------------------------------- the store


@dataclass(frozen=True)
class Found:
    """A stored version: its record, its folder and (component/environment) the definition's file."""

    ref: AssetRef
    record: dict[str, Any]
    folder: Path

    @property
    def definition(self) -> Path:
        return self.folder / f"{self.ref.kind}.yml"

    def data_path(self) -> str:
        """A data asset's path: a local file/folder (absolute) or the URI it was registered with."""
        from amlplatform.runs.job import classify_path

        p = self.record["data"]["path"]
        return str(self.folder / p) if classify_path(p) == "local" else p


class AssetStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def default(cls, explicit: Optional[Path] = None) -> "AssetStore":
        return cls(assets_dir(explicit))

    def _base(self, kind: str, registry: Optional[str] = None) -> Path:
        if kind not in KINDS:
            raise UserError(f"asset kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if registry is not None:
            if not REGISTRY_NAME.match(registry):
                raise UserError(f"--registry must be 2-33 letters, digits, '-' or '_', got {registry!r}")
            return self.root / "registries" / registry / kind
        return self.root / kind

    def names(self, kind: str, registry: Optional[str] = None) -> list[str]:
        base = self._base(kind, registry)
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and self._versions(base / p.name))

    @staticmethod
    def _versions(folder: Path) -> list[str]:
        if not folder.is_dir():
            return []
        return [p.name for p in folder.iterdir() if (p / RECORD).is_file()]

    def versions(self, kind: str, name: str, registry: Optional[str] = None) -> list[dict[str, Any]]:
        """Records of every version, oldest first (by creation, as ``@latest`` is the most recently created)."""
        check_name(name, kind)
        folder = self._base(kind, registry) / name
        recs = []
        for v in self._versions(folder):
            try:
                recs.append(json.loads((folder / v / RECORD).read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise UserError(f"asset record {folder / v / RECORD} cannot be read: {exc}") from None
        return sorted(recs, key=_version_order)

    def get(self, ref: AssetRef, where: str = "") -> Found:
        """The version ``ref`` names; a ``UserError`` naming ``where`` and the asset when there is none."""
        prefix = f"{where}: " if where else ""
        base = self._base(ref.kind, ref.registry)
        scope = f"registry {ref.registry!r} of the local asset store" if ref.registry else "the local asset store"
        hint = (f"register it with 'amlplatform {ref.kind} create --file <{ref.kind}.yml>"
                + (f" --registry {ref.registry}'" if ref.registry else "'"))
        if ref.registry:
            hint += " or run the job on Azure ML (--compute <cluster>), where the registry resolves it"
        if ref.version is None:
            recs = self.versions(ref.kind, ref.name, ref.registry)
            if not recs:
                raise UserError(f"{prefix}{ref.kind} {ref.text} is not in {scope} ({base / ref.name}); {hint}")
            version = recs[-1]["version"]
        else:
            version = ref.version
        folder = base / ref.name / version
        try:
            record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        except FileNotFoundError:
            have = ", ".join(r["version"] for r in self.versions(ref.kind, ref.name, ref.registry)) or "none"
            raise UserError(f"{prefix}{ref.kind} {ref.text} is not in {scope} ({folder}; versions: {have}); "
                            f"{hint}") from None
        except (OSError, ValueError) as exc:
            raise UserError(f"{prefix}asset record {folder / RECORD} cannot be read: {exc}") from None
        return Found(AssetRef(ref.kind, ref.name, version, None, ref.registry), record, folder)

    def resolve(self, text: str, kind: str, where: str = "") -> Found:
        return self.get(parse_ref(text, kind, where), where)

    def show(self, kind: str, text: str, registry: Optional[str] = None) -> dict[str, Any]:
        """``name:version``, ``name@latest``, a bare name (its latest) or a full reference -> the record."""
        if not is_reference(text) and ":" not in text and "@" not in text:
            text = f"{text}@latest"
        ref = parse_ref(text if is_reference(text) else f"azureml:{text}", kind)
        if registry is not None and ref.registry is None:
            ref = AssetRef(ref.kind, ref.name, ref.version, ref.label, registry)
        return self.get(ref).record

    def create(self, kind: str, yaml_file: Path, *, name: Optional[str] = None, version: Optional[str] = None,
               registry: Optional[str] = None) -> dict[str, Any]:
        """Register the YAML file's asset; see the module docstring for versions. Returns the record with
        ``created`` false when an equal version already existed."""
        from amlplatform.runs.snapshot import copy_snapshot

        yaml_file = Path(yaml_file)
        base = self._base(kind, registry)
        prep = _PREPARE[kind](yaml_file, _read(yaml_file), name, version)
        if registry is not None and prep.version is None:
            raise UserError(f"{kind} {prep.name}: a version is required for a registry (give version: or --version), "
                            "as azure-ai-ml requires it")
        folder = private_dir(base / prep.name)  # 0700 folders, 0600 files, as the model registry
        existing = self.versions(kind, prep.name, registry)
        if prep.version is not None:
            same = [r for r in existing if r["version"] == prep.version]
            if same:
                return self._same_or_refuse(same[0], prep, kind)
        elif kind == "environment" and existing:
            latest = existing[-1]
            if latest.get("content") == prep.content:
                return {**latest, "created": False}
        chosen = prep.version
        for _ in range(50):
            chosen = prep.version or next_version([r["version"] for r in existing] + self._claimed(folder))
            target = folder / chosen
            try:
                target.mkdir(mode=PRIVATE_DIR_MODE)
                os.chmod(target, PRIVATE_DIR_MODE)
                break
            except FileExistsError:
                if prep.version is not None:  # another create claimed it meanwhile
                    return self._same_or_refuse(self.get(AssetRef(kind, prep.name, prep.version, None, registry)).record,
                                                prep, kind)
        else:  # pragma: no cover - 50 concurrent creates of one name
            raise UserError(f"could not pick a free version of {kind} {prep.name} under {base}")
        try:
            for snap, where in prep.copies:
                copy_snapshot(snap, target / where)
            if (target / FILES).exists():
                private_tree(target / FILES)
            record: dict[str, Any] = {
                "kind": kind, "name": prep.name, "version": chosen, "registry": registry,
                "description": prep.description, "tags": prep.tags or {}, "content": prep.content,
                "source": str(yaml_file.resolve()), "created_at": now_iso(), "summary": prep.summary or {},
            }
            if kind == "data":
                record["data"] = prep.spec
            else:
                import yaml

                spec = {**prep.spec, "version": chosen}
                (target / f"{kind}.yml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
            record["id"] = AssetRef(kind, prep.name, chosen, None, registry).text
            write_json_atomic(target / RECORD, record)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return {**record, "created": True}

    @staticmethod
    def _same_or_refuse(record: Mapping[str, Any], prep: _Prepared, kind: str) -> dict[str, Any]:
        if record.get("content") != prep.content:
            raise UserError(f"{kind} {prep.name}:{prep.version} already exists with other content; a version is never "
                            "changed (the service answers 409 Conflict): give another version, or none for the next one")
        return {**record, "created": False}

    @staticmethod
    def _claimed(folder: Path) -> list[str]:
        """Version folders claimed by a create still copying (no record yet)."""
        if not folder.is_dir():
            return []
        return [p.name for p in folder.iterdir() if p.is_dir() and not (p / RECORD).is_file()]

    def definition_file(self, found: Found) -> Path:
        """The YAML a registered component/environment is read from (its paths relative to its folder)."""
        return found.definition


# ---------------------------------------------------------------- the Python API (the CLI is a thin layer over it)


def create_asset(kind: str, file: Any, *, name: Optional[str] = None, version: Optional[str] = None,
                 registry: Optional[str] = None, assets_dir: Optional[Any] = None) -> dict[str, Any]:
    """``az ml <kind> create --file FILE [--name] [--version] [--registry-name]`` into the local asset store;
    the record (``created`` false when an equal version already existed)."""
    return AssetStore.default(Path(assets_dir) if assets_dir else None).create(
        kind, Path(file), name=name, version=None if version is None else str(version), registry=registry)


def create_data(file: Any, **kw: Any) -> dict[str, Any]:
    return create_asset("data", file, **kw)


def create_component(file: Any, **kw: Any) -> dict[str, Any]:
    return create_asset("component", file, **kw)


def create_environment(file: Any, **kw: Any) -> dict[str, Any]:
    return create_asset("environment", file, **kw)


def list_assets(kind: str, name: Optional[str] = None, *, registry: Optional[str] = None,
                assets_dir: Optional[Any] = None) -> list[dict[str, Any]]:
    """Without ``name``: the latest version of every asset of ``kind``; with it: every version, oldest first."""
    store = AssetStore.default(Path(assets_dir) if assets_dir else None)
    if name is not None:
        return store.versions(kind, check_name(name, kind), registry)
    return [store.versions(kind, n, registry)[-1] for n in store.names(kind, registry)]


def show_asset(kind: str, ref: str, *, registry: Optional[str] = None, assets_dir: Optional[Any] = None
               ) -> dict[str, Any]:
    """``name:version``, ``name@latest``, a bare name (its latest) or a full ``azureml:`` reference."""
    return AssetStore.default(Path(assets_dir) if assets_dir else None).show(kind, ref, registry)
