"""The local model registry: versions, types, the code snapshot rules and hash, deletion rules."""

import json
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlplatform.errors import UserError
from amlplatform.runs import models as m
from amlplatform.runs.snapshot import content_hash


def _mlflow_folder(root: Path, name: str = "model") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors:\n  python_function: {loader_module: mlflow.sklearn}\n  sklearn: {}\n")
    (folder / "model.pkl").write_bytes(b"weights")
    return folder


# ---------------------------------------------------------------- pure helpers


@given(st.lists(st.integers(min_value=1, max_value=10**6), max_size=20), st.lists(st.sampled_from(["a", "v2", "1.5"]), max_size=3))
def test_next_version_is_one_above_the_highest_number(numbers, others):
    got = m.next_version([str(n) for n in numbers] + others)
    assert got == str(max(numbers) + 1 if numbers else 1)
    assert got not in {str(n) for n in numbers}


@given(st.from_regex(m.NAME, fullmatch=True).filter(lambda s: ":" not in s and "@" not in s),
       st.from_regex(m.VERSION, fullmatch=True))
def test_refs_parse_back(name, version):
    assert m.parse_ref(f"{name}:{version}") == (name, version)
    assert m.parse_ref(f"azureml:{name}:{version}") == (name, version)
    assert m.parse_ref(f"{name}@latest") == (name, None)


@pytest.mark.parametrize("bad", ["", "name", "-x:1", "x@prod", "x:", "a b:1"])
def test_bad_refs_are_user_errors(bad):
    with pytest.raises(UserError):
        m.parse_ref(bad)


def test_tags_are_checked():
    assert m.parse_tags(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(UserError, match="expected KEY=VALUE"):
        m.parse_tags(["nope"])
    with pytest.raises(UserError, match="refuse"):
        m.parse_tags(["a/b=1"])


def test_model_snapshot_hash_is_the_code_hash_of_the_model_under_its_name(tmp_path):
    folder = _mlflow_folder(tmp_path)
    (folder / "sub").mkdir()
    (folder / "sub" / "vocab.txt").write_text("a\nb\n")
    (folder / "id_rsa").write_text("KEY")  # deny-listed like in code snapshots
    snap = m.model_snapshot(folder)
    assert snap.relpaths == ["model/MLmodel", "model/model.pkl", "model/sub/vocab.txt"]
    assert [e.relpath for e in snap.excluded] == ["id_rsa"]
    # azure-ai-ml's code hash of the same files laid out under the parent folder
    assert snap.content_hash == content_hash(tmp_path, snap.relpaths)
    single = m.model_snapshot(folder / "model.pkl")
    assert single.relpaths == ["model.pkl"] and single.content_hash == content_hash(folder, ["model.pkl"])


def test_stack_references_find_azureml_refs(tmp_path):
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.dev.yaml").write_text("x:\n  model: azureml:credit-default:2\n  other: azureml:credit-default:12\n")
    (stacks / "Pulumi.prod.yaml").write_text("  model: azureml:credit-default@latest\n")
    files = m.stack_files([tmp_path])
    assert m.stack_references("credit-default", "2", "3", files) == [f"{stacks / 'Pulumi.dev.yaml'}:2"]
    assert m.stack_references("credit-default", "3", "3", files) == [f"{stacks / 'Pulumi.prod.yaml'}:1"]
    assert m.stack_references("credit", "2", "2", files) == []


# ---------------------------------------------------------------- the registry


def test_versions_increment_and_types_are_detected(tmp_path):
    reg = m.LocalRegistry(tmp_path / "models")
    folder = _mlflow_folder(tmp_path / "src")
    pickle_file = tmp_path / "src" / "clf.pkl"
    pickle_file.write_bytes(b"pickled")
    a = reg.register(folder, "credit-default", tags={"team": "risk"}, description="first")
    b = reg.register(pickle_file, "credit-default")
    c = reg.register(folder, "credit-default", version="10")
    d = reg.register(folder, "credit-default")
    assert [r["version"] for r in (a, b, c, d)] == ["1", "2", "10", "11"]
    assert (a["type"], b["type"]) == ("mlflow_model", "custom_model")
    assert a["flavors"] == ["python_function", "sklearn"] and a["tags"] == {"team": "risk"}
    assert [r["version"] for r in reg.versions("credit-default")] == ["1", "2", "10", "11"]
    assert reg.get("credit-default")["version"] == "11"
    # the files are copied, laid out as Azure ML mounts them (AZUREML_MODEL_DIR/<name>)
    resolved = reg.resolve("credit-default:2")
    assert resolved.model_path == resolved.model_dir / "clf.pkl"
    assert resolved.model_path.read_bytes() == b"pickled"
    assert (reg.resolve("credit-default@latest").model_path / "MLmodel").is_file()
    # the source may change afterwards: the version keeps its bytes
    (folder / "model.pkl").write_bytes(b"changed")
    assert (reg.resolve("credit-default:1").model_path / "model.pkl").read_bytes() == b"weights"


def test_existing_version_is_never_overwritten(tmp_path):
    reg = m.LocalRegistry(tmp_path / "models")
    folder = _mlflow_folder(tmp_path / "src")
    reg.register(folder, "m", version="1")
    with pytest.raises(UserError, match="already has version 1"):
        reg.register(folder, "m", version="1")
    assert [r["version"] for r in reg.versions("m")] == ["1"]


def test_mlflow_type_needs_an_mlmodel_file(tmp_path):
    reg = m.LocalRegistry(tmp_path / "models")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "model.pkl").write_bytes(b"x")
    with pytest.raises(UserError, match="no MLmodel file"):
        reg.register(plain, "m", model_type="mlflow_model")
    assert reg.names() == []


