"""The Python API (``amlplatform.runs.submit`` / ``get_run`` / ``list_runs`` -> ``Run``): the same type for a
local run and a workspace job, nothing printed, and the command line's requests are the API's.

The workspace half reuses the loopback fake workspace (``fake_aml.py``, answers shaped as the recorded
ones) and its fixture from ``test_azure_logs`` (only the clients' construction is redirected)."""

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from azurite import azurite  # noqa: E402,F401 - session fixture
from fake_aml import RESOURCE_GROUP, SUBSCRIPTION, WORKSPACE, fake_aml  # noqa: E402,F401
from test_azure_logs import STD, _writer, cli_env, make_job  # noqa: E402,F401 - the workspace fixture

from amlplatform.errors import UserError  # noqa: E402
from amlplatform.runs import Run, get_run, list_runs, submit  # noqa: E402

ENV = "environment: azureml:AzureML-sklearn-1.5@latest\n"
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "train" / "job.yml"  # the README quickstart job


def wait_for(condition, timeout: float = 30.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


# ---------------------------------------------------------------- local


def test_local_submit_of_the_example_job_then_wait_status_metrics_logs(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    events = []
    run = submit(EXAMPLE, set={"inputs.epochs": 2}, runs_dir=tmp_path / "runs", on_event=events.append)
    assert isinstance(run, Run) and run.backend == "local" and run.type == "command"
    assert run.wait(timeout=120) is run
    assert run.status == "Completed" and run.ended
    assert run.experiment == "example-train"
    # train.py: loss = exp(-lr * 5) per epoch, accuracy = 1 - loss / 2; two epochs at lr 0.1
    assert run.metrics == pytest.approx({"loss": 0.36787944, "accuracy": 0.81606028})
    logs = run.logs()
    assert "epoch 1: loss=0.6065" in logs and "epoch 2: loss=0.3679" in logs
    assert (Path(run.details["outputs"]) / "model.json").is_file()
    assert run.details["exit_code"] == 0
    assert any(e.kind == "note" and "preparing" in e.message for e in events)
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == ""  # the API prints nothing, not even the script's output


def test_named_outputs_are_paths_and_live_output_goes_where_asked(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "make.py").write_text(
        "import pathlib, sys\nout = pathlib.Path(sys.argv[1])\n(out / 'weights.txt').write_text('42')\nprint('made it')\n")
    (tmp_path / "job.yml").write_text(
        "code: ./src\ncommand: python make.py ${{outputs.model}}\noutputs:\n  model: {type: uri_folder}\n"
        "experiment_name: api\n" + ENV)

    class Sink:
        data = b""

        def write(self, b):
            Sink.data += b
            return len(b)

        def flush(self):
            pass

    run = submit(tmp_path / "job.yml", compute="local", runs_dir=tmp_path / "runs", wait=True, output=Sink())
    assert run.status == "Completed"
    model = run.outputs["model"]
    assert isinstance(model, Path) and (model / "weights.txt").read_text() == "42"
    assert b"made it" in Sink.data


def test_cancel_and_wait_timeout_of_a_background_run(tmp_path):
    (tmp_path / "job.yml").write_text("command: python -c \"import time; print('started', flush=True); time.sleep(60)\"\n"
                                      "experiment_name: slow\n" + ENV)
    run = submit(tmp_path / "job.yml", runs_dir=tmp_path / "runs")
    wait_for(lambda: run.status == "Running", what="the run to start")
    with pytest.raises(TimeoutError, match="still Running"):
        run.wait(timeout=0.2)
    run.cancel()
    run.wait(timeout=60)
    assert run.status == "Canceled" and run.details["exit_code"] == 130
    # the record is the store's: another handle on it sees the same
    again = get_run(run.name, runs_dir=tmp_path / "runs")
    assert again.status == "Canceled" and again.name == run.name


def test_bad_input_fails_in_submit_not_later(tmp_path):
    (tmp_path / "job.yml").write_text("code: .\ncommand: python missing.py\n" + ENV)
    with pytest.raises(UserError, match="missing.py is not in the snapshot"):
        submit(tmp_path / "job.yml", runs_dir=tmp_path / "runs")
    with pytest.raises(UserError, match="inputs.rows: a list cannot be set"):
        submit(tmp_path / "job.yml", set={"inputs.rows": [1, 2]}, runs_dir=tmp_path / "runs")
    with pytest.raises(UserError, match="outputs_file= is for a cluster"):
        submit(tmp_path / "job.yml", compute="local", outputs_file=tmp_path / "o.json")


def test_list_runs_filters_and_get_run_last(tmp_path):
    (tmp_path / "ok.yml").write_text("command: python -c pass\nexperiment_name: a\n" + ENV)
    (tmp_path / "bad.yml").write_text("command: python -c \"raise SystemExit(3)\"\nexperiment_name: b\n" + ENV)
    runs = tmp_path / "runs"
    first = submit(tmp_path / "ok.yml", runs_dir=runs, wait=True)
    failed = submit(tmp_path / "bad.yml", runs_dir=runs, wait=True)
    last = submit(tmp_path / "ok.yml", runs_dir=runs, wait=True)
    assert failed.status == "Failed" and failed.details["exit_code"] == 3
    assert [r.name for r in list_runs(runs_dir=runs)] == [first.name, failed.name, last.name]
    assert [r.name for r in list_runs(limit=2, runs_dir=runs)] == [failed.name, last.name]
    assert [r.name for r in list_runs(status="failed", runs_dir=runs)] == [failed.name]
    assert [r.name for r in list_runs(experiment="a", limit=1, runs_dir=runs)] == [last.name]
    assert get_run("last", runs_dir=runs).name == last.name
    with pytest.raises(UserError, match="'Done' is not a run status"):
        list_runs(status="Done", runs_dir=runs)
    with pytest.raises(UserError, match="limit: must be a whole number"):
        list_runs(limit=0, runs_dir=runs)


def test_a_local_dry_run_is_a_run_too(tmp_path):
    run = submit(EXAMPLE, dry_run=True)
    assert isinstance(run, Run) and run.status == "NotStarted" and run.requests == []
    (step,) = run.dry_run["steps"]
    assert step["command"].startswith("python train.py") and "train.py" in step["files"]
    with pytest.raises(UserError, match="a dry run ran nothing"):
        run.wait()


# ---------------------------------------------------------------- workspace (the fake one)


def test_workspace_submit_returns_the_same_run_type(cli_env, fake_aml, capfd):
    project, outputs = cli_env
    fake_aml.on_details = _writer(fake_aml, [b"hello from the cluster\n"])
    events = []
    run = submit("job.yml", compute="cpu-cluster", outputs_file=outputs, set={"outputs.model.type": "uri_folder"},
                 on_event=events.append)
    assert type(run) is Run and run.backend == "workspace"
    assert list(fake_aml.jobs) == [run.name]
    run.wait(timeout=60, on_event=events.append)
    assert run.status == "Completed"
    assert run.outputs["model"] == f"azureml://jobs/{run.name}/outputs/model/paths/"
    assert "hello from the cluster" in run.logs()
    kinds = [e.kind for e in events]
    assert kinds[:1] == ["submitting"] and "uploaded" in kinds and "created" in kinds and kinds[-1] == "status"
    assert capfd.readouterr().err == ""
    again = get_run(run.name, outputs_file=outputs)
    assert again.status == "Completed" and again.type == "command"


def test_workspace_metrics_come_from_its_mlflow_server(cli_env, fake_aml, monkeypatch):
    from azure.core.pipeline.transport import RequestsTransport
    from fake_aml import FAST_RETRY, FakeCredential

    from amlplatform.runs import azure_logs

    project, outputs = cli_env
    real = azure_logs.job_metrics
    monkeypatch.setattr(azure_logs, "job_metrics", lambda coords, name, **kw: real(coords, name, **{
        **kw, "credential": FakeCredential(), "retry": FAST_RETRY,
        "transport": RequestsTransport(connection_verify=str(fake_aml.ca_file))}))
    run = submit("job.yml", compute="cpu-cluster", outputs_file=outputs, wait=True)
    fake_aml.metrics[run.name] = [{"key": "loss", "value": 0.25, "timestamp": 1, "step": 3},
                                  {"key": "accuracy", "value": 0.9, "timestamp": 1, "step": 3}]
    assert run.metrics == {"accuracy": 0.9, "loss": 0.25}
    (call,) = [c for c in fake_aml.calls if c.op == "mlflow_run_get"]
    assert call.query == {"run_id": run.name}  # no api-version: the MLflow REST API takes none
    fake_aml.metrics[run.name] = [{"key": "loss", "value": "bad"}]
    with pytest.raises(UserError, match="a bad metric"):
        run.metrics  # noqa: B018


def test_workspace_dry_run_has_the_requests_the_cli_prints_and_sends_nothing(cli_env, fake_aml, capsys):
    from amlplatform.cli import main

    project, outputs = cli_env
    run = submit(EXAMPLE, compute="cpu-cluster", outputs_file=outputs, name="dry-1", dry_run=True)
    assert type(run) is Run and run.status == "NotStarted"
    job_put = run.requests[-1]
    assert job_put["method"] == "PUT" and job_put["url"].split("?")[0].endswith(f"{fake_aml.workspace_id}/jobs/dry-1")
    body = job_put["body"]["properties"]
    assert body["jobType"] == "Command" and body["command"].startswith("python train.py --epochs ${{inputs.epochs}}")
    assert body["computeId"] == f"{fake_aml.workspace_id}/computes/cpu-cluster"
    assert main(["submit", "--file", str(EXAMPLE), "--compute", "cpu-cluster", "--outputs-file", str(outputs),
                 "--name", "dry-1", "--dry-run", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == run.dry_run
    assert fake_aml.calls == []


def test_resource_group_and_workspace_name_as_az_ml_takes_them(cli_env, fake_aml, capsys, monkeypatch):
    from amlplatform.cli import main

    run = submit(EXAMPLE, compute="cpu-cluster", resource_group=RESOURCE_GROUP, workspace_name=WORKSPACE,
                 subscription_id=SUBSCRIPTION, name="dry-2", dry_run=True)
    assert run.coords.workspace_id == fake_aml.workspace_id and run.coords.source == f"-g {RESOURCE_GROUP} -w {WORKSPACE}"
    assert run.requests[-1]["body"]["properties"]["computeId"] == f"{fake_aml.workspace_id}/computes/cpu-cluster"
    # the subscription from the environment, the short flags of az ml
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
    assert main(["submit", str(EXAMPLE), "--compute", "cpu-cluster", "-g", RESOURCE_GROUP, "-w", WORKSPACE,
                 "--name", "dry-2", "--dry-run", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == run.dry_run
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    with pytest.raises(UserError, match=r"missing the subscription \(--subscription"):
        submit(EXAMPLE, compute="cpu-cluster", resource_group=RESOURCE_GROUP, workspace_name=WORKSPACE, dry_run=True)
    assert main(["runs", "cancel", "job-1", "-g", RESOURCE_GROUP, "-w", WORKSPACE, "--stack", "dev"]) == 2
    assert "they do not go with --stack" in capsys.readouterr().err
    assert fake_aml.calls == []


def test_a_local_run_of_another_process_is_not_signalled(tmp_path):
    import socket
    import subprocess

    from amlplatform.runs.store import RunStore, fresh_lifecycle, process_start_time

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store = RunStore(tmp_path / "runs")
        record = {**fresh_lifecycle(), "name": "elsewhere", "experiment": "x", "status": "Running",
                  "supervisor": {"pid": other.pid, "start_time": process_start_time(other.pid),
                                 "host": socket.gethostname()}}
        store.create(record)
        run = get_run("elsewhere", runs_dir=tmp_path / "runs")
        assert run.status == "Running"
        with pytest.raises(UserError, match=f"is run by process {other.pid} on"):
            run.cancel()
        assert other.poll() is None  # nothing was sent to it
    finally:
        other.kill()
        other.wait()


def test_runs_logs_and_cancel_with_g_and_w(cli_env, fake_aml, tmp_path, capsys):
    from amlplatform.cli import main

    make_job(fake_aml, tmp_path, "cluster-9")
    fake_aml.status_script = ("Running",) * 50
    fake_aml.append_log("cluster-9", STD, b"line one\n")
    ws = ["-g", RESOURCE_GROUP, "-w", WORKSPACE, "--subscription", SUBSCRIPTION]
    assert main(["runs", "logs", "cluster-9", *ws]) == 0
    assert capsys.readouterr().out.endswith("line one\n")
    assert main(["runs", "cancel", "cluster-9", *ws]) == 0
    assert "cancel requested" in capsys.readouterr().err
    assert [c.op for c in fake_aml.calls].count("job_cancel") == 1
