"""Typed settings for the asset versions a stack's deployments use (stack key ``amlplatform:assets``):
models, scoring code and components, declared by the stack so that a first ``pulumi up`` creates
every asset before the deployment that names it (docs/assets.md).

Each entry is one version of one asset, with the fields ``az ml model|code|component create`` takes
from its YAML (name, version, type, path, description, tags):

* ``path``: a file or folder of the project that the stack uploads (``azure-native:storage:Blob``,
  with the deployer's Microsoft Entra token: shared keys stay off) into the stack's asset container,
  then registers as the asset version (``ModelVersion.modelUri`` / ``CodeVersion.codeUri``);
* ``file`` (components): the component's YAML, whose ``code``/``environment``/``component``
  references name assets of this stack;
* ``existing: true``: registered outside the stack (``amlplatform model register``, ``az ml ...
  create``, a release pipeline). The stack declares nothing for it; the deployment carries the
  acknowledgement (tag ``amlplatform.io/existing-assets``) that AMLD-060 accepts.

Asset versions are immutable on the service side ("a model version cannot be changed once
created": https://learn.microsoft.com/azure/machine-learning/how-to-manage-models), so new content
is a new ``version``: a new resource, the old one kept while a deployment names it.

Pure: no Pulumi imports.
"""

import re
from pathlib import PurePosixPath
from typing import Annotated, Dict, List, Literal, Optional, Sequence

from pydantic import AfterValidator, Field, model_validator

from amlplatform.azure import naming
from amlplatform.errors import Problems
from amlplatform.spec.core import Model

# the same rule as environments: letters, digits, '.', '_' and '-' (azure-ai-ml's asset name check)
_VERSION = r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,29})$"


def _asset_name(value: str) -> str:
    problems = naming.check("environment_asset", value)
    if problems:
        raise Problems(problems)
    return value


def project_path_problems(value: str) -> List[str]:
    """Problems of a project-relative path (forward slashes, inside the project)."""
    path = PurePosixPath(value)
    if not value or path.is_absolute() or "\\" in value or ".." in path.parts or re.match(r"^[A-Za-z]:", value):
        return ["must be a path relative to the project folder, with forward slashes and no '..'"]
    return []


def _project_path(value: str) -> str:
    problems = project_path_problems(value)
    if problems:
        raise Problems(problems)
    return value.rstrip("/")


AssetName = Annotated[str, AfterValidator(_asset_name)]
ProjectPath = Annotated[str, AfterValidator(_project_path)]


class _Version(Model):
    name: AssetName = Field(description="Asset name: letters, digits, '.', '_' and '-'")
    version: str = Field(pattern=_VERSION, description="Version (immutable: new content is a new version)")
    existing: bool = Field(
        False, description="Registered outside the stack (amlplatform model register, az ml ... create): the "
        "stack creates nothing and deployments naming it acknowledge that it must exist before `pulumi up`")
    description: Optional[str] = None
    """Shown in the studio"""
    tags: Dict[str, str] = Field(default_factory=dict)
    """Tags on the asset version"""

    @property
    def reference(self) -> str:
        return f"azureml:{self.name}:{self.version}"


class ModelAssetSettings(_Version):
    """A model version: a file or folder of the project (an MLflow folder, a pickle) uploaded by the stack."""

    type: Literal["custom_model", "mlflow_model", "triton_model"] = Field(
        "custom_model", description="custom_model, mlflow_model (a folder with MLmodel) or triton_model")
    path: Optional[ProjectPath] = Field(None, description="File or folder of the project; required unless existing")

    @model_validator(mode="after")
    def _source(self) -> "ModelAssetSettings":
        _one_source(self, "path", self.path)
        return self


class CodeAssetSettings(_Version):
    """A code version: a folder of the project (the scoring script and what it imports)."""

    path: Optional[ProjectPath] = Field(None, description="Folder of the project; required unless existing")

    @model_validator(mode="after")
    def _source(self) -> "CodeAssetSettings":
        _one_source(self, "path", self.path)
        return self


class ComponentAssetSettings(_Version):
    """A component version from its YAML (a command or pipeline component, as ``az ml component create`` takes it)."""

    file: Optional[ProjectPath] = Field(
        None, description="Component YAML in the project; its code, environment and steps' component name "
        "assets of this stack (azureml:<name>:<version>); required unless existing")

    @model_validator(mode="after")
    def _source(self) -> "ComponentAssetSettings":
        _one_source(self, "file", self.file)
        return self


