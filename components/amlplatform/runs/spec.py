"""What to run, where and how: the run spec, loaded from a small YAML file and CLI flags.

One model serves both backends, so the very same spec runs locally (``compute: local``) and on
the stack's cluster. Fields that only mean something on a cluster (``instance_count``,
``distribution``) are kept when running locally and ignored there, so switching
``--compute`` is the only change needed to scale out.

Relative ``source`` paths in a YAML file are relative to that file's folder; ``source``
given as a flag (or the default when there is no file) is relative to the current directory.
"""

import re
import shlex
from pathlib import Path
from typing import Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from amlplatform.errors import UserError, validation_problems

LOCAL = "local"
DEFAULT_MAX_SNAPSHOT_BYTES = 300 * 1024 * 1024
DEFAULT_MAX_SNAPSHOT_FILES = 2000

# Azure ML compute names: 3-24 characters, letters, digits and hyphens, starting with a letter.
COMPUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{2,23}$")
EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# name:version, azureml:name:version, azureml:name@latest, name@latest, a curated name
ASSET_REF = re.compile(r"^(azureml:)?[A-Za-z0-9][A-Za-z0-9._-]{0,254}((:[A-Za-z0-9._-]{1,64})|(@latest))?$")
# registry/repo[/more]:tag or @sha256:digest (a registry host is required so plain names stay assets)
IMAGE_REF = re.compile(
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([a-z0-9._/-]*[a-z0-9])?)+"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)
ARM_ENVIRONMENT = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/.+/environments/[^/]+(/versions/[^/]+)?$", re.I)

_DIST_TYPES = {"pytorch": "PyTorch", "mpi": "Mpi", "tensorflow": "TensorFlow"}


def environment_kind(value: str) -> Literal["image", "arm", "asset"]:
    """How an ``environment`` string is meant: a docker image, an ARM id, or an asset reference.

    An image needs a registry host part with a dot (``mcr.microsoft.com/...``, ``myacr.azurecr.io/...``)
    or a ``/`` path, so ``AzureML-sklearn-1.5@latest`` or ``my-env:3`` stay asset references.
    """
    if ARM_ENVIRONMENT.fullmatch(value):
        return "arm"
    if "/" in value and IMAGE_REF.fullmatch(value):
        return "image"
    return "asset"


class Distribution(BaseModel):
    """How a multi-node job starts its processes (Azure ML ``distribution``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["PyTorch", "Mpi", "TensorFlow"]
    process_count_per_instance: Optional[int] = Field(default=None, ge=1)
    worker_count: Optional[int] = Field(default=None, ge=1)  # TensorFlow only
    parameter_server_count: Optional[int] = Field(default=None, ge=0)  # TensorFlow only

    @field_validator("type", mode="before")
    @classmethod
    def _canonical_type(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _DIST_TYPES.get(value.lower(), value)
        return value

    @model_validator(mode="after")
    def _tensorflow_only(self) -> "Distribution":
        if self.type != "TensorFlow" and (self.worker_count is not None or self.parameter_server_count is not None):
            raise ValueError("worker_count and parameter_server_count are only for type TensorFlow")
        return self


def _as_text_map(value: Any, what: str) -> Any:
    """YAML gives ``EPOCHS: 3`` as an int: accept scalars and keep them as text."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return value  # pydantic reports the type error
    out = {}
    for k, v in value.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (int, float)):
            v = str(v)
        elif v is None:
            v = ""
        out[str(k)] = v
    return out