def test_a_failed_copy_leaves_no_version(tmp_path, monkeypatch):
    reg = m.LocalRegistry(tmp_path / "models")
    folder = _mlflow_folder(tmp_path / "src")

    def broken(snapshot, dest):
        Path(dest).mkdir(parents=True)
        (Path(dest) / "half").write_text("x")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("amlplatform.runs.snapshot.copy_snapshot", broken)
    with pytest.raises(OSError):
        reg.register(folder, "m")
    assert not (tmp_path / "models" / "m" / "1").exists()
    monkeypatch.undo()
    assert reg.register(folder, "m")["version"] == "1"


def test_concurrent_registrations_get_distinct_versions(tmp_path):
    reg = m.LocalRegistry(tmp_path / "models")
    folder = _mlflow_folder(tmp_path / "src")
    got, errors = [], []

    def one():
        try:
            got.append(m.LocalRegistry(reg.root).register(folder, "m")["version"])
        except Exception as exc:  # pragma: no cover - shown by the assert
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(got, key=int) == ["1", "2", "3", "4", "5", "6"]


def test_delete_is_refused_while_a_deployment_uses_the_version(tmp_path):
    reg = m.LocalRegistry(tmp_path / "models")
    folder = _mlflow_folder(tmp_path / "src")
    reg.register(folder, "credit-default")
    reg.register(folder, "credit-default")
    reg.deployments.record("blue", "credit-default", "1")
    with pytest.raises(UserError, match="used by a deployment") as info:
        reg.delete("credit-default", "1")
    assert "local deployment blue" in str(info.value)
    # a stack file naming the version blocks it too
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    (project / "stacks" / "Pulumi.prod.yaml").write_text("config:\n  deployment:\n    model: azureml:credit-default:2\n")
    with pytest.raises(UserError, match="stack file"):
        reg.delete("credit-default", "2", stack_roots=[project])
    # once the deployment is gone, the version can go; the other stays
    reg.deployments.delete("blue")
    reg.delete("credit-default", "1", stack_roots=[project])
    assert [r["version"] for r in reg.versions("credit-default")] == ["2"]
    assert reg.register(folder, "credit-default")["version"] == "3"
    reg.delete("credit-default", "3", stack_roots=[project])
    assert reg.register(folder, "credit-default")["version"] == "4"  # a deleted number is never given again
    with pytest.raises(UserError, match="was deleted; a version number is never reused"):
        reg.register(folder, "credit-default", version="3")


def test_run_output_paths(tmp_path):
    run_dir = tmp_path / "run1"
    (run_dir / "outputs" / "model").mkdir(parents=True)
    done = {"name": "run1", "status": "Completed"}
    assert m.run_output_path(done, run_dir, "outputs/model") == run_dir / "outputs" / "model"
    with pytest.raises(UserError, match="is Failed"):
        m.run_output_path({"name": "run1", "status": "Failed"}, run_dir, "outputs/model")
    with pytest.raises(UserError, match="outputs/ holds: model"):
        m.run_output_path(done, run_dir, "outputs/nope")
    with pytest.raises(UserError, match="relative"):
        m.run_output_path(done, run_dir, "../elsewhere")


def test_deployment_names_are_checked(tmp_path):
    with pytest.raises(UserError, match="--deployment"):
        m.Deployments(tmp_path).record("bad name", "m", "1")
    m.Deployments(tmp_path).record("blue", "m", "1")
    assert json.loads((tmp_path / "blue.json").read_text())["model"] == "m:1"


def test_model_and_serve_modules_import_nothing_heavy():
    """The registry and serve modules and their command lines load no Pulumi, MLflow, numpy, yaml or
    azure at import time (``amlplatform model list`` starts fast; the shim never imports Pulumi)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import amlplatform.runs.models, amlplatform.runs.serve, amlplatform.cli.model, amlplatform.cli.serve\n"
        "from amlplatform.cli import build_parser\n"
        "build_parser()\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'pulumi', 'mlflow', 'numpy', 'pandas', 'yaml', 'azure', 'sklearn'})\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
