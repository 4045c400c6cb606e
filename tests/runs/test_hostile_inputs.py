"""Hostile inputs get a clear error: nothing touched outside the stores, no hang, no traceback.

- ``deployments delete ../../x`` / ``/abs/x``: refused by the Azure ML deployment naming rule before
  any path is made;
- ``code: /`` and folders of symlink mazes: refused up front, or a walk bounded by the limits that
  follows each folder link once;
- a plain ``http://`` container (how Azurite URLs are written): read with a key, SAS or anonymously,
  never with a token, and said so;
- ``path: /dev/zero``: "a character device, not a regular file or a folder".
"""

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from azurite import ACCOUNT_KEY, ACCOUNT_NAME, azurite  # noqa: E402,F401 - session fixture
from runs_helpers import run_cli  # noqa: E402

from amlplatform.errors import UserError  # noqa: E402
from amlplatform.runs import models as m  # noqa: E402
from amlplatform.runs import snapshot  # noqa: E402
from amlplatform.runs.snapshot import WalkLimit, take_data_snapshot, take_snapshot, walk  # noqa: E402

# ---------------------------------------------------------------- deployments delete


@pytest.mark.parametrize("name", ["../../victim", "../victim", "a/../../victim", "..", ".", "x.y", "-abc", "ab",
                                  "a" * 33, "abc-", "a--b", "a\\b", "a\0b", ""])
def test_deployment_names_outside_the_rule_are_refused(tmp_path, name):
    with pytest.raises(UserError, match="Azure ML deployment naming rule"):
        m.Deployments(tmp_path / "deployments").delete(name)


def test_deployments_delete_never_touches_a_file_outside_the_store(tmp_path, capsys):
    models = tmp_path / "store" / "models"
    registry = m.LocalRegistry(models)
    registry.deployments.record("blue", "m", "1")
    victim = tmp_path / "victim.json"
    victim.write_text("{}")
    for name in [os.path.relpath(tmp_path / "victim", registry.deployments.root), str(tmp_path / "victim")]:
        assert run_cli("deployments", "delete", name, "--models-dir", str(models)) == 2
        err = capsys.readouterr().err
        assert "deployment name must be 3-32 letters" in err and "Traceback" not in err
        assert victim.is_file()
    assert run_cli("deployments", "delete", "blue", "--models-dir", str(models)) == 0
    assert not (registry.deployments.root / "blue.json").exists()


def test_a_valid_deployment_name_round_trips(tmp_path):
    d = m.Deployments(tmp_path)
    d.record("blue-2", "m", "1")
    assert [r["name"] for r in d.all()] == ["blue-2"]
    d.delete("blue-2")
    with pytest.raises(UserError, match="no local deployment named 'blue-2'"):
        d.delete("blue-2")


# ---------------------------------------------------------------- code: /, symlink mazes, huge folders


def test_code_at_the_file_system_root_is_refused_before_walking(tmp_path, monkeypatch):
    calls = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda *a: calls.append(a) or real(*a))
    with pytest.raises(UserError, match="is the root of the file system"):
        take_snapshot(Path("/"))
    assert calls == []  # not one folder read


def test_code_root_in_a_job_file_is_a_clear_cli_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "job.yml").write_text("type: command\ncode: /\ncommand: echo hi\ncompute: local\nenvironment: azureml:env:1\n")
    monkeypatch.chdir(tmp_path)
    assert run_cli("submit", "job.yml", "--runs-dir", str(tmp_path / "runs")) == 2
    err = capsys.readouterr().err
    assert "root of the file system" in err and "Traceback" not in err


def symlink_maze(root: Path, depth: int = 14, fan: int = 3) -> Path:
    """``d0 .. d{depth}``: each holds ``fan`` links to the next and links back to the root and to
    itself; without a once-per-folder rule a walk meets fan**depth paths (3**14 = 4.8 million)."""
    root.mkdir()
    (root / "train.py").write_text("print(1)\n")
    for i in range(depth + 1):
        d = root / f"d{i}"
        d.mkdir()
        (d / f"f{i}.txt").write_text(str(i))
        (d / "up").symlink_to("..")
        (d / "self").symlink_to(".")
        (d / "top").symlink_to(os.path.relpath(root, d))
    for i in range(depth):
        for k in range(fan):
            (root / f"d{i}" / f"next{k}").symlink_to(f"../d{i + 1}")
    return root


def test_a_symlink_maze_is_walked_once_per_folder(tmp_path, monkeypatch):
    root = symlink_maze(tmp_path / "maze")
    calls = []
    real = os.scandir

    def counted(path):
        calls.append(path)
        if len(calls) > 500:  # far beyond the 2 x 15 folders: the walk is not bounded
            raise AssertionError("the walk does not stop")
        return real(path)

    monkeypatch.setattr(os, "scandir", counted)
    s = take_snapshot(root)
    # every real file once under its real path, once more at most under the first link into its folder
    assert {f"d{i}/f{i}.txt" for i in range(15)} <= set(s.relpaths)
    assert len(s.relpaths) <= 1 + 2 * 15
    reasons = {e.relpath: e.reason for e in s.excluded}
    assert reasons["d0/up/"] == reasons["d0/self/"] == reasons["d0/top/"] == "symlink loop"
    assert reasons["d0/next1/"].startswith("symlink to a folder already followed")
    monkeypatch.setattr(os, "scandir", real)
    assert take_snapshot(root).content_hash == s.content_hash  # deterministic


