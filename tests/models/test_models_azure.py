"""The workspace model registry against the fake workspace (recorded answers) and a real Azurite.

The client, the upload (the data upload to the default datastore: ``listSecrets``, blobs under
``LocalUpload/<hash>/<name>``, skipped when already there) and the REST calls are the real ones; only the
endpoint, the token and the trusted certificate are redirected."""

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "runs"))

from azurite import azurite  # noqa: E402,F401 - session fixture
from fake_aml import FAST_RETRY, FakeCredential, client_for  # noqa: E402
from fake_models import RECORDING, fake_models  # noqa: E402,F401

from amlplatform.errors import UserError  # noqa: E402
from amlplatform.runs import models as m  # noqa: E402

pytestmark = pytest.mark.slow


def _model_folder(root: Path) -> Path:
    folder = root / "model"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n")
    (folder / "model.pkl").write_bytes(b"\x80\x04not-really-a-pickle")
    (folder / ".env").write_text("SECRET=1\n")  # the deny-list keeps it out, as for code
    return folder


def _long_uri(fake, inner: str) -> str:
    """azure-ai-ml's ``LONG_URI_FORMAT`` (constants/_common.py) on this workspace's default datastore."""
    c = fake.coords()
    return (f"azureml://subscriptions/{c.subscription_id}/resourcegroups/{c.resource_group}/workspaces/"
            f"{c.workspace_name}/datastores/workspaceblobstore/paths/{inner}")


def test_register_uploads_once_and_increments_versions(fake_models, tmp_path):
    from amlplatform.runs.snapshot import take_data_snapshot

    folder = _model_folder(tmp_path)
    snap = m.model_snapshot(folder)
    prefix = take_data_snapshot(folder).upload_prefix  # where azure-ai-ml puts this folder: LocalUpload/<hash>/model
    with client_for(fake_models) as client:
        ws = m.WorkspaceModels(client)
        first = ws.register("credit-default", model_type=m.check_type(folder, None), snapshot=snap, basename="model",
                            tags={"team": "risk"}, description="first", progress=lambda d, t: None)
        calls_after_first = fake_models.ops()
        blobs_after_first = fake_models.data_blob_names()
        second = ws.register("credit-default", model_type=m.MLFLOW_MODEL, snapshot=m.model_snapshot(folder),
                             basename="model", progress=lambda d, t: None)
        uploads = list(client.uploads)

    # the files go to the default datastore first (its GET, listSecrets), then the recorded sequence:
    # container 404 -> version PUT 1; container 200 (nextVersion 2) -> PUT 2. No code upload at all.
    assert calls_after_first == ["datastore_get", "datastore_secrets", "model_container_get", "model_version_put"]
    assert fake_models.ops()[len(calls_after_first):] == ["model_container_get", "model_version_put"]
    # the second registration found the files by their hash: nothing was sent again
    assert [(u.reused, u.files) for u in uploads] == [(False, 2), (True, 0)]
    assert fake_models.data_blob_names() == blobs_after_first == [f"{prefix}/MLmodel", f"{prefix}/model.pkl"]
    assert fake_models.read_blob(f"{prefix}/model.pkl", container=fake_models.datastore_container) == \
        b"\x80\x04not-really-a-pickle"  # and .env is not there (the deny-list, as for code)
    assert first["name"] == "1" and second["name"] == "2"
    assert first["id"].endswith("/models/credit-default/versions/1")
    props = first["properties"]
    assert props["modelType"] == "mlflow_model" and props["tags"] == {"team": "risk"} and props["description"] == "first"
    assert props["properties"][m.HASH_PROPERTY] == snap.content_hash
    # the request's modelUri is azure-ai-ml's long datastore path, no trailing "/" (Model._update_path);
    # the service answers it with ARM's "resourceGroups" (the recorded answer)
    put = [c for c in fake_models.calls if c.op == "model_version_put"]
    assert put[0].body["properties"]["modelUri"] == put[1].body["properties"]["modelUri"] == _long_uri(fake_models, prefix)
    assert props["modelUri"] == _long_uri(fake_models, prefix).replace("/resourcegroups/", "/resourceGroups/")
    # the request body has the recorded request's shape
    recorded = next(e for e in RECORDING["entries"] if e["method"] == "PUT")["request"]["properties"]
    assert set(recorded) <= set(put[0].body["properties"])
    assert put[0].query["api-version"] == client.api_version