class RunSpec(BaseModel):
    """A run: the folder to snapshot, the command, and where it runs.

    Field order matters: validators of later fields read earlier ones (``command`` reads
    ``script`` and ``arguments``; ``environment`` reads ``compute``).
    """

    model_config = ConfigDict(extra="forbid", validate_default=False)

    source: Path = Path(".")
    compute: str = LOCAL
    experiment: str = "default"
    display_name: Optional[str] = Field(default=None, max_length=255)
    script: Optional[str] = None
    arguments: list[str] = Field(default_factory=list)
    command: str = Field(default="", validate_default=True)
    environment: Optional[str] = Field(default=None, validate_default=True)
    environment_variables: dict[str, str] = Field(default_factory=dict)
    instance_count: int = Field(default=1, ge=1)
    distribution: Optional[Distribution] = None
    timeout_seconds: Optional[int] = Field(default=None, gt=0)
    tags: dict[str, str] = Field(default_factory=dict)
    max_snapshot_bytes: int = Field(default=DEFAULT_MAX_SNAPSHOT_BYTES, gt=0)
    max_snapshot_files: int = Field(default=DEFAULT_MAX_SNAPSHOT_FILES, gt=0)

    @property
    def is_local(self) -> bool:
        return self.compute == LOCAL

    @field_validator("compute")
    @classmethod
    def _compute_name(cls, value: str) -> str:
        if value == LOCAL:
            return value
        if not COMPUTE_NAME.fullmatch(value):
            raise ValueError(
                "must be 'local' or a cluster name of 3-24 letters, digits or hyphens starting with a letter"
            )
        return value

    @field_validator("experiment")
    @classmethod
    def _experiment_name(cls, value: str) -> str:
        if not EXPERIMENT_NAME.fullmatch(value):
            raise ValueError("must be 1-255 letters, digits, '-' or '_'")
        return value

    @field_validator("script")
    @classmethod
    def _script(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("arguments", mode="before")
    @classmethod
    def _arguments_as_text(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: str, info: ValidationInfo) -> str:
        script = info.data.get("script")
        arguments = info.data.get("arguments") or []
        if "script" not in info.data or "arguments" not in info.data:
            return value  # script/arguments already reported as bad; don't pile on
        if value.strip() and script:
            raise ValueError("give either command or script (+ arguments), not both")
        if script:
            return shlex.join(["python", script, *arguments])
        if not value.strip():
            raise ValueError("is required (or give script and arguments)")
        if arguments:
            return value + " " + shlex.join(arguments)
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: Optional[str], info: ValidationInfo) -> Optional[str]:
        compute = info.data.get("compute")
        if value is None or not value.strip():
            if compute is not None and compute != LOCAL:
                raise ValueError(
                    "is required for a cluster: a registered 'name:version', 'azureml:name@latest', "
                    "a curated name or a docker image"
                )
            return None
        value = value.strip()
        if environment_kind(value) == "asset" and not ASSET_REF.fullmatch(value):
            raise ValueError(
                "must be 'name:version', 'azureml:name:version', 'azureml:name@latest', a curated name, "
                "a docker image such as 'mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest', or an ARM id"
            )
        return value

    @field_validator("environment_variables", mode="before")
    @classmethod
    def _env_text(cls, value: Any) -> Any:
        return _as_text_map(value, "environment_variables")

    @field_validator("environment_variables")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not ENV_VAR_NAME.fullmatch(k)]
        if bad:
            raise ValueError(f"names must be letters, digits and '_' not starting with a digit; bad: {', '.join(bad)}")
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_text(cls, value: Any) -> Any:
        return _as_text_map(value, "tags")


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise UserError(f"run spec {path} does not exist (or is not a file)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise UserError(f"run spec {path} is not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"run spec {path} is not UTF-8 text") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"run spec {path} must be a mapping of settings (source, command, compute, ...)")
    return data


def load_spec(path: Optional[Path], overrides: Mapping[str, Any]) -> RunSpec:
    """Merge a YAML spec file (optional) with CLI overrides and validate the result.

    ``overrides`` uses the field names; ``None`` values mean "not given". ``environment_variables``
    and ``tags`` are merged key by key over the file's. A ``command`` override replaces the file's
    ``script``/``arguments`` and a ``script`` override replaces its ``command``.
    Raises ``UserError`` listing every bad field.
    """
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        path = Path(path)
        data = _read_yaml(path)
        base = path.resolve().parent
        if "source" not in data:
            data["source"] = "."

    given = {k: v for k, v in overrides.items() if v is not None}
    if "command" in given:
        data.pop("script", None)
        if "arguments" not in given:
            data.pop("arguments", None)
    if "script" in given:
        data.pop("command", None)
        if "arguments" not in given:
            data.pop("arguments", None)
    for key in ("environment_variables", "tags"):
        if key in given and isinstance(data.get(key), Mapping):
            given[key] = {**data[key], **given[key]}
    data.update(given)

    # source: relative to the spec file when it came from the file, else to the current directory
    if "source" in data and isinstance(data["source"], (str, Path)):
        src = Path(data["source"]).expanduser()
        if not src.is_absolute():
            src = (Path.cwd() if "source" in given or path is None else base) / src
        data["source"] = src
    elif "source" not in data:
        data["source"] = Path.cwd()

    try:
        return RunSpec.model_validate(data)
    except ValidationError as exc:
        where = f"run spec {path}" if path is not None else "run settings"
        raise UserError(f"{where} is not valid:", validation_problems(exc)) from None