def test_the_walk_stops_at_the_file_limit(tmp_path, monkeypatch):
    root = tmp_path / "big"
    root.mkdir()
    for i in range(30):
        sub = root / f"s{i:02}"
        sub.mkdir()
        for j in range(10):
            (sub / f"{j}.txt").write_text("x")
    with pytest.raises(WalkLimit) as info:
        walk(root, max_files=25)
    assert len(info.value.files) == 26  # stopped at the first file past the limit, 274 never looked at
    with pytest.raises(UserError, match=r"at least 26 files, more than the limit of 25 \(the walk stopped there\)"):
        take_snapshot(root, max_files=25)
    with pytest.raises(UserError, match=r"at least .* more than the limit of 100 B"):
        take_snapshot(root, max_bytes=100)


def test_the_walk_stops_at_the_entry_limit_when_everything_is_ignored(tmp_path):
    root = tmp_path / "ignored"
    root.mkdir()
    (root / ".amlignore").write_text("*.csv\n")
    for i in range(60):
        (root / f"{i}.csv").write_text("x")
    with pytest.raises(WalkLimit, match="more than 50 entries examined"):
        walk(root, max_entries=50)
    assert len(walk(root)[1]) == 60  # the default bound is far above this


def test_a_model_folder_past_the_limit_is_refused_without_walking_it_all(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    for i in range(40):
        (model / f"{i}.bin").write_bytes(b"x")
    with pytest.raises(UserError, match="model path .* holds more than 10 files"):
        m.model_snapshot(model, max_files=10)


# ---------------------------------------------------------------- http:// containers (Azurite)


def _private_container(azurite, name: str) -> None:
    from azure.storage.blob import BlobServiceClient

    svc = BlobServiceClient(account_url=azurite.service_url,
                            credential={"account_name": ACCOUNT_NAME, "account_key": ACCOUNT_KEY})
    c = svc.get_container_client(name)
    c.create_container()
    c.upload_blob("raw/rows.csv", b"a\n")


def test_http_datastore_without_a_key_is_a_clear_error(azurite, tmp_path):
    from amlplatform.runs.materialize import materialize_input

    _private_container(azurite, "plainhttp1")
    env = {"AMLPLATFORM_DATASTORES": json.dumps({"workspaceblobstore": f"{azurite.service_url}/plainhttp1"})}
    inp = {"type": "uri_folder", "path": "azureml://datastores/workspaceblobstore/paths/raw"}
    with pytest.raises(UserError, match=r"plain http, where no Microsoft Entra token is ever sent.*"
                                        r"AZURE_STORAGE_CONNECTION_STRING"):
        materialize_input(inp, "raw", tmp_path / "run", where="inputs.raw", env=env)
    # with the account key (Azurite's development account) the same URL is read, as azure-storage-blob allows
    env["AZURE_STORAGE_CONNECTION_STRING"] = azurite.connection_string
    got = materialize_input(inp, "raw", tmp_path / "run", where="inputs.raw", env=env)
    assert Path(got.value, "rows.csv").read_bytes() == b"a\n"


def test_http_datastore_in_a_local_run_is_no_traceback(azurite, tmp_path, capsys, monkeypatch):
    _private_container(azurite, "plainhttp2")
    (tmp_path / "src").mkdir()
    (tmp_path / "job.yml").write_text(
        "type: command\ncode: src\ncommand: ls ${{inputs.raw}}\ncompute: local\nenvironment: azureml:env:1\n"
        "inputs:\n  raw:\n    type: uri_folder\n    path: azureml://datastores/workspaceblobstore/paths/raw\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("AMLPLATFORM_DATASTORES", json.dumps({"workspaceblobstore": f"{azurite.service_url}/plainhttp2"}))
    assert run_cli("submit", "job.yml", "--runs-dir", str(tmp_path / "runs")) == 2
    err = capsys.readouterr().err
    assert "plain http" in err and "Traceback" not in err and "ValueError" not in err


# ---------------------------------------------------------------- devices, FIFOs


@pytest.mark.parametrize("typ", ["uri_file", "uri_folder", "custom_model", "mlflow_model"])
def test_a_device_input_is_refused_as_a_device(tmp_path, typ):
    from amlplatform.runs.job import parse_job

    with pytest.raises(UserError, match=r"'/dev/zero' is a character device, not a regular file or a folder"):
        parse_job({"command": "cat ${{inputs.x}}", "compute": "local",
                   "inputs": {"x": {"type": typ, "path": "/dev/zero"}}}, base_dir=tmp_path)


def test_device_and_fifo_are_never_read_or_uploaded(tmp_path):
    from amlplatform.runs.materialize import materialize_input

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path, kind in [(Path("/dev/zero"), "a character device"), (fifo, "a FIFO")]:
        with pytest.raises(UserError, match=rf"is {kind}"):
            materialize_input({"type": "custom_model", "path": str(path), "local_path": path}, "x", tmp_path / "run",
                              where="inputs.x")
        with pytest.raises(UserError, match=rf"data input {path} is {kind}"):
            take_data_snapshot(path)
    assert snapshot.special_file_kind(tmp_path) is None and snapshot.special_file_kind(tmp_path / "nope") is None


def test_a_pipeline_input_at_the_file_system_root_is_refused_before_hashing():
    from amlplatform.runs.materialize import input_identity

    with pytest.raises(UserError, match="root of the file system"):
        input_identity({"type": "uri_folder", "path": "/", "local_path": Path("/")}, "inputs.raw", env={})