def test_a_single_file_model_has_the_recorded_uri_form(fake_models, tmp_path):
    """One file goes to ``LocalUpload/<hash>/<file name>`` and the modelUri names that blob: the form of the
    recorded real request (``.../datastores/workspaceblobstore/paths/LocalUpload/<hash>/model.pkl``)."""
    import re

    from amlplatform.runs.snapshot import take_data_snapshot

    pkl = tmp_path / "model.pkl"
    pkl.write_bytes(b"pickled")
    with client_for(fake_models) as client:
        got = m.WorkspaceModels(client).register("clf", model_type=m.CUSTOM_MODEL, snapshot=m.model_snapshot(pkl),
                                                 basename="model.pkl", progress=lambda d, t: None)
    prefix = take_data_snapshot(pkl).upload_prefix
    assert fake_models.data_blob_names() == [prefix]
    assert fake_models.read_blob(prefix, container=fake_models.datastore_container) == b"pickled"
    sent = [c for c in fake_models.calls if c.op == "model_version_put"][0].body["properties"]["modelUri"]
    recorded = next(e for e in RECORDING["entries"] if e["method"] == "PUT")["request"]["properties"]["modelUri"]
    shape = re.compile(r"^azureml://subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/datastores/"
                       r"workspaceblobstore/paths/LocalUpload/[0-9a-f]+/model\.pkl$")
    assert shape.match(recorded) and shape.match(sent) and sent == _long_uri(fake_models, prefix)
    assert got["properties"]["modelUri"].endswith(f"/paths/{prefix}")


def test_a_failed_upload_registers_nothing(fake_models, tmp_path):
    from fake_aml import Fault

    folder = _model_folder(tmp_path)
    fake_models.faults = lambda method, op: Fault("status", 403) if op == "datastore_secrets" else None
    with client_for(fake_models) as client:
        with pytest.raises(UserError, match="403"):
            m.WorkspaceModels(client).register("m1", model_type=m.MLFLOW_MODEL, snapshot=m.model_snapshot(folder),
                                               basename="model", progress=lambda d, t: None)
    assert "model_version_put" not in fake_models.ops() and fake_models.models == {}


def test_datastore_snapshot_lays_the_files_out_under_the_models_name(tmp_path):
    from amlplatform.runs.snapshot import take_data_snapshot

    folder = _model_folder(tmp_path)
    data = m.datastore_snapshot(m.model_snapshot(folder), "model")
    same = take_data_snapshot(folder)
    assert (data.is_file, data.upload_prefix, sorted(f.relpath for f in data.files)) == \
        (False, same.upload_prefix, ["MLmodel", "model.pkl"])
    (folder / "model.pkl").write_bytes(b"changed")
    assert m.datastore_snapshot(m.model_snapshot(folder), "model").upload_prefix != same.upload_prefix
    with pytest.raises(UserError, match="not all under 'other'"):
        m.datastore_snapshot(m.model_snapshot(folder), "other")


def test_job_output_is_referenced_not_uploaded(fake_models):
    with client_for(fake_models) as client:
        answer = m.WorkspaceModels(client).register(
            "credit-default", model_type=m.CUSTOM_MODEL, model_uri=m.job_output_uri("train-20261202-abc", "outputs/model"),
            job_name="train-20261202-abc")
    assert answer["properties"]["modelUri"] == "azureml://jobs/train-20261202-abc/outputs/artifacts/paths/outputs/model/"
    assert answer["properties"]["jobName"] == "train-20261202-abc"
    assert "pending" not in fake_models.ops()


