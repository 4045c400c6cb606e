"""Logs of cluster jobs against real parts: the fake workspace's run history ``details`` answers with
SAS URLs of REAL append blobs in Azurite, which the tests append to between polls."""

import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from azurite import azurite  # noqa: E402,F401 - session fixture
from fake_aml import FAST_RETRY, Fault, FakeCredential, client_for, fake_aml, history_client_for  # noqa: E402,F401

from amlplatform.errors import UserError  # noqa: E402
from amlplatform.runs import azure as az  # noqa: E402
from amlplatform.runs import azure_logs  # noqa: E402
from amlplatform.runs.azure_logs import ML_SCOPE, history_endpoint, streamed_logs  # noqa: E402
from amlplatform.runs.coordinates import WorkspaceCoordinates  # noqa: E402
from amlplatform.runs.job import parse_job  # noqa: E402
from amlplatform.runs.snapshot import take_data_snapshot, take_snapshot  # noqa: E402

STD = "user_logs/std_log.txt"
SUB = "00000000-1111-2222-3333-444444444444"


def make_job(fake, tmp_path: Path, name: str = "logs-1") -> dict:
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / "train.py").write_text("print('hi')\n")
    job = parse_job({"code": ".", "compute": "azureml:cpu-cluster", "command": "python train.py",
                     "environment": "azureml:sklearn-env:3", "experiment_name": "logs"}, base_dir=root)
    with client_for(fake) as client:
        plan = az.make_plan(job, job_name=name, snapshot=take_snapshot, data_snapshot=take_data_snapshot, git={},
                            workspace_id=fake.workspace_id)
        return client.submit(plan)


class RangeSpy:
    """A transport for the log downloads that records the Range each GET asked for."""

    def __init__(self) -> None:
        from azure.core.pipeline.transport import RequestsTransport

        self.ranges: list[tuple[str, str, int]] = []  # (blob, Range asked for, bytes received)
        spy = self

        class Transport(RequestsTransport):
            def send(self, request, **kwargs):
                response = super().send(request, **kwargs)
                spy.ranges.append((request.url.split("?")[0].rsplit("/", 1)[-1], request.headers.get("Range"),
                                   len(response.body())))
                return response

        self.transport = Transport()


# ---------------------------------------------------------------- the contract, offline


def test_streamed_files_are_the_ones_azure_ai_ml_streams():
    files = {n: "https://x/y" for n in (
        "user_logs/std_log.txt", "user_logs/std_log_process_01.txt", "user_logs/std_log_process_1.txt",
        "system_logs/lifecycler/execution-wrapper.log", "azureml-logs/70_driver_log.txt")}
    assert streamed_logs(files) == ["user_logs/std_log.txt"]
    assert streamed_logs({"user_logs/std_log_process_00.txt": "u", "user_logs/std_log_node_0_ps.txt": "u",
                          "user_logs/std_log_process_1.txt": "u"}) == [
        "user_logs/std_log_node_0_ps.txt", "user_logs/std_log_process_00.txt"]
    assert streamed_logs(files, all_files=True) == [
        "user_logs/std_log.txt", "user_logs/std_log_process_01.txt", "user_logs/std_log_process_1.txt"]
    # no common-runtime log: the legacy command job logs
    assert streamed_logs({"azureml-logs/70_driver_log.txt": "u", "azureml-logs/55_azureml.txt": "u",
                          "logs/other.txt": "u"}) == ["azureml-logs/55_azureml.txt", "azureml-logs/70_driver_log.txt"]


