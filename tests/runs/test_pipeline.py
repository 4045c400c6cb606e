"""Local pipelines: dependency order, parallel steps, Azure ML-like step reuse (and why steps re-ran),
failures, cancellation. Real subprocesses; the example pipeline's own step scripts."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from amlplatform.errors import UserError
from amlplatform.runs.job import load_job
from amlplatform.runs.pipeline import run_pipeline_job
from amlplatform.runs.store import RunStore, process_alive, process_start_time, read_mlflow_metrics

from runs_helpers import REPO, VENV_BIN, default_signals, run_cli

EXAMPLE = REPO / "examples" / "pipeline"

THREE_STEPS = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
experiment_name: example-pipeline
compute: local
inputs:
  raw:
    type: uri_folder
    path: ./data
outputs:
  evaluation:
    type: uri_folder
jobs:
  prep:
    type: command
    code: ./src
    command: python prep.py --raw_data ${{inputs.raw_data}} --prepped_data ${{outputs.prepped_data}}
    environment: azureml:AzureML-sklearn-1.5@latest
    inputs:
      raw_data: ${{parent.inputs.raw}}
    outputs:
      prepped_data:
        type: uri_folder
  train:
    type: command
    code: ./src
    command: >-
      python train.py --training_data ${{inputs.training_data}} --model_output ${{outputs.model_output}}
      --epochs ${{inputs.epochs}}
    environment: azureml:AzureML-sklearn-1.5@latest
    inputs:
      training_data: ${{parent.jobs.prep.outputs.prepped_data}}
      epochs: 200
    outputs:
      model_output:
        type: uri_folder
  evaluate:
    type: command
    code: ./src
    command: >-
      python evaluate.py --model_input ${{inputs.model_input}} --test_data ${{inputs.test_data}}
      --evaluation_output ${{outputs.evaluation_output}}
    environment: azureml:AzureML-sklearn-1.5@latest
    inputs:
      model_input: ${{parent.jobs.train.outputs.model_output}}
      test_data: ${{parent.jobs.prep.outputs.prepped_data}}
    outputs:
      evaluation_output: ${{parent.outputs.evaluation}}
"""


class Sink:
    def __init__(self):
        self.data = b""

    def write(self, b):
        self.data += b
        return len(b)

    def flush(self):
        pass


class Notes:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s
        return len(s)

    def flush(self):
        pass


def run(path: Path, store: RunStore, *overrides: str, **kw) -> tuple[dict, Sink, Notes]:
    sink, notes = Sink(), Notes()
    rec = run_pipeline_job(load_job(path, overrides), store=store, out=sink, notes=notes, **kw)
    return rec, sink, notes


@pytest.fixture
def example(tmp_path):
    """The example pipeline's scripts and data, as a fresh clone has them."""
    root = tmp_path / "pipeline"
    shutil.copytree(EXAMPLE / "src", root / "src")
    shutil.copytree(EXAMPLE / "data", root / "data")
    (root / "pipeline.yml").write_text(THREE_STEPS)
    return root


def test_example_pipeline_runs_then_is_reused(example, tmp_path):
    store = RunStore(tmp_path / "runs")
    rec, sink, notes = run(example / "pipeline.yml", store)
    assert rec["status"] == "Completed" and rec["exit_code"] == 0, (rec, notes.text)
    assert rec["type"] == "pipeline" and rec["reused_steps"] == []
    assert {s: v["why"] for s, v in rec["steps"].items()} == {s: "no earlier run of this step" for s in ("prep", "train", "evaluate")}
    out = sink.data.decode()
    assert "[prep] prep: kept 40 rows, dropped 1" in out and "[evaluate] evaluate: mse = " in out
    metrics = json.loads((Path(rec["named_outputs"]["evaluation"]["value"]) / "metrics.json").read_text())
    assert metrics["rows"] == 40 and metrics["mse"] < 0.2
    steps = {s: store.load(v["run"]) for s, v in rec["steps"].items()}
    assert all(r["pipeline"] == rec["name"] and r["status"] == "Completed" for r in steps.values())
    # the train step's input is the prep step's output folder
    assert steps["train"]["inputs"]["training_data"]["value"] == steps["prep"]["named_outputs"]["prepped_data"]["value"]
    # each step's MLflow run is a child of the pipeline's
    train_mlflow = Path(steps["train"]["mlflow"]["run_dir"])
    assert (train_mlflow / "tags" / "mlflow.parentRunId").read_text() == rec["mlflow"]["run_id"]
    assert {r["mlflow"]["experiment_id"] for r in steps.values()} == {rec["mlflow"]["experiment_id"]}
    assert read_mlflow_metrics(train_mlflow)["loss"]["step"] == 200

    again, sink2, notes2 = run(example / "pipeline.yml", store)
    assert again["status"] == "Completed" and again["reused_steps"] == ["prep", "train", "evaluate"]
    assert sink2.data == b""  # nothing ran
    for s, v in again["steps"].items():
        assert v["reused_from"] == rec["steps"][s]["run"] and v["why"].startswith("reused")
        reused = store.load(v["run"])
        assert reused["reused_from"] == rec["steps"][s]["run"]
        assert reused["named_outputs"] == steps[s]["named_outputs"]  # the earlier outputs
        assert (store.run_dir(v["run"]) / "output.log").read_text() == (store.run_dir(v["reused_from"]) / "output.log").read_text()
    assert again["named_outputs"] == rec["named_outputs"]
    assert "step train: reused run" in notes2.text


