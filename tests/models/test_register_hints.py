"""What ``model register`` tells the user to do next must work: the printed serve command runs as
printed, and an ``azureml:<name>:<version>`` reference is only offered for a workspace registration."""

import shlex
from pathlib import Path

import pytest

from amlplatform.cli import main
from amlplatform.runs import models as m
from amlplatform.runs.serve import load_scorer


def _mlflow_folder(root: Path) -> Path:
    folder = root / "credit"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors:\n  python_function: {loader_module: mlflow.sklearn}\n  sklearn: {}\n")
    (folder / "model.pkl").write_bytes(b"weights")
    return folder


def _register(capsys, *args: str) -> list[str]:
    capsys.readouterr()
    assert main(["model", "register", *args]) == 0
    return capsys.readouterr().err.splitlines()


def _serve_line(lines: list[str]) -> list[str]:
    found = [ln for ln in lines if "amlplatform serve" in ln]
    assert len(found) == 1, lines
    return shlex.split(found[0][found[0].index("amlplatform serve"):])


def test_local_registration_does_not_offer_an_azureml_reference_as_usable(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    lines = _register(capsys, str(_mlflow_folder(tmp_path)), "--name", "credit-default", "--models-dir", "reg")
    text = "\n".join(lines)
    # the old line presented the reference as ready to use after a local-only registration
    assert "in a stack deployment: model: azureml:credit-default:1" not in text
    hint = [ln for ln in lines if "azureml:credit-default:1" in ln]
    assert len(hint) == 1, lines
    # it says where the version must be registered first, and how (same version number)
    assert "--stack <stack>" in hint[0] and "--version 1" in hint[0] and "workspace" in hint[0]
    assert _serve_line(lines) == ["amlplatform", "serve", "credit-default:1", "--models-dir", "reg"]


def test_custom_model_without_score_py_gets_the_scoring_script_flag(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "scorer"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"weights")
    lines = _register(capsys, str(folder), "--name", "scorer", "--models-dir", "reg")
    cmd = _serve_line(lines)
    assert cmd[:3] == ["amlplatform", "serve", "scorer:1"]
    assert "--scoring-script" in cmd
    # and the bare command really fails for this model: the flag is needed
    resolved = m.LocalRegistry(tmp_path / "reg").resolve("scorer:1")
    with pytest.raises(Exception, match="--scoring-script"):
        load_scorer(resolved)


def test_custom_model_with_its_own_score_py_needs_no_flag(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "scorer"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"weights")
    (folder / "score.py").write_text("def init():\n    pass\n\ndef run(raw_data):\n    return raw_data\n")
    lines = _register(capsys, str(folder), "--name", "scorer", "--models-dir", "reg")
    assert _serve_line(lines) == ["amlplatform", "serve", "scorer:1", "--models-dir", "reg"]
    resolved = m.LocalRegistry(tmp_path / "reg").resolve("scorer:1")
    assert load_scorer(resolved).score("x") == "x"  # the printed command's scorer loads


def test_default_registry_needs_no_models_dir_flag(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AMLPLATFORM_MODELS_DIR", raising=False)
    lines = _register(capsys, str(_mlflow_folder(tmp_path)), "--name", "credit-default")
    assert _serve_line(lines) == ["amlplatform", "serve", "credit-default:1"]