def test_history_host_derivation():
    coords = WorkspaceCoordinates(SUB, "rg", "mlw-dev", location="West Europe",
                                  mlflow_tracking_uri=f"azureml://northeurope.api.azureml.ms/mlflow/v1.0/subscriptions/{SUB}")
    job = {"properties": {"services": {"Tracking": {"endpoint": "azureml://eastus.api.azureml.ms/mlflow/v1.0/x?"}}}}
    assert history_endpoint(coords, job, env={}) == "https://eastus.api.azureml.ms"
    assert history_endpoint(coords, {"properties": {"services": {}}}, env={}) == "https://northeurope.api.azureml.ms"
    coords.mlflow_tracking_uri = None
    assert history_endpoint(coords, None, env={}) == "https://westeurope.api.azureml.ms"
    assert history_endpoint(coords, job, explicit="https://h.test/", env={}) == "https://h.test"
    assert history_endpoint(coords, job, env={"AMLPLATFORM_HISTORY_ENDPOINT": "https://e.test"}) == "https://e.test"
    with pytest.raises(UserError, match="run history host"):
        history_endpoint(WorkspaceCoordinates(SUB, "rg", "mlw-dev"), None, env={})


def test_polling_delay_grows_from_two_seconds_to_a_minute():
    delays = [azure_logs.default_delay(t) for t in (0, 30, 60, 90, 120, 600)]
    assert delays[0] == 2 and delays == sorted(delays) and delays[-1] == pytest.approx(60, abs=0.01)


# ---------------------------------------------------------------- streaming against Azurite


def test_stream_prints_only_new_bytes_until_completed_and_drained(fake_aml, tmp_path):
    make_job(fake_aml, tmp_path)
    fake_aml.status_script = ("Queued", "Running", "Running", "Running", "Finalizing", "Completed")
    writes = {
        "Queued": [],
        "Running": [(STD, b"epoch 1\n"), ("user_logs/std_log_process_1.txt", b"rank 1 says hi\n")],
        "Running#2": [(STD, b"epoch 2 caf\xc3")],  # a UTF-8 character split between two appends
        "Running#3": [(STD, b"\xa9\n"), ("azureml-logs/70_driver_log.txt", b"legacy\n")],
        "Finalizing": [],
        "Completed": [(STD, b"done\n")],  # written just before the end: still printed (drained)
    }
    seen: dict[str, int] = {}

    def on_details(job, status):
        seen[status] = seen.get(status, 0) + 1
        key = status if seen[status] == 1 else f"{status}#{seen[status]}"
        for name, data in writes.get(key, []):
            fake_aml.append_log(job, name, data)

    fake_aml.on_details = on_details
    fake_aml.history_token = "token-for-ml.azure.com"  # an ARM token would be refused
    credential = FakeCredential(tokens={ML_SCOPE: "token-for-ml.azure.com"})
    spy, out, statuses, slept = RangeSpy(), io.StringIO(), [], []
    with history_client_for(fake_aml, credential=credential, download_transport=spy.transport) as history:
        details = history.stream_logs("logs-1", out, sleep=slept.append,
                                      on_status=lambda s, d: statuses.append(s))
    assert details["status"] == "Completed"
    assert out.getvalue() == f"\nStreaming {STD}\n{'=' * (len(STD) + 10)}\n\nepoch 1\nepoch 2 café\ndone\n"
    assert statuses == ["Queued", "Running", "Finalizing", "Completed"]
    assert len(slept) == 5 and all(d >= 2 for d in slept)
    # only std_log.txt was read, each time from where the last read ended
    assert spy.ranges == [
        ("std_log.txt", "bytes=0-", 8),   # epoch 1
        ("std_log.txt", "bytes=8-", 12),  # epoch 2 caf\xc3
        ("std_log.txt", "bytes=20-", 2),  # \xa9\n
        ("std_log.txt", "bytes=22-", 0),  # Finalizing: nothing new (Azure answers 416, Azurite an empty 206)
        ("std_log.txt", "bytes=22-", 5),  # done
    ]
    assert {c.op for c in fake_aml.calls if c.op.startswith("history")} == {"history_details"}
    assert all(c.query == {"api-version": "v1.0"} for c in fake_aml.calls if c.op == "history_details")
    assert set(credential.scopes) == {(ML_SCOPE,)}


