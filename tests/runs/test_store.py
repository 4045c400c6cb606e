"""Run records are written atomically; metrics read from the MLflow file store match MLflow's own view."""

import json
import os

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
