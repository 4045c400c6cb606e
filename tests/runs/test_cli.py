"""``amlplatform submit`` flags, ``--dry-run`` (no network) and ``runs logs --follow``."""

import json
import socket
import threading
import time

import pytest

from amlplatform.runs.store import RunStore

from runs_helpers import REPO, run_cli

EXAMPLE = REPO / "examples" / "train"
WS_ENV = {
    "AMLPLATFORM_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001",
    "AMLPLATFORM_RESOURCE_GROUP": "rg-ml",
    "AMLPLATFORM_WORKSPACE": "mlw-dev",
}


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("network used during a dry run")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_dry_run_local_lists_files_and_runs_nothing(tmp_path, capsys, no_network, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "t.py").write_text("open('ran', 'w')\n")
    (tmp_path / "src" / "id_rsa").write_text("key")
    (tmp_path / "job.yml").write_text("code: src\ncommand: python t.py\nenvironment: azureml:e:1\ncompute: local\n")
    assert run_cli("submit", "--file", "job.yml", "--dry-run", "--format", "json") == 0
    (step,) = json.loads(capsys.readouterr().out)["steps"]
    assert step["files"] == ["t.py"] and step["command"] == "python t.py"  # the private key stays behind
    assert run_cli("submit", "job.yml", "--dry-run") == 0
    assert "compute:   local (this machine; nothing was run)" in capsys.readouterr().out
    assert not (tmp_path / "src" / "ran").exists() and not (tmp_path / ".amlplatform").exists()


def test_dry_run_for_a_cluster_shows_the_requests(tmp_path, capsys, no_network, monkeypatch):
    for k, v in WS_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    rc = run_cli("submit", "--file", str(EXAMPLE / "job.yml"), "--compute", "cpu-cluster", "--dry-run",
                 "--format", "json", "--name", "dry")
    out = capsys.readouterr().out
    assert rc == 0, out
    requests = json.loads(out)["requests"]
    assert [r["method"] for r in requests] == ["GET", "POST", "PUT", "PUT", "PUT"]
    content_hash = requests[0]["url"].split("hash=")[1].split("&")[0]
    props = requests[-1]["body"]["properties"]
    assert requests[-1]["url"].split("?")[0].endswith("/workspaces/mlw-dev/jobs/dry")
    assert props["codeId"].endswith(f"/codes/amlplatform-{content_hash}/versions/1")
    assert props["computeId"].endswith("/workspaces/mlw-dev/computes/cpu-cluster")
    assert props["command"] == "python train.py --epochs ${{inputs.epochs}} --lr ${{inputs.lr}}"
    assert props["inputs"]["epochs"] == {"jobInputType": "literal", "value": "3"}
    assert props["environmentId"] == "azureml://registries/azureml/environments/AzureML-sklearn-1.5/labels/latest"
    assert props["properties"]["amlplatform.code_hash"] == content_hash
    assert run_cli("submit", "--file", str(EXAMPLE / "job.yml"), "--compute", "cpu-cluster", "--dry-run") == 0
    assert "nothing was sent" in capsys.readouterr().out


def test_every_bad_flag_and_field_in_one_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.yml").write_text("command: x\nenvironment: azureml:e:1\n")
    rc = run_cli("submit", "--file", "job.yml", "--set", "resources.instance_count=two", "--set", "limits.timeout=x",
                 "--set", "colour=blue")
    err = capsys.readouterr().err
    assert rc == 2
    assert "resources.instance_count: Not a valid integer." in err and "limits.timeout: Not a valid integer." in err
    assert "colour: Unknown field." in err and "Traceback" not in err
    assert run_cli("submit", "--file", "job.yml", "--env", "NOEQUALS") == 2
    assert "--env: expected KEY=VALUE" in capsys.readouterr().err