def test_scope_of_history_calls_is_ml_azure_com(fake_aml, tmp_path):
    make_job(fake_aml, tmp_path)
    credential = FakeCredential()
    with history_client_for(fake_aml, credential=credential) as history:
        assert history.get_log_files("logs-1") == {}
    assert credential.scopes == [("https://ml.azure.com/.default",)]
    # and a token for another audience is refused by the service: one readable line
    fake_aml.history_token = "ml-token"
    with history_client_for(fake_aml, credential=FakeCredential()) as history:
        with pytest.raises(UserError, match="answered 401"):
            history.get_details("logs-1")


def test_without_follow_one_look_prints_what_is_there(fake_aml, tmp_path):
    make_job(fake_aml, tmp_path)
    fake_aml.status_script = ("Running",) * 10
    fake_aml.append_log("logs-1", STD, b"line 1\nline 2\n")
    out = io.StringIO()
    with history_client_for(fake_aml) as history:
        files = history.get_log_files("logs-1")
        details = history.stream_logs("logs-1", out, follow=False, sleep=lambda s: pytest.fail("slept"))
    assert list(files) == [STD] and "sig=" in files[STD]
    assert details["status"] == "Running"
    assert out.getvalue().endswith("line 1\nline 2\n")
    assert [c.op for c in fake_aml.calls].count("history_details") == 2


def test_a_throttled_history_call_is_retried(fake_aml, tmp_path):
    make_job(fake_aml, tmp_path)
    fake_aml.status_script = ("Completed",)
    fake_aml.append_log("logs-1", STD, b"ok\n")
    once = []
    fake_aml.faults = lambda m, op: (once.append(1) or Fault("status", 429, retry_after="0")) \
        if op == "history_details" and not once else None
    out = io.StringIO()
    with history_client_for(fake_aml) as history:
        details = history.stream_logs("logs-1", out, sleep=lambda s: None)
    assert details["status"] == "Completed" and out.getvalue().endswith("ok\n")
    assert [c.status for c in fake_aml.calls if c.op == "history_details"] == [429, 200]


@pytest.mark.parametrize("rewrite, needle", [
    (lambda d: {**d, "logFiles": ["user_logs/std_log.txt"]}, "bad 'logFiles'"),
    (lambda d: {**d, "logFiles": {STD: 42}}, f"bad 'logFiles.{STD}'"),
    (lambda d: {**d, "logFiles": {STD: "not a url"}}, f"bad 'logFiles.{STD}'"),
    (lambda d: {k: v for k, v in d.items() if k != "status"}, "no 'status'"),
    (lambda d: {**d, "status": 3}, "bad 'status'"),
    (lambda d: ["not", "an", "object"], "not a JSON object"),
])
def test_malformed_details_name_the_field(fake_aml, tmp_path, rewrite, needle):
    make_job(fake_aml, tmp_path)
    fake_aml.details_hook = rewrite
    with history_client_for(fake_aml) as history:
        with pytest.raises(UserError) as info:
            history.stream_logs("logs-1", io.StringIO(), sleep=lambda s: None)
    assert needle in str(info.value) and "read the run details (GET /history/v1.0/subscriptions/" in str(info.value)


def test_missing_log_files_means_none_yet(fake_aml, tmp_path):
    make_job(fake_aml, tmp_path)
    fake_aml.details_hook = lambda d: {k: v for k, v in d.items() if k != "logFiles"}
    with history_client_for(fake_aml) as history:
        assert history.get_log_files("logs-1") == {}


def test_unknown_run_and_unreachable_blob(fake_aml, tmp_path):
    with history_client_for(fake_aml) as history:
        with pytest.raises(UserError, match="no run named 'ghost' in the run history"):
            history.get_details("ghost")
    make_job(fake_aml, tmp_path)
    fake_aml.details_hook = lambda d: {**d, "logFiles": {STD: "http://127.0.0.1:9/c/b.txt?sv=1&sig=SECRET"}}
    with history_client_for(fake_aml, download_retry={"retry_total": 0}) as history:
        with pytest.raises(UserError) as info:
            history.stream_logs("logs-1", io.StringIO(), follow=False)
    assert "download of log user_logs/std_log.txt from http://127.0.0.1:9/c/b.txt failed" in str(info.value)
    assert "SECRET" not in str(info.value)


