"""``amlplatform submit --file job.yml`` on a cluster, end to end against the fake workspace and Azurite.

Only the client's construction is redirected (endpoint, token, trusted test certificate, Azurite as
the datastore's blob endpoint); the CLI, job YAML, coordinates, snapshot, uploads and REST calls are
the real ones. The fake answers as the real service does (``fake_aml.py``): a fresh container per
pending upload, ``409 UserError "Asset paths cannot be updated."`` for an existing code version,
statuses NotResponding and Paused that never change again; a blob URI with an explicit default port
is replayed through a real listener on port 80.
"""

import json
import socket
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from azurite import azurite  # noqa: E402,F401 - session fixture
from fake_aml import FAST_RETRY, FakeCredential, fake_aml  # noqa: E402,F401

from amlplatform.cli import main  # noqa: E402
from amlplatform.runs import azure as az  # noqa: E402

JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
code: ./src
command: python train.py --data ${{inputs.rows}} --lr ${{inputs.lr}} --out ${{outputs.model}}
inputs:
  rows: {type: uri_folder, path: ./data, mode: ro_mount}
  lr: 0.1
outputs:
  model: {type: uri_folder}
environment: azureml:sklearn-env:3
compute: azureml:cpu-cluster
experiment_name: cli
"""


class HeaderSpy:
    """A blob transport recording (method, url path, If-None-Match, metadata) of every storage request."""

    def __init__(self) -> None:
        from azure.core.pipeline.transport import RequestsTransport

        self.seen: list[tuple[str, str, str, dict]] = []
        spy = self

        class Transport(RequestsTransport):
            def send(self, request, **kwargs):
                meta = {k[len("x-ms-meta-"):]: v for k, v in request.headers.items() if k.lower().startswith("x-ms-meta-")}
                url = request.url.split("?")[0] + ("?comp=metadata" if "comp=metadata" in request.url else "")
                spy.seen.append((request.method, url, request.headers.get("If-None-Match"), meta))
                return super().send(request, **kwargs)

            def close(self):  # shared by every container client of the test: kept open
                pass

            def __exit__(self, *exc):
                pass

        self.transport = Transport()


@pytest.fixture
def cli_env(fake_aml, tmp_path, monkeypatch):
    """A project with a job YAML, an exported outputs file for the fake workspace, the client aimed at the fake."""
    from azure.core.pipeline.transport import RequestsTransport

    original = az.AzureMLClient
    spy = HeaderSpy()

    def aimed(coords, **kwargs):
        kwargs.update(endpoint=fake_aml.endpoint, credential=FakeCredential(), retry=FAST_RETRY, poll_interval=0.01,
                      transport=RequestsTransport(connection_verify=str(fake_aml.ca_file)),
                      blob_options={"transport": spy.transport, "retry_total": 2},
                      storage_url=lambda account, endpoint, protocol: fake_aml.blobs.service_url)
        return original(coords, **kwargs)

    monkeypatch.setattr(az, "AzureMLClient", aimed)
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "data").mkdir()
    (project / "src" / "train.py").write_text("print('hello from the cluster')\n")
    (project / "src" / ".env").write_text("SECRET=1\n")  # the deny-list keeps it out of the upload
    (project / "data" / "rows.csv").write_text("x,y\n1,2\n")
    (project / "job.yml").write_text(JOB)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({
        "workspace_id": fake_aml.workspace_id,
        "location": "westeurope",
        "compute_ids": {"cpu-cluster": fake_aml.workspace_id + "/computes/cpu-cluster"},
    }))
    monkeypatch.chdir(project)
    for var in ("AMLPLATFORM_SUBSCRIPTION_ID", "AMLPLATFORM_RESOURCE_GROUP", "AMLPLATFORM_WORKSPACE",
                "AMLPLATFORM_OUTPUTS_FILE", "AMLPLATFORM_API_VERSION"):
        monkeypatch.delenv(var, raising=False)
    return project, outputs, spy


def submit_args(outputs: Path, *extra: str) -> list[str]:
    return ["submit", "--file", "job.yml", "--outputs-file", str(outputs), *extra]


def test_cli_submits_waits_and_reports(cli_env, fake_aml, capsys):
    project, outputs, spy = cli_env
    code = main(submit_args(outputs, "--json"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    job = json.loads(captured.out)
    assert job["properties"]["status"] == "Completed"
    assert list(fake_aml.jobs) == [job["name"]]
    stored = fake_aml.jobs[job["name"]]["properties"]
    assert stored["command"] == "python train.py --data ${{inputs.rows}} --lr ${{inputs.lr}} --out ${{outputs.model}}"
    assert stored["inputs"]["lr"] == {"jobInputType": "literal", "value": "0.1"}
    assert stored["outputs"] == {"model": {"jobOutputType": "uri_folder"}}
    uploaded = [b.rsplit("/", 1)[-1] for b in fake_aml.blob_names()]
    assert uploaded == ["train.py"]  # .env never left the machine
    # the data input went to the default datastore, where azure-ai-ml would have put it
    (data_blob,) = fake_aml.data_blob_names()
    assert data_blob.startswith("LocalUpload/") and data_blob.endswith("/data/rows.csv")
    assert stored["inputs"]["rows"] == {"jobInputType": "uri_folder", "mode": "ReadOnlyMount",
                                        "uri": "azureml://datastores/workspaceblobstore/paths/"
                                               + data_blob[: -len("rows.csv")]}
    assert f"job {job['name']}" in captured.err


def test_blobs_are_written_as_azure_ai_ml_writes_them(cli_env, fake_aml, capsys):
    """Every upload is create-only (If-None-Match: *) and the first blob of each upload is confirmed with
    azure-ai-ml's metadata (upload_status, name, version) once everything is there."""
    project, outputs, spy = cli_env
    assert main(submit_args(outputs, "--no-wait")) == 0
    puts = [(url, inm) for method, url, inm, _ in spy.seen if method == "PUT" and "comp=metadata" not in url]
    assert puts and all(inm == "*" for _, inm in puts), puts
    (container,) = set(fake_aml.pending.values())
    (code,) = fake_aml.codes.values()
    assert fake_aml.blob_metadata(container, "src/train.py") == {
        "upload_status": "completed", "name": code["id"].split("/codes/")[1].split("/")[0], "version": "1"}
    (data_blob,) = fake_aml.data_blob_names()
    meta = fake_aml.blob_metadata(fake_aml.datastore_container, data_blob)
    assert meta["upload_status"] == "completed" and set(meta) == {"upload_status", "name", "version"}