def test_changed_literal_reruns_that_step_and_says_why(example, tmp_path):
    store = RunStore(tmp_path / "runs")
    run(example / "pipeline.yml", store)
    rec, _, notes = run(example / "pipeline.yml", store, "jobs.train.inputs.epochs=100")
    steps = rec["steps"]
    assert steps["prep"]["reused"] is True
    assert steps["train"]["reused"] is False and steps["train"]["why"] == "changed since the last run: input epochs"
    # the new model differs, so evaluate's input content changed too
    assert steps["evaluate"]["why"] == "changed since the last run: input model_input"
    # and going back to 200 epochs reuses the first run's steps again
    back, _, _ = run(example / "pipeline.yml", store)
    assert back["reused_steps"] == ["prep", "train", "evaluate"]


def test_changed_code_and_data_are_named(example, tmp_path):
    store = RunStore(tmp_path / "runs")
    run(example / "pipeline.yml", store)
    with open(example / "data" / "points.csv", "a") as fh:
        fh.write("11.0,23.0\n")
    rec, _, _ = run(example / "pipeline.yml", store)
    assert rec["steps"]["prep"]["why"] == "changed since the last run: input raw_data"
    (example / "src" / "train.py").write_text((example / "src" / "train.py").read_text() + "\n# a comment\n")
    rec, _, _ = run(example / "pipeline.yml", store)
    assert all(v["why"] == "changed since the last run: code" for v in rec["steps"].values())


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def shell_pipeline(root: Path, steps: dict, settings: str = "") -> Path:
    """A pipeline of inline shell steps; each appends its name to ran.txt when it really runs."""
    lines = ["type: pipeline", "experiment_name: shell", "compute: local"]
    if settings:
        lines += ["settings:", *[f"  {s}" for s in settings.splitlines()]]
    lines.append("jobs:")
    for name, spec in steps.items():
        lines += [f"  {name}:", "    type: command", "    environment: azureml:AzureML-sklearn-1.5@latest"]
        lines.append(f"    command: {json.dumps(f'echo {name} >> {root}/ran.txt; ' + spec['command'])}")
        if spec.get("inputs"):
            lines.append("    inputs:")
            lines += [f"      {k}: {v}" for k, v in spec["inputs"].items()]
        if spec.get("outputs", True):
            lines += ["    outputs:", "      out:", "        type: uri_folder"]
    return write(root / "pipeline.yml", "\n".join(lines) + "\n")


def ran(root: Path) -> list[str]:
    p = root / "ran.txt"
    return p.read_text().split() if p.exists() else []


def test_reuse_follows_content_not_the_producer_rerunning(tmp_path):
    """A step re-ran (its literal changed) but wrote the same bytes: its consumer is reused."""
    root = tmp_path / "p"
    shell_pipeline(root, {
        "a": {"command": "echo same > ${{outputs.out}}/x.txt # ${{inputs.n}}", "inputs": {"n": 1}},
        "b": {"command": "cp ${{inputs.x}}/x.txt ${{outputs.out}}/", "inputs": {"x": "${{parent.jobs.a.outputs.out}}"}},
    })
    store = RunStore(tmp_path / "runs")
    assert run(root / "pipeline.yml", store)[0]["status"] == "Completed"
    rec, _, _ = run(root / "pipeline.yml", store, "jobs.a.inputs.n=2")
    assert rec["steps"]["a"]["reused"] is False and rec["steps"]["b"]["reused"] is True
    assert ran(root) == ["a", "b", "a"]


