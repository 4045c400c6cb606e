"""Azure ML CLI v2 job YAML: the one format ``amlplatform submit --file`` reads.

``load_job(path, overrides)`` accepts the files ``az ml job create --file`` accepts for
``type: command`` and ``type: pipeline`` (azure-ai-ml 1.35's ``CommandJobSchema`` /
``PipelineJobSchema``) and returns a frozen model. Bad files raise ``UserError`` naming each bad
field with the message azure-ai-ml gives (``Unknown field.``, ``Missing data for required
field.``, ``Not a valid integer.``, ``Value 'x' passed is not in set [...]``); the tests check
every file azure-ai-ml rejects is rejected here too (tests/runs/test_contract.py). This module
imports neither Pulumi nor azure-ai-ml; ``yaml`` is imported when a file is read.

The model
---------
``CommandJob`` (``type: command``)
    ``source`` the YAML file (absolute), ``base_dir`` its folder (relative paths in the file are
    relative to it, as in azure-ai-ml). ``name`` (``None``: chosen at submit),
    ``display_name``, ``description``, ``experiment_name`` (default: the current folder's name,
    as azure-ai-ml does), ``tags``, ``properties``; ``command`` (text with ``${{inputs.x}}`` /
    ``${{outputs.y}}`` placeholders, unresolved); ``code`` (a ``CodeRef``: a local folder, or an
    ``azureml:``/URL reference) or ``None``; ``inputs`` / ``outputs`` (``dict`` name ->
    ``JobInput`` / ``JobOutput``); ``environment`` (``Environment``); ``environment_variables``
    (text values); ``compute`` (``"local"``, a cluster name without ``azureml:``, or ``None`` =
    the workspace default); ``resources`` (``Resources``) and ``distribution``
    (``Distribution``) or ``None``; ``timeout`` (``limits.timeout``, seconds) or ``None``;
    ``identity`` (``Identity``) or ``None``.
``PipelineJob`` (``type: pipeline``)
    the same metadata fields, ``compute``, ``inputs``, ``outputs``, ``settings``
    (``PipelineSettings``) and ``jobs``: ``dict`` step name -> ``PipelineStep``. A step holds its
    ``job`` (a ``CommandJob`` whose inputs/outputs carry ``binding`` and, resolved, the type and
    path of what they are bound to), ``is_deterministic`` (default ``True``; set in the step's
    component), ``depends_on`` (steps whose outputs it reads) and ``component`` (the component
    file it came from, if any). ``PipelineJob.order()`` gives the steps in dependency order and
    ``PipelineJob.levels()`` groups steps that can run in parallel. A step's ``job.compute`` is its own
    ``compute``, else ``settings.default_compute``, else the pipeline's ``compute``.
``JobInput``
    ``type``: ``"literal"`` (``value`` is the str/int/float/bool), ``"uri_file"``,
    ``"uri_folder"``, ``"mltable"``, ``"mlflow_model"``, ``"custom_model"``, ``"triton_model"``;
    ``path`` as written; ``path_kind``: ``"local"`` (then ``local_path`` is absolute),
    ``"datastore"`` (``azureml://``), ``"url"`` (``https://``, ``wasbs://``, ``abfss://``...),
    ``"asset"`` (``azureml:name:version`` / ``azureml:name@label``), ``"step_output"`` (a pipeline
    step's input bound to another step's output) or ``None``; ``mode`` (``ro_mount``,
    ``download``, ``direct``, ... or ``None`` = the service default); ``binding`` (``Binding``).
``JobOutput``
    ``type``, ``path`` (``azureml://datastores/...`` or ``None`` = the default location),
    ``mode`` (``rw_mount``, ``upload``, ``direct`` or ``None``), ``binding`` (a step output bound
    to ``${{parent.outputs.x}}``), ``name``/``version`` (register the output as an asset).
``Binding``
    ``${{parent.inputs.x}}`` -> ``Binding("parent_inputs", "x")``;
    ``${{parent.outputs.x}}`` -> ``Binding("parent_outputs", "x")``;
    ``${{parent.jobs.s.outputs.y}}`` -> ``Binding("step_outputs", "y", step="s")``.

Overrides (``--set key.path=value``) are applied to the YAML mapping before validation, as
azure-ai-ml's ``params_override`` does (``pydash.set_``-style dotted paths); the value stays text,
as the az CLI passes it, and each field converts it as azure-ai-ml's does
(``--set resources.instance_count=2`` is the integer 2; ``--set inputs.flag=yes`` the text ``yes``).

Documented differences from azure-ai-ml: ``services``, ``queue_settings`` and Ray distribution
are accepted by azure-ai-ml but refused here (we cannot honour them) with an error saying so;
pipeline steps must be command steps (``type: command`` inline, or ``component:`` a command
component file / inline mapping / ``azureml:`` reference).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from amlplatform.errors import UserError

LOCAL = "local"
# ``compute: serverless`` (or ``azureml:serverless``): Azure ML serverless compute; azure-ai-ml sends the literal
# ``serverless`` as computeId (``azure.ai.ml.constants._common.ComputeType.SERVERLESS``; see
# https://learn.microsoft.com/azure/machine-learning/how-to-use-serverless-compute)
SERVERLESS = "serverless"
COMMAND_SCHEMA = "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json"
PIPELINE_SCHEMA = "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json"

# azure.ai.ml.constants._common.AssetTypes / InputOutputModes (azure-ai-ml 1.35)
DATA_TYPES = ("uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model", "triton_model")
INPUT_MODES = ("ro_mount", "download", "direct")  # DataInputSchema / ModelInputSchema
MLTABLE_INPUT_MODES = ("download", "ro_mount", "eval_mount", "eval_download", "direct")  # MLTableInputSchema
OUTPUT_MODES = ("mount", "upload", "rw_mount", "direct")  # OutputSchema
LITERAL_TYPES = ("string", "integer", "number", "boolean")
DISTRIBUTION_TYPES = ("pytorch", "mpi", "tensorflow")
IDENTITY_TYPES = ("user_identity", "managed", "managed_identity", "aml_token")

BINDING = re.compile(r"\$\{\{\s*([^{}]*?)\s*\}\}")
_PARENT_INPUT = re.compile(r"^parent\.inputs\.([A-Za-z_][A-Za-z0-9_]*)$")
_PARENT_OUTPUT = re.compile(r"^parent\.outputs\.([A-Za-z_][A-Za-z0-9_]*)$")
_STEP_OUTPUT = re.compile(r"^parent\.jobs\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z_][A-Za-z0-9_]*)$")
_OWN_REF = re.compile(r"^(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)$")
IO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # azure-ai-ml: "is not a valid python identifier"
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
URL_SCHEMES = ("https://", "http://", "wasbs://", "wasb://", "abfss://", "abfs://", "adl://", "gs://", "s3://")
# azureml:name:version, azureml:name@label (azure-ai-ml ArmVersionedStr)
ASSET_REF = re.compile(r"^azureml:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?::(?P<version>[^:@/]+)|@(?P<label>[^:@/]+))?$")
ARM_ID = re.compile(r"^(azureml:)?/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/", re.I)
REGISTRY_REF = re.compile(r"^azureml://registries/[^/]+/(environments|components|models|data|codes)/.+$")


# ---------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Binding:
    scope: str  # "parent_inputs" | "parent_outputs" | "step_outputs"
    name: str
    step: Optional[str] = None

    @property
    def expression(self) -> str:
        if self.scope == "step_outputs":
            return f"${{{{parent.jobs.{self.step}.outputs.{self.name}}}}}"
        return f"${{{{parent.{self.scope.split('_')[1]}.{self.name}}}}}"


@dataclass(frozen=True)
class JobInput:
    name: str
    type: str
    value: Union[str, int, float, bool, None] = None
    path: Optional[str] = None
    path_kind: Optional[str] = None
    local_path: Optional[Path] = None
    mode: Optional[str] = None
    binding: Optional[Binding] = None
    description: Optional[str] = None
    # a bound step input given as a mapping ({path: ${{...}}, type, mode}): the type and mode the step itself
    # gives (azure-ai-ml sends these on the node and in the step's component spec, not the source's)
    node_type: Optional[str] = None
    node_mode: Optional[str] = None

    @property
    def is_literal(self) -> bool:
        return self.type == "literal"


@dataclass(frozen=True)
class JobOutput:
    name: str
    type: str = "uri_folder"
    path: Optional[str] = None
    mode: Optional[str] = None
    binding: Optional[Binding] = None
    asset_name: Optional[str] = None
    asset_version: Optional[str] = None
    description: Optional[str] = None


@dataclass(frozen=True)
class CodeRef:
    """``code:`` — a local folder (``local_path``) or a remote reference (``ref``: azureml:/https:/git+)."""

    local_path: Optional[Path] = None
    ref: Optional[str] = None


@dataclass(frozen=True)
class Environment:
    """``kind`` "asset" (``ref`` = ``azureml:name:version`` / ``azureml:name@label``), "arm" (an ARM
    id), "registry" (``azureml://registries/...``) or "inline" (``image`` and/or ``conda_file``)."""

    kind: str
    ref: Optional[str] = None
    name: Optional[str] = None
    version: Optional[str] = None
    label: Optional[str] = None
    image: Optional[str] = None
    conda_file: Optional[Path] = None
    conda: Optional[Mapping[str, Any]] = None
    build_path: Optional[Path] = None
    dockerfile_path: Optional[str] = None
    description: Optional[str] = None


@dataclass(frozen=True)
class Resources:
    instance_count: Optional[int] = None
    instance_type: Optional[str] = None
    shm_size: Optional[str] = None
    docker_args: Optional[str] = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Distribution:
    type: str  # "pytorch" | "mpi" | "tensorflow"
    process_count_per_instance: Optional[int] = None
    worker_count: Optional[int] = None  # tensorflow
    parameter_server_count: Optional[int] = None  # tensorflow


@dataclass(frozen=True)
class Identity:
    type: str  # "user_identity" | "managed" | "aml_token"
    client_id: Optional[str] = None
    object_id: Optional[str] = None
    msi_resource_id: Optional[str] = None


@dataclass(frozen=True)
class CommandJob:
    source: Optional[Path]
    base_dir: Path
    command: str
    environment: Environment
    name: Optional[str] = None
    display_name: Optional[str] = None
    description: Optional[str] = None
    experiment_name: Optional[str] = None
    tags: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, str] = field(default_factory=dict)
    code: Optional[CodeRef] = None
    inputs: Mapping[str, JobInput] = field(default_factory=dict)
    outputs: Mapping[str, JobOutput] = field(default_factory=dict)
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    compute: Optional[str] = None
    resources: Optional[Resources] = None
    distribution: Optional[Distribution] = None
    timeout: Optional[int] = None
    identity: Optional[Identity] = None
    type: str = "command"

    @property
    def is_local(self) -> bool:
        return self.compute == LOCAL


