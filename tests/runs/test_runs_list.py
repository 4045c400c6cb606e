"""``runs list``: records found from anywhere in the project (as git finds ``.git``), ``--limit``,
``--status``, ``--experiment``, reused pipeline steps marked; a background pipeline canceled from Python."""

import re
import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runs_helpers import run_cli  # noqa: E402

from amlplatform.runs import submit  # noqa: E402
from amlplatform.runs.store import project_root, runs_dir  # noqa: E402

ENV = "    environment: azureml:AzureML-sklearn-1.5@latest\n"


def job(folder: Path, name: str, command: str, experiment: str = "exp") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"command: {json.dumps(command)}\nexperiment_name: {experiment}\n"
                    "environment: azureml:AzureML-sklearn-1.5@latest\n")
    return path


def test_runs_dir_is_the_projects_from_any_subfolder(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "a" / "b").mkdir(parents=True)
    assert runs_dir(None, {}, repo / "a" / "b") == repo / ".amlplatform" / "runs"
    # a nearer .amlplatform/ folder wins over the repository root, as a nested project
    (repo / "a" / ".amlplatform").mkdir()
    assert project_root(repo / "a" / "b") == repo / "a"
    # outside any project: the current folder, as before
    (tmp_path / "loose").mkdir()
    assert runs_dir(None, {}, tmp_path / "loose") == tmp_path / "loose" / ".amlplatform" / "runs"
    # an explicit relative folder stays relative to where the command runs
    assert runs_dir(Path("r"), {}, repo / "a") == repo / "a" / "r"


def test_runs_list_from_a_subfolder_finds_the_projects_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AMLPLATFORM_RUNS_DIR", raising=False)
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    path = job(repo / "jobs" / "deep", "job.yml", "python -c pass")
    monkeypatch.chdir(repo / "jobs" / "deep")
    assert run_cli("submit", "job.yml") == 0
    name = re.search(r"^run (\S+): ", capsys.readouterr().err, re.M).group(1)  # the summary line
    assert (repo / ".amlplatform" / "runs" / name / "run.json").is_file()
    (repo / "docs").mkdir()
    for folder in (repo / "docs", repo, repo / "jobs"):
        monkeypatch.chdir(folder)
        assert run_cli("runs", "list") == 0
        assert name in capsys.readouterr().out, folder
        assert run_cli("runs", "show", "last") == 0
        assert f"run:         {name}" in capsys.readouterr().out
    assert path.is_file()


def test_limit_status_and_experiment(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    ok = job(tmp_path, "ok.yml", "python -c pass", "a")
    bad = job(tmp_path, "bad.yml", "python -c 'raise SystemExit(4)'", "b")
    names = []
    for path, code in ((ok, 0), (bad, 4), (ok, 0), (ok, 0)):
        assert run_cli("submit", str(path), "--runs-dir", runs) == code
        names.append(re.search(r"^run (\S+): ", capsys.readouterr().err, re.M).group(1))

    def listed(*flags: str) -> list[str]:
        assert run_cli("runs", "list", "--runs-dir", runs, "--json", *flags) == 0
        return [r["name"] for r in json.loads(capsys.readouterr().out)]

    assert listed() == names
    assert listed("--limit", "2") == names[2:]
    assert listed("--status", "Failed") == [names[1]]
    assert listed("--status", "failed", "--status", "Completed", "--limit", "3") == names[1:]
    assert listed("--experiment", "a", "--limit", "1") == [names[3]]
    assert run_cli("runs", "list", "--runs-dir", runs, "--status", "Canceled") == 0
    assert "no runs with status Canceled under" in capsys.readouterr().err
    assert run_cli("runs", "list", "--runs-dir", runs, "--status", "Done") == 2
    assert "'Done' is not a run status" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        run_cli("runs", "list", "--runs-dir", runs, "--limit", "x")
    assert exit_.value.code == 2 and "--limit takes a whole number" in capsys.readouterr().err


def test_reused_steps_are_marked(tmp_path, capsys):
    root = tmp_path / "p"
    root.mkdir()
    (root / "pipeline.yml").write_text(
        "type: pipeline\nexperiment_name: shell\ncompute: local\njobs:\n"
        "  a:\n    type: command\n" + ENV + "    command: echo a\n"
        "  b:\n    type: command\n" + ENV + "    command: echo b\n")
    runs = str(tmp_path / "runs")
    assert run_cli("submit", str(root / "pipeline.yml"), "--runs-dir", runs) == 0
    capsys.readouterr()  # the steps' own output
    assert run_cli("submit", str(root / "pipeline.yml"), "--runs-dir", runs, "--json") == 0
    second = json.loads(capsys.readouterr().out)
    assert run_cli("runs", "list", "--runs-dir", runs) == 0
    lines = capsys.readouterr().out.splitlines()
    row = {line.split()[0]: line for line in lines[1:]}
    assert row[second["name"]].endswith("2 of 2 steps reused")
    for step in ("a", "b"):
        earlier = second["steps"][step]["reused_from"]
        assert row[second["steps"][step]["run"]].endswith(f"reused {earlier}")
        assert "reused" not in row[earlier]
    assert run_cli("runs", "list", "--runs-dir", runs, "--json") == 0
    by_name = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert by_name[second["steps"]["a"]["run"]]["reused_from"] == second["steps"]["a"]["reused_from"]
    assert by_name[second["steps"]["a"]["run"]]["pipeline"] == second["name"]


def test_a_background_pipeline_is_canceled_from_python(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    # 'after' consumes wait's output, so it starts only when 'wait' has completed
    (root / "pipeline.yml").write_text(
        "type: pipeline\nexperiment_name: slow\ncompute: local\njobs:\n"
        "  wait:\n    type: command\n" + ENV + "    command: sleep 60\n"
        "    outputs:\n      out: {type: uri_folder}\n"
        "  after:\n    type: command\n" + ENV + "    command: echo never\n"
        "    inputs:\n      x: ${{parent.jobs.wait.outputs.out}}\n")
    run = submit(root / "pipeline.yml", runs_dir=tmp_path / "runs")
    assert run.type == "pipeline"
    deadline = time.monotonic() + 30
    while (run.details.get("steps") or {}).get("wait", {}).get("status") != "Running":
        assert time.monotonic() < deadline, "the step did not start"
        time.sleep(0.05)
    run.cancel()
    run.wait(timeout=60)
    steps = run.details["steps"]
    assert run.status == "Canceled" and run.details["exit_code"] == 130
    assert steps["wait"]["status"] == "Canceled" and steps["after"]["status"] == "Skipped"