def test_force_rerun_and_non_deterministic_steps_always_run(tmp_path):
    root = tmp_path / "p"
    write(root / "comp.yml", "type: command\nis_deterministic: false\n"
          "command: echo nd >> " + str(root) + "/ran.txt\nenvironment: azureml:AzureML-sklearn-1.5@latest\n")
    write(root / "pipeline.yml", "type: pipeline\ncompute: local\njobs:\n"
          "  nd:\n    type: command\n    component: ./comp.yml\n"
          "  det:\n    type: command\n    command: echo det >> " + str(root) + "/ran.txt\n"
          "    environment: azureml:AzureML-sklearn-1.5@latest\n")
    store = RunStore(tmp_path / "runs")
    run(root / "pipeline.yml", store)
    rec, _, _ = run(root / "pipeline.yml", store)
    assert rec["steps"]["nd"]["why"] == "is_deterministic is false" and rec["steps"]["det"]["reused"] is True
    rec, _, _ = run(root / "pipeline.yml", store, "settings.force_rerun=true")
    assert {v["why"] for v in rec["steps"].values()} == {"settings.force_rerun is true"}
    assert sorted(ran(root)) == sorted(["nd", "det", "nd", "nd", "det"])


def test_lost_outputs_are_not_reused(tmp_path):
    root = tmp_path / "p"
    shell_pipeline(root, {"a": {"command": "echo 1 > ${{outputs.out}}/x"}})
    store = RunStore(tmp_path / "runs")
    first, _, _ = run(root / "pipeline.yml", store)
    shutil.rmtree(store.run_dir(first["steps"]["a"]["run"]) / "named-outputs")
    rec, _, _ = run(root / "pipeline.yml", store)
    assert rec["steps"]["a"]["reused"] is False and "gone" in rec["steps"]["a"]["why"]


def test_independent_steps_run_in_parallel_bounded(tmp_path):
    root = tmp_path / "p"
    stamp = "python -c 'import time,sys; open(sys.argv[1],\"a\").write(f\"{time.time()}\\n\"); time.sleep(1.0); open(sys.argv[1],\"a\").write(f\"{time.time()}\\n\")'"
    shell_pipeline(root, {
        "a": {"command": f"{stamp} {root}/a.t", "outputs": False},
        "b": {"command": f"{stamp} {root}/b.t", "outputs": False},
    }, settings="force_rerun: true")

    def spans():
        a = [float(x) for x in (root / "a.t").read_text().split()]
        b = [float(x) for x in (root / "b.t").read_text().split()]
        (root / "a.t").unlink()
        (root / "b.t").unlink()
        return a, b

    store = RunStore(tmp_path / "runs")
    assert run(root / "pipeline.yml", store, max_parallel=2)[0]["status"] == "Completed"
    a, b = spans()
    assert a[0] < b[1] and b[0] < a[1], "the two independent steps did not overlap"
    assert run(root / "pipeline.yml", store, max_parallel=1)[0]["status"] == "Completed"
    a, b = spans()
    assert a[1] <= b[0] or b[1] <= a[0], "max_parallel=1 still overlapped"


def test_a_failed_step_stops_what_depends_on_it(tmp_path):
    root = tmp_path / "p"
    shell_pipeline(root, {
        "bad": {"command": "exit 3"},
        "after": {"command": "ls ${{inputs.x}}", "inputs": {"x": "${{parent.jobs.bad.outputs.out}}"}},
        "other": {"command": "sleep 0.5"},
    }, settings="continue_on_step_failure: true")
    store = RunStore(tmp_path / "runs")
    rec, _, _ = run(root / "pipeline.yml", store)
    assert rec["status"] == "Failed" and rec["exit_code"] == 3 and rec["reason"] == "step bad: exit code 3"
    assert rec["steps"]["after"]["status"] == "Skipped" and rec["steps"]["other"]["status"] == "Completed"
    assert "after" not in ran(root)
    # a failed step is never reused, and says so
    rec, _, _ = run(root / "pipeline.yml", store)
    assert rec["steps"]["bad"]["reused"] is False
    assert rec["steps"]["bad"]["why"] == "the last run with these settings did not complete (Failed)"


