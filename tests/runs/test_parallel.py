"""Parallel steps on this machine: mini-batches over worker processes running the entry script's init()
and run(), rows appended, failures retried and counted against the thresholds (the Azure body is
test_contract.py's)."""

import io
import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from amlplatform.errors import UserError
from amlplatform.runs import prs_driver
from amlplatform.runs.job import load_job
from amlplatform.runs.parallel import mini_batch_wire
from amlplatform.runs.pipeline import run_pipeline_job
from amlplatform.runs.store import RunStore

SCORE = """\
import argparse, os, time
from pathlib import Path

THRESHOLD = None
PID_INIT = None

def init():
    global THRESHOLD, PID_INIT
    parser = argparse.ArgumentParser()
    parser.add_argument("--threshold", type=float, default=0.5)
    args, _ = parser.parse_known_args()
    THRESHOLD, PID_INIT = args.threshold, os.getpid()

def run(mini_batch):
    rows = []
    for f in mini_batch:
        name = Path(f).name
        if name.startswith("bad"):
            raise ValueError(f"cannot score {name}")
        if name.startswith("slow"):
            time.sleep(30)
        if name.startswith("skip"):
            continue  # fewer results than items: the rest are failed items
        n = len(Path(f).read_text().splitlines())
        print(f"scoring {name}")  # a print goes to the log, not into the results
        rows.append(f"{name} {n} {n > THRESHOLD} {PID_INIT}")
    return rows
"""


def project(tmp_path: Path, files: dict, **settings) -> Path:
    (tmp_path / "src").mkdir(parents=True)
    (tmp_path / "src" / "score.py").write_text(SCORE)
    (tmp_path / "files").mkdir()
    for name, lines in files.items():
        (tmp_path / "files" / name).write_text("".join(f"{i}\n" for i in range(lines)))
    extra = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in settings.items())
    (tmp_path / "p.yml").write_text(textwrap.dedent("""\
        type: pipeline
        settings: {default_compute: local}
        inputs:
          files: {type: uri_folder, path: ./files}
        outputs:
          scores: {type: uri_folder}
        jobs:
          score:
            type: parallel
            inputs:
              data: ${{parent.inputs.files}}
              threshold: 3
            outputs:
              out: ${{parent.outputs.scores}}
            input_data: ${{inputs.data}}
            task:
              type: run_function
              code: ./src
              entry_script: score.py
              environment: azureml:env:1
              program_arguments: --threshold ${{inputs.threshold}}
              append_row_to: ${{outputs.out}}
        """) + extra)
    return tmp_path / "p.yml"


def run(path: Path, tmp_path: Path) -> dict:
    return run_pipeline_job(load_job(path), store=RunStore(tmp_path / "runs"), out=io.BytesIO(), notes=io.StringIO())


def rows_of(record: dict) -> list[str]:
    out = Path(record["named_outputs"]["scores"]["value"]) / "parallel_run_step.txt"
    return out.read_text().splitlines()


def summary_of(tmp_path: Path, record: dict) -> dict:
    step = RunStore(tmp_path / "runs").load(record["steps"]["score"]["run"])
    return json.loads((Path(step["outputs"]) / "parallel_run_summary.json").read_text())


@pytest.mark.slow
def test_every_file_is_scored_once_in_mini_batches_by_several_workers(tmp_path):
    path = project(tmp_path, {f"f{i}.txt": i for i in range(1, 8)}, mini_batch_size="2", max_concurrency_per_instance=2)
    record = run(path, tmp_path)
    assert record["status"] == "Completed", record
    rows = rows_of(record)
    assert [r.split()[:3] for r in rows] == [[f"f{i}.txt", str(i), str(i > 3)] for i in range(1, 8)]
    # two worker processes (1 instance x max_concurrency_per_instance 2) took the four mini-batches,
    # init() once in each: every row comes from one of at most two initialised processes
    assert 1 <= len({r.split()[3] for r in rows}) <= 2
    summary = summary_of(tmp_path, record)
    assert summary["workers"] == 2
    assert summary["mini_batches"] == 4 and summary["failed_items"] == 0 and summary["rows"] == 7