def test_history_module_imports_stay_light():
    import subprocess

    code = (
        "import sys\n"
        "import amlplatform.runs.azure_logs\n"
        "heavy = [m for m in sys.modules if m.startswith(('pulumi', 'azure.identity', 'azure.storage'))]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def cli_env(fake_aml, tmp_path, monkeypatch):
    """As in test_azure_cli: only the clients' construction is redirected (fake token, trusted certificate);
    the run history host is derived from the job's Tracking endpoint, as in production."""
    from azure.core.pipeline.transport import RequestsTransport

    original, original_history = az.AzureMLClient, azure_logs.RunHistoryClient

    def aimed(coords, **kwargs):
        kwargs.update(endpoint=fake_aml.endpoint, credential=FakeCredential(), retry=FAST_RETRY, poll_interval=0.01,
                      transport=RequestsTransport(connection_verify=str(fake_aml.ca_file)))
        return original(coords, **kwargs)

    def aimed_history(coords, **kwargs):
        assert kwargs["endpoint"] == fake_aml.endpoint  # derived from properties.services.Tracking
        kwargs.update(credential=FakeCredential(), retry=FAST_RETRY, download_retry=FAST_RETRY,
                      transport=RequestsTransport(connection_verify=str(fake_aml.ca_file)))
        return original_history(coords, **kwargs)

    monkeypatch.setattr(az, "AzureMLClient", aimed)
    monkeypatch.setattr(azure_logs, "RunHistoryClient", aimed_history)
    monkeypatch.setattr(azure_logs, "default_delay", lambda elapsed: 0.0)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text("print('hello from the cluster')\n")
    (project / "job.yml").write_text("code: .\ncommand: python train.py\nenvironment: azureml:sklearn-env:3\n")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"workspace_id": fake_aml.workspace_id, "location": "westeurope"}))
    monkeypatch.chdir(project)
    for var in ("AMLPLATFORM_SUBSCRIPTION_ID", "AMLPLATFORM_RESOURCE_GROUP", "AMLPLATFORM_WORKSPACE",
                "AMLPLATFORM_OUTPUTS_FILE", "AMLPLATFORM_API_VERSION", "AMLPLATFORM_HISTORY_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    return project, outputs


def _writer(fake, lines):
    """on_details hook: each poll appends the next chunk to std_log.txt."""
    chunks = list(lines)

    def write(job, status):
        if chunks:
            fake.append_log(job, STD, chunks.pop(0))

    return write


def test_cli_submit_stream_prints_the_logs(cli_env, fake_aml, capsys):
    from amlplatform.cli import main

    project, outputs = cli_env
    fake_aml.status_script = ("Queued", "Running", "Running", "Completed")
    fake_aml.on_details = _writer(fake_aml, [b"", b"hello from the cluster\n", b"epoch 1\n", b"bye\n"])
    code = main(["submit", "--file", "job.yml", "--compute", "cpu-cluster", "--outputs-file",
                 str(outputs), "--stream"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.endswith("hello from the cluster\nepoch 1\nbye\n") and f"Streaming {STD}" in captured.out
    (name,) = fake_aml.jobs
    for status in ("Queued", "Running", "Completed"):
        assert f"job {name}: {status}" in captured.err
    assert "history_details" in fake_aml.ops()


def test_cli_submit_stream_reports_a_failed_job(cli_env, fake_aml, capsys):
    from amlplatform.cli import main

    project, outputs = cli_env
    fake_aml.status_script = ("Running", "Failed")
    fake_aml.on_details = _writer(fake_aml, [b"Traceback: boom\n"])
    code = main(["submit", "--file", "job.yml", "--compute", "cpu-cluster", "--outputs-file",
                 str(outputs), "--stream"])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback: boom" in captured.out and "Failed: UserError: the script exited with code 1" in captured.err


def test_cli_runs_logs_and_cancel_for_a_cluster_job(cli_env, fake_aml, tmp_path, capsys, monkeypatch):
    from amlplatform.cli import main

    project, outputs = cli_env
    make_job(fake_aml, tmp_path, "cluster-1")
    fake_aml.status_script = ("Running",) * 50
    fake_aml.append_log("cluster-1", STD, b"step 1\n")
    assert main(["runs", "logs", "cluster-1", "--outputs-file", str(outputs)]) == 0
    assert capsys.readouterr().out.endswith("step 1\n")

    # no flag: not a local run, and the environment names a workspace -> the workspace is asked
    monkeypatch.setenv("AMLPLATFORM_OUTPUTS_FILE", str(outputs))
    fake_aml.append_log("cluster-1", STD, b"step 2\n")
    assert main(["runs", "logs", "cluster-1", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert capsys.readouterr().out.endswith("step 1\nstep 2\n")

    assert main(["runs", "cancel", "cluster-1", "--outputs-file", str(outputs), "--wait"]) == 0
    err = capsys.readouterr().err
    assert "cancel requested" in err and fake_aml.jobs["cluster-1"]["properties"]["status"] == "Canceled"
    assert main(["runs", "cancel", "cluster-1", "--outputs-file", str(outputs)]) == 0
    assert "already Canceled" in capsys.readouterr().err
    assert [c.op for c in fake_aml.calls].count("job_cancel") == 1

    # --follow on an ended job prints everything once and returns the job's outcome
    fake_aml.append_log("cluster-1", STD, b"step 3\n")
    assert main(["runs", "logs", "cluster-1", "--outputs-file", str(outputs), "--follow"]) == 130
    assert capsys.readouterr().out.endswith("step 1\nstep 2\nstep 3\n")


def test_cli_runs_logs_without_a_workspace_keeps_the_local_error(cli_env, tmp_path, capsys):
    from amlplatform.cli import main

    assert main(["runs", "logs", "nope", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "a cluster job? add --stack STACK or --outputs-file FILE" in err
    assert main(["runs", "cancel", "nope"]) == 2
    assert "give --stack or --outputs-file" in capsys.readouterr().err
    assert main(["runs", "cancel", "../jobs/x", "--outputs-file", str(tmp_path / "o.json")]) == 2
    assert "not an Azure ML job name" in capsys.readouterr().err


class _Answer:
    def __init__(self, status, content=b"", headers=None):
        self.status_code, self.content, self.headers = status, content, headers or {}

    def read(self):
        return self.content


class _Pipeline:
    def __init__(self, *answers):
        self.answers, self.ranges = list(answers), []

    def send_request(self, request):
        self.ranges.append(request.headers["Range"])
        return self.answers.pop(0)


def test_log_reader_answers_the_blob_service_may_give():
    reader = azure_logs.LogReader(_Pipeline(
        _Answer(404),                                               # not written yet
        _Answer(206, b"abc", {"Content-Range": "bytes 0-2/3"}),
        _Answer(416),                                               # nothing new (Azure's answer)
        _Answer(200, b"abcdef"),                                    # range ignored: the whole file
        _Answer(206, b"xyz", {"Content-Range": "bytes 9-11/12"}),   # not where we asked
    ))
    url = "https://acct.blob.core.windows.net/c/user_logs/std_log.txt?sv=1&sig=SECRET"
    assert reader.read_new(STD, url) == b""
    assert reader.read_new(STD, url) == b"abc"
    assert reader.read_new(STD, url) == b""
    assert reader.read_new(STD, url) == b"def" and reader.offsets[STD] == 6
    with pytest.raises(UserError, match="asked for bytes from 6, got from 9") as info:
        reader.read_new(STD, url)
    assert "SECRET" not in str(info.value)
    assert reader._pipeline.ranges == ["bytes=0-", "bytes=0-", "bytes=3-", "bytes=3-", "bytes=6-"]
    with pytest.raises(UserError, match="storage service answered 403"):
        azure_logs.LogReader(_Pipeline(_Answer(403))).read_new(STD, url)