def test_fail_fast_cancels_running_steps(tmp_path):
    root = tmp_path / "p"
    shell_pipeline(root, {"bad": {"command": "sleep 0.3; exit 2"}, "slow": {"command": "sleep 30"}})
    store = RunStore(tmp_path / "runs")
    t0 = time.monotonic()
    rec, _, _ = run(root / "pipeline.yml", store, grace_seconds=1.0)
    assert time.monotonic() - t0 < 20
    assert rec["status"] == "Failed" and rec["steps"]["slow"]["status"] == "Canceled"
    assert store.load(rec["steps"]["slow"]["run"])["reason"].startswith("canceled (the pipeline was stopped)")


def test_a_missing_input_fails_before_anything_runs(tmp_path):
    root = tmp_path / "p"
    write(root / "pipeline.yml", "type: pipeline\ncompute: local\njobs:\n  a:\n    type: command\n"
          "    command: python nothere.py\n    code: ./src\n    environment: azureml:x@latest\n")
    (root / "src").mkdir()
    with pytest.raises(UserError) as info:
        run(root / "pipeline.yml", RunStore(tmp_path / "runs"))
    assert "jobs.a.command: script nothere.py is not in the snapshot" in str(info.value)
    assert RunStore(tmp_path / "runs").names() == []


def test_sigint_cancels_a_real_pipeline_and_its_processes(tmp_path):
    root = tmp_path / "p"
    pids = tmp_path / "pids"
    pids.mkdir()
    loop = f"python -c 'import os,time; open(\"{pids}/\"+str(os.getpid()),\"w\").close(); time.sleep(60)'"
    shell_pipeline(root, {"a": {"command": loop}, "b": {"command": loop}})
    code = ("import sys; from amlplatform.runs.job import load_job; from amlplatform.runs.pipeline import run_pipeline_job;"
            "from amlplatform.runs.store import RunStore;"
            f"r = run_pipeline_job(load_job({str(root / 'pipeline.yml')!r}), store=RunStore({str(tmp_path / 'runs')!r}));"
            "sys.exit(r['exit_code'])")
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_signals)
    deadline = time.monotonic() + 60
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    started = [(int(p.name), process_start_time(int(p.name))) for p in pids.iterdir()]
    assert len(started) == 2, proc.stderr.read().decode() if proc.poll() is not None else "steps did not start"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    try:
        assert proc.returncode == 130, err.decode()
        store = RunStore(tmp_path / "runs")
        pipeline = next(r for r in store.records() if r.get("type") == "pipeline")
        assert pipeline["status"] == "Canceled" and pipeline["reason"] == "interrupted (Ctrl-C)"
        assert {v["status"] for v in pipeline["steps"].values()} == {"Canceled"}
        deadline = time.monotonic() + 5
        while any(process_alive(p, t) for p, t in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(process_alive(p, t) for p, t in started)
    finally:
        for p, t in started:
            if process_alive(p, t):
                os.kill(p, signal.SIGKILL)


def test_pipeline_runs_are_listed(example, tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    rec, _, _ = run(example / "pipeline.yml", store)
    assert run_cli("runs", "list", "--runs-dir", str(tmp_path / "runs")) == 0
    listed = capsys.readouterr().out
    assert rec["name"] in listed and all(v["run"] in listed for v in rec["steps"].values())


_parts = st.fixed_dictionaries({
    "code": st.sampled_from(["c1", "c2"]), "command": st.sampled_from(["x", "y"]),
    "environment": st.sampled_from([{"ref": "e:1"}, {"ref": "e:2"}]), "environment_variables": st.just({}),
    "timeout": st.sampled_from([None, 5]), "outputs": st.just({}),
    "inputs": st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(["h1", "h2"])),
})


@settings(max_examples=80, deadline=None)
@given(_parts, _parts)
def test_why_rerun_names_exactly_what_changed(old, new):
    from amlplatform.runs.pipeline import _why_rerun

    why = _why_rerun(old, new)
    labels = {"code": "code", "command": "command", "environment": "environment", "timeout": "limits.timeout"}
    expected = [label for key, label in labels.items() if old[key] != new[key]]
    expected += [f"input {n}" for n in sorted(set(old["inputs"]) | set(new["inputs"]))
                 if old["inputs"].get(n) != new["inputs"].get(n)]
    if expected:
        assert why == "changed since the last run: " + ", ".join(expected)
    else:
        assert "gone" in why
    assert _why_rerun(None, new) == "no earlier run of this step"


def test_sigkill_of_a_pipeline_is_found_and_its_steps_ended(tmp_path, capsys):
    """The supervisor killed outright: the next runs list marks the pipeline and its running steps
    Failed, and ends the steps' orphaned process groups."""
    root = tmp_path / "p"
    pids = tmp_path / "pids"
    pids.mkdir()
    loop = f"python -c 'import os,time; open(\"{pids}/\"+str(os.getpid()),\"w\").close(); time.sleep(60)'"
    shell_pipeline(root, {"a": {"command": loop}, "b": {"command": loop}})
    code = ("from amlplatform.runs.job import load_job; from amlplatform.runs.pipeline import run_pipeline_job;"
            "from amlplatform.runs.store import RunStore;"
            f"run_pipeline_job(load_job({str(root / 'pipeline.yml')!r}), store=RunStore({str(tmp_path / 'runs')!r}))")
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    started = [(int(p.name), process_start_time(int(p.name))) for p in pids.iterdir()]
    assert len(started) == 2, proc.stderr.read().decode() if proc.poll() is not None else "steps did not start"
    time.sleep(0.3)  # the step records say Running
    proc.kill()
    proc.wait(timeout=10)
    try:
        assert all(process_alive(p, t) for p, t in started)  # orphans, until someone notices
        assert run_cli("runs", "list", "--runs-dir", str(tmp_path / "runs")) == 0
        err = capsys.readouterr().err
        assert err.count("marked Failed") == 3, err  # the pipeline and its two steps
        store = RunStore(tmp_path / "runs", warn=lambda m: None)
        assert {r["status"] for r in store.records()} == {"Failed"}
        deadline = time.monotonic() + 5
        while any(process_alive(p, t) for p, t in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(process_alive(p, t) for p, t in started)
    finally:
        for p, t in started:
            if process_alive(p, t):
                os.kill(p, signal.SIGKILL)


from azurite import ACCOUNT_KEY, ACCOUNT_NAME, azurite  # noqa: E402,F401 - session fixture


def test_a_changed_blob_input_reruns_the_step_without_a_download_to_decide(azurite, tmp_path, monkeypatch):
    from azure.storage.blob import BlobServiceClient

    svc = BlobServiceClient(account_url=azurite.service_url, credential={"account_name": ACCOUNT_NAME, "account_key": ACCOUNT_KEY})
    container = svc.get_container_client("pipelinedata")
    container.create_container()
    container.upload_blob("raw/a.csv", b"1\n2\n")
    monkeypatch.setenv("AMLPLATFORM_DATASTORES", json.dumps({"workspaceblobstore": f"{azurite.service_url}/pipelinedata"}))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    root = tmp_path / "p"
    write(root / "pipeline.yml", f"""type: pipeline
compute: local
inputs:
  raw:
    type: uri_folder
    path: azureml://datastores/workspaceblobstore/paths/raw
jobs:
  count:
    type: command
    command: echo count >> {root}/ran.txt; cat ${{{{inputs.data}}}}/a.csv | wc -l > ${{{{outputs.out}}}}/n
    environment: azureml:AzureML-sklearn-1.5@latest
    inputs:
      data: ${{{{parent.inputs.raw}}}}
    outputs:
      out:
        type: uri_folder
""")
    store = RunStore(tmp_path / "runs")
    first, _, _ = run(root / "pipeline.yml", store)
    assert first["status"] == "Completed", first
    out = Path(store.load(first["steps"]["count"]["run"])["named_outputs"]["out"]["value"])
    assert out.joinpath("n").read_text().strip() == "2"
    again, _, _ = run(root / "pipeline.yml", store)
    assert again["reused_steps"] == ["count"]
    container.upload_blob("raw/a.csv", b"1\n2\n3\n", overwrite=True)
    third, _, _ = run(root / "pipeline.yml", store)
    assert third["steps"]["count"]["why"] == "changed since the last run: input data"
    out = Path(store.load(third["steps"]["count"]["run"])["named_outputs"]["out"]["value"])
    assert out.joinpath("n").read_text().strip() == "3"
    assert ran(root) == ["count", "count"]


def test_summary_lines_say_reused_or_why(tmp_path):
    from amlplatform.runs.pipeline import summary_lines

    root = tmp_path / "p"
    shell_pipeline(root, {"a": {"command": "true"}, "b": {"command": "exit 4"}}, settings="continue_on_step_failure: true")
    store = RunStore(tmp_path / "runs")
    run(root / "pipeline.yml", store)
    rec, _, _ = run(root / "pipeline.yml", store)
    a, b = summary_lines(rec)
    assert a.startswith("a  Completed") and f"(reused {rec['steps']['a']['reused_from']})" in a
    assert b.startswith("b  Failed") and "exit code 4" in b
    assert "(the last run with these settings did not complete (Failed); exit code 4)" in b
