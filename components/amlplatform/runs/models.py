"""The model registry of the run shim: register a model (a run's output folder or a local path),
list and show versions, locally (a file-based registry beside the run records) or in a workspace.

Both registries have the same semantics, those of Azure ML's model assets:

- a model is a name with numbered versions; without ``--version`` the next one is taken (the highest
  whole-number version + 1, ``1`` for a new name); an existing version is never overwritten;
- the type is ``mlflow_model`` for a folder with an ``MLmodel`` file, else ``custom_model`` (the values
  azure-ai-ml sends, ``azure.ai.ml.constants.AssetTypes``; an ``mlflow_model`` without ``MLmodel`` is
  refused as azure-ai-ml's ``validate_ml_flow_folder`` refuses it);
- the files are the ones a code snapshot would take (``snapshot.walk``: the deny-list, ``.amlignore``
  / ``.gitignore``, no symlink escapes) and their content hash is the code's (``snapshot.hash_files``,
  hash version 202208) over ``<model folder or file name>/<relative path>``, so the same model has
  the same hash locally and in the workspace;
- a version used by a deployment cannot be deleted (locally: a deployment record written by
  ``amlplatform serve --deployment``, or an ``azureml:<name>:<version>`` reference in a stack file).

Local layout (default ``.amlplatform/models`` beside ``.amlplatform/runs``; ``$AMLPLATFORM_MODELS_DIR``
or ``--models-dir`` elsewhere)::

    <name>/<version>/model.json            the record (written last: a version without it does not exist)
    <name>/<version>/artifacts/<basename>  the files; AZUREML_MODEL_DIR points at artifacts/ when served,
                                           as Azure ML mounts a registered folder under its own name
    ../deployments/<deployment>.json       local deployments (``serve --deployment``) naming a model version

The workspace side (:class:`WorkspaceModels`) follows azure-ai-ml's ``ModelOperations.create_or_update``
(sdk/ml/azure-ai-ml/azure/ai/ml/operations/_model_operations.py) and its recorded real answers
(tests/recordings/model/e2etests/test_model.pyTestModeltest_create_autoincrement.json, kept trimmed in
``tests/models/recordings/``):

1. ``GET W/models/{name}`` - 404 ``ModelNotFound`` for a new name (version 1), else the container with
   ``properties.nextVersion`` (``_get_next_version_from_container``);
2. the files go up as azure-ai-ml uploads a local model path, with the run shim's data upload
   (``AzureMLClient.upload_data``, the one upload of local files to a datastore): ``create_or_update``
   calls ``_check_and_upload_path(artifact=model, sas_uri=None)`` for a workspace (a SAS only for a
   registry), which calls ``_upload_to_datastore`` -> ``upload_artifact`` on the model's datastore, ``None``
   -> ``workspaceblobstore`` (``_get_datastore_name``), with the credential ``get_datastore_info`` gets
   (``listSecrets`` with ``expirable_secret=True``, else the caller's own token: identity-based
   datastores, shared keys off); the blobs land under ``LocalUpload/<object hash>/<model file or folder
   name>`` (``BlobStorageClient.upload``: ``generate_asset_id(hash, include_directory=True)`` + the source
   name; the hash is ``get_object_hash``, here ``snapshot.object_hash`` shared with data inputs - note
   azure-ai-ml's is MD5, 32 hex digits as in the recording, where ``object_hash`` is SHA-256: the folder
   name is ours, the layout and the ``modelUri`` form are azure-ai-ml's); a model whose first blob already carries
   ``upload_status=completed`` is not uploaded again (``check_blob_exists``);
3. ``PUT W/models/{name}/versions/{version}`` with ``{"properties": {"modelType", "modelUri",
   "isAnonymous": false, "isArchived": false, "tags", "properties", "description"?, "jobName"?}}``
   (the recorded body); ``modelUri`` is ``Model._update_path``'s ``LONG_URI_FORMAT``
   (``azure/ai/ml/constants/_common.py``) over the datastore ARM id and ``ArtifactStorageInfo.relative_path``:
   ``azureml://subscriptions/{sub}/resourcegroups/{rg}/workspaces/{ws}/datastores/workspaceblobstore/paths/
   LocalUpload/<hash>/<name>`` (no trailing ``/``; the recorded request sends exactly this form), which
   ``resolve_short_datastore_url`` leaves as it is; or for an Azure job's output
   ``azureml://jobs/<job>/outputs/artifacts/paths/<path>`` (the form Azure ML documents for registering a
   job output: learn.microsoft.com/azure/machine-learning/how-to-manage-models).

Heavy modules (yaml, azure) are imported inside the functions that need them; nothing imports Pulumi.
"""

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence

from amlplatform.errors import UserError
from amlplatform.runs.snapshot import (
    HASH_VERSION,
    MAX_ENTRIES,
    Snapshot,
    SnapshotFile,
    format_bytes,
    hash_files,
    hash_order,
    walk,
    WalkLimit,
)
from amlplatform.runs.store import PRIVATE_DIR_MODE, now_iso, private_dir, private_tree, write_json_atomic

if TYPE_CHECKING:
    from amlplatform.runs.snapshot import DataSnapshot

ENV_MODELS_DIR = "AMLPLATFORM_MODELS_DIR"
DEFAULT_MODELS_DIR = Path(".amlplatform") / "models"
RECORD = "model.json"
ARTIFACTS = "artifacts"
MLFLOW_MODEL = "mlflow_model"
CUSTOM_MODEL = "custom_model"
MODEL_TYPES = (CUSTOM_MODEL, MLFLOW_MODEL)
HASH_PROPERTY = "amlplatform.content_hash"
HASH_VERSION_PROPERTY = "amlplatform.hash_version"
RUN_PROPERTY = "amlplatform.run"
DEFAULT_DATASTORE = "workspaceblobstore"  # the name Azure ML gives a workspace's default blob datastore
# Models are bigger than code: the code limits (300 MiB / 2000 files) do not apply; these only stop
# a wrong path (a home folder) from being copied or uploaded whole.
MAX_MODEL_BYTES = 20 * 1024 ** 3
MAX_MODEL_FILES = 100_000

# Model names: letters, digits, '-', '_' and '.', starting with a letter or digit, at most 255 - the
# characters azure-ai-ml's own tests register (test_<digits>, names with '-' and '.') and that are safe in
# an ARM path segment and a local folder name. The service has the last word on a workspace name: a name it
# refuses comes back as its 400 message. Versions are short strings of the same kind.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$")
# Online deployment names (Azure ML endpoint limits: "begin with a letter, 3-32 characters, letters,
# digits and dashes", https://learn.microsoft.com/azure/machine-learning/how-to-manage-quotas#azure-machine-learning-online-endpoints-and-batch-endpoints);
# the same rule as settings.endpoints.endpoint_name_problems (single dashes, not ending with one), kept
# here too because the shim does not load the pydantic settings. A name that passes holds no '/', '.'
# or '\\', so it can never name a file outside the deployments folder.
DEPLOYMENT = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){2,31}$")
_TAG_KEY = re.compile(r"^[^<>%&\\?/]{1,256}$")


# ---------------------------------------------------------------- pure helpers


def check_name(name: str, what: str = "model name") -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise UserError(f"{what} must be 1-255 letters, digits, '-', '_' or '.', starting with a letter or digit, got {name!r}")
    return name


def check_deployment_name(name: Any, what: str = "deployment name") -> str:
    """A valid online deployment name (``DEPLOYMENT``), else a ``UserError`` naming the rule."""
    if not isinstance(name, str) or not DEPLOYMENT.match(name):
        raise UserError(f"{what} must be 3-32 letters, digits or single dashes, starting with a letter and not "
                        f"ending with a dash (Azure ML deployment naming rule), got {name!r}")
    return name


def check_version(version: str) -> str:
    if not isinstance(version, str) or not VERSION.match(version):
        raise UserError(f"--version must be 1-50 letters, digits, '-', '_' or '.', starting with a letter or digit, got {version!r}")
    return version


def next_version(existing: Iterable[str]) -> str:
    """The version a registration without ``--version`` gets: the highest whole-number version + 1
    (``1`` when there is none); versions that are not whole numbers do not count (Azure ML's
    auto-increment only counts numbers too)."""
    numbers = [int(v) for v in existing if isinstance(v, str) and v.isdigit()]
    return str(max(numbers) + 1) if numbers else "1"


def parse_ref(text: str) -> tuple[str, Optional[str]]:
    """``name:version``, ``name@latest``, ``azureml:name:version`` or ``azureml:name@latest`` ->
    ``(name, version or None for latest)``."""
    value = (text or "").strip()
    if value.startswith("azureml:"):
        value = value[len("azureml:"):]
    if "@" in value:
        name, label = value.split("@", 1)
        if label != "latest":
            raise UserError(f"model reference {text!r}: the only label is 'latest' (name@latest)")
        return check_name(name), None
    if ":" in value:
        name, version = value.split(":", 1)
        return check_name(name), check_version(version)
    raise UserError(f"model reference {text!r} must be name:version or name@latest")