def test_explicit_existing_version_is_refused_and_nothing_overwritten(fake_models, tmp_path):
    folder = _model_folder(tmp_path / "a")
    other = tmp_path / "b" / "model.pkl"
    other.parent.mkdir()
    other.write_bytes(b"other bytes")
    with client_for(fake_models) as client:
        ws = m.WorkspaceModels(client)
        ws.register("m1", model_type=m.MLFLOW_MODEL, snapshot=m.model_snapshot(folder), basename="model", version="3",
                    progress=lambda d, t: None)
        with pytest.raises(UserError, match="already has version 3"):
            ws.register("m1", model_type=m.CUSTOM_MODEL, snapshot=m.model_snapshot(other), basename="model.pkl",
                        version="3", progress=lambda d, t: None)
        assert ws.next_version("m1") == "4"  # the container's nextVersion after a version 3
    assert fake_models.models["m1"]["3"]["properties"]["modelType"] == "mlflow_model"


def test_list_and_show_read_the_workspace(fake_models, tmp_path):
    folder = _model_folder(tmp_path)
    snap = m.model_snapshot(folder)
    with client_for(fake_models) as client:
        ws = m.WorkspaceModels(client)
        for _ in range(2):
            ws.register("credit-default", model_type=m.MLFLOW_MODEL, snapshot=snap, basename="model",
                        progress=lambda d, t: None)
        assert [c["name"] for c in ws.containers()] == ["credit-default"]
        assert [v["name"] for v in ws.version_bodies("credit-default")] == ["1", "2"]
        latest = m.summarize_version(ws.get("credit-default"))
        assert (latest["name"], latest["version"], latest["type"]) == ("credit-default", "2", "mlflow_model")
        with pytest.raises(UserError, match="no version '9'"):
            ws.get("credit-default", "9")
        with pytest.raises(UserError, match="no model named 'nope'"):
            ws.get("nope")


def test_cli_register_list_show_against_the_workspace(fake_models, tmp_path, monkeypatch, capsys):
    from azure.core.pipeline.transport import RequestsTransport

    from amlplatform.cli import main
    from amlplatform.runs import azure as az

    original = az.AzureMLClient

    def aimed(coords, **kwargs):
        kwargs.update(endpoint=fake_models.endpoint, credential=FakeCredential(), retry=FAST_RETRY,
                      transport=RequestsTransport(connection_verify=str(fake_models.ca_file)),
                      storage_url=lambda account, endpoint, protocol: fake_models.blobs.service_url)
        return original(coords, **kwargs)

    monkeypatch.setattr(az, "AzureMLClient", aimed)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"workspace_id": fake_models.workspace_id, "location": "westeurope"}))
    folder = _model_folder(tmp_path / "proj")
    monkeypatch.chdir(tmp_path)
    ws = ["--outputs-file", str(outputs)]

    assert main(["model", "register", str(folder), "--name", "credit-default", "--tag", "team=risk", "--json", *ws]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert (rec["name"], rec["version"], rec["type"]) == ("credit-default", "1", "mlflow_model")
    assert main(["model", "register", "--job", "train-1", "--path", "outputs/model", "--name", "credit-default", *ws]) == 0
    capsys.readouterr()
    assert main(["model", "list", "credit-default", "--json", *ws]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["job_name"]) for r in rows] == [("1", None), ("2", "train-1")]
    assert main(["model", "show", "credit-default@latest", "--json", *ws]) == 0
    assert json.loads(capsys.readouterr().out)["model_uri"].startswith("azureml://jobs/train-1/")
    # nothing local was written
    assert not (tmp_path / ".amlplatform" / "models").exists()
    # --job without a workspace is an error naming the fix
    assert main(["model", "register", "--job", "train-1", "--name", "x"]) == 2
    assert "add --stack or --outputs-file" in capsys.readouterr().err