def test_a_job_file_is_required(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("submit", "--dry-run") == 2
    assert "give the job YAML" in capsys.readouterr().err


def test_cluster_flags_with_local_compute_are_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.yml").write_text("command: 'true'\nenvironment: azureml:e:1\ncompute: local\n")
    assert run_cli("submit", "--file", "job.yml", "--no-wait") == 2
    assert "--no-wait is for a cluster" in capsys.readouterr().err


def test_missing_code_folder_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.yml").write_text("code: nope\ncommand: 'true'\nenvironment: azureml:e:1\n")
    assert run_cli("submit", "--file", "job.yml") == 2
    assert "code: code path 'nope' does not exist" in capsys.readouterr().err
    assert not (tmp_path / ".amlplatform").exists()


def test_logs_follow_prints_until_the_run_ends(tmp_path, capsysbinary):
    store = RunStore(tmp_path)
    rec = store.create({"name": "exp_1", "experiment": "exp", "status": "Running", "created_at": "t"})
    log = tmp_path / "exp_1" / "output.log"
    log.write_bytes(b"first\n")

    def finish():
        time.sleep(0.8)
        with open(log, "ab") as fh:
            fh.write(b"last\n")
        store.transition(rec, "Completed")

    t = threading.Thread(target=finish)
    t.start()
    assert run_cli("runs", "logs", "exp_1", "--follow", "--runs-dir", str(tmp_path)) == 0
    t.join()
    assert capsysbinary.readouterr().out == b"first\nlast\n"


def _job(tmp_path, text="command: 'true'\nenvironment: azureml:e:1\ncompute: local\n"):
    (tmp_path / "job.yml").write_text(text)
    return "job.yml"


@pytest.mark.parametrize("value", ["", "  ", "azureml:", "a/b"])
def test_a_bad_compute_flag_is_the_flags_fault(tmp_path, capsys, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    assert run_cli("submit", "--file", _job(tmp_path), "--compute", value, "--dry-run") == 2
    err = capsys.readouterr().err
    assert "--compute: must be 'local' or a cluster name" in err and "job file" not in err


def test_compute_flag_takes_a_compute_arm_id(tmp_path, capsys, monkeypatch, no_network):
    for k, v in WS_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    arm = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ml/providers/"
           "Microsoft.MachineLearningServices/workspaces/mlw-dev/computes/cpu")
    assert run_cli("submit", "--file", str(EXAMPLE / "job.yml"), "--compute", arm, "--dry-run") == 0, capsys.readouterr().err


def test_api_version_on_a_local_job_is_refused_like_the_other_cluster_flags(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("submit", "--file", _job(tmp_path), "--api-version", "2024-04-01") == 2
    assert "--api-version is for a cluster; this job's compute is 'local'" in capsys.readouterr().err
    assert not (tmp_path / ".amlplatform").exists()


def test_an_input_the_command_never_names_is_kept_with_a_warning(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    job = _job(tmp_path, "command: echo ${{inputs.epochs}}\ninputs:\n  epochs: 3\nenvironment: azureml:e:1\ncompute: local\n")
    assert run_cli("submit", "--file", job, "--set", "inputs.epoch=5", "--dry-run", "--format", "json") == 0
    captured = capsys.readouterr()
    assert "warning: inputs.epoch is not used by the command (no ${{inputs.epoch}} in it)" in captured.err
    assert "inputs.epochs" not in captured.err
    (step,) = json.loads(captured.out)["steps"]
    assert {k: str(v) for k, v in step["inputs"].items()} == {"epochs": "3", "epoch": "5"}  # accepted, as az ml job create --set accepts it


def test_list_of_an_unknown_experiment_names_the_experiments_there_are(tmp_path, capsys):
    store = RunStore(tmp_path)
    store.create({"name": "exp_1", "experiment": "exp", "status": "Completed", "created_at": "t"})
    assert run_cli("runs", "list", "--experiment", "nosuch", "--runs-dir", str(tmp_path)) == 0
    err = capsys.readouterr().err
    assert "no runs of experiment 'nosuch'" in err and "experiments there: exp" in err
    assert "no runs under" not in err


def test_last_is_the_last_top_level_run_not_a_pipeline_step(tmp_path, capsys):
    store = RunStore(tmp_path)
    store.create({"name": "p_1", "type": "pipeline", "experiment": "e", "status": "Completed",
                  "created_at": "2026-01-01T00:00:00.000Z", "steps": {}})
    store.create({"name": "p_1_b", "pipeline": "p_1", "step": "b", "experiment": "e", "status": "Completed",
                  "created_at": "2026-01-01T00:00:05.000Z"})
    assert store.resolve("last")["name"] == "p_1"
    assert store.resolve("p_1_b")["name"] == "p_1_b"
    assert run_cli("runs", "show", "last", "--json", "--runs-dir", str(tmp_path)) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "p_1"