def test_cli_no_wait_then_nothing_uploaded_again(cli_env, fake_aml, capsys):
    project, outputs, spy = cli_env
    assert main(submit_args(outputs, "--no-wait")) == 0
    capsys.readouterr()
    spy.seen.clear()
    assert main(submit_args(outputs, "--no-wait")) == 0
    err = capsys.readouterr().err
    assert len(fake_aml.jobs) == 2 and len(fake_aml.codes) == 1
    assert fake_aml.ops().count("pending") == 1  # the second submit uploaded no code
    assert "uploaded 0 bytes (2 of 2 uploads already in the workspace)" in err
    assert [m for m, *_ in spy.seen if m == "PUT"] == []  # and no data: the confirmed upload was found
    assert "job_get" not in fake_aml.ops()


def test_an_unconfirmed_earlier_data_upload_is_replaced(cli_env, fake_aml, capsys):
    """A data upload that broke before its confirmation leaves blobs without metadata: the next submit
    overwrites them (azure-ai-ml check_blob_exists: overwrite when not confirmed)."""
    project, outputs, spy = cli_env
    assert main(submit_args(outputs, "--no-wait")) == 0
    (data_blob,) = fake_aml.data_blob_names()
    from azure.storage.blob import ContainerClient

    from azurite import ACCOUNT_KEY, ACCOUNT_NAME

    c = ContainerClient(fake_aml.blobs.service_url, fake_aml.datastore_container,
                        credential={"account_name": ACCOUNT_NAME, "account_key": ACCOUNT_KEY})
    c.get_blob_client(data_blob).set_blob_metadata({})  # as if the confirmation never came
    spy.seen.clear()
    assert main(submit_args(outputs, "--no-wait")) == 0
    puts = [(u, inm) for m, u, inm, _ in spy.seen if m == "PUT" and data_blob in u and "comp=metadata" not in u]
    assert puts and puts[0][1] is None  # overwritten, not create-only
    assert fake_aml.blob_metadata(fake_aml.datastore_container, data_blob)["upload_status"] == "completed"


