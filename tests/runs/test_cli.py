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


def test_dry_run_local_lists_files_and_exclusions_and_runs_nothing(tmp_path, capsys, no_network, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "t.py").write_text("open('ran', 'w')\n")
    (tmp_path / "src" / "id_rsa").write_text("key")
    assert run_cli("submit", "--source", "src", "--script", "t.py", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "snapshot:  1 files" in out and "id_rsa  (deny-list: private key)" in out and "+ t.py" in out
    assert not (tmp_path / "src" / "ran").exists() and not (tmp_path / ".amlplatform").exists()


def test_dry_run_for_a_cluster_shows_the_job_body(tmp_path, capsys, no_network, monkeypatch):
    for k, v in WS_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    rc = run_cli("submit", str(EXAMPLE / "run.yaml"), "--compute", "cpu-cluster",
                 "--environment", "azureml:AzureML-sklearn-1.5@latest", "--dry-run")
    out = capsys.readouterr().out
    assert rc == 0, out
    body = json.loads(out[out.index("{"):out.rindex("}") + 1])
    props = body["properties"]
    hash_line = next(line for line in out.splitlines() if line.startswith("code hash:"))
    content_hash = hash_line.split()[2]
    assert props["codeId"].endswith(f"/codes/amlplatform-{content_hash}/versions/1")
    assert props["computeId"].endswith("/workspaces/mlw-dev/computes/cpu-cluster")
    assert props["command"] == "python train.py --epochs 3 --lr 0.1"
    assert props["properties"]["amlplatform.code_hash"] == content_hash
    assert "nothing was sent" in out


def test_every_bad_flag_and_spec_field_in_one_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = run_cli("submit", "--command", "x", "--env", "NOEQUALS", "--compute", "x", "--experiment", "a b")
    err = capsys.readouterr().err
    assert rc == 2
    assert "--env: expected KEY=VALUE" in err and "compute:" in err and "experiment:" in err
    assert "Traceback" not in err


def test_script_arguments_after_double_dash(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.py").write_text("")
    assert run_cli("submit", "--script", "t.py", "--dry-run", "--", "--epochs", "3", "--dry-run") == 0
    assert "command:   python t.py --epochs 3 --dry-run" in capsys.readouterr().out
    assert run_cli("submit", "--dry-run", "--", "--epochs", "3") == 2
    assert "need --script or --command" in capsys.readouterr().err


def test_cluster_flags_with_local_compute_are_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("submit", "--command", "true", "--no-wait") == 2
    assert "--no-wait is for a cluster" in capsys.readouterr().err


def test_missing_source_folder_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("submit", "--source", "nope", "--command", "true") == 2
    assert "source folder" in capsys.readouterr().err and not (tmp_path / ".amlplatform").exists()


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