@dataclass(frozen=True)
class PipelineSettings:
    default_compute: Optional[str] = None
    default_datastore: Optional[str] = None
    default_environment: Optional[str] = None
    continue_on_step_failure: Optional[bool] = None
    force_rerun: Optional[bool] = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepNode:
    """What a pipeline node itself sets over its component (azure-ai-ml ``Command._to_rest_object``: these go
    on the node, not into the component spec). For an inline step, the step's own values."""

    resources: Optional[Resources] = None
    distribution: Optional[Distribution] = None
    timeout: Optional[int] = None
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    identity: Optional[Identity] = None
    tags: Optional[Mapping[str, str]] = None


@dataclass(frozen=True)
class PipelineStep:
    name: str
    job: CommandJob
    is_deterministic: bool = True
    depends_on: tuple[str, ...] = ()
    component: Optional[str] = None  # "./train.yml" (resolved absolute), "azureml:name:version", or None (inline)
    component_name: Optional[str] = None
    component_version: Optional[str] = None
    own_compute: Optional[str] = None  # the compute the step names itself (job.compute also has the default)
    node_inputs: Optional[tuple[str, ...]] = None  # inputs the step's own YAML gives (None: no inputs: key)
    node_outputs: Optional[tuple[str, ...]] = None  # outputs the step's own YAML gives (None: no outputs: key)
    component_schema: Optional[str] = None  # the component file's $schema (azure-ai-ml sends it in the spec)
    # a component's declared inputs as its spec sends them (type, default, optional, min, max, enum, mode,
    # description); None for an inline step, whose ports come from its inputs
    ports: Optional[Mapping[str, Mapping[str, Any]]] = None
    out_ports: Optional[Mapping[str, Mapping[str, Any]]] = None  # likewise its declared outputs (type, mode)
    spec_resources: Optional[Resources] = None  # the component's own resources (its spec)
    spec_distribution: Optional[Distribution] = None  # the component's own distribution (its spec)
    node: StepNode = field(default_factory=StepNode)
    kind: str = "command"  # the node type: "command", "parallel" or "sweep"
    parallel: Any = None  # runs.parallel.ParallelSettings of a parallel step
    sweep: Any = None  # runs.sweep.SweepSettings of a sweep step (job: its trial)
    # a registered component (azureml:name:version, azureml:name@latest, azureml://registries/...): the reference
    # as written; azure-ai-ml sends it as the node's componentId (resolved to its ARM id), never re-registering it
    registered: Optional[str] = None
    # a registered component not in the local asset store: only the node is known (enough for Azure ML, where the
    # workspace resolves it; a local run says it is missing)
    opaque: bool = False
    # a pipeline component step (kind "pipeline"): the component's own pipeline (its jobs, inputs, outputs);
    # ``job`` then holds only the node's inputs and outputs (its command is empty)
    pipeline: Any = None


@dataclass(frozen=True)
class PipelineJob:
    source: Optional[Path]
    base_dir: Path
    jobs: Mapping[str, PipelineStep]
    name: Optional[str] = None
    display_name: Optional[str] = None
    description: Optional[str] = None
    experiment_name: Optional[str] = None
    tags: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, str] = field(default_factory=dict)
    compute: Optional[str] = None
    inputs: Mapping[str, JobInput] = field(default_factory=dict)
    outputs: Mapping[str, JobOutput] = field(default_factory=dict)
    settings: PipelineSettings = field(default_factory=PipelineSettings)
    identity: Optional[Identity] = None
    type: str = "pipeline"

    @property
    def is_local(self) -> bool:
        return self.compute == LOCAL or (self.compute is None and self.settings.default_compute == LOCAL)

    def order(self) -> list[str]:
        """Step names in dependency order (ties in file order)."""
        return [name for level in self.levels() for name in level]

    def levels(self) -> list[list[str]]:
        """Groups of steps; every step's dependencies are in earlier groups."""
        return _levels({n: s.depends_on for n, s in self.jobs.items()})


Job = Union[CommandJob, PipelineJob]


# ---------------------------------------------------------------------------- loading


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path or '(root)'}: {message}")


def load_job(path: Path, overrides: Sequence[str] = ()) -> Job:
    """Read, override and validate a job YAML file; ``UserError`` lists every bad field."""
    path = Path(path)
    data = read_yaml(path)
    data = apply_overrides(data, overrides)
    return parse_job(data, base_dir=path.resolve().parent, source=path.resolve())


