"""``model register --run <pipeline or step run> --output <name>``: a pipeline's named output (or a step's
own) becomes a model version; ``--path named-outputs/<name>`` means the same; every error names the folder
that was looked in. On a workspace, ``--job J --output O`` is the job-output URI azure-ai-ml documents."""

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "runs"))

from azurite import azurite  # noqa: E402,F401 - session fixture
from fake_aml import FAST_RETRY, RESOURCE_GROUP, SUBSCRIPTION, WORKSPACE, FakeCredential  # noqa: E402
from fake_models import fake_models  # noqa: E402,F401

from amlplatform.cli import main  # noqa: E402
from amlplatform.errors import UserError  # noqa: E402
from amlplatform.runs import models as m  # noqa: E402

ENV = "    environment: azureml:AzureML-sklearn-1.5@latest\n"
PIPELINE = (
    "type: pipeline\nexperiment_name: reg\ncompute: local\n"
    "outputs:\n  model:\n    type: uri_folder\n"
    "jobs:\n"
    "  train:\n    type: command\n" + ENV
    + "    command: echo w > ${{outputs.out}}/weights.txt && echo m > ${{outputs.metrics}}/m.txt\n"
    "    outputs:\n      out: ${{parent.outputs.model}}\n      metrics:\n        type: uri_folder\n"
)