def test_a_version_taken_between_get_and_put_is_retried_with_the_next(fake_models, tmp_path, monkeypatch):
    first = _model_folder(tmp_path / "a")
    other = tmp_path / "b" / "clf.pkl"
    other.parent.mkdir()
    other.write_bytes(b"another model")
    with client_for(fake_models) as client:
        ws = m.WorkspaceModels(client)
        ws.register("m1", model_type=m.MLFLOW_MODEL, snapshot=m.model_snapshot(first), basename="model",
                    progress=lambda d, t: None)
        real = ws.next_version
        answers = iter(["1"])  # a stale answer: someone registered 1 meanwhile

        monkeypatch.setattr(ws, "next_version", lambda name: next(answers, None) or real(name))
        got = ws.register("m1", model_type=m.CUSTOM_MODEL, snapshot=m.model_snapshot(other), basename="clf.pkl",
                          progress=lambda d, t: None)
    assert got["name"] == "2"
    statuses = [c.status for c in fake_models.calls if c.op == "model_version_put"]
    assert statuses == [201, 409, 201]  # the 409 "Asset paths cannot be updated." was not an overwrite
    assert fake_models.models["m1"]["1"]["properties"]["modelType"] == "mlflow_model"


def test_server_errors_are_retried_then_reported(fake_models, tmp_path):
    from fake_aml import Fault

    folder = _model_folder(tmp_path)
    seen = []

    def plan(method, op):
        if op == "model_version_put":
            seen.append(op)
            return Fault("status", 503) if len(seen) == 1 else None
        return None

    fake_models.faults = plan
    with client_for(fake_models) as client:
        got = m.WorkspaceModels(client).register("m1", model_type=m.MLFLOW_MODEL, snapshot=m.model_snapshot(folder),
                                                 basename="model", progress=lambda d, t: None)
        assert got["name"] == "1" and len(seen) == 2
        fake_models.faults = lambda method, op: Fault("status", 500) if op == "model_container_get" else None
        with pytest.raises(UserError, match="answered 500"):
            m.WorkspaceModels(client).register("m2", model_type=m.MLFLOW_MODEL, snapshot=m.model_snapshot(folder),
                                               basename="model", progress=lambda d, t: None)
    assert "m2" not in fake_models.models


def test_cli_registers_a_local_runs_output_in_the_workspace(fake_models, tmp_path, monkeypatch, capsys):
    from azure.core.pipeline.transport import RequestsTransport

    from amlplatform.cli import main
    from amlplatform.runs import azure as az
    from amlplatform.runs.store import RunStore

    original = az.AzureMLClient
    monkeypatch.setattr(az, "AzureMLClient", lambda coords, **kw: original(coords, **{
        **kw, "endpoint": fake_models.endpoint, "credential": FakeCredential(), "retry": FAST_RETRY,
        "transport": RequestsTransport(connection_verify=str(fake_models.ca_file)),
        "storage_url": lambda account, endpoint, protocol: fake_models.blobs.service_url}))
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"workspace_id": fake_models.workspace_id, "location": "westeurope"}))
    store = RunStore(tmp_path / "runs")
    record = store.create({"name": "train_1", "experiment": "x", "status": "Completed"})
    _model_folder(store.run_dir(record["name"]) / "outputs")
    monkeypatch.chdir(tmp_path)
    assert main(["model", "register", "--run", "train_1", "--path", "outputs/model", "--name", "credit-default",
                 "--runs-dir", str(tmp_path / "runs"), "--outputs-file", str(outputs), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["properties"][m.RUN_PROPERTY] == "train_1" and rec["type"] == "mlflow_model"
    from amlplatform.runs.snapshot import take_data_snapshot

    prefix = take_data_snapshot(store.run_dir(record["name"]) / "outputs" / "model").upload_prefix
    assert rec["model_uri"] == _long_uri(fake_models, prefix).replace("/resourcegroups/", "/resourceGroups/")
    assert "pending" not in fake_models.ops() and f"{prefix}/model.pkl" in fake_models.data_blob_names()
