"""The fake workspace of tests/runs/fake_aml.py, plus the model registry calls.

Answers follow the recorded real answers in ``recordings/model_create_autoincrement.json`` (azure-ai-ml
registering a model twice in a real workspace): a container GET of an unknown name is that 404
``ModelNotFound`` body; after a version PUT the container answers with ``latestVersion`` /
``nextVersion``; a version PUT answers 201 with the recorded envelope. Request bodies are checked
against the recorded request's fields and the spec's ``ModelVersion`` properties (``violations``).

``modelUri`` must name files that are really there: a path on the default datastore
(``workspaceblobstore``, the base fake's ``datastore_get``, in azure-ai-ml's long form
``azureml://subscriptions/.../resourcegroups/.../workspaces/.../datastores/workspaceblobstore/paths/...``,
the form of the recorded request) with blobs there in Azurite, or an Azure job's output
(``azureml://jobs/<job>/outputs/artifacts/paths/...`` whose job is ``jobName``). The answer spells the
datastore path's ``resourcegroups`` as ``resourceGroups``, as the recorded answer does.
"""

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "runs"))

import fake_aml as base  # noqa: E402
from fake_aml import FakeAML, _Reject  # noqa: E402

RECORDING = json.loads((HERE / "recordings" / "model_create_autoincrement.json").read_text(encoding="utf-8"))
# ModelVersion properties in the published spec (2023-04-01 .. 2025-12-01); provisioningState is read-only
MODEL_VERSION_FIELDS = {"description", "flavors", "isAnonymous", "isArchived", "jobName", "modelType", "modelUri",
                        "properties", "stage", "tags"}
MODEL_TYPES = {"custom_model", "mlflow_model", "triton_model"}  # azure-ai-ml's AssetTypes for models
_DATASTORE_URI = re.compile(r"^azureml://subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/workspaces/"
                            r"(?P<ws>[^/]+)/datastores/(?P<ds>[^/]+)/paths/(?P<path>.+)$")
# a job's output, default (artifacts) or named, as model paths are documented (azureml-examples
# cli/jobs/basics/hello-model-as-output.yml): azureml://jobs/<job>/outputs/<output>/paths/<path in it>
_JOB_URI = re.compile(r"^azureml://jobs/(?P<job>[A-Za-z0-9_-]+)/outputs/(?P<output>[A-Za-z_][A-Za-z0-9_]*)/paths/(?P<path>.*)$")

_MODEL_ROUTES = [
    ("GET", re.compile(r"^/models$"), "model_container_list"),
    ("GET", re.compile(r"^/models/(?P<name>[^/]+)$"), "model_container_get"),
    ("GET", re.compile(r"^/models/(?P<name>[^/]+)/versions$"), "model_version_list"),
    ("PUT", re.compile(r"^/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$"), "model_version_put"),
    ("GET", re.compile(r"^/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$"), "model_version_get"),
]
for _route in _MODEL_ROUTES:  # the base fake routes by this module-level table
    if _route not in base._ROUTES:
        base._ROUTES.append(_route)


def _recorded(method: str, status: int, path_suffix: str = "") -> dict[str, Any]:
    for entry in RECORDING["entries"]:
        if entry["method"] == method and entry["status"] == status and entry["path"].endswith(path_suffix):
            return copy.deepcopy(entry)
    raise KeyError((method, status, path_suffix))