def test_cli_set_and_shorthands_override_the_file(cli_env, fake_aml, capsys):
    project, outputs, spy = cli_env
    code = main(submit_args(outputs, "--no-wait", "--json", "--set", "inputs.lr=0.5", "--set",
                            "resources.instance_count=2", "--env", "A=1", "--name", "named-job"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    stored = fake_aml.jobs["named-job"]["properties"]
    assert stored["inputs"]["lr"]["value"] == "0.5"
    assert stored["resources"] == {"instanceCount": 2, "properties": {}}
    assert stored["environmentVariables"] == {"A": "1"}


def test_cli_dry_run_json_prints_the_requests_and_sends_nothing(cli_env, fake_aml, capsys):
    project, outputs, spy = cli_env
    assert main(submit_args(outputs, "--dry-run", "--format", "json", "--name", "dry-1")) == 0
    described = json.loads(capsys.readouterr().out)
    assert fake_aml.calls == [] and spy.seen == []
    methods = [(r["method"], r["url"].split("?")[0].split("/workspaces/mlw-dev")[-1]) for r in described["requests"]]
    assert ("POST", "/datastores/workspaceblobstore/listSecrets") in methods
    assert methods[-1] == ("PUT", "/jobs/dry-1")
    body = described["requests"][-1]["body"]
    assert fake_aml.schema.problems("JobBase", body) == []
    # the real submit sends that very body (its submission id aside)
    assert main(submit_args(outputs, "--no-wait", "--name", "dry-1")) == 0
    stored = fake_aml.jobs["dry-1"]["properties"]
    assert {k: v for k, v in body["properties"].items() if k != "properties"} == {
        k: v for k, v in stored.items() if k not in ("properties", "status", "services")}


def test_cli_dry_run_text(cli_env, fake_aml, capsys):
    project, outputs, spy = cli_env
    assert main(submit_args(outputs, "--dry-run")) == 0
    out = capsys.readouterr().out
    assert fake_aml.calls == []
    assert "cpu-cluster" in out and fake_aml.workspace_id in out and "LocalUpload/" in out


def test_cli_failure_is_one_readable_line(cli_env, fake_aml, capsys):
    project, outputs, spy = cli_env
    fake_aml.answer_hook = lambda op, status, body: (status, {"unexpected": True}) if op == "pending" else (status, body)
    assert main(submit_args(outputs)) == 2
    err = capsys.readouterr().err
    assert "\nerror: start the code upload (" in err and "blobReferenceForConsumption" in err
    assert "Traceback" not in err
    assert fake_aml.jobs == {} and fake_aml.codes == {}


def test_old_run_spec_gets_the_equivalent_job_yaml(cli_env, capsys):
    project, outputs, spy = cli_env
    (project / "run.yaml").write_text("source: src\nscript: train.py\narguments: [--epochs, 3]\ncompute: cpu-cluster\n"
                                      "experiment: old\nenvironment: sklearn-env:3\ntimeout_seconds: 60\n")
    assert main(["submit", "--file", "run.yaml"]) == 2
    err = capsys.readouterr().err
    assert "run spec, which is replaced by Azure ML job YAML" in err
    converted = err[err.index("$schema"):]
    (project / "converted.yml").write_text(converted)
    from amlplatform.runs.job import load_job

    job = load_job(project / "converted.yml")
    assert (job.command, job.compute, job.experiment_name, job.timeout) == (
        "python train.py --epochs 3", "cpu-cluster", "old", 60)


# ---------------------------------------------------------------- recorded real answers


@pytest.mark.parametrize("final", ["NotResponding", "Paused", "Failed"])
def test_every_terminal_status_ends_the_wait(cli_env, fake_aml, capsys, final):
    """azure-ai-ml RunHistoryConstants.TERMINAL_STATUSES: a waiter that only knew Completed/Failed/Canceled
    would poll a NotResponding or Paused job for ever."""
    project, outputs, spy = cli_env
    fake_aml.status_script = ("Queued", "Running", final)
    assert main(submit_args(outputs)) == 1
    err = capsys.readouterr().err
    assert f": {final}" in err
    assert fake_aml.ops().count("job_get") == 3


def test_existing_code_version_answered_asset_paths_cannot_be_updated(cli_env, fake_aml, capsys):
    """The real answer to a second PUT of a code version with another codeUri is 409 UserError "Asset paths
    cannot be updated.": the version exists (same name = same content hash), so it is reused."""
    project, outputs, spy = cli_env
    assert main(submit_args(outputs, "--no-wait")) == 0
    fake_aml.op_code_list = lambda p, q, b: (200, {"value": []}, {})  # as if the lookup ran before it existed
    assert main(submit_args(outputs, "--no-wait")) == 0
    puts = [c for c in fake_aml.calls if c.op == "code_put"]
    assert [c.status for c in puts] == [201, 409]
    assert len(fake_aml.codes) == 1 and len(fake_aml.jobs) == 2
    assert len({j["properties"]["codeId"] for j in fake_aml.jobs.values()}) == 1


class DefaultPortListener:
    """Azurite reached on port 80 of a loopback address: the real startPendingUpload answer spells the
    blob URI with the scheme's default port (``https://<account>.blob.core.windows.net:443/<container>``)
    and the SAS URI without it; here ``http://127.0.0.1:80/...`` vs ``http://127.0.0.1/...``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 80))
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def test_blob_uri_with_an_explicit_default_port(cli_env, fake_aml, azurite, capsys):
    project, outputs, spy = cli_env
    try:
        listener = DefaultPortListener(azurite.port)
    except OSError as exc:  # port 80 needs root (or CAP_NET_BIND_SERVICE) or is taken
        pytest.skip(f"cannot listen on port 80: {exc}")
    try:
        default = fake_aml.blobs.service_url.replace(f":{azurite.port}", "")  # http://127.0.0.1/devstoreaccount1
        fake_aml.blobs.service_url = default
        fake_aml.blob_uri_style = lambda url: url.replace("http://127.0.0.1/", "http://127.0.0.1:80/")
        assert main(submit_args(outputs, "--no-wait")) == 0, capsys.readouterr().err
        (code,) = fake_aml.codes.values()
        assert code["properties"]["codeUri"].startswith("http://127.0.0.1:80/")  # echoed as sent (azure-ai-ml's urljoin)
        assert [b.rsplit("/", 1)[-1] for b in fake_aml.blob_names()] == ["train.py"]
    finally:
        listener.close()
    assert az.same_url_origin("https://acct.blob.core.windows.net:443/c", "https://ACCT.blob.core.windows.net/c?sig=x")
    assert not az.same_url_origin("https://acct.blob.core.windows.net:444/c", "https://acct.blob.core.windows.net/c")


@pytest.mark.parametrize("interrupted_after", ["create the job", "register the code version"])
def test_ctrl_c_during_submit_cancels_a_job_that_was_created(cli_env, fake_aml, capsys, monkeypatch, interrupted_after):
    """Ctrl-C arriving as a call's answer comes in: after the job PUT the job exists and must be
    canceled; after the code PUT there is no job and nothing to cancel."""
    project, outputs, spy = cli_env
    real_call = az.ArmPipeline.call

    def call(self, label, *args, **kwargs):
        answer = real_call(self, label, *args, **kwargs)
        if label == interrupted_after:
            raise KeyboardInterrupt
        return answer

    monkeypatch.setattr(az.ArmPipeline, "call", call)
    assert main(submit_args(outputs)) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if interrupted_after == "create the job":
        (name,) = fake_aml.jobs
        assert fake_aml.ops()[-2:] == ["job_get", "job_cancel"]
        assert fake_aml.jobs[name]["properties"]["status"] in ("CancelRequested", "Canceled")
        assert f"job {name}: was created; cancel requested" in err
    else:
        assert fake_aml.jobs == {} and "job_put" not in fake_aml.ops()
        assert fake_aml.ops()[-1] == "job_get" and "job_cancel" not in fake_aml.ops()
        assert "not created; nothing to cancel" in err


def test_pipeline_submitted_as_azure_ml_expects(cli_env, fake_aml, capsys, tmp_path):
    """The example pipeline on a cluster: its local input uploaded once, one anonymous component per step,
    the job's steps pointing at them and binding each other's outputs."""
    project, outputs, spy = cli_env
    example = Path(__file__).resolve().parents[2] / "examples" / "pipeline" / "pipeline.yml"
    code = main(["submit", "--file", str(example), "--compute", "cpu-cluster", "--outputs-file", str(outputs),
                 "--no-wait", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    job = json.loads(captured.out)
    props = fake_aml.jobs[job["name"]]["properties"]
    assert props["jobType"] == "Pipeline" and set(props["jobs"]) == {"prep", "train", "evaluate"}
    assert len(fake_aml.components) == 3 and len(fake_aml.codes) == 1  # the three steps share ./src
    assert props["jobs"]["train"]["inputs"]["training_data"] == {
        "job_input_type": "literal", "value": "${{parent.jobs.prep.outputs.prepped_data}}"}
    assert props["inputs"]["raw_data"]["uri"].startswith("azureml://datastores/workspaceblobstore/paths/LocalUpload/")
    assert props["computeId"] == fake_aml.workspace_id + "/computes/cpu-cluster"
    specs = {k[1]: v["properties"]["componentSpec"] for k, v in fake_aml.components.items()}
    assert {s["is_deterministic"] for s in specs.values()} == {True}
