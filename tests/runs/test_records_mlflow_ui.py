"""The MLflow UI the docs document (docs/runs.md) serves local runs: the command is started (loopback only),
asked for the experiment, the runs and their metrics, and stopped.

    MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri .amlplatform/runs/mlruns --host 127.0.0.1
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from amlplatform.runs.job import load_job
from amlplatform.runs.local import run_command_job
from amlplatform.runs.store import RunStore

from runs_helpers import VENV_BIN

pytestmark = pytest.mark.slow


class Sink:
    def write(self, b):
        return len(b)

    def flush(self):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, body=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        data = resp.read()
        return resp.status, data


def test_mlflow_ui_shows_local_runs(tmp_path):
    mlflow_cli = VENV_BIN / "mlflow"
    if not mlflow_cli.exists() or shutil.which("mlflow", path=str(VENV_BIN)) is None:
        pytest.skip("the mlflow command is not installed in this venv (pip install mlflow: the UI is not in mlflow-skinny)")
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "fit.py").write_text("import mlflow\nwith mlflow.start_run():\n"
                                         "    for i in range(3):\n        mlflow.log_metric('loss', 1.0 / (i + 1), step=i)\n")
    (proj / "job.yml").write_text("type: command\ncode: ./src\ncommand: python fit.py\ncompute: local\n"
                                  "experiment_name: ui-check\nenvironment: azureml:AzureML-sklearn-1.5@latest\n")
    store = RunStore(proj / ".amlplatform" / "runs")
    rec = run_command_job(load_job(proj / "job.yml"), store=store, out=Sink(), notes=Sink())
    assert rec["status"] == "Completed"

    port = free_port()
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    # exactly the documented command, from the project folder, loopback only
    server = subprocess.Popen([str(mlflow_cli), "ui", "--backend-store-uri", ".amlplatform/runs/mlruns",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              cwd=proj, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"mlflow server exited: {server.stderr.read().decode()[-2000:]}")
            try:
                if get(base + "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not answer within 90 s")
            time.sleep(0.5)
        status, page = get(base + "/")
        assert status == 200 and b"<html" in page.lower()  # the UI itself
        _, body = get(base + "/api/2.0/mlflow/experiments/get-by-name?experiment_name=ui-check")
        exp = json.loads(body)["experiment"]
        assert exp["experiment_id"] == rec["mlflow"]["experiment_id"]
        _, body = get(base + "/api/2.0/mlflow/runs/search", {"experiment_ids": [exp["experiment_id"]]})
        runs = json.loads(body)["runs"]
        assert [r["info"]["run_name"] for r in runs] == [rec["name"]]
        assert runs[0]["info"]["status"] == "FINISHED"
        assert {m["key"]: m["value"] for m in runs[0]["data"]["metrics"]} == {"loss": pytest.approx(1 / 3)}
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        except ProcessLookupError:
            pass
    assert server.poll() is not None
