"""Run records are written atomically; metrics read from the MLflow file store match MLflow's own view."""

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from amlplatform.runs.store import RunStore, read_mlflow_metrics, write_json_atomic


def test_atomic_write_keeps_the_old_record_when_writing_fails(tmp_path):
    path = tmp_path / "run.json"
    write_json_atomic(path, {"status": "Running"})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"status": object()})
    assert json.loads(path.read_text()) == {"status": "Running"}
    assert os.listdir(tmp_path) == ["run.json"]


def test_transition_appends_history_and_duration(tmp_path):
    store = RunStore(tmp_path)
    rec = store.create({"experiment": "e", "created_at": "x"})
    assert rec["name"].startswith("e_")
    for status in ("Preparing", "Running", "Completed"):
        store.transition(rec, status)
    saved = store.load(rec["name"])
    assert [h["status"] for h in saved["status_history"]] == ["Preparing", "Running", "Completed"]
    assert saved["duration_seconds"] >= 0 and saved["ended_at"].endswith("Z")


def test_names_are_unique(tmp_path):
    store = RunStore(tmp_path)
    names = {store.create({"experiment": "e"})["name"] for _ in range(50)}
    assert len(names) == 50


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["loss", "acc", "eval/f1"]), st.floats(-1e6, 1e6, allow_nan=False),
                          st.integers(0, 5)), min_size=1, max_size=12))
def test_metrics_match_mlflow(tmp_path_factory, logged):
    mlflow = pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlruns")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        client = MlflowClient(tracking_uri=root.as_uri())
        run = client.create_run(client.create_experiment("e"))
        for i, (key, value, step) in enumerate(logged):
            client.log_metric(run.info.run_id, key, value, step=step, timestamp=1000 + i)
        expected = client.get_run(run.info.run_id).data.metrics
    finally:
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
    got = read_mlflow_metrics(root / run.info.experiment_id / run.info.run_id)
    assert {k: v["value"] for k, v in got.items()} == pytest.approx(expected)
    assert mlflow is not None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.one_of(st.characters(), st.sampled_from("\x85\u2028\u2029\ufeff\x7f\"\\\n\U00010000")),
               min_size=1, max_size=40), st.integers(0, 2**62))
def test_meta_yaml_we_write_is_the_yaml_mlflow_reads(tmp_path_factory, name, number):
    """Our hand-written meta.yaml parses (PyYAML, as mlflow reads it) to exactly the fields we wrote,
    and our own reader gets every scalar back."""
    import yaml

    from amlplatform.runs.store import _read_meta_field, _write_meta

    folder = tmp_path_factory.mktemp("meta")
    fields = {"name": name, "number": number, "none": None, "tags": []}
    _write_meta(folder, fields)
    assert yaml.safe_load((folder / "meta.yaml").read_text(encoding="utf-8")) == fields
    assert _read_meta_field(folder / "meta.yaml", "name") == name
    assert _read_meta_field(folder / "meta.yaml", "number") == str(number)


def test_experiments_are_found_by_name_and_created_once(tmp_path):
    from amlplatform.runs.store import create_mlflow_run

    a = create_mlflow_run(tmp_path, "exp: one", "r1", {})
    b = create_mlflow_run(tmp_path, "exp: one", "r2", {})
    c = create_mlflow_run(tmp_path, "other", "r3", {})
    assert a["experiment_id"] == b["experiment_id"] != c["experiment_id"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["0", ".trash", a["experiment_id"], c["experiment_id"]])


def test_an_experiment_mlflow_created_is_reused(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from amlplatform.runs.store import create_mlflow_run, end_mlflow_run

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=tmp_path.as_uri())
    exp_id = client.create_experiment("made by mlflow")
    run = create_mlflow_run(tmp_path, "made by mlflow", "ours", {"k": "v"})
    assert run["experiment_id"] == exp_id
    end_mlflow_run(Path(run["run_dir"]), "FAILED")
    got = client.get_run(run["run_id"])
    assert got.info.status == "FAILED" and got.info.run_name == "ours" and got.data.tags["k"] == "v"
    assert got.info.end_time >= got.info.start_time
