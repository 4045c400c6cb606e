"""examples/model end to end from a fresh folder, through the CLI: train (a local run) -> register
-> list -> serve (a separate process) -> HTTP call; and the deployment rule on delete."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from amlplatform.cli import main

pytest.importorskip("sklearn")
pytest.importorskip("pandas")
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "model"


def _serve(project: Path, *args: str, timeout: float = 60) -> tuple[subprocess.Popen, str]:
    """Start ``amlplatform serve`` in its own process; return it and its URL (from its startup line)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "components")}
    proc = subprocess.Popen([sys.executable, "-m", "amlplatform.cli", "serve", *args, "--port", "0"], cwd=project,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(r" at (http://\S+)", line)
        if line.startswith("serving") and found:
            return proc, found.group(1)
    proc.kill()
    raise AssertionError("serve did not start:\n" + "".join(seen))


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_train_register_serve_call(tmp_path, monkeypatch, capsys):
    project = tmp_path / "fresh"
    shutil.copytree(EXAMPLE, project)
    monkeypatch.chdir(project)
    for var in ("AMLPLATFORM_RUNS_DIR", "AMLPLATFORM_MODELS_DIR", "AZUREML_MODEL_DIR"):
        monkeypatch.delenv(var, raising=False)

    assert main(["submit", "--file", "job.yml"]) == 0
    capsys.readouterr()  # the training script's own output
    assert main(["model", "register", "--run", "last", "--path", "outputs/model", "--name", "credit-default",
                 "--tag", "team=risk", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["name"], record["version"], record["type"]) == ("credit-default", "1", "mlflow_model")
    assert (project / ".amlplatform" / "models" / "credit-default" / "1" / "artifacts" / "model" / "MLmodel").is_file()
    assert main(["model", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["latest"] == "1"

    # the in-process answer the served model must give
    import mlflow.pyfunc
    import pandas as pd

    request = json.loads((project / "sample-request.json").read_text())
    frame = pd.DataFrame(request["input_data"]["data"], columns=request["input_data"]["columns"])
    expected = mlflow.pyfunc.load_model(str(project / ".amlplatform/models/credit-default/1/artifacts/model")).predict(frame)

    monkeypatch.setenv("SCORE_KEY", "k3y")
    proc, url = _serve(project, "credit-default@latest", "--key-env", "SCORE_KEY", "--deployment", "blue")
    try:
        assert requests.get(url + "/", timeout=5).text == "Healthy"
        assert requests.post(url + "/score", json=request, timeout=10).status_code == 401
        r = requests.post(url + "/score", json=request, headers={"Authorization": "Bearer k3y"}, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json() == list(expected)
        assert r.headers["azureml-model-deployment"] == "blue"
        # the deployment record blocks deleting the model it uses
        assert main(["model", "delete", "credit-default:1"]) == 2
        assert "local deployment blue" in capsys.readouterr().err
    finally:
        assert _stop(proc) == 0
    assert main(["deployments", "delete", "blue"]) == 0

    # the same model through the example's scoring script (a custom deployment)
    proc, url = _serve(project, "credit-default:1", "--scoring-script", "score.py")
    try:
        body = (project / "sample-request-script.json").read_text()
        r = requests.post(url + "/score", data=body, headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == list(expected)
    finally:
        assert _stop(proc) == 0
    assert main(["model", "delete", "credit-default:1"]) == 0
    assert main(["model", "list"]) == 0


def test_cli_errors_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "nope:1"]) == 2
    assert "no version '1' of model 'nope'" in capsys.readouterr().err
    assert main(["serve", "./missing-folder"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["model", "register", "--name", "x"]) == 2
    assert "exactly one of" in capsys.readouterr().err
    assert main(["model", "register", str(tmp_path), "--name", "bad name"]) == 2
    assert "model name must be" in capsys.readouterr().err
    assert main(["model", "show", "x"]) == 2
    assert "name:version or name@latest" in capsys.readouterr().err
    assert main(["serve", "x:1", "--port", "70000"]) == 2
    assert "--port must be 0-65535" in capsys.readouterr().err
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    assert main(["serve", "x:1", "--key-env", "NO_SUCH_KEY_VAR"]) == 2
    assert "NO_SUCH_KEY_VAR: that environment variable is not set" in capsys.readouterr().err
    assert main(["deployments", "delete", "nope"]) == 2
    assert "no local deployment named 'nope'" in capsys.readouterr().err
