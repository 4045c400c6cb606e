"""Regression tests for the findings of issue 13 not covered by the corpus (test_corpus.py) or the
other files here: each names the finding it guards."""

import json
import os
import subprocess
import sys

import pytest

from amlplatform.cli import main
from amlplatform.errors import UserError
from amlplatform.runs.store import RunStore
from conftest import ROOT


def run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_output_with_force_replaces_an_existing_file_whole(tmp_path, capsys):
    target = tmp_path / "plan.txt"
    target.write_text("old")
    assert run(["plan", "-s", "dev", "--project-dir", str(ROOT), "-o", str(target)], capsys)[0] == 2
    assert target.read_text() == "old"
    code, _, err = run(["plan", "-s", "dev", "--project-dir", str(ROOT), "-o", str(target), "--force"], capsys)
    assert code == 0 and target.read_text().startswith("Stack dev") and f"wrote {target}" in err
    assert [p.name for p in tmp_path.iterdir()] == ["plan.txt"]  # no temporary file left behind


def test_plan_output_refuses_the_stack_file_it_reads_even_with_force(capsys):
    stack = ROOT / "stacks" / "Pulumi.dev.yaml"
    before = stack.read_bytes()
    code, _, err = run(["plan", "-s", "dev", "--project-dir", str(ROOT), "-o", str(stack), "--force"], capsys)
    assert code == 2 and "is a stack file: an output never replaces an input" in err
    assert stack.read_bytes() == before


def test_output_relative_to_another_working_folder(tmp_path, capsys, monkeypatch):
    # the stack file named relatively from inside the project is refused just the same
    monkeypatch.chdir(ROOT / "stacks")
    code, _, err = run(["plan", "-s", "dev", "-o", "Pulumi.dev.yaml", "--force"], capsys)
    assert code == 2 and "stack file" in err


def test_runs_folder_that_is_a_file(tmp_path):
    f = tmp_path / "runs"
    f.write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        RunStore(f).names()
    with pytest.raises(UserError, match="is a file, not a folder"):
        RunStore(f).create({"experiment": "e"})


@pytest.mark.parametrize("content", ["[1, 2]", '"text"', "null", "3"])
def test_run_record_that_is_not_an_object(tmp_path, content, capsys):
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "run.json").write_text(content)
    store = RunStore(tmp_path)
    with pytest.raises(UserError, match="not an object"):
        store.load("r1")
    assert list(store.records()) == []  # list skips it
    for argv in (["runs", "show", "r1"], ["runs", "logs", "r1"]):
        code, out, err = run(argv + ["--runs-dir", str(tmp_path)], capsys)
        assert code == 2 and "not an object" in err and "Traceback" not in err
    code, out, err = run(["runs", "list", "--runs-dir", str(tmp_path)], capsys)
    assert code == 0 and "Traceback" not in err


def test_run_records_with_odd_sort_fields_list(tmp_path, capsys):
    for name, created in (("a", 5), ("b", "2026-01-01T00:00:00Z")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps({"name": name, "status": "Completed",
                                                              "created_at": created}))
    # no TypeError sorting: a record whose created_at is not text is not one of ours - skipped, with a warning
    assert [r["name"] for r in RunStore(tmp_path).records()] == ["b"]


def test_project_dir_without_pulumi_yaml_as_a_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "components")}
    done = subprocess.run([sys.executable, "-m", "amlplatform.cli", "scan", "-s", "dev", "--project-dir", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "no Pulumi.yaml" in done.stderr and "Traceback" not in done.stderr


def test_pulumi_yaml_with_a_bad_main(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: x\nruntime: python\nmain: [1]\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    code, _, err = run(["plan", "-s", "dev", "--project-dir", str(tmp_path)], capsys)
    assert code == 2 and "'main' must be a path" in err