@pytest.mark.slow
def test_a_failing_mini_batch_is_retried_then_counted_and_the_threshold_decides(tmp_path):
    files = {"a.txt": 1, "bad.txt": 1, "c.txt": 5}
    tolerant = project(tmp_path / "tolerant", files, mini_batch_size="1", retry_settings={"max_retries": 1})
    record = run(tolerant, tmp_path / "tolerant")
    assert record["status"] == "Completed", record  # thresholds default to -1: failures are tolerated
    assert [r.split()[0] for r in rows_of(record)] == ["a.txt", "c.txt"]
    summary = summary_of(tmp_path / "tolerant", record)
    assert summary["failed_mini_batches"] == 1 and summary["failed_items"] == 1
    assert "cannot score bad.txt" in summary["failures"][0]["error"]

    strict = project(tmp_path / "strict", files, mini_batch_size="1", mini_batch_error_threshold=0,
                     retry_settings={"max_retries": 0})
    record = run(strict, tmp_path / "strict")
    assert record["status"] == "Failed"
    assert "mini_batch_error_threshold 0" in summary_of(tmp_path / "strict", record)["stopped"]


@pytest.mark.slow
def test_fewer_results_than_items_are_failed_items_against_error_threshold(tmp_path):
    path = project(tmp_path, {"a.txt": 1, "skip1.txt": 1, "skip2.txt": 1}, mini_batch_size="3", error_threshold=1)
    record = run(path, tmp_path)
    assert record["status"] == "Failed"
    summary = summary_of(tmp_path, record)
    assert summary["failed_items"] == 2 and "error_threshold 1" in summary["stopped"]


@pytest.mark.slow
def test_a_mini_batch_past_its_timeout_ends_the_worker_and_fails(tmp_path):
    path = project(tmp_path, {"a.txt": 1, "slow.txt": 1}, mini_batch_size="1",
                   retry_settings={"max_retries": 0, "timeout": 1})
    record = run(path, tmp_path)
    assert record["status"] == "Completed"
    summary = summary_of(tmp_path, record)
    assert summary["failed_mini_batches"] == 1 and "timed out after 1" in summary["failures"][0]["error"]
    assert [r.split()[0] for r in rows_of(record)] == ["a.txt"]


def test_bad_parallel_steps_name_the_field(tmp_path):
    path = project(tmp_path, {"a.txt": 1})
    text = path.read_text()
    cases = [
        (text.replace("entry_script: score.py", "entry_script: missing.py"), "jobs.score.task.entry_script"),
        (text.replace("input_data: ${{inputs.data}}", "input_data: ./files"), "jobs.score.input_data"),
        (text.replace("      environment: azureml:env:1\n", ""), "jobs.score.task.environment"),
        (text + '    mini_batch_size: "lots"\n', "jobs.score.mini_batch_size"),
        (text + "    logging_level: LOUD\n", "jobs.score.logging_level"),
        (text + "    max_concurrency_per_instance: 0\n", "jobs.score.max_concurrency_per_instance"),
        (text.replace("type: run_function", "type: run_command"), "jobs.score.task.type"),
    ]
    for body, field in cases:
        path.write_text(body)
        with pytest.raises(UserError) as err:
            load_job(path)
        assert any(p.startswith(field) for p in err.value.problems), (field, err.value.problems)


@given(n=st.integers(0, 60), size=st.integers(1, 12))
def test_mini_batches_of_files_cover_every_file_once_in_order(n, size):
    items = [f"f{i}" for i in range(n)]
    batches = prs_driver.mini_batches(items, str(size))
    assert [x for b in batches for x in b] == items
    assert all(1 <= len(b) <= size for b in batches)


def test_mini_batches_by_size_gather_files_until_the_size(tmp_path):
    items = []
    for i, size in enumerate([600, 600, 2000, 10]):
        p = tmp_path / f"f{i}"
        p.write_bytes(b"x" * size)
        items.append(str(p))
    assert [len(b) for b in prs_driver.mini_batches(items, "1kb")] == [2, 1, 1]


def test_mini_batch_size_on_the_wire_is_a_number():
    assert mini_batch_wire("10") == 10 and mini_batch_wire("10kb") == 10240 and mini_batch_wire("1MB") == 1024 ** 2
    assert mini_batch_wire(None) == 0