@pytest.fixture
def pipeline_run(tmp_path, capsys):
    (tmp_path / "pipeline.yml").write_text(PIPELINE)
    runs = tmp_path / "runs"
    assert main(["submit", str(tmp_path / "pipeline.yml"), "--runs-dir", str(runs), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "Completed"
    return record, runs, tmp_path / "models"


def register(capsys, runs: Path, models: Path, *args: str) -> dict:
    code = main(["model", "register", "--name", "m", "--runs-dir", str(runs), "--models-dir", str(models),
                 "--json", *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def error(capsys, runs: Path, models: Path, *args: str) -> str:
    assert main(["model", "register", "--name", "m", "--runs-dir", str(runs), "--models-dir", str(models),
                 *args]) == 2
    return capsys.readouterr().err


def test_a_pipelines_named_output_is_registered(pipeline_run, capsys):
    record, runs, models = pipeline_run
    version = register(capsys, runs, models, "--run", record["name"], "--output", "model")
    assert version["version"] == "1" and version["files"] == 1
    stored = models / "m" / "1"
    assert [p.name for p in stored.rglob("weights.txt")] == ["weights.txt"]
    assert version["source"] == {"run": record["name"], "path": None, "output": "model"}
    # the layout az ml job download writes: named-outputs/<name>
    again = register(capsys, runs, models, "--run", record["name"], "--path", "named-outputs/model")
    assert again["version"] == "2" and again["content_hash"] == version["content_hash"]


def test_a_step_runs_own_output_and_a_file_inside_an_output(pipeline_run, capsys):
    record, runs, models = pipeline_run
    step_run = record["steps"]["train"]["run"]
    version = register(capsys, runs, models, "--run", step_run, "--output", "metrics")
    assert version["files"] == 1
    single = register(capsys, runs, models, "--run", record["name"], "--output", "model", "--path", "weights.txt")
    assert single["files"] == 1 and single["version"] == "2"


def test_errors_name_the_folder_looked_in(pipeline_run, capsys):
    record, runs, models = pipeline_run
    name, step_run = record["name"], record["steps"]["train"]["run"]
    err = error(capsys, runs, models, "--run", name, "--path", "outputs/model")
    assert f"run {name!r} is a pipeline: its files are in its steps' runs, not in {runs / name / 'outputs' / 'model'}" in err
    assert "give --output NAME (its named outputs: model)" in err
    err = error(capsys, runs, models, "--run", name, "--output", "metrics")
    assert "has no named output 'metrics' (its named outputs: model)" in err
    assert f"--run <step run> --output NAME (step runs: train ({step_run}))" in err
    err = error(capsys, runs, models, "--run", name, "--output", "model", "--path", "nope.bin")
    output_folder = Path(record["named_outputs"]["model"]["value"])
    assert f"output 'model' has no nope.bin: looked in {output_folder / 'nope.bin'}" in err
    assert "holds: weights.txt" in err
    err = error(capsys, runs, models, "--run", step_run, "--path", "outputs/model")
    assert f"looked in {runs / step_run / 'outputs' / 'model'}" in err
    assert error(capsys, runs, models, "--output", "model", str(runs)).count("--output names the model inside a run") == 1


def test_a_command_runs_missing_path_names_where_it_looked(tmp_path):
    run_dir = tmp_path / "run1"
    (run_dir / "outputs" / "model").mkdir(parents=True)
    done = {"name": "run1", "status": "Completed"}
    with pytest.raises(UserError, match=r"looked in .*run1/outputs/nope \(outputs/ holds: model\)"):
        m.run_output_path(done, run_dir, "outputs/nope")
    with pytest.raises(UserError, match=r"looked in .*run1/outputs/a/b \(outputs/ holds: model\)"):
        m.run_output_path(done, run_dir, "outputs/a/b")


def test_job_output_uris():
    assert m.job_output_uri("j1", None, "model") == "azureml://jobs/j1/outputs/model/paths/"
    assert m.job_output_uri("j1", "sub/x", "model") == "azureml://jobs/j1/outputs/model/paths/sub/x/"
    assert m.job_output_uri("j1", "named-outputs/model/sub") == "azureml://jobs/j1/outputs/model/paths/sub/"
    assert m.job_output_uri("j1", "outputs/model") == "azureml://jobs/j1/outputs/artifacts/paths/outputs/model/"
    with pytest.raises(UserError, match="--output must be"):
        m.job_output_uri("j1", None, "bad/name")


def test_a_job_output_in_a_workspace_named_with_g_and_w(fake_models, tmp_path, monkeypatch, capsys):
    """``--job J --output O`` on a workspace named as az ml names it (-g, -w, --subscription)."""
    from azure.core.pipeline.transport import RequestsTransport

    from amlplatform.runs import azure as az

    fake = fake_models
    original = az.AzureMLClient

    def aimed(coords, **kwargs):
        assert coords.workspace_id == fake.workspace_id and coords.source == f"-g {RESOURCE_GROUP} -w {WORKSPACE}"
        kwargs.update(endpoint=fake.endpoint, credential=FakeCredential(), retry=FAST_RETRY,
                      transport=RequestsTransport(connection_verify=str(fake.ca_file)))
        return original(coords, **kwargs)

    monkeypatch.setattr(az, "AzureMLClient", aimed)
    monkeypatch.chdir(tmp_path)
    ws = ["-g", RESOURCE_GROUP, "-w", WORKSPACE, "--subscription", SUBSCRIPTION]
    assert main(["model", "register", "--job", "pipe-1", "--output", "model", "--name", "fitted", *ws]) == 0
    capsys.readouterr()
    assert main(["model", "show", "fitted@latest", "--json", *ws]) == 0
    assert json.loads(capsys.readouterr().out)["model_uri"] == "azureml://jobs/pipe-1/outputs/model/paths/"


def test_the_registry_is_the_projects_from_any_subfolder(tmp_path, monkeypatch, capsys):
    for var in ("AMLPLATFORM_RUNS_DIR", "AMLPLATFORM_MODELS_DIR"):
        monkeypatch.delenv(var, raising=False)
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "jobs").mkdir()
    (repo / "docs").mkdir()
    write = "import os; open(os.path.join(os.environ['AMLPLATFORM_OUTPUTS_DIR'], 'w.txt'), 'w').write('1')"
    (repo / "jobs" / "job.yml").write_text(f"command: {json.dumps('python -c ' + json.dumps(write))}\n"
                                           "environment: azureml:AzureML-sklearn-1.5@latest\n")
    monkeypatch.chdir(repo / "jobs")
    assert main(["submit", "job.yml"]) == 0
    monkeypatch.chdir(repo / "docs")
    assert main(["model", "register", "--run", "last", "--name", "m", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "1"
    assert (repo / ".amlplatform" / "models" / "m" / "1").is_dir()
    monkeypatch.chdir(repo)
    assert main(["model", "list", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["m"]