def read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise UserError(f"job file {path} does not exist (or is not a file)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"job file {path} is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise UserError(f"job file {path} is not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"job file {path} must be a mapping (type, command, environment, ...)")
    _refuse_old_spec(path, data)
    return data


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """``key.path=value`` pairs set into a copy of ``data`` (intermediate mappings are created)."""
    import copy

    out = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. --set inputs.learning_rate=0.01")
        value = raw  # text, as the az CLI passes it in params_override; fields convert it as azure-ai-ml's do
        parts = key.split(".")
        node: Any = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part) if isinstance(node, dict) else None
            if nxt is None:
                nxt = {}
                node[part] = nxt
            elif not isinstance(nxt, dict):
                raise UserError(f"--set {key}: {'.'.join(parts[:i + 1])} is {type(nxt).__name__}, not a mapping")
            node = nxt
        node[parts[-1]] = value
    return out


def parse_job(data: Mapping[str, Any], *, base_dir: Path, source: Optional[Path] = None) -> Job:
    problems = _Problems()
    kind = data.get("type", "command")
    if kind == "command":
        job: Any = _command_job(data, "", base_dir, source, problems, in_pipeline=False)
    elif kind == "pipeline":
        job = _pipeline_job(data, base_dir, source, problems)
    elif kind == "sweep":
        from amlplatform.runs.sweep import parse_sweep

        job = parse_sweep(data, base_dir, source, problems)
    else:
        problems.add("type", f"Value {kind!r} passed is not in set ['command', 'pipeline', 'sweep'] "
                     "(amlplatform runs command, pipeline and sweep jobs; spark and automl are not supported)")
        job = None
    if problems.items:
        where = f"job file {source}" if source is not None else "job"
        raise UserError(f"{where} is not valid:", problems.items)
    return job


# ---------------------------------------------------------------------------- helpers


def _join(prefix: str, key: Any) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _str(v: Any, path: str, problems: _Problems, *, required: bool = False) -> Optional[str]:
    if v is None:
        if required:
            problems.add(path, "Missing data for required field.")
        return None
    if not isinstance(v, str):
        problems.add(path, "Not a valid string.")
        return None
    return v


def _int(v: Any, path: str, problems: _Problems) -> Optional[int]:
    if v is None:
        return None
    if isinstance(v, bool):
        problems.add(path, "Not a valid integer.")
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            pass
    problems.add(path, "Not a valid integer.")
    return None


def _bool(v: Any, path: str, problems: _Problems) -> Optional[bool]:
    if v is None or isinstance(v, bool):
        return v
    # marshmallow fields.Bool truthy/falsy sets
    if isinstance(v, str) and v.lower() in ("true", "t", "yes", "y", "on", "1"):
        return True
    if isinstance(v, str) and v.lower() in ("false", "f", "no", "n", "off", "0"):
        return False
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    problems.add(path, "Not a valid boolean.")
    return None


def _enum(v: Any, allowed: Sequence[str], path: str, problems: _Problems) -> Optional[str]:
    """azure-ai-ml StringTransformedEnum: case-insensitive, message ``Value 'x' passed is not in set [...]``."""
    if v is None:
        return None
    if isinstance(v, str) and v.lower() in allowed:
        return v.lower()
    problems.add(path, f"Value {v!r} passed is not in set {list(allowed)}")
    return None


def _str_map(v: Any, path: str, problems: _Problems, *, allow_none: bool = True) -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        problems.add(path, "Not a valid mapping type.")
        return {}
    out = {}
    for k, x in v.items():
        if x is None and allow_none:
            out[str(k)] = ""
        elif isinstance(x, str):
            out[str(k)] = x
        else:
            problems.add(_join(path, k), "Not a valid string.")
    return out


def _mapping(v: Any, path: str, problems: _Problems) -> Optional[Mapping[str, Any]]:
    if v is None:
        return None
    if not isinstance(v, Mapping):
        problems.add(path, "Invalid input type." if not isinstance(v, str) else "Not a valid mapping type.")
        return None
    return v


def _unknown(d: Mapping[str, Any], known: Iterable[str], path: str, problems: _Problems) -> None:
    known = set(known)
    for k in d:
        if k not in known:
            problems.add(_join(path, k), "Unknown field.")


def _compute(v: Any, path: str, problems: _Problems) -> Optional[str]:
    s = _str(v, path, problems)
    if s is None:
        return None
    if s.lower() == LOCAL:
        return LOCAL
    if s.startswith("azureml:"):
        s = s[len("azureml:"):]
    if s.lower() == SERVERLESS:
        return SERVERLESS
    m = re.match(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/"
                 r"workspaces/[^/]+/computes/([^/]+)$", s, re.I)
    if m:
        return s  # an ARM id is sent as given (it may name another workspace's compute), as azure-ai-ml does
    if not s or "/" in s:
        problems.add(path, f"{v!r} is not a compute: give 'local', 'azureml:<compute name>' or the compute's ARM id")
        return None
    return s


def classify_path(p: str) -> str:
    """``local`` | ``datastore`` | ``url`` | ``asset`` for an input/code path as written."""
    if p.startswith("azureml://"):
        return "datastore"
    if p.startswith("azureml:"):
        return "asset"
    if p.lower().startswith(URL_SCHEMES) or p.startswith("git+"):
        return "url"
    return "local"


def _local(base_dir: Path, p: str) -> Path:
    q = Path(p).expanduser()
    if p.startswith("file:"):
        q = Path(p[len("file:"):])
    return (q if q.is_absolute() else base_dir / q).resolve()


def _binding(text: str) -> Optional[Binding]:
    m = BINDING.fullmatch(text.strip())
    if not m:
        return None
    expr = m.group(1)
    if (mm := _PARENT_INPUT.match(expr)):
        return Binding("parent_inputs", mm.group(1))
    if (mm := _PARENT_OUTPUT.match(expr)):
        return Binding("parent_outputs", mm.group(1))
    if (mm := _STEP_OUTPUT.match(expr)):
        return Binding("step_outputs", mm.group(2), step=mm.group(1))
    return Binding("unknown", expr)


def _name_ok(name: Any, path: str, problems: _Problems) -> bool:
    if not isinstance(name, str) or not IO_NAME.match(name):
        problems.add(path, f"{name!r} is not a valid python identifier")
        return False
    return True


def _input(name: str, v: Any, path: str, base_dir: Path, problems: _Problems, *, bindable: bool) -> Optional[JobInput]:
    if isinstance(v, bool) or isinstance(v, (int, float)):
        return JobInput(name=name, type="literal", value=v)
    if isinstance(v, str):
        b = _binding(v) if "${{" in v else None
        if b is not None:
            if not bindable:
                problems.add(path, f"data binding {v!r} is only allowed in a pipeline step")
                return None
            if b.scope == "unknown" or b.scope == "parent_outputs":
                problems.add(path, f"{v!r} is not a valid binding: use ${{{{parent.inputs.<name>}}}} or "
                             "${{parent.jobs.<step>.outputs.<name>}}")
                return None
            return JobInput(name=name, type="binding", binding=b)
        return JobInput(name=name, type="literal", value=v)
    if not isinstance(v, Mapping):
        problems.add(path, "Invalid input type.")
        return None
    typ = v.get("type")
    if typ in LITERAL_TYPES and bindable:
        # azure-ai-ml's node input schema has no typed literal: a step input is a value, a binding or data
        problems.add(path, f"a pipeline step input of type {typ!r} is given as its value (n: 7), not as a mapping")
        return None
    if typ in LITERAL_TYPES:
        _unknown(v, ("type", "default", "value", "optional", "description", "min", "max", "enum"), path, problems)
        val = v.get("value", v.get("default"))
        return JobInput(name=name, type="literal", value=val, description=v.get("description"))
    _unknown(v, ("type", "path", "mode", "description", "datastore", "optional", "path_on_compute"), path, problems)
    t = _enum(typ if typ is not None else "uri_folder", DATA_TYPES, _join(path, "type"), problems)
    mode = _enum(v.get("mode"), MLTABLE_INPUT_MODES if t == "mltable" else INPUT_MODES, _join(path, "mode"), problems)
    raw = v.get("path")
    if raw is None:
        if bindable:
            return JobInput(name=name, type=t or "uri_folder", mode=mode)
        problems.add(_join(path, "path"), "Missing data for required field.")
        return None
    if not isinstance(raw, str):
        problems.add(_join(path, "path"), "Not a valid string.")
        return None
    if "${{" in raw:
        b = _binding(raw)
        if not bindable or b is None or b.scope in ("unknown", "parent_outputs"):
            problems.add(_join(path, "path"), f"{raw!r} is not a valid binding here")
            return None
        return JobInput(name=name, type=t or "uri_folder", mode=mode, binding=b, node_type=t or "uri_folder",
                        node_mode=mode)
    kind = classify_path(raw)
    local = None
    if kind == "asset" and not (ASSET_REF.match(raw) or ARM_ID.match(raw)):
        problems.add(_join(path, "path"), f"{raw!r}: give azureml:<name>:<version> or azureml:<name>@<label>")
        return None
    if kind == "local":
        local = _local(base_dir, raw)
        if not local.exists():
            problems.add(_join(path, "path"), f"local path {raw!r} does not exist ({local})")
            return None
        from amlplatform.runs.snapshot import special_file_kind

        special = special_file_kind(local)
        if special:  # /dev/zero: never read or uploaded (it would hang); neither a file nor a folder
            problems.add(_join(path, "path"), f"{raw!r} is {special}, not a regular file or a folder")
            return None
        if t == "uri_file" and not local.is_file():
            problems.add(_join(path, "path"), f"{raw!r} is a folder; type uri_file needs a file")
            return None
        if t in ("uri_folder", "mltable") and not local.is_dir():
            problems.add(_join(path, "path"), f"{raw!r} is a file; type {t} needs a folder")
            return None
    return JobInput(name=name, type=t or "uri_folder", path=raw, path_kind=kind, local_path=local, mode=mode,
                    description=v.get("description"))


def _output(name: str, v: Any, path: str, problems: _Problems, *, bindable: bool) -> Optional[JobOutput]:
    if v is None:
        return JobOutput(name=name)
    if isinstance(v, str):
        b = _binding(v) if "${{" in v else None
        if b is not None and bindable and b.scope == "parent_outputs":
            return JobOutput(name=name, binding=b)
        problems.add(path, "Invalid output: give a mapping (type, path, mode)" +
                     (" or ${{parent.outputs.<name>}}" if bindable else ""))
        return None
    if not isinstance(v, Mapping):
        problems.add(path, "Invalid input type.")
        return None
    _unknown(v, ("type", "path", "mode", "description", "name", "version"), path, problems)
    t = _enum(v.get("type", "uri_folder"), DATA_TYPES, _join(path, "type"), problems)
    mode = _enum(v.get("mode"), OUTPUT_MODES, _join(path, "mode"), problems)
    raw = _str(v.get("path"), _join(path, "path"), problems)
    if raw is not None and not raw.startswith("azureml://") and "${{" not in raw:
        problems.add(_join(path, "path"), f"{raw!r}: an output path must be azureml://datastores/<name>/paths/<path>")
    return JobOutput(name=name, type=t or "uri_folder", path=raw, mode=mode,
                     asset_name=v.get("name"), asset_version=None if v.get("version") is None else str(v["version"]),
                     description=v.get("description"))


def _ios(v: Any, path: str, base_dir: Path, problems: _Problems, *, outputs: bool, bindable: bool) -> dict[str, Any]:
    m = _mapping(v, path, problems)
    if not m:
        return {}
    out = {}
    for name, item in m.items():
        p = _join(path, name)
        if not _name_ok(name, p, problems):
            continue
        x = (_output(name, item, p, problems, bindable=bindable) if outputs
             else _input(name, item, p, base_dir, problems, bindable=bindable))
        if x is not None:
            out[name] = x
    return out


_ENV_KEYS = ("name", "version", "image", "conda_file", "build", "description", "tags", "os_type",
             "inference_config", "datastore", "properties", "$schema", "intellectual_property")


def _environment(v: Any, path: str, base_dir: Path, problems: _Problems) -> Optional[Environment]:
    if v is None:
        problems.add(path, "Missing data for required field.")
        return None
    if isinstance(v, str):
        if ARM_ID.match(v):
            return Environment(kind="arm", ref=v)
        if REGISTRY_REF.match(v):
            return Environment(kind="registry", ref=v)
        m = ASSET_REF.match(v)
        if m and (m.group("version") or m.group("label")):
            return Environment(kind="asset", ref=v, name=m.group("name"), version=m.group("version"),
                               label=m.group("label"))
        if m:
            # azure-ai-ml ArmVersionedStr (allow_default_version): a bare name means @latest
            name = m.group("name")
            return Environment(kind="asset", ref=f"azureml:{name}@latest", name=name, label="latest")
        # azure-ai-ml's message (ArmVersionedStr): a registered environment needs the azureml: prefix
        problems.add(path, f"In order to specify an existing environments, please provide either of the following "
                     f"prefixed with 'azureml:' - azureml:<name>:<version> or azureml:<name>@latest; "
                     f"or a registry path prefixed with 'azureml://', or a mapping with image / conda_file "
                     f"(got {v!r})")
        return None
    if not isinstance(v, Mapping):
        problems.add(path, "Invalid input type.")
        return None
    _unknown(v, _ENV_KEYS, path, problems)
    image = _str(v.get("image"), _join(path, "image"), problems)
    build = _mapping(v.get("build"), _join(path, "build"), problems)
    if image is None and build is None:
        problems.add(path, "Docker image or Dockerfile is required for environments")
        return None
    conda = None
    conda_file = None
    cf = v.get("conda_file")
    if isinstance(cf, Mapping):
        conda = dict(cf)
    elif isinstance(cf, str):
        conda_file = _local(base_dir, cf)
        if not conda_file.is_file():
            problems.add(_join(path, "conda_file"), f"file {cf!r} does not exist ({conda_file})")
        else:
            import yaml

            try:
                conda = yaml.safe_load(conda_file.read_text(encoding="utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                problems.add(_join(path, "conda_file"), f"{cf!r} is not valid YAML: {exc}")
    elif cf is not None:
        problems.add(_join(path, "conda_file"), "Not a valid string.")
    build_path = None
    dockerfile = None
    if build:
        _unknown(build, ("path", "dockerfile_path"), _join(path, "build"), problems)
        bp = _str(build.get("path"), _join(path, "build.path"), problems, required=True)
        if bp is not None:
            build_path = _local(base_dir, bp) if classify_path(bp) == "local" else None
        dockerfile = _str(build.get("dockerfile_path"), _join(path, "build.dockerfile_path"), problems)
    ver = v.get("version")
    return Environment(kind="inline", image=image, conda_file=conda_file, conda=conda, build_path=build_path,
                       dockerfile_path=dockerfile, name=_str(v.get("name"), _join(path, "name"), problems),
                       version=None if ver is None else str(ver),
                       description=_str(v.get("description"), _join(path, "description"), problems))


def _code(v: Any, path: str, base_dir: Path, problems: _Problems) -> Optional[CodeRef]:
    s = _str(v, path, problems)
    if s is None:
        return None
    kind = classify_path(s)
    if kind == "local":
        p = _local(base_dir, s)
        if not p.exists():
            problems.add(path, f"code path {s!r} does not exist ({p})")
            return None
        return CodeRef(local_path=p)
    if kind == "asset" and not (ASSET_REF.match(s) or ARM_ID.match(s)):
        problems.add(path, f"{s!r}: give azureml:<name>:<version>")
        return None
    return CodeRef(ref=s)


def _resources(v: Any, path: str, problems: _Problems) -> Optional[Resources]:
    m = _mapping(v, path, problems)
    if m is None:
        return None
    _unknown(m, ("instance_count", "instance_type", "shm_size", "docker_args", "properties", "locations",
                 "max_instance_count"), path, problems)
    count = _int(m.get("instance_count"), _join(path, "instance_count"), problems)
    if count is not None and count < 1:
        problems.add(_join(path, "instance_count"), "Must be greater than or equal to 1.")
    shm = m.get("shm_size")
    if shm is not None and not (isinstance(shm, str) and re.fullmatch(r"\d+[bkmgBKMG]?", shm)):
        problems.add(_join(path, "shm_size"), "String does not match expected pattern.")
    props = m.get("properties") or {}
    return Resources(instance_count=count, instance_type=_str(m.get("instance_type"), _join(path, "instance_type"), problems),
                     shm_size=shm if isinstance(shm, str) else None,
                     docker_args=_str(m.get("docker_args"), _join(path, "docker_args"), problems),
                     properties=dict(props) if isinstance(props, Mapping) else {})


def _distribution(v: Any, path: str, problems: _Problems) -> Optional[Distribution]:
    m = _mapping(v, path, problems)
    if m is None:
        return None
    t = m.get("type")
    if t is None:
        problems.add(_join(path, "type"), "Missing data for required field.")
        return None
    if isinstance(t, str) and t.lower() == "ray":
        problems.add(_join(path, "type"), "Ray distribution is not supported by amlplatform (pytorch, mpi, tensorflow)")
        return None
    t = _enum(t, DISTRIBUTION_TYPES, _join(path, "type"), problems)
    if t is None:
        return None
    keys = {"pytorch": ("type", "process_count_per_instance"), "mpi": ("type", "process_count_per_instance"),
            "tensorflow": ("type", "worker_count", "parameter_server_count")}[t]
    _unknown(m, keys, path, problems)
    ints = {k: _int(m.get(k), _join(path, k), problems) for k in keys if k != "type"}
    return Distribution(type=t, **ints)


def _identity(v: Any, path: str, problems: _Problems) -> Optional[Identity]:
    m = _mapping(v, path, problems)
    if m is None:
        return None
    t = _enum(m.get("type"), IDENTITY_TYPES, _join(path, "type"), problems)
    if m.get("type") is None:
        problems.add(_join(path, "type"), "Missing data for required field.")
    if t == "managed_identity":
        t = "managed"
    known = ("type", "client_id", "object_id", "msi_resource_id") if t == "managed" else ("type",)
    _unknown(m, known, path, problems)
    return Identity(type=t or "", client_id=m.get("client_id"), object_id=m.get("object_id"),
                    msi_resource_id=m.get("msi_resource_id"))


_META = ("$schema", "type", "name", "display_name", "description", "tags", "properties", "experiment_name",
         "compute", "identity")
_COMMAND = ("code", "command", "environment", "environment_variables", "resources", "distribution", "limits",
            "inputs", "outputs", "parent_job_name")
_REFUSED = {"services": "interactive services (services:) are not supported by amlplatform submit",
            "queue_settings": "queue_settings is not supported by amlplatform submit"}


def _metadata(d: Mapping[str, Any], path: str, problems: _Problems) -> dict[str, Any]:
    return {
        "name": _str(d.get("name"), _join(path, "name"), problems),
        "display_name": _str(d.get("display_name"), _join(path, "display_name"), problems),
        "description": _str(d.get("description"), _join(path, "description"), problems),
        "experiment_name": _str(d.get("experiment_name"), _join(path, "experiment_name"), problems),
        "tags": _str_map(d.get("tags"), _join(path, "tags"), problems),
        "properties": _str_map(d.get("properties"), _join(path, "properties"), problems),
    }


def _command_job(d: Mapping[str, Any], path: str, base_dir: Path, source: Optional[Path], problems: _Problems, *,
                 in_pipeline: bool, extra_keys: Sequence[str] = (),
                 declared_inputs: Optional[Mapping[str, Any]] = None,
                 search_space: Sequence[str] = ()) -> Optional[CommandJob]:
    for k, why in _REFUSED.items():
        if k in d:
            problems.add(_join(path, k), why)
    _unknown(d, (*_META, *_COMMAND, *_REFUSED, *extra_keys), path, problems)
    command = _str(d.get("command"), _join(path, "command"), problems, required=True)
    env = _environment(d.get("environment"), _join(path, "environment"), base_dir, problems)
    inputs = _ios(d.get("inputs"), _join(path, "inputs"), base_dir, problems, outputs=False, bindable=in_pipeline)
    outputs = _ios(d.get("outputs"), _join(path, "outputs"), base_dir, problems, outputs=True, bindable=in_pipeline)
    ev_raw = d.get("environment_variables")
    env_vars: dict[str, str] = {}
    if ev_raw is not None:
        if not isinstance(ev_raw, Mapping):
            problems.add(_join(path, "environment_variables"), "Not a valid mapping type.")
        else:
            for k, x in ev_raw.items():
                if not ENV_VAR_NAME.match(str(k)):
                    problems.add(_join(path, f"environment_variables.{k}"),
                                 "names are letters, digits and '_' not starting with a digit")
                env_vars[str(k)] = "" if x is None else str(x).lower() if isinstance(x, bool) else str(x)
                if "\0" in env_vars[str(k)] or "\0" in str(k):
                    # an OS environment cannot hold a NUL byte (execve's strings end at the first one)
                    problems.add(_join(path, f"environment_variables.{k}"), "must not contain a NUL byte (\\0)")
    limits = _mapping(d.get("limits"), _join(path, "limits"), problems)
    timeout = None
    if limits is not None:
        _unknown(limits, ("timeout",), _join(path, "limits"), problems)
        timeout = _int(limits.get("timeout"), _join(path, "limits.timeout"), problems)
        if timeout is not None and timeout <= 0:
            problems.add(_join(path, "limits.timeout"), "Must be greater than 0.")
    if command is not None:
        declared_in = declared_inputs if declared_inputs is not None else (
            d.get("inputs") if isinstance(d.get("inputs"), Mapping) else {})
        declared_out = d.get("outputs") if isinstance(d.get("outputs"), Mapping) else {}
        _check_placeholders(command, declared_in, declared_out, _join(path, "command"), problems,
                            search_space=search_space)
    meta = _metadata(d, path, problems)
    if not in_pipeline and meta["experiment_name"] is None:
        meta["experiment_name"] = default_experiment_name()
    rest = dict(  # every field is checked, so all problems are listed at once
        code=_code(d.get("code"), _join(path, "code"), base_dir, problems),
        compute=_compute(d.get("compute"), _join(path, "compute"), problems),
        resources=_resources(d.get("resources"), _join(path, "resources"), problems),
        distribution=_distribution(d.get("distribution"), _join(path, "distribution"), problems),
        identity=_identity(d.get("identity"), _join(path, "identity"), problems),
    )
    if command is None or env is None:
        return None
    return CommandJob(source=source, base_dir=base_dir, command=command, environment=env, **meta, inputs=inputs,
                      outputs=outputs, environment_variables=env_vars, timeout=timeout, **rest)


def default_experiment_name() -> str:
    """azure-ai-ml's default when a job names none (``to_rest_functions.generate_defaults``): the current
    folder's name without spaces, else ``Default``."""
    return Path("./").resolve().stem.replace(" ", "") or "Default"


def _check_placeholders(command: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any], path: str,
                        problems: _Problems, *, search_space: Sequence[str] = ()) -> None:
    for m in BINDING.finditer(command):
        expr = m.group(1)
        own = _OWN_REF.match(expr)
        if expr.startswith("search_space.") and search_space:
            if expr[len("search_space."):] not in search_space:
                problems.add(path, f"{m.group(0)} names no search_space parameter ({', '.join(search_space)})")
        elif own is None:
            problems.add(path, f"invalid placeholder {m.group(0)}: use ${{{{inputs.<name>}}}} or ${{{{outputs.<name>}}}}")
        elif own.group(1) == "inputs" and own.group(2) not in inputs:
            problems.add(path, f"{m.group(0)} names no input (inputs: {', '.join(inputs) or 'none'})")
        elif own.group(1) == "outputs" and own.group(2) not in outputs:
            problems.add(path, f"{m.group(0)} names no output (outputs: {', '.join(outputs) or 'none'})")


def placeholders(command: str) -> list[tuple[str, str]]:
    """``[("inputs", "x"), ("outputs", "y"), ...]`` in the order they appear (optional ``$[[...]]`` not included)."""
    out = []
    for m in BINDING.finditer(command):
        own = _OWN_REF.match(m.group(1))
        if own:
            out.append((own.group(1), own.group(2)))
    return out


def _pipeline_job(d: Mapping[str, Any], base_dir: Path, source: Optional[Path], problems: _Problems) -> Optional[PipelineJob]:
    _unknown(d, (*_META, "inputs", "outputs", "jobs", "settings", "component"), "", problems)
    if "component" in d:
        problems.add("component", "a pipeline component reference is not supported; give the steps under jobs:")
    inputs = _ios(d.get("inputs"), "inputs", base_dir, problems, outputs=False, bindable=False)
    outputs = _ios(d.get("outputs"), "outputs", base_dir, problems, outputs=True, bindable=False)
    settings = _settings(d.get("settings"), problems)
    compute = _compute(d.get("compute"), "compute", problems)
    raw_jobs = _mapping(d.get("jobs"), "jobs", problems)
    if not raw_jobs:
        if raw_jobs is not None or "jobs" not in d:
            problems.add("jobs", "Missing data for required field." if "jobs" not in d else "a pipeline needs at least one step")
        return None
    steps: dict[str, PipelineStep] = {}
    chain = (str(source),) if source is not None else ()
    for name, raw in raw_jobs.items():
        step = _step(str(name), raw, base_dir, problems, chain)
        if step is not None:
            steps[str(name)] = step
    steps = _resolve_bindings(steps, inputs, outputs, problems)
    default_compute = settings.default_compute or compute
    if default_compute is not None:  # a step without compute runs on the pipeline's (settings.default_compute first)
        from dataclasses import replace

        steps = {n: replace(s, own_compute=s.job.compute) if s.job.compute is not None
                 else replace(s, job=replace(s.job, compute=default_compute)) for n, s in steps.items()}
    if steps:
        deps = {n: s.depends_on for n, s in steps.items()}
        cycle = _cycle(deps)
        if cycle:
            problems.add("jobs", f"steps depend on each other in a cycle: {' -> '.join(cycle)}")
    meta = _metadata(d, "", problems)
    if meta["experiment_name"] is None:
        meta["experiment_name"] = default_experiment_name()
    # An output no step binds is accepted, as azure-ai-ml and the service accept it (a recorded
    # pipeline create has one: tests/runs/recordings/pipeline_job_create.json); it simply gets no value.
    if problems.items:
        return None
    return PipelineJob(source=source, base_dir=base_dir, jobs=steps, compute=compute, inputs=inputs, outputs=outputs,
                       settings=settings, identity=_identity(d.get("identity"), "identity", problems), **meta)


def _settings(v: Any, problems: _Problems) -> PipelineSettings:
    m = _mapping(v, "settings", problems)
    if not m:
        return PipelineSettings()
    known = ("default_compute", "default_datastore", "default_environment", "continue_on_step_failure", "force_rerun")
    extra = {k: x for k, x in m.items() if k not in known}  # azure-ai-ml: unknown=INCLUDE for settings
    dc = _compute(m.get("default_compute"), "settings.default_compute", problems)
    ds = _str(m.get("default_datastore"), "settings.default_datastore", problems)
    if ds is not None and ds.startswith("azureml:"):
        ds = ds[len("azureml:"):]
    return PipelineSettings(
        default_compute=dc, default_datastore=ds,
        default_environment=_str(m.get("default_environment"), "settings.default_environment", problems),
        continue_on_step_failure=_bool(m.get("continue_on_step_failure"), "settings.continue_on_step_failure", problems),
        force_rerun=_bool(m.get("force_rerun"), "settings.force_rerun", problems), extra=extra)


_COMPONENT_KEYS = ("$schema", "type", "name", "version", "display_name", "description", "tags", "is_deterministic",
                   "inputs", "outputs", "code", "command", "environment", "resources", "distribution",
                   "environment_variables", "additional_includes", "properties")


def _step(name: str, raw: Any, base_dir: Path, problems: _Problems, chain: tuple[str, ...] = ()) -> Optional[PipelineStep]:
    path = f"jobs.{name}"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        problems.add(path, f"{name!r} is not a valid python identifier")
        return None
    if not isinstance(raw, Mapping):
        problems.add(path, "Invalid input type.")
        return None
    t = raw.get("type", "command")
    if t == "parallel":
        from amlplatform.runs.parallel import parse_parallel

        return parse_parallel(name, raw, base_dir, problems)
    if t == "sweep":
        from amlplatform.runs.sweep import parse_sweep_step

        return parse_sweep_step(name, raw, base_dir, problems)
    if t == "pipeline":
        return _pipeline_step(name, raw, base_dir, problems, chain)
    if t != "command":
        problems.add(_join(path, "type"), f"Value {t!r} passed is not in set ['command', 'parallel', 'sweep', 'pipeline'] "
                     "(amlplatform runs command, parallel, sweep and pipeline steps)")
        return None
    comp = raw.get("component")
    if comp is None:
        job = _command_job(raw, path, base_dir, None, problems, in_pipeline=True)
        if job is None:
            return None
        # azure-ai-ml builds the anonymous component from the inline job: resources and distribution go
        # into its spec and onto the node; limits, environment variables, identity and tags onto the node
        node = StepNode(resources=job.resources, distribution=job.distribution, timeout=job.timeout,
                        environment_variables=job.environment_variables, identity=job.identity,
                        tags=dict(job.tags) if "tags" in raw else None)
        return PipelineStep(name=name, job=job, node_inputs=_given(raw, "inputs"), node_outputs=_given(raw, "outputs"),
                            spec_resources=job.resources, spec_distribution=job.distribution, node=node)
    # a node with a component: the node may set inputs/outputs/compute/resources/... over the component's
    node_keys = ("type", "component", "inputs", "outputs", "compute", "resources", "distribution", "limits",
                 "environment_variables", "display_name", "description", "tags", "properties", "identity",
                 "experiment_name", "name")
    _unknown(raw, node_keys, path, problems)
    comp_dir = base_dir
    comp_source: Optional[str] = None
    registered: Optional[str] = None
    if isinstance(comp, str) and _is_asset_ref(comp):
        found = _registered(comp, _join(path, "component"), problems)
        if found is False:
            return None
        if found is None:  # not in the local asset store: the node alone (Azure ML resolves the component)
            return _opaque_step(name, raw, comp, base_dir, problems, node_keys)
        registered, cpath = comp, found
        comp = str(cpath)
    if isinstance(comp, str):
        cpath = _local(base_dir, comp)
        if not cpath.is_file():
            problems.add(_join(path, "component"), f"component file {comp!r} does not exist ({cpath})")
            return None
        try:
            cdata = read_yaml(cpath)
        except UserError as exc:
            problems.add(_join(path, "component"), str(exc))
            return None
        comp_dir, comp_source = cpath.parent, str(cpath)
    elif isinstance(comp, Mapping):
        cdata = dict(comp)
    else:
        problems.add(_join(path, "component"), "Invalid input type.")
        return None
    cpath_s = _join(path, "component")
    _unknown(cdata, _COMPONENT_KEYS, cpath_s, problems)
    if cdata.get("type", "command") == "pipeline":
        problems.add(_join(path, "type"), "the component is a pipeline component: give the step type: pipeline")
        return None
    if cdata.get("type", "command") != "command":
        problems.add(_join(cpath_s, "type"), f"Value {cdata.get('type')!r} passed is not in set ['command']")
        return None
    det = _bool(cdata.get("is_deterministic", True), _join(cpath_s, "is_deterministic"), problems)
    # component inputs are declarations (type, default, optional); node inputs give the values
    declared = _mapping(cdata.get("inputs"), _join(cpath_s, "inputs"), problems) or {}
    node_inputs = _mapping(raw.get("inputs"), _join(path, "inputs"), problems) or {}
    merged_inputs: dict[str, Any] = {}
    for k, decl in declared.items():
        if k in node_inputs:
            merged_inputs[k] = node_inputs[k]
        elif isinstance(decl, Mapping) and "default" in decl:
            merged_inputs[k] = decl["default"]
        elif isinstance(decl, Mapping) and decl.get("optional"):
            continue
        else:
            problems.add(_join(path, f"inputs.{k}"), "required input of the component is not given")
    for k in node_inputs:
        if k not in declared:
            problems.add(_join(path, f"inputs.{k}"), "the component has no such input")
    declared_out = _mapping(cdata.get("outputs"), _join(cpath_s, "outputs"), problems) or {}
    node_outputs = _mapping(raw.get("outputs"), _join(path, "outputs"), problems) or {}
    merged_outputs = {k: node_outputs.get(k, decl) for k, decl in declared_out.items()}
    for k in node_outputs:
        if k not in declared_out:
            problems.add(_join(path, f"outputs.{k}"), "the component has no such output")
    # A component has no environment variables: azure-ai-ml's CommandComponentSchema excludes them ("component
    # doesn't have environment variables", _schema/component/command_component.py), so the service never sees
    # a component file's environment_variables; only the node's are sent (and used locally).
    body = {k: v for k, v in cdata.items() if k in ("command", "code", "environment", "resources", "distribution")}
    for k in ("compute", "resources", "distribution", "limits", "environment_variables", "display_name", "description",
              "tags", "properties", "identity"):
        if k in raw:
            body[k] = raw[k]
    # a node's local input paths are the pipeline file's (azure-ai-ml resolves them against the pipeline YAML's
    # folder); the component's own code and environment files are the component file's
    body["inputs"] = {k: _rebased(x, base_dir) if k in node_inputs else x for k, x in merged_inputs.items()}
    body["outputs"] = merged_outputs
    job = _command_job(body, path, comp_dir, None, problems, in_pipeline=True, declared_inputs=declared)
    # the component's own resources/distribution are its spec's; the node's go on the node (parsed once more
    # only for what the node overrides: errors in the merged values are reported above)
    spec_res = _resources(cdata.get("resources"), _join(cpath_s, "resources"),
                          problems if "resources" in raw else _Problems())
    spec_dist = _distribution(cdata.get("distribution"), _join(cpath_s, "distribution"),
                              problems if "distribution" in raw else _Problems())
    ports = {str(k): _declared_port(decl) for k, decl in declared.items()}
    out_ports = {str(k): {"type": decl.get("type", "uri_folder"), **({"mode": decl["mode"]} if decl.get("mode") else {})}
                 if isinstance(decl, Mapping) else {"type": "uri_folder"} for k, decl in declared_out.items()}
    if job is None:
        return None
    node = StepNode(resources=job.resources if "resources" in raw else None,
                    distribution=job.distribution if "distribution" in raw else None,
                    timeout=job.timeout, environment_variables=job.environment_variables,
                    identity=job.identity if "identity" in raw else None,
                    tags=dict(job.tags) if "tags" in raw else None)
    v = cdata.get("version")
    return PipelineStep(name=name, job=job, is_deterministic=bool(det) if det is not None else True,
                        registered=registered, component=comp_source if comp_source else None,
                        component_name=cdata.get("name"), component_version=None if v is None else str(v),
                        node_inputs=_given(raw, "inputs"), node_outputs=_given(raw, "outputs"),
                        component_schema=cdata.get("$schema"), ports=ports, out_ports=out_ports, spec_resources=spec_res,
                        spec_distribution=spec_dist, node=node)


# ---------------------------------------------------------------------------- registered and pipeline components

MAX_NESTING = 10  # pipeline components inside pipeline components: deeper than this is refused (no runaway recursion)
_PIPELINE_COMPONENT_KEYS = ("$schema", "type", "name", "version", "display_name", "description", "tags",
                            "is_deterministic", "inputs", "outputs", "jobs")
_PIPELINE_NODE_KEYS = ("type", "component", "inputs", "outputs", "display_name", "description", "tags", "properties",
                       "compute", "settings", "name", "experiment_name")


def _is_asset_ref(text: str) -> bool:
    """``azureml:name:version`` / ``azureml:name@label`` / ``azureml://registries/...`` (not an ARM id)."""
    from amlplatform.runs.assets import is_reference

    return is_reference(text) and not ARM_ID.match(text)


def _registered(ref: str, where: str, problems: _Problems) -> Any:
    """The stored definition file of a registered component, ``None`` when the local asset store does not hold it,
    ``False`` (and a problem) when the reference itself is bad."""
    from amlplatform.runs.assets import REGISTRY_REF, SHORT_REF, AssetStore, parse_ref

    m = SHORT_REF.match(ref) or REGISTRY_REF.match(ref)
    if m and m.group("label") not in (None, "latest"):
        return None  # another label (@default): only the workspace resolves it
    try:
        parsed = parse_ref(ref, "component", where)
    except UserError as exc:
        problems.add(where, str(exc).split(": ", 1)[-1])
        return False
    store = AssetStore.default()
    try:
        found = store.get(parsed)
    except UserError:
        return None
    return store.definition_file(found)


def _node_settings(raw: Mapping[str, Any], path: str, problems: _Problems) -> StepNode:
    limits = _mapping(raw.get("limits"), _join(path, "limits"), problems)
    timeout = _int(limits.get("timeout"), _join(path, "limits.timeout"), problems) if limits else None
    ev = _str_map(raw.get("environment_variables"), _join(path, "environment_variables"), problems)
    return StepNode(resources=_resources(raw.get("resources"), _join(path, "resources"), problems),
                    distribution=_distribution(raw.get("distribution"), _join(path, "distribution"), problems),
                    timeout=timeout, environment_variables=ev,
                    identity=_identity(raw.get("identity"), _join(path, "identity"), problems),
                    tags=_str_map(raw.get("tags"), _join(path, "tags"), problems) if "tags" in raw else None)


def _opaque_step(name: str, raw: Mapping[str, Any], ref: str, base_dir: Path, problems: _Problems,
                 node_keys: Sequence[str], kind: str = "command") -> PipelineStep:
    """A step whose registered component only the workspace knows: its node as written (azure-ai-ml sends a
    registered component's node without looking the component up: ``_source: REMOTE.WORKSPACE.COMPONENT``)."""
    path = f"jobs.{name}"
    _unknown(raw, node_keys, path, problems)
    job = CommandJob(source=None, base_dir=base_dir, command="", environment=Environment(kind="none"),
                     display_name=_str(raw.get("display_name"), _join(path, "display_name"), problems),
                     inputs=_ios(raw.get("inputs"), _join(path, "inputs"), base_dir, problems, outputs=False, bindable=True),
                     outputs=_ios(raw.get("outputs"), _join(path, "outputs"), base_dir, problems, outputs=True, bindable=True),
                     compute=_compute(raw.get("compute"), _join(path, "compute"), problems))
    node = _node_settings(raw, path, problems) if kind == "command" else StepNode()
    return PipelineStep(name=name, job=job, registered=ref, opaque=True, node_inputs=_given(raw, "inputs"),
                        node_outputs=_given(raw, "outputs"), node=node, kind=kind)


def _declared_inputs(declared: Mapping[str, Any], path: str, base_dir: Path, problems: _Problems) -> dict[str, JobInput]:
    """A pipeline component's declared inputs as values its steps can bind to (literal defaults; data ports)."""
    out: dict[str, JobInput] = {}
    for k, decl in declared.items():
        where = _join(path, str(k))
        if not _name_ok(k, where, problems):
            continue
        if not isinstance(decl, Mapping):
            problems.add(where, "Invalid input type.")
            continue
        typ = decl.get("type", "uri_folder")
        if typ in LITERAL_TYPES:
            _unknown(decl, ("type", "default", "optional", "description", "min", "max", "enum"), where, problems)
            out[str(k)] = JobInput(name=str(k), type="literal", value=decl.get("default"), description=decl.get("description"))
            continue
        _unknown(decl, ("type", "mode", "description", "optional", "default", "path"), where, problems)
        t = _enum(typ, DATA_TYPES, _join(where, "type"), problems)
        mode = _enum(decl.get("mode"), MLTABLE_INPUT_MODES if t == "mltable" else INPUT_MODES, _join(where, "mode"), problems)
        out[str(k)] = JobInput(name=str(k), type=t or "uri_folder", mode=mode, description=decl.get("description"))
    return out


def _pipeline_component(cdata: Mapping[str, Any], comp_dir: Path, source: Optional[str], prefix: str,
                        problems: _Problems, chain: tuple[str, ...]) -> Optional[PipelineJob]:
    """A ``type: pipeline`` component (azure-ai-ml ``PipelineComponentSchema``: a component with ``jobs:``) parsed
    as a pipeline whose inputs and outputs are its declared ports; problems are named under ``prefix``."""
    sub = _Problems()
    _unknown(cdata, _PIPELINE_COMPONENT_KEYS, "", sub)
    declared = _mapping(cdata.get("inputs"), "inputs", sub) or {}
    inputs = _declared_inputs(declared, "inputs", comp_dir, sub)
    outputs = _ios(cdata.get("outputs"), "outputs", comp_dir, sub, outputs=True, bindable=False)
    raw_jobs = _mapping(cdata.get("jobs"), "jobs", sub)
    steps: dict[str, PipelineStep] = {}
    if not raw_jobs:
        sub.add("jobs", "Missing data for required field." if "jobs" not in cdata else "a pipeline needs at least one step")
    else:
        for n, raw in raw_jobs.items():
            step = _step(str(n), raw, comp_dir, sub, chain)
            if step is not None:
                steps[str(n)] = step
        steps = _resolve_bindings(steps, inputs, outputs, sub)
        cycle = _cycle({n: s.depends_on for n, s in steps.items()})
        if cycle:
            sub.add("jobs", f"steps depend on each other in a cycle: {' -> '.join(cycle)}")
    for item in sub.items:
        problems.items.append(f"{prefix}." + item.replace("(root): ", "", 1) if not item.startswith("(root)")
                              else f"{prefix}: " + item[len('(root): '):])
    if sub.items:
        return None
    meta = {k: cdata.get(k) for k in ("name", "display_name", "description")}
    return PipelineJob(source=Path(source) if source else None, base_dir=comp_dir, jobs=steps, inputs=inputs,
                       outputs=outputs, tags=_str_map(cdata.get("tags"), "tags", _Problems()), **meta)


def _pipeline_step(name: str, raw: Mapping[str, Any], base_dir: Path, problems: _Problems,
                   chain: tuple[str, ...]) -> Optional[PipelineStep]:
    """A step running a pipeline component (a nested pipeline): a file, an inline mapping or a registered one."""
    path = f"jobs.{name}"
    _unknown(raw, _PIPELINE_NODE_KEYS, path, problems)
    comp = raw.get("component")
    cpath_s = _join(path, "component")
    registered: Optional[str] = None
    comp_source: Optional[str] = None
    comp_dir = base_dir
    if comp is None:
        problems.add(cpath_s, "Missing data for required field.")
        return None
    if isinstance(comp, str) and _is_asset_ref(comp):
        found = _registered(comp, cpath_s, problems)
        if found is False:
            return None
        if found is None:
            return _opaque_step(name, raw, comp, base_dir, problems, _PIPELINE_NODE_KEYS, kind="pipeline")
        registered, comp = comp, str(found)
    if isinstance(comp, str):
        cpath = _local(base_dir, comp)
        if not cpath.is_file():
            problems.add(cpath_s, f"component file {comp!r} does not exist ({cpath})")
            return None
        key = str(cpath)
        if key in chain:  # a component that includes itself, directly or through others: never loaded twice
            loop = " -> ".join([*chain[chain.index(key):], key])
            problems.add(cpath_s, f"the pipeline component includes itself: {loop}")
            return None
        try:
            cdata = read_yaml(cpath)
        except UserError as exc:
            problems.add(cpath_s, str(exc))
            return None
        comp_dir, comp_source, chain = cpath.parent, key, (*chain, key)
    elif isinstance(comp, Mapping):
        cdata = dict(comp)
        chain = (*chain, f"{chain[-1] if chain else ''}#{name}")
    else:
        problems.add(cpath_s, "Invalid input type.")
        return None
    if len(chain) > MAX_NESTING:
        problems.add(cpath_s, f"pipeline components nest deeper than {MAX_NESTING} levels")
        return None
    if cdata.get("type") != "pipeline":
        problems.add(_join(cpath_s, "type"), f"a pipeline step needs a pipeline component (type: pipeline), got "
                     f"{cdata.get('type', 'command')!r}")
        return None
    sub = _pipeline_component(cdata, comp_dir, comp_source, cpath_s, problems, chain)
    if sub is None:
        return None
    declared = _mapping(cdata.get("inputs"), _join(cpath_s, "inputs"), problems) or {}
    node_in = _mapping(raw.get("inputs"), _join(path, "inputs"), problems) or {}
    inputs: dict[str, JobInput] = {}
    for k, v in node_in.items():
        if k not in declared:
            problems.add(_join(path, f"inputs.{k}"), "the component has no such input")
            continue
        x = _input(str(k), v, _join(path, f"inputs.{k}"), base_dir, problems, bindable=True)
        if x is not None:
            inputs[str(k)] = x
    for k, decl in declared.items():
        if k in node_in:
            continue
        if isinstance(decl, Mapping) and decl.get("default") is not None and decl.get("type") in LITERAL_TYPES:
            inputs[str(k)] = JobInput(name=str(k), type="literal", value=decl["default"])
        elif not (isinstance(decl, Mapping) and (decl.get("optional") or "default" in decl)):
            problems.add(_join(path, f"inputs.{k}"), "required input of the component is not given")
    node_out = _mapping(raw.get("outputs"), _join(path, "outputs"), problems) or {}
    for k in node_out:
        if k not in sub.outputs:
            problems.add(_join(path, f"outputs.{k}"), "the component has no such output")
    outputs = {k: o for k, o in _ios({k: node_out.get(k) for k in sub.outputs}, _join(path, "outputs"), base_dir,
                                     problems, outputs=True, bindable=True).items()}
    outputs = {k: (o if k in node_out else replace(sub.outputs[k], name=k)) for k, o in outputs.items()}
    job = CommandJob(source=None, base_dir=base_dir, command="", environment=Environment(kind="none"),
                     display_name=_str(raw.get("display_name"), _join(path, "display_name"), problems),
                     inputs=inputs, outputs=outputs, compute=_compute(raw.get("compute"), _join(path, "compute"), problems))
    ports = {str(k): _declared_port(decl) for k, decl in declared.items()}
    out_ports = {k: {"type": o.type, **({"mode": o.mode} if o.mode else {})} for k, o in sub.outputs.items()}
    v = cdata.get("version")
    return PipelineStep(name=name, job=job, kind="pipeline", pipeline=sub, registered=registered,
                        component=comp_source, component_name=cdata.get("name"),
                        component_version=None if v is None else str(v), node_inputs=_given(raw, "inputs"),
                        node_outputs=_given(raw, "outputs"), component_schema=cdata.get("$schema"), ports=ports,
                        out_ports=out_ports)


def check_component(path: Path, data: Mapping[str, Any]) -> list[str]:
    """The problems azure-ai-ml's ``load_component`` finds in a component file (command or pipeline), for
    ``amlplatform component create``; each names its field."""
    problems = _Problems()
    typ = data.get("type", "command")
    path = Path(path).resolve()
    if typ == "pipeline":
        _pipeline_component(data, path.parent, str(path), "(root)", problems, (str(path),))
        return [p.replace("(root).", "", 1).replace("(root): ", "", 1) for p in problems.items]
    if typ != "command":
        return [f"type: Value {typ!r} passed is not in set ['command', 'pipeline'] (amlplatform registers command and "
                "pipeline components)"]
    declared = data.get("inputs") if isinstance(data.get("inputs"), Mapping) else {}
    node = {"type": "command", "component": str(path),
            "inputs": {str(k): f"${{{{parent.inputs.{k}}}}}" for k in declared}}
    _step("component", node, path.parent, problems)
    out = []
    for p in problems.items:
        for lead in ("jobs.component.component.", "jobs.component."):
            if p.startswith(lead):
                p = p[len(lead):]
                break
        out.append(p)
    return out


# ---------------------------------------------------------------------------- what a local run needs


def flatten(pipeline: PipelineJob) -> PipelineJob:
    """The pipeline with every pipeline-component step replaced by its own steps, named ``<step>-<inner step>``
    (a ``-`` never appears in a step name, so no name collides), bound as the service binds them: an inner
    ``${{parent.inputs.x}}`` is the value the node gives ``x`` (else the component's default), an inner
    ``${{parent.outputs.r}}`` is the node's output ``r`` (so ``${{parent.jobs.<step>.outputs.r}}`` of a later step
    reads it), at every level."""
    if not any(s.kind == "pipeline" for s in pipeline.jobs.values()):
        return pipeline
    steps: dict[str, PipelineStep] = {}
    out_map: dict[tuple[str, str], tuple[str, str]] = {}
    for sname, step in pipeline.jobs.items():
        if step.kind != "pipeline" or step.pipeline is None:
            steps[sname] = step
            continue
        inner = flatten(step.pipeline)
        for iname, istep in inner.jobs.items():
            flat = f"{sname}-{iname}"
            new_inputs: dict[str, JobInput] = {}
            for k, inp in istep.job.inputs.items():
                b = inp.binding
                if b is not None and b.scope == "parent_inputs":
                    given = step.job.inputs.get(b.name)
                    if given is None:
                        if inp.type == "literal" and inp.value is None or inp.type != "literal" and inp.path is None:
                            continue  # an optional input no one gives
                        new_inputs[k] = replace(inp, binding=None)
                    else:
                        new_inputs[k] = replace(given, name=k, mode=inp.mode or given.mode, node_type=inp.node_type,
                                                node_mode=inp.node_mode)
                elif b is not None and b.scope == "step_outputs":
                    new_inputs[k] = replace(inp, binding=Binding("step_outputs", b.name, step=f"{sname}-{b.step}"))
                else:
                    new_inputs[k] = inp
            new_outputs: dict[str, JobOutput] = {}
            for k, o in istep.job.outputs.items():
                if o.binding is not None and o.binding.scope == "parent_outputs":
                    node_out = step.job.outputs.get(o.binding.name) or JobOutput(name=k, type=o.type)
                    new_outputs[k] = replace(node_out, name=k, binding=node_out.binding)
                    out_map[(sname, o.binding.name)] = (flat, k)
                else:
                    new_outputs[k] = o
            job = replace(istep.job, inputs=new_inputs, outputs=new_outputs,
                          compute=istep.job.compute or step.job.compute)
            steps[flat] = replace(istep, name=flat, job=job)
    rebound: dict[str, PipelineStep] = {}
    for sname, step in steps.items():
        inputs = {}
        for k, inp in step.job.inputs.items():
            b = inp.binding
            if b is not None and b.scope == "step_outputs" and (b.step, b.name) in out_map:
                fs, fo = out_map[(b.step or "", b.name)]
                inp = replace(inp, binding=Binding("step_outputs", fo, step=fs))
            inputs[k] = inp
        deps = tuple(dict.fromkeys(i.binding.step for i in inputs.values()
                                   if i.binding is not None and i.binding.scope == "step_outputs"))
        rebound[sname] = replace(step, job=replace(step.job, inputs=inputs), depends_on=deps)  # type: ignore[arg-type]
    return replace(pipeline, jobs=rebound)


def _local_environment(env: Environment, where: str) -> Environment:
    """A registered environment the local asset store holds -> its definition (built locally like an inline one);
    others unchanged (a curated ``AzureML-*`` one or one not stored runs with a note, see ``runs.envbuild``)."""
    if env.kind not in ("asset", "registry") or not env.ref:
        return env
    from amlplatform.runs.assets import AssetStore, parse_ref

    store = AssetStore.default()
    try:
        found = store.get(parse_ref(env.ref, "environment", where))
    except UserError:
        return env
    data = read_yaml(found.definition)
    problems = _Problems()
    stored = _environment({k: v for k, v in data.items() if k not in ("version",)}, where, found.folder, problems)
    if stored is None or problems.items:
        raise UserError(f"{where}: the stored environment {found.definition} is not valid:", problems.items)
    return replace(stored, ref=env.ref, description=stored.description or f"{env.ref} from the local asset store")


def prepare_local(job: Any) -> Any:
    """The job as it runs locally: nested pipelines flattened, registered environments from the local asset
    store; a registered component the store lacks is a clear error naming the step and the component."""
    if isinstance(job, PipelineJob):
        job = flatten(job)
        missing = [f"jobs.{n}.component: component {s.registered} is not in the local asset store; register it with "
                   f"'amlplatform component create --file <component.yml>'"
                   + (" --registry <registry>" if (s.registered or "").startswith("azureml://") else "")
                   + ", or run on Azure ML (--compute <cluster>)"
                   for n, s in job.jobs.items() if s.opaque]
        if missing:
            raise UserError("the pipeline names registered components this machine does not have:", missing)
        steps = {n: replace(s, job=replace(s.job, environment=_local_environment(s.job.environment, f"jobs.{n}.environment")))
                 for n, s in job.jobs.items()}
        return replace(job, jobs=steps)
    if getattr(job, "type", None) == "sweep":
        return replace(job, trial=replace(job.trial, environment=_local_environment(job.trial.environment,
                                                                                    "trial.environment")))
    return replace(job, environment=_local_environment(job.environment, "environment"))


def _rebased(value: Any, base_dir: Path) -> Any:
    """A node input's local ``path`` made absolute against ``base_dir`` (other values unchanged)."""
    if isinstance(value, Mapping) and isinstance(value.get("path"), str):
        raw = value["path"]
        if "${{" not in raw and classify_path(raw) == "local":
            return {**value, "path": str(_local(base_dir, raw))}
    return value


def _declared_port(decl: Any) -> dict[str, Any]:
    """A component input declaration as azure-ai-ml's component spec sends it (``InputPort``: ``default``,
    ``min`` and ``max`` as ``str()`` text, ``optional`` only when true, ``enum`` as given)."""
    if not isinstance(decl, Mapping):
        return {"type": "string"}
    port: dict[str, Any] = {"type": decl.get("type", "uri_folder")}
    for key in ("default", "min", "max"):
        if decl.get(key) is not None:
            port[key] = str(decl[key])
    if decl.get("optional") is True:
        port["optional"] = True
    for key in ("enum", "description", "mode"):
        if decl.get(key) is not None:
            port[key] = decl[key]
    return port


def _given(raw: Mapping[str, Any], key: str) -> Optional[tuple[str, ...]]:
    value = raw.get(key)
    return tuple(str(k) for k in value) if isinstance(value, Mapping) else None


def _resolve_bindings(steps: dict[str, PipelineStep], inputs: Mapping[str, JobInput],
                      outputs: Mapping[str, JobOutput], problems: _Problems) -> dict[str, PipelineStep]:
    from dataclasses import replace

    out: dict[str, PipelineStep] = {}
    for name, step in steps.items():
        new_inputs: dict[str, JobInput] = {}
        deps: list[str] = []
        for iname, inp in step.job.inputs.items():
            b = inp.binding
            where = f"jobs.{name}.inputs.{iname}"
            if b is None:
                new_inputs[iname] = inp
            elif b.scope == "parent_inputs":
                src = inputs.get(b.name)
                if src is None:
                    problems.add(where, f"{b.expression}: the pipeline has no input {b.name!r}")
                    continue
                new_inputs[iname] = replace(src, name=iname, binding=b, mode=inp.mode or src.mode,
                                            node_type=inp.node_type, node_mode=inp.node_mode)
            elif b.scope == "step_outputs":
                producer = steps.get(b.step or "")
                if producer is None:
                    problems.add(where, f"{b.expression}: no step named {b.step!r}")
                    continue
                pout = producer.job.outputs.get(b.name)
                if pout is None and producer.opaque:  # a registered component not in the local store: its outputs are
                    pout = JobOutput(name=b.name)     # known to the workspace only
                if pout is None:
                    problems.add(where, f"{b.expression}: step {b.step!r} has no output {b.name!r}")
                    continue
                if b.step not in deps:
                    deps.append(b.step)  # type: ignore[arg-type]
                new_inputs[iname] = JobInput(name=iname, type=pout.type, path_kind="step_output", mode=inp.mode,
                                             binding=b, node_type=inp.node_type, node_mode=inp.node_mode)
        new_outputs: dict[str, JobOutput] = {}
        for oname, o in step.job.outputs.items():
            if o.binding is not None:
                target = outputs.get(o.binding.name)
                if target is None:
                    problems.add(f"jobs.{name}.outputs.{oname}", f"{o.binding.expression}: the pipeline has no output "
                                 f"{o.binding.name!r}")
                    continue
                new_outputs[oname] = replace(target, name=oname, binding=o.binding)
            else:
                new_outputs[oname] = o
        job = replace(step.job, inputs=new_inputs, outputs=new_outputs)
        out[name] = replace(step, job=job, depends_on=tuple(deps))
    return out


def _cycle(deps: Mapping[str, Sequence[str]]) -> Optional[list[str]]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> Optional[list[str]]:
        state[n] = 1
        stack.append(n)
        for m in deps.get(n, ()):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if state.get(m) is None:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in deps:
        if state.get(n) is None:
            found = visit(n)
            if found:
                return found
    return None


def _levels(deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    done: set[str] = set()
    levels: list[list[str]] = []
    remaining = list(deps)
    while remaining:
        level = [n for n in remaining if all(d in done for d in deps[n])]
        if not level:
            raise ValueError("dependency cycle")  # load_job refuses cycles before this can happen
        levels.append(level)
        done.update(level)
        remaining = [n for n in remaining if n not in done]
    return levels


# ---------------------------------------------------------------------------- the old run spec


_OLD_KEYS = {"source", "script", "arguments", "experiment", "timeout_seconds", "instance_count",
             "max_snapshot_bytes", "max_snapshot_files"}


def _refuse_old_spec(path: Path, data: Mapping[str, Any]) -> None:
    """The run spec of amlplatform <= 0.x (``source``/``script``/``experiment``...) is not a job YAML:
    say so and print the equivalent job YAML."""
    if "type" in data or "$schema" in data or not (_OLD_KEYS & set(data)):
        return
    raise UserError(f"{path} is an amlplatform run spec, which is replaced by Azure ML job YAML. "
                    "The same job as job YAML (save it as job.yml next to it):\n\n" + convert_run_spec(data))


def convert_run_spec(data: Mapping[str, Any]) -> str:
    """The job YAML equivalent of an old run spec mapping."""
    import shlex

    import yaml

    job: dict[str, Any] = {"$schema": COMMAND_SCHEMA, "type": "command"}
    job["code"] = str(data.get("source", "."))
    if data.get("command"):
        cmd = str(data["command"])
        if data.get("arguments"):
            cmd += " " + shlex.join(str(a) for a in data["arguments"])
    elif data.get("script"):
        cmd = shlex.join(["python", str(data["script"]), *(str(a) for a in data.get("arguments") or [])])
    else:
        cmd = "python main.py"
    job["command"] = cmd
    env = data.get("environment")
    if env:
        env = str(env)
        job["environment"] = env if env.startswith(("azureml:", "/subscriptions/")) else (
            {"image": env} if "/" in env else f"azureml:{env}")
    else:
        job["environment"] = "azureml:AzureML-sklearn-1.5@latest"
    compute = data.get("compute", LOCAL)
    job["compute"] = LOCAL if compute == LOCAL else f"azureml:{compute}"
    if data.get("experiment"):
        job["experiment_name"] = data["experiment"]
    for k in ("display_name", "environment_variables", "tags"):
        if data.get(k):
            job[k] = data[k]
    if data.get("instance_count"):
        job["resources"] = {"instance_count": data["instance_count"]}
    if data.get("distribution"):
        job["distribution"] = data["distribution"]
    if data.get("timeout_seconds"):
        job["limits"] = {"timeout": data["timeout_seconds"]}
    return yaml.safe_dump(job, sort_keys=False, default_flow_style=False)