def _one_source(entry: _Version, field: str, value: Optional[str]) -> None:
    if entry.existing and value:
        raise ValueError(f"{field}: not used with existing (the stack uploads nothing for an existing asset)")
    if not entry.existing and not value:
        raise ValueError(f"{field}: required (the project file the stack uploads), or set existing: true for "
                         "an asset registered outside the stack")
    if entry.existing and (entry.description or entry.tags):
        raise ValueError("description/tags: not used with existing (the stack does not write the asset)")


class AssetsSettings(Model):
    """The asset versions the stack declares (or acknowledges as existing) for its deployments."""

    models: List[ModelAssetSettings] = Field(default_factory=list)
    """Model versions"""
    code: List[CodeAssetSettings] = Field(default_factory=list)
    """Code versions (scoring scripts)"""
    components: List[ComponentAssetSettings] = Field(default_factory=list)
    """Component versions (batch pipeline deployments)"""
    deployer_principal_type: Literal["User", "Group", "ServicePrincipal"] = Field(
        "ServicePrincipal", description="Kind of principal that runs `pulumi up` (it gets Storage Blob Data "
        "Contributor on the asset container to upload): ServicePrincipal for a pipeline, User for a person")

    @model_validator(mode="after")
    def _distinct(self) -> "AssetsSettings":
        problems = []
        for label, entries in (("models", self.models), ("code", self.code), ("components", self.components)):
            seen: Dict[str, int] = {}
            for i, e in enumerate(entries):
                key = e.reference.lower()
                if key in seen:
                    problems.append(f"{label}[{i}]: {e.reference} is already {label}[{seen[key]}]")
                seen.setdefault(key, i)
        if problems:
            raise Problems(problems)
        return self

    def uploads(self) -> bool:
        return any(not e.existing for e in [*self.models, *self.code])


KINDS = {"models": "model", "environments": "environment", "codes": "code", "components": "component",
         "data": "data"}


def asset_reference(value: str) -> Optional[str]:
    """``azureml:<name>:<version>`` of a workspace asset reference, None for registry URIs and ARM ids."""
    return value if re.fullmatch(r"azureml:[^:/@]+:[^:/@]+", value or "") else None


def declared_references(settings) -> Dict[str, Dict[str, str]]:
    """Kind (``models``, ``codes``, ``components``, ``environments``, ``data``) -> reference -> how the
    stack knows it: ``declared`` (the stack creates it) or ``existing`` (acknowledged)."""
    out: Dict[str, Dict[str, str]] = {k: {} for k in KINDS}
    for kind, entries in (("models", settings.assets.models), ("codes", settings.assets.code),
                          ("components", settings.assets.components)):
        for e in entries:
            out[kind][e.reference] = "existing" if e.existing else "declared"
    for env in settings.environments:
        out["environments"][f"azureml:{env.name}:{env.version}"] = "declared"
    for d in getattr(settings, "data_assets", []) or []:
        out["data"][f"azureml:{d.name}:{d.version}"] = "declared"
    return out


def deployment_references(settings) -> List[Sequence[str]]:
    """(where, kind, reference) of every workspace asset a deployment of the stack names."""
    out = []
    for i, ep in enumerate(settings.online_endpoints):
        for j, d in enumerate(ep.deployments):
            for field, kind in (("model", "models"), ("environment", "environments"), ("code", "codes")):
                value = getattr(d, field)
                if value and asset_reference(value):
                    out.append((f"online_endpoints[{i}].deployments[{j}].{field}", kind, value))
    for i, ep in enumerate(settings.batch_endpoints):
        for j, d in enumerate(ep.deployments):
            for field, kind in (("model", "models"), ("environment", "environments"), ("code", "codes"),
                                ("component", "components")):
                value = getattr(d, field)
                if value and asset_reference(value):
                    out.append((f"batch_endpoints[{i}].deployments[{j}].{field}", kind, value))
    return out


__all__ = ["AssetsSettings", "ModelAssetSettings", "CodeAssetSettings", "ComponentAssetSettings",
           "asset_reference", "declared_references", "deployment_references",
           "project_path_problems"]
