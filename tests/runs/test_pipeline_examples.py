"""Every example job YAML runs locally from a fresh clone: only the files git tracks under examples/
are copied, and ``amlplatform submit --file`` runs as a real process. The pipeline example, run a
second time, reuses all three steps."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runs_helpers import REPO, VENV_BIN


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The tracked files of examples/ (what a fresh clone has), nothing else."""
    root = tmp_path_factory.mktemp("clone")
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "examples"], capture_output=True, check=True).stdout
    tracked = [f for f in files.decode().split("\0") if f]
    if not tracked:
        pytest.skip("not a git checkout: cannot tell which files a fresh clone has")
    for rel in tracked:
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest)
    return root


def submit(clone: Path, job: str, runs: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "components"), "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("AMLPLATFORM_RUNS_DIR", None)
    proc = subprocess.run([sys.executable, "-m", "amlplatform.cli", "submit", "--file", job, "--runs-dir", str(runs),
                           "--json", *extra], cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads(proc.stdout)


def test_train_example(clone, tmp_path):
    _, rec = submit(clone, "examples/train/job.yml", tmp_path / "runs")
    assert rec["status"] == "Completed" and rec["command_resolved"] == "python train.py --epochs 3 --lr 0.1"
    assert rec["metrics"]["loss"]["step"] == 3
    assert json.loads((Path(rec["outputs"]) / "model.json").read_text())["epochs"] == 3


def test_data_example_reads_its_input_and_keeps_its_output(clone, tmp_path):
    _, rec = submit(clone, "examples/data/job.yml", tmp_path / "runs")
    assert rec["status"] == "Completed"
    assert rec["inputs"]["rows"]["kind"] == "local" and rec["inputs"]["rows"]["value"] == str(clone / "examples" / "data" / "rows")
    out = Path(rec["named_outputs"]["summary"]["value"])
    assert out.is_relative_to(tmp_path / "runs" / rec["name"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary  # written by the example's own script, from the two CSV files


def test_distributed_example_runs_process_count_per_instance_processes_locally(clone, tmp_path):
    proc, rec = submit(clone, "examples/distributed/job.yml", tmp_path / "runs")
    assert rec["status"] == "Completed", proc.stderr[-2000:]
    assert "pytorch distribution: 2 processes on this machine" in proc.stderr
    log = (tmp_path / "runs" / rec["name"] / "output.log").read_text()
    assert "rank 0/2 epoch 2" in log and "rank 1/2 epoch 2" in log
    assert rec["distribution_local"] == {"type": "pytorch", "processes": 2}


def test_pipeline_example_runs_then_reuses_every_step(clone, tmp_path):
    runs = tmp_path / "runs"
    proc, rec = submit(clone, "examples/pipeline/pipeline.yml", runs)
    assert rec["type"] == "pipeline" and rec["status"] == "Completed", proc.stderr[-3000:]
    assert list(rec["steps"]) == ["prep", "train", "evaluate"]
    metrics = json.loads((Path(rec["named_outputs"]["evaluation"]["value"]) / "metrics.json").read_text())
    assert metrics["rows"] == 40
    proc, again = submit(clone, "examples/pipeline/pipeline.yml", runs)
    assert again["reused_steps"] == ["prep", "train", "evaluate"]
    assert again["named_outputs"] == rec["named_outputs"]
    # one input changed from the command line: train and evaluate re-run, prep is reused
    proc, third = submit(clone, "examples/pipeline/pipeline.yml", runs, "--set", "inputs.epochs=50")
    assert third["reused_steps"] == ["prep"]
    assert third["steps"]["train"]["why"] == "changed since the last run: input epochs"
    # `runs show` of the pipeline says, per step, whether it was reused and why the others ran
    env = {**os.environ, "PYTHONPATH": str(REPO / "components")}
    shown = subprocess.run([sys.executable, "-m", "amlplatform.cli", "runs", "show", third["name"], "--runs-dir",
                            str(runs)], cwd=clone, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    steps = shown.stdout.split("steps:", 1)[1]
    assert "prep" in steps and "reused" in steps and "input epochs" in steps


def cli(clone: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "components"), "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("AMLPLATFORM_RUNS_DIR", None)
    return subprocess.run([sys.executable, "-m", "amlplatform.cli", *argv], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=300)


def test_train_example_prints_a_path_that_exists_after_the_run(clone, tmp_path):
    proc, rec = submit(clone, "examples/train/job.yml", tmp_path / "runs")
    (saved,) = [line.split(" ", 1)[1] for line in (tmp_path / "runs" / rec["name"] / "output.log").read_text().splitlines()
                if line.startswith("saved ")]
    assert json.loads(Path(saved).read_text())["epochs"] == 3
    assert Path(saved).parent == Path(rec["outputs"]) and not (tmp_path / "runs" / rec["name"] / "wd").exists()


def test_show_of_a_command_run_lists_its_inputs_and_named_outputs(clone, tmp_path):
    runs = tmp_path / "runs"
    _, rec = submit(clone, "examples/data/job.yml", runs)
    shown = cli(clone, "runs", "show", rec["name"], "--runs-dir", str(runs))
    assert shown.returncode == 0, shown.stderr
    inputs = shown.stdout.split("\ninputs:\n", 1)[1].split("\nnamed outputs:\n")[0]
    assert "rows" in inputs and "uri_folder" in inputs and str(clone / "examples" / "data" / "rows") in inputs
    outputs = shown.stdout.split("\nnamed outputs:\n", 1)[1].split("\nhistory:")[0]
    assert "summary" in outputs and rec["named_outputs"]["summary"]["value"] in outputs


def test_pipeline_record_show_and_logs(clone, tmp_path):
    runs = tmp_path / "runs"
    _, rec = submit(clone, "examples/pipeline/pipeline.yml", runs)
    assert rec["inputs"]["epochs"] == {"type": "literal", "value": 200, "kind": "literal"}
    assert rec["inputs"]["raw_data"]["value"] == str(clone / "examples" / "pipeline" / "data")
    evaluation = rec["named_outputs"]["evaluation"]
    assert evaluation["step"] == "evaluate" and evaluation["type"] == "uri_folder"
    assert (Path(evaluation["value"]) / "metrics.json").is_file()
    assert "log_tail" not in json.loads(cli(clone, "runs", "show", rec["name"], "--json", "--runs-dir", str(runs)).stdout)
    # `last` is the pipeline, not its last step
    shown = cli(clone, "runs", "show", "last", "--runs-dir", str(runs))
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert text.startswith(f"run:         {rec['name']}\ntype:        pipeline\n")
    for absent in ("command:", "code hash:", "source:", "log ("):
        assert absent not in text
    assert "\nsteps:\n  prep" in text and "\ninputs:\n" in text and "raw_data" in text and "epochs" in text
    assert "\nnamed outputs:\n  evaluation" in text and evaluation["value"] in text
    logs = cli(clone, "runs", "logs", rec["name"], "--runs-dir", str(runs))
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    assert [line.split("]")[0] + "]" for line in lines] == ["[prep]", "[train]", "[evaluate]"]
    assert lines[0].endswith("prep: kept 40 rows, dropped 1") and "mse" in lines[2]


def test_pipeline_logs_follow_prints_every_step_until_the_pipeline_ends(clone, tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(REPO / "components"), "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("AMLPLATFORM_RUNS_DIR", None)
    job = subprocess.Popen([sys.executable, "-m", "amlplatform.cli", "submit", "--file", "examples/pipeline/pipeline.yml",
                            "--name", "followed", "--runs-dir", str(runs)], cwd=clone, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (runs / "followed" / "run.json").is_file():
            assert time.monotonic() < deadline and job.poll() is None, "the pipeline did not start"
            time.sleep(0.05)
        logs = cli(clone, "runs", "logs", "followed", "--follow", "--runs-dir", str(runs))
        assert job.wait(timeout=120) == 0
    finally:
        if job.poll() is None:
            job.kill()
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    assert [line.split("]")[0] + "]" for line in lines] == ["[prep]", "[train]", "[evaluate]"], logs.stdout
    assert "mse" in lines[-1]