class FakeModelsAML(FakeAML):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.models: dict[str, dict[str, dict[str, Any]]] = {}  # name -> version -> stored answer

    # ---- containers

    def _model_container(self, name: str) -> dict[str, Any]:
        body = _recorded("GET", 200, "/models/test_238148868107")["response"]
        versions = self.models[name]
        numbers = [int(v) for v in versions if v.isdigit()]
        latest = max(versions, key=lambda v: (v.isdigit(), int(v) if v.isdigit() else 0, v))
        body.update(id=f"{self.workspace_id}/models/{name}", name=name)
        body["properties"].update(latestVersion=latest, nextVersion=str(max(numbers) + 1 if numbers else 1))
        return body

    def op_model_container_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if p["name"] not in self.models:
            answer = _recorded("GET", 404)["response"]
            answer["error"]["details"][0]["message"] = f"Model container with name: {p['name']} not found."
            return 404, answer, {}
        return 200, self._model_container(p["name"]), {}

    def op_model_container_list(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, {"value": [self._model_container(n) for n in sorted(self.models)]}, {}

    # ---- versions

    def op_model_version_list(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        versions = self.models.get(p["name"], {})
        return 200, {"value": [versions[v] for v in sorted(versions, key=lambda v: (len(v), v))]}, {}

    def op_model_version_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        found = self.models.get(p["name"], {}).get(p["version"])
        if found is None:
            raise _Reject(404, "UserError", f"Model {p['name']}:{p['version']} not found.")
        return 200, found, {}

    def _check_version_body(self, body: Any) -> list[str]:
        problems = []
        if not isinstance(body, dict) or set(body) != {"properties"} or not isinstance(body["properties"], dict):
            return ["ModelVersion: body must be {'properties': {...}}"]
        props = body["properties"]
        recorded = set(_recorded("PUT", 201)["request"]["properties"])
        problems += [f"ModelVersion properties/{k}: unknown field" for k in sorted(set(props) - MODEL_VERSION_FIELDS)]
        problems += [f"ModelVersion properties/{k}: missing (azure-ai-ml sends it)" for k in sorted(recorded - set(props))]
        for k in ("tags", "properties"):
            v = props.get(k)
            if not isinstance(v, dict) or not all(isinstance(a, str) and isinstance(b, str) for a, b in v.items()):
                problems.append(f"ModelVersion properties/{k}: must map text to text")
        for k in ("isAnonymous", "isArchived"):
            if not isinstance(props.get(k), bool):
                problems.append(f"ModelVersion properties/{k}: must be true or false")
        if props.get("modelType") not in MODEL_TYPES:
            problems.append(f"ModelVersion properties/modelType: {props.get('modelType')!r} is not a model type")
        for k in ("description", "jobName", "modelUri"):
            if k in props and not isinstance(props[k], str):
                problems.append(f"ModelVersion properties/{k}: must be text")
        return problems

    def _check_uri(self, props: dict[str, Any]) -> None:
        uri = props["modelUri"]
        m = _JOB_URI.match(uri)
        if m:
            if props.get("jobName") != m["job"]:
                raise _Reject(400, "UserError", f"modelUri names job {m['job']} but jobName is {props.get('jobName')!r}")
            return
        d = _DATASTORE_URI.match(uri)
        if d:
            if (d["sub"], d["rg"].lower(), d["ws"].lower(), d["ds"]) != (
                    base.SUBSCRIPTION, base.RESOURCE_GROUP.lower(), base.WORKSPACE.lower(), base.DATASTORE):
                raise _Reject(400, "UserError", f"modelUri {uri!r} is not on this workspace's default datastore")
            inner = d["path"].rstrip("/")  # the default datastore's container (the base fake's datastore_get)
            if not any(n == inner or n.startswith(inner + "/") for n in self.data_blob_names(inner)):
                raise _Reject(400, "UserError", f"modelUri {uri!r}: nothing was uploaded there")
            return
        raise _Reject(400, "UserError", f"modelUri {uri!r} is neither a path on this workspace's default datastore nor a job output")

    def op_model_version_put(self, p: dict[str, str], q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        problems = self._check_version_body(body)
        if problems:
            self.violations.extend(problems)
            raise _Reject(400, "UserError", "; ".join(problems))
        props = body["properties"]
        self._check_uri(props)
        name, version = p["name"], p["version"]
        # the recorded answer echoes the datastore path with ARM's spelling "resourceGroups"
        stored_uri = re.sub(r"^(azureml://subscriptions/[^/]+/)resourcegroups/", r"\1resourceGroups/", props["modelUri"])
        existing = self.models.get(name, {}).get(version)
        if existing is not None:
            if existing["properties"]["modelUri"] != stored_uri:
                raise _Reject(409, "UserError", "Asset paths cannot be updated.")
            existing["properties"].update(tags=props["tags"], description=props.get("description"))
            return 200, existing, {}
        answer = _recorded("PUT", 201, "/versions/1")["response"]
        answer.update(id=f"{self.workspace_id}/models/{name}/versions/{version}", name=version)
        answer["properties"].update({k: v for k, v in props.items()})
        answer["properties"]["modelUri"] = stored_uri
        answer["properties"].setdefault("description", None)
        answer["properties"].setdefault("jobName", None)
        answer["properties"]["flavors"] = props.get("flavors", {})
        self.models.setdefault(name, {})[version] = answer
        return 201, answer, {}


def _fixture() -> Any:
    import uuid

    import pytest

    @pytest.fixture
    def fake_models(azurite: Any, tmp_path: Path) -> Any:
        from azurite import ACCOUNT_KEY, ACCOUNT_NAME

        if not (base.AML_REST / "2025-12-01" / "job-definitions.json").is_file():
            pytest.skip(f"the Azure ML REST contract data is missing ({base.AML_REST})")
        blobs = base.BlobStore(azurite.service_url, ACCOUNT_NAME, ACCOUNT_KEY, container=f"pending-{uuid.uuid4().hex[:12]}")
        fake = FakeModelsAML(blobs, tmp_path / "tls").start()
        yield fake
        fake.stop()
        assert fake.violations == [], "request bodies broke the recorded / published shape"

    return fake_models


fake_models = _fixture()