def parse_tags(pairs: Sequence[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    bad = []
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            bad.append(f"--tag: expected KEY=VALUE, got {item!r}")
        elif not _TAG_KEY.match(key):
            bad.append(f"--tag: key {key!r} has a character Azure tags refuse (< > % & \\ ? /) or is too long")
        else:
            tags[key] = value
    if bad:
        raise UserError("bad tags:", bad)
    return tags


def model_type_of(path: Path) -> str:
    """``mlflow_model`` for a folder holding an ``MLmodel`` file, else ``custom_model``."""
    path = Path(path)
    return MLFLOW_MODEL if path.is_dir() and (path / "MLmodel").is_file() else CUSTOM_MODEL


def check_type(path: Path, wanted: Optional[str]) -> str:
    found = model_type_of(path)
    if wanted is None:
        return found
    if wanted not in MODEL_TYPES:
        raise UserError(f"--type must be one of {', '.join(MODEL_TYPES)}, got {wanted!r}")
    if wanted == MLFLOW_MODEL and found != MLFLOW_MODEL:
        raise UserError(f"--type mlflow_model: {path} is not an MLflow model folder (no MLmodel file in it)")
    return wanted


def mlflow_flavors(path: Path) -> list[str]:
    """The flavor names an ``MLmodel`` file declares (``python_function``, ``sklearn``, ...)."""
    mlmodel = Path(path) / "MLmodel"
    if not mlmodel.is_file():
        return []
    import yaml

    try:
        data = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{mlmodel} cannot be read as YAML: {exc}") from None
    flavors = data.get("flavors") if isinstance(data, dict) else None
    if not isinstance(flavors, dict) or not flavors:
        raise UserError(f"{mlmodel}: 'flavors' is missing; not an MLflow model")
    return sorted(str(k) for k in flavors)


def model_snapshot(path: Path, *, max_bytes: int = MAX_MODEL_BYTES, max_files: int = MAX_MODEL_FILES) -> Snapshot:
    """The files of a model (a folder or one file) under its own name, with their content hash.

    A folder ``.../model`` gives ``model/<relative path>`` for each file the code rules keep
    (``snapshot.walk``); a file ``.../model.pkl`` gives ``model.pkl``. The root of the snapshot is the
    parent, so ``copy_snapshot`` and the code upload lay the files out as Azure ML mounts a model.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"model path {path} does not exist")
    base = path.name
    if path.is_file():
        files = [SnapshotFile(base, path, path.stat().st_size)]
        excluded: list = []
        ignore_name = None
    elif path.is_dir():
        try:
            found, excluded, ignore_name = walk(path, max_files=max_files, max_bytes=max_bytes,
                                                max_entries=max(MAX_ENTRIES, 2 * max_files))
        except WalkLimit as limit:
            raise UserError(f"model path {path} holds more than {max_files} files or {format_bytes(max_bytes)} "
                            f"({limit}); is it the right folder?") from None
        files = [SnapshotFile(f"{base}/{f.relpath}", f.path, f.size) for f in found]
    else:
        raise UserError(f"model path {path} is neither a file nor a folder")
    if not files:
        raise UserError(f"model path {path} has no files to register" + (
            f" ({len(excluded)} left out: {', '.join(e.relpath for e in excluded[:5])})" if excluded else ""))
    total = sum(f.size for f in files)
    if len(files) > max_files or total > max_bytes:
        raise UserError(f"model path {path} holds {len(files)} files, {format_bytes(total)}: more than "
                        f"{max_files} files or {format_bytes(max_bytes)}; is it the right folder?")
    by_rel = {f.relpath: f for f in files}
    ordered = [by_rel[r] for r in hash_order(by_rel)]
    digest = hash_files([(f.relpath, f.path, f.size) for f in ordered])
    return Snapshot(path.parent, ordered, list(excluded), total, digest, ignore_name)


def models_dir(explicit: Optional[Path] = None, env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None) -> Path:
    """``--models-dir`` beats ``$AMLPLATFORM_MODELS_DIR`` beats ``.amlplatform/models`` of the project
    (``runs.store.project_root``: the same folder as the run records, from any subfolder)."""
    from amlplatform.runs.store import project_root

    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else Path(cwd)
    if not explicit and not env.get(ENV_MODELS_DIR):
        return project_root(cwd) / DEFAULT_MODELS_DIR
    chosen = Path(explicit) if explicit else Path(env[ENV_MODELS_DIR])
    chosen = chosen.expanduser()
    return chosen if chosen.is_absolute() else cwd / chosen


NAMED_OUTPUTS = "named-outputs"  # where azure-ai-ml's `az ml job download --all` puts a job's named outputs


def _not_there(what: str, target: Path, root: Path) -> UserError:
    """``<what>: looked in <target>``, and what the nearest existing folder above it (``root`` at the
    highest) holds."""
    folder = target.parent
    while folder != root and root in folder.parents and not folder.is_dir():
        folder = folder.parent
    shown = f"{folder.relative_to(root).as_posix()}/" if folder != root else f"{folder}/"
    have = sorted(p.name for p in folder.iterdir())[:10] if folder.is_dir() else []
    where = f"{shown} holds: {', '.join(have)}" if have else f"{shown} is empty" if folder.is_dir() else f"no {shown}"
    return UserError(f"{what}: looked in {target} ({where})")


def _relative(path: Optional[str], flag: str = "--path") -> Optional[Path]:
    if path is None or str(path).strip("/") == "":
        return None
    rel = Path(path)
    if rel.is_absolute() or ".." in rel.parts:
        raise UserError(f"{flag} must be relative to the run (like outputs/model), got {path!r}")
    return rel


def run_output_path(run: Mapping[str, Any], run_dir: Path, path: Optional[str] = "outputs", *,
                    output: Optional[str] = None) -> Path:
    """The folder or file of a finished local run to register as a model.

    ``output``: the run's named output (a pipeline's, bound to a step's output, or a step's or command
    job's own), with ``path`` inside it; ``path`` ``named-outputs/<name>/...`` (the layout ``az ml job
    download`` writes) means the same. Else ``path`` inside the run folder (``outputs/model``). An error
    names the folder that was looked in and what is there."""
    name = run.get("name")
    if run.get("status") != "Completed":
        raise UserError(f"run {name!r} is {run.get('status')}; only a Completed run's outputs are registered")
    rel = _relative(path)
    if output is None and rel is not None and rel.parts[0] == NAMED_OUTPUTS and len(rel.parts) > 1:
        output, rel = rel.parts[1], (Path(*rel.parts[2:]) if len(rel.parts) > 2 else None)
    pipeline = run.get("type") == "pipeline"
    named = run.get("named_outputs") or {}
    if output is not None:
        if output not in named:
            known = f"its named outputs: {', '.join(named)}" if named else "it has no named outputs"
            hint = ""
            if pipeline:
                steps = [f"{s} ({v.get('run')})" for s, v in (run.get("steps") or {}).items() if v.get("run")]
                hint = (f"; a step's own output: --run <step run> --output NAME (step runs: {', '.join(steps)})"
                        if steps else "")
            raise UserError(f"run {name!r} has no named output {output!r} ({known}){hint}")
        item = named[output]
        base = Path(item.get("value") if isinstance(item, Mapping) else item)
        target = base / rel if rel is not None else base
        if not target.exists():
            what = f"run {name!r}: output {output!r}" + (f" has no {rel.as_posix()}" if rel is not None else " is missing")
            raise _not_there(what, target, base if rel is not None else base.parent)
        return target
    rel = rel if rel is not None else Path("outputs")
    if pipeline:
        outs = f"its named outputs: {', '.join(named)}" if named else "it has no named outputs"
        raise UserError(f"run {name!r} is a pipeline: its files are in its steps' runs, not in {Path(run_dir) / rel}; "
                        f"give --output NAME ({outs}) or --run <step run>")
    target = Path(run_dir) / rel
    if not target.exists():
        raise _not_there(f"run {name!r} has no {rel.as_posix()}", target, Path(run_dir))
    return target


def job_output_uri(job: str, path: Optional[str], output: Optional[str] = None) -> str:
    """An Azure job's output as a model path, the form azure-ai-ml documents for models
    (azureml-examples cli/jobs/basics/hello-model-as-output.yml: ``azureml://jobs/<job-name>/outputs/
    <output-name>/paths/<path-to-model-relative-to-the-named-output-location>``): the default output
    ``artifacts`` with ``path`` (``outputs/model``), or the named output ``output``."""
    from amlplatform.runs.azure import JOB_NAME

    if not JOB_NAME.match(job):
        raise UserError(f"--job must be an Azure ML job name (letters, digits, '-' and '_'), got {job!r}")
    clean = (path or "").strip("/")
    if ".." in clean.split("/") or (not clean and output is None):
        raise UserError(f"--path must be a path inside the job's outputs (like outputs/model), got {path!r}")
    if output is None and clean.split("/")[0] == NAMED_OUTPUTS and len(clean.split("/")) > 1:
        parts = clean.split("/")
        output, clean = parts[1], "/".join(parts[2:])
    if output is not None:
        check_name(output, "--output")
        return f"azureml://jobs/{job}/outputs/{output}/paths/" + (f"{clean}/" if clean else "")
    return f"azureml://jobs/{job}/outputs/artifacts/paths/{clean}/"


_REF = re.compile(r"azureml:(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)(?::(?P<version>[A-Za-z0-9][A-Za-z0-9_.-]*)|@(?P<label>latest))")


def stack_references(name: str, version: str, latest: Optional[str], files: Iterable[Path]) -> list[str]:
    """``file:line`` of every ``azureml:<name>:<version>`` (or ``azureml:<name>@latest`` when
    ``version`` is the latest) in these stack files: a stack's online deployment names its model so."""
    found = []
    for path in files:
        try:
            lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for n, line in enumerate(lines, 1):
            for m in _REF.finditer(line):
                if m["name"] != name:
                    continue
                if m["version"] == version or (m["label"] and latest == version):
                    found.append(f"{path}:{n}")
    return found


def stack_files(roots: Iterable[Path]) -> list[Path]:
    """``Pulumi.*.yaml`` in each folder and in its ``stacks/`` folder."""
    out: list[Path] = []
    for root in roots:
        root = Path(root)
        for folder in (root, root / "stacks"):
            if folder.is_dir():
                out += sorted(p for p in folder.glob("Pulumi.*.yaml") if p.is_file())
    return out


# ---------------------------------------------------------------- local deployments


class Deployments:
    """Local deployment records: ``<root>/<deployment>.json`` = ``{"name", "model": "name:version", ...}``.

    ``amlplatform serve MODEL --deployment NAME`` writes one (and replaces an older one of that name:
    a deployment is updated to a new model version, as in Azure ML); ``amlplatform deployments delete``
    removes it. While a record names a model version, that version cannot be deleted.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, name: str, what: str = "deployment name") -> Path:
        """``<root>/<name>.json`` for a valid deployment name; any other name is refused before a path is made."""
        check_deployment_name(name, what)
        path = self.root / f"{name}.json"
        if path.resolve().parent != self.root.resolve():  # cannot happen for a valid name; never act outside the store
            raise UserError(f"{what} {name!r} does not name a file in {self.root}")
        return path

    def record(self, name: str, model_name: str, version: str, **extra: Any) -> dict[str, Any]:
        check_deployment_name(name, "--deployment")
        private_dir(self.root)
        data = {"name": name, "model": f"{model_name}:{version}", "updated_at": now_iso(), **extra}
        write_json_atomic(self.path(name), data)
        return data

    def all(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        out = []
        for p in sorted(self.root.glob("*.json")):
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and isinstance(data.get("model"), str):
                out.append(data)
        return out

    def using(self, model_name: str, version: str) -> list[str]:
        return [d["name"] for d in self.all() if d["model"] == f"{model_name}:{version}"]

    def delete(self, name: str) -> None:
        try:
            self.path(name).unlink()
        except FileNotFoundError:
            raise UserError(f"no local deployment named {name!r} under {self.root}") from None


# ---------------------------------------------------------------- the local registry


@dataclass
class Resolved:
    """A model version ready to serve: its record and the folder AZUREML_MODEL_DIR points at."""

    name: Optional[str]
    version: Optional[str]
    model_dir: Path  # AZUREML_MODEL_DIR
    model_path: Path  # the model's own folder or file (model_dir / basename)
    model_type: str
    record: Optional[dict[str, Any]] = None


class LocalRegistry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def deployments(self) -> Deployments:
        return Deployments(self.root.parent / "deployments")

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".") and self._versions(p.name))

    def _versions(self, name: str) -> list[str]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return [p.name for p in folder.iterdir() if (p / RECORD).is_file()]

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Records of every version, oldest first (whole numbers by value, then the others by name)."""
        recs = [self.get(name, v) for v in self._versions(name)]
        return sorted(recs, key=lambda r: (0, int(r["version"]), "") if r["version"].isdigit() else (1, 0, r["version"]))

    def latest(self, name: str) -> Optional[dict[str, Any]]:
        recs = self.versions(name)
        return recs[-1] if recs else None

    def get(self, name: str, version: Optional[str] = None) -> dict[str, Any]:
        check_name(name)
        if version is None:
            rec = self.latest(name)
            if rec is None:
                raise UserError(f"no model named {name!r} under {self.root} (see 'amlplatform model list')")
            return rec
        path = self.root / name / version / RECORD
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            have = ", ".join(sorted(self._versions(name))) or "none"
            raise UserError(f"no version {version!r} of model {name!r} under {self.root} (versions: {have})") from None
        except (OSError, ValueError) as exc:
            raise UserError(f"model record {path} cannot be read: {exc}") from None

    def resolve(self, ref: str) -> Resolved:
        name, version = parse_ref(ref)
        rec = self.get(name, version)
        model_dir = self.root / name / rec["version"] / ARTIFACTS
        return Resolved(name, rec["version"], model_dir, model_dir / rec["path"], rec["type"], rec)

    def register(
        self,
        source: Path,
        name: str,
        *,
        version: Optional[str] = None,
        description: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        model_type: Optional[str] = None,
        origin: Optional[Mapping[str, Any]] = None,
        snapshot: Optional[Snapshot] = None,
    ) -> dict[str, Any]:
        """Copy the model's files into a new version and record it; the version folder is claimed
        with an exclusive ``mkdir`` (two concurrent registrations get two versions), the record is
        written last, and a failed copy leaves nothing behind."""
        from amlplatform.runs.snapshot import copy_snapshot

        check_name(name)
        if version is not None:
            check_version(version)
        source = Path(source)
        kind = check_type(source, model_type)
        flavors = mlflow_flavors(source) if kind == MLFLOW_MODEL else []
        snap = snapshot or model_snapshot(source)
        folder = private_dir(self.root / name)  # the registry is private: 0700 folders, 0600 files
        if version is not None and (folder / f".deleted-{version}").exists():
            raise UserError(f"version {version} of model {name} was deleted; a version number is never reused "
                            "(leave out --version for the next one)")
        for _ in range(50):
            chosen = version or next_version(self._versions(name) + self._claimed(name))
            target = folder / chosen
            try:
                target.mkdir(mode=PRIVATE_DIR_MODE)
                os.chmod(target, PRIVATE_DIR_MODE)
                break
            except FileExistsError:
                if version is not None:
                    raise UserError(f"model {name} already has version {version}; versions are never overwritten "
                                    "(leave out --version for the next one)") from None
        else:  # pragma: no cover - 50 concurrent registrations of one name
            raise UserError(f"could not pick a free version of model {name} under {self.root}")
        try:
            copy_snapshot(snap, target / ARTIFACTS)
            private_tree(target / ARTIFACTS)  # the copies keep no group/other bits of their sources
            record = {
                "name": name,
                "version": chosen,
                "type": kind,
                "path": source.name,
                "description": description,
                "tags": dict(tags or {}),
                "properties": {HASH_PROPERTY: snap.content_hash, HASH_VERSION_PROPERTY: HASH_VERSION},
                "flavors": flavors,
                "content_hash": snap.content_hash,
                "files": len(snap.files),
                "bytes": snap.total_bytes,
                "source": dict(origin or {"path": str(source.resolve())}),
                "created_at": now_iso(),
            }
            write_json_atomic(target / RECORD, record)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return record

    def _claimed(self, name: str) -> list[str]:
        """Versions that are not free although they have no record: folders claimed by a registration
        still copying, and deleted versions (a ``.deleted-<version>`` marker: a number is never given
        to other content, since something outside this registry may still name it)."""
        folder = self.root / name
        if not folder.is_dir():
            return []
        out = []
        for p in folder.iterdir():
            if p.is_dir() and not (p / RECORD).is_file():
                out.append(p.name)
            elif p.is_file() and p.name.startswith(".deleted-"):
                out.append(p.name[len(".deleted-"):])
        return out

    def delete(self, name: str, version: str, *, stack_roots: Iterable[Path] = ()) -> dict[str, Any]:
        """Delete one version, unless a local deployment or a stack file uses it."""
        rec = self.get(name, check_version(version))
        users = [f"local deployment {d} ({self.deployments.root / (str(d) + '.json')})" for d in self.deployments.using(name, version)]
        latest = self.latest(name)
        users += [f"stack file {where}" for where in
                  stack_references(name, version, latest["version"] if latest else None, stack_files(stack_roots))]
        if users:
            raise UserError(f"model {name}:{version} is used by a deployment; delete or repoint the deployment first:", users)
        target = self.root / name / version
        (self.root / name / f".deleted-{version}").touch()
        # the record goes first: from then on the version does not exist, even if removing the files fails
        (target / RECORD).unlink()
        shutil.rmtree(target, ignore_errors=True)
        return rec


def resolve_local_path(path: Path) -> Resolved:
    """A model that is not registered: a folder (MLflow or custom) or a file, served in place."""
    path = Path(path).resolve()
    if not path.exists():
        raise UserError(f"model {path} does not exist (give a path, name:version or name@latest)")
    return Resolved(None, None, path.parent, path, model_type_of(path))


# ---------------------------------------------------------------- the workspace registry


def version_body(
    *,
    model_type: str,
    model_uri: str,
    description: Optional[str] = None,
    tags: Optional[Mapping[str, str]] = None,
    properties: Optional[Mapping[str, str]] = None,
    job_name: Optional[str] = None,
) -> dict[str, Any]:
    """The body of ``PUT W/models/{name}/versions/{version}`` (as azure-ai-ml sends it; pure)."""
    if model_type not in MODEL_TYPES:
        raise UserError(f"model type must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}")
    props: dict[str, Any] = {
        "properties": {str(k): str(v) for k, v in (properties or {}).items()},
        "tags": {str(k): str(v) for k, v in (tags or {}).items()},
        "isAnonymous": False,
        "isArchived": False,
        "modelType": model_type,
        "modelUri": model_uri,
    }
    if description:
        props["description"] = description
    if job_name:
        props["jobName"] = job_name
    return {"properties": props}


def datastore_snapshot(snap: Snapshot, basename: str) -> "DataSnapshot":
    """The model's files (``model_snapshot``: ``<basename>/<relative path>``, or ``<basename>`` for one file)
    as the data upload takes them: relative to the model folder, under azure-ai-ml's object hash of the
    model path (``get_object_hash``), so the blobs go to ``LocalUpload/<hash>/<basename>`` (pure but for
    reading the files to hash them)."""
    from amlplatform.runs.snapshot import DataSnapshot, object_hash

    source = Path(snap.root) / basename
    if len(snap.files) == 1 and snap.files[0].relpath == basename:
        f = snap.files[0]
        return DataSnapshot(source, True, [f], list(snap.excluded), snap.total_bytes,
                            object_hash(Path(snap.root), [f], single_file=True))
    prefix = f"{basename}/"
    if not snap.files or not all(f.relpath.startswith(prefix) for f in snap.files):
        raise UserError(f"model files are not all under {basename!r}; nothing was uploaded")
    files = [SnapshotFile(f.relpath[len(prefix):], f.path, f.size) for f in snap.files]
    return DataSnapshot(source, False, files, list(snap.excluded), snap.total_bytes, object_hash(source, files))


def summarize_version(body: Mapping[str, Any]) -> dict[str, Any]:
    """One workspace model version answer as the local record's fields (for list/show output)."""
    props = body.get("properties") or {}
    rid = str(body.get("id") or "")
    m = re.search(r"/models/([^/]+)/versions/([^/]+)$", rid)
    return {
        "name": m.group(1) if m else None,
        "version": body.get("name"),
        "type": props.get("modelType"),
        "description": props.get("description"),
        "tags": props.get("tags") or {},
        "properties": props.get("properties") or {},
        "model_uri": props.get("modelUri"),
        "job_name": props.get("jobName"),
        "created_at": (body.get("systemData") or {}).get("createdAt"),
        "id": rid,
    }


class WorkspaceModels:
    """Model versions of one workspace over the run shim's ARM pipeline and data upload."""

    def __init__(self, client: Any) -> None:
        self.client = client  # an ``amlplatform.runs.azure.AzureMLClient``
        self.pipeline = client.pipeline
        self._w = client.coords.workspace_id

    def _models(self, name: str = "") -> str:
        return f"{self._w}/models" + (f"/{check_name(name)}" if name else "")

    def container(self, name: str) -> Optional[dict[str, Any]]:
        from amlplatform.runs.rest import ServerError

        path = self._models(name)
        try:
            return self.pipeline.call("read the model", "GET", path).body
        except ServerError as exc:
            if exc.status == 404:
                return None
            raise

    def next_version(self, name: str) -> str:
        """``properties.nextVersion`` of the container, ``1`` for a new name; when the service gives
        no ``nextVersion``, the highest whole-number version + 1 (from the version list)."""
        container = self.container(name)
        if container is None:
            return "1"
        nxt = (container.get("properties") or {}).get("nextVersion")
        if isinstance(nxt, str) and VERSION.match(nxt):
            return nxt
        return next_version([str(v.get("name")) for v in self.version_bodies(name)])

    def _paged(self, what: str, path: str) -> list[dict[str, Any]]:
        from urllib.parse import parse_qsl, urlsplit

        from amlplatform.runs.rest import need

        items: list[dict[str, Any]] = []
        params: dict[str, str] = {}
        for _ in range(100):
            answer = self.pipeline.call(what, "GET", path, params=params)
            items += [v for v in need(answer.body, "value", f"{what} (GET {path})", list) if isinstance(v, dict)]
            link = (answer.body or {}).get("nextLink")
            if not link:
                break
            parts = urlsplit(link)
            if f"{parts.scheme}://{parts.netloc}".lower() != self.pipeline.endpoint.lower():
                raise UserError(f"{what}: the service's nextLink leaves {self.pipeline.endpoint}: {link[:120]}")
            path = parts.path
            params = {k: v for k, v in parse_qsl(parts.query) if k != "api-version"}
        return items

    def version_bodies(self, name: str) -> list[dict[str, Any]]:
        return self._paged("list the model's versions", f"{self._models(name)}/versions")

    def containers(self) -> list[dict[str, Any]]:
        return self._paged("list the models", self._models())

    def get(self, name: str, version: Optional[str] = None) -> dict[str, Any]:
        from amlplatform.runs.rest import ServerError, need

        if version is None:
            container = self.container(name)
            if container is None:
                raise UserError(f"no model named {name!r} in workspace {self.client.coords.workspace_name}")
            version = need(container, "properties.latestVersion", f"read the model (GET {self._models(name)})")
        path = f"{self._models(name)}/versions/{check_version(version)}"
        try:
            return self.pipeline.call("read the model version", "GET", path).body
        except ServerError as exc:
            if exc.status == 404:
                raise UserError(f"no version {version!r} of model {name!r} in workspace {self.client.coords.workspace_name}") from None
            raise

    def upload(self, snap: Snapshot, basename: str, *, progress: Any = None) -> str:
        """Upload the model's files to the default datastore (nothing is sent when they are already there)
        and return the ``modelUri`` azure-ai-ml 1.35 writes for a local model path.

        sdk/ml/azure-ai-ml/azure/ai/ml/operations/_model_operations.py ``create_or_update``:
        ``_check_and_upload_path(artifact=model, asset_operations=self, sas_uri=sas_uri, ...)`` with
        ``sas_uri`` set only ``if self._registry_name``; _artifacts/_artifact_utilities.py
        ``_upload_to_datastore`` -> ``upload_artifact`` (``datastore_name`` ``None`` -> ``WORKSPACE_BLOB_STORE``;
        ``relative_path`` = ``artifact_info["remote path"]`` = ``LocalUpload/<hash>/<source name>``);
        entities/_assets/_artifacts/model.py ``Model._update_path``:
        ``LONG_URI_FORMAT.format(sub, rg, ws, datastore, relative_path)``, constants/_common.py
        ``LONG_URI_FORMAT = "azureml://subscriptions/{}/resourcegroups/{}/workspaces/{}/datastores/{}/paths/{}"``.
        """
        data = datastore_snapshot(snap, basename)
        self.client.upload_data(data, datastore=DEFAULT_DATASTORE, progress=progress)
        c = self.client.coords
        return (f"azureml://subscriptions/{c.subscription_id}/resourcegroups/{c.resource_group}/workspaces/"
                f"{c.workspace_name}/datastores/{DEFAULT_DATASTORE}/paths/{data.upload_prefix}")

    def register(
        self,
        name: str,
        *,
        model_type: str,
        model_uri: Optional[str] = None,
        snapshot: Optional[Snapshot] = None,
        basename: Optional[str] = None,
        version: Optional[str] = None,
        description: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        properties: Optional[Mapping[str, str]] = None,
        job_name: Optional[str] = None,
        progress: Any = None,
    ) -> dict[str, Any]:
        """Register a model version: local files (``snapshot`` + ``basename``) are uploaded first; an
        Azure job output is referenced by ``model_uri``. Returns the version as the service answered."""
        from amlplatform.runs.azure import _is_conflict
        from amlplatform.runs.rest import ServerError, need

        check_name(name)
        if version is not None:
            check_version(version)
        props = dict(properties or {})
        # every check that needs no network first: nothing is uploaded for a body the service would refuse
        version_body(model_type=model_type, model_uri=model_uri or "-", description=description, tags=tags,
                     properties=props, job_name=job_name)
        if snapshot is not None:
            props.update({HASH_PROPERTY: snapshot.content_hash, HASH_VERSION_PROPERTY: HASH_VERSION})
            if not basename:
                raise UserError("register a local model: the model's file or folder name is missing")
            model_uri = self.upload(snapshot, basename, progress=progress)
        if not model_uri:
            raise UserError("nothing to register: give a local path, --run or --job")
        body = version_body(model_type=model_type, model_uri=model_uri, description=description, tags=tags,
                            properties=props, job_name=job_name)
        for _ in range(5):
            chosen = version or self.next_version(name)
            path = f"{self._models(name)}/versions/{chosen}"
            try:
                answer = self.pipeline.call("register the model version", "PUT", path, body=body, ok=(200, 201))
                need(answer.body, "id", f"register the model version (PUT {path})")
                return answer.body
            except ServerError as exc:
                if not _is_conflict(exc):
                    raise
                if version is not None:
                    raise UserError(f"model {name} already has version {version} in workspace "
                                    f"{self.client.coords.workspace_name}; versions are never overwritten "
                                    "(leave out --version for the next one)") from None
                # another registration took this number between our GET and PUT: ask again
        raise UserError(f"register the model version: version numbers of {name} kept being taken; try again")

