"""``amlplatform submit --compute <cluster>`` end to end against the fake workspace and Azurite.

Only the client's construction is redirected (endpoint, token, trusted test certificate); the CLI,
coordinates, snapshot, upload and REST calls are the real ones."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from azurite import azurite  # noqa: E402,F401 - session fixture
from fake_aml import FAST_RETRY, FakeCredential, fake_aml  # noqa: E402,F401

from amlplatform.cli import main  # noqa: E402
from amlplatform.runs import azure as az  # noqa: E402


@pytest.fixture
def cli_env(fake_aml, tmp_path, monkeypatch):
    """A project folder, an exported outputs file for the fake workspace, and the client aimed at the fake."""
    from azure.core.pipeline.transport import RequestsTransport

    original = az.AzureMLClient

    def aimed(coords, **kwargs):
        kwargs.update(endpoint=fake_aml.endpoint, credential=FakeCredential(), retry=FAST_RETRY, poll_interval=0.01,
                      transport=RequestsTransport(connection_verify=str(fake_aml.ca_file)))
        return original(coords, **kwargs)

    monkeypatch.setattr(az, "AzureMLClient", aimed)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text("print('hello from the cluster')\n")
    (project / ".env").write_text("SECRET=1\n")  # the deny-list keeps it out of the upload
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
    return project, outputs


def submit_args(outputs: Path, *extra: str) -> list[str]:
    return ["submit", "--compute", "cpu-cluster", "--environment", "sklearn-env:3", "--experiment", "cli",
            "--outputs-file", str(outputs), "--script", "train.py", *extra]


def test_cli_submits_waits_and_reports(cli_env, fake_aml, capsys):
    project, outputs = cli_env
    code = main(submit_args(outputs, "--json"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    job = json.loads(captured.out)
    assert job["properties"]["status"] == "Completed"
    assert list(fake_aml.jobs) == [job["name"]]
    assert fake_aml.jobs[job["name"]]["properties"]["command"] == "python train.py"
    uploaded = [b.rsplit("/", 1)[-1] for b in fake_aml.blob_names()]
    assert uploaded == ["train.py"]  # .env never left the machine
    assert f"job {job['name']}" in captured.err


def test_cli_no_wait_then_dedupe(cli_env, fake_aml, capsys):
    project, outputs = cli_env
    assert main(submit_args(outputs, "--no-wait")) == 0
    assert main(submit_args(outputs, "--no-wait")) == 0
    capsys.readouterr()
    assert len(fake_aml.jobs) == 2 and len(fake_aml.codes) == 1
    assert fake_aml.ops().count("pending") == 1  # the second submit uploaded nothing
    assert "job_get" not in fake_aml.ops()


def test_cli_dry_run_sends_nothing(cli_env, fake_aml, capsys):
    project, outputs = cli_env
    assert main(submit_args(outputs, "--dry-run")) == 0
    out = capsys.readouterr().out
    assert fake_aml.calls == []
    assert "cpu-cluster" in out and fake_aml.workspace_id in out
    body = json.loads(out[out.index("{"): out.rindex("}") + 1])
    assert fake_aml.schema.problems("JobBase", body) == []


def test_cli_failure_is_one_readable_line(cli_env, fake_aml, capsys):
    project, outputs = cli_env
    fake_aml.answer_hook = lambda op, status, body: (status, {"unexpected": True}) if op == "pending" else (status, body)
    assert main(submit_args(outputs)) == 2
    err = capsys.readouterr().err
    assert "\nerror: start the code upload (" in err and "blobReferenceForConsumption" in err
    assert "Traceback" not in err
    assert fake_aml.jobs == {} and fake_aml.codes == {}


@pytest.mark.parametrize("interrupted_after", ["create the job", "register the code version"])
def test_ctrl_c_during_submit_cancels_a_job_that_was_created(cli_env, fake_aml, capsys, monkeypatch, interrupted_after):
    """Ctrl-C arriving as a call's answer comes in: after the job PUT the job exists and must be
    canceled; after the code PUT there is no job and nothing to cancel."""
    project, outputs = cli_env
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
