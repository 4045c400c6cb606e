"""The job's own environment on this machine: a virtualenv built once from the job's pip requirements
and reused, isolated from the caller's packages (runs.envbuild). The package the jobs declare is a
wheel made here, installed by real pip from a local folder (no index)."""

import base64
import hashlib
import io
import os
import textwrap
import zipfile
from pathlib import Path

import pytest

from amlplatform.errors import UserError
from amlplatform.runs import envbuild
from amlplatform.runs.job import load_job
from amlplatform.runs.local import run_command_job
from amlplatform.runs.store import RunStore


def make_wheel(folder: Path, name: str = "amlp_probe", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel (a zip with the module, METADATA, WHEEL and RECORD)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"VALUE = 'probe {version}'\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: amlplatform-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
        z.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return wheel


PROBE = """\
import importlib
for name in ("amlp_probe", "yaml"):
    try:
        mod = importlib.import_module(name)
        print(f"{name}: yes", getattr(mod, "VALUE", ""))
    except ImportError:
        print(f"{name}: no")
"""


@pytest.fixture
def offline_index(tmp_path, monkeypatch):
    """pip installs only from a folder of wheels made here."""
    wheels = tmp_path / "wheels"
    make_wheel(wheels)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("AMLPLATFORM_ENV_CACHE", str(tmp_path / "envs"))
    monkeypatch.setenv("AMLPLATFORM_ENV_INSTALLER", "pip")
    return wheels


def job_file(tmp_path: Path, env_yaml: str) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "probe.py").write_text(PROBE)
    p = tmp_path / "job.yml"
    p.write_text(textwrap.dedent("""\
        type: command
        code: src
        command: python probe.py
        compute: local
        """) + env_yaml)
    return p


CONDA_ENV = """\
environment:
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
  conda_file:
    name: probe
    dependencies:
      - python=3.11
      - numpy=1.26
      - pip
      - pip:
          - amlp-probe==1.0
"""


def run(path: Path, tmp_path: Path, **kw) -> tuple[dict, str, str]:
    out, notes = io.BytesIO(), io.StringIO()
    record = run_command_job(load_job(path), store=RunStore(tmp_path / "runs"), out=out, notes=notes, **kw)
    return record, out.getvalue().decode(), notes.getvalue()


@pytest.mark.slow
def test_a_job_runs_in_its_own_packages_and_the_environment_is_built_once(tmp_path, offline_index):
    path = job_file(tmp_path, CONDA_ENV)
    record, out, notes = run(path, tmp_path)
    assert record["status"] == "Completed", (out, notes)
    # what the job declares imports; what only the caller has (pyyaml) does not
    assert "amlp_probe: yes probe 1.0" in out and "yaml: no" in out
    build = record["environment_build"]
    assert build["kind"] == "venv" and build["cache"] == "built"
    assert "building the job's environment (1 requirements" in notes
    assert "conda packages are not installed locally (no conda here): numpy=1.26" in notes
    # the second run reuses it
    again, out2, notes2 = run(path, tmp_path)
    assert again["environment_build"]["cache"] == "hit" and again["environment_build"]["path"] == build["path"]
    assert "building" not in notes2 and "amlp_probe: yes" in out2
    # --environment current: the caller's packages, said so
    current, out3, notes3 = run(path, tmp_path, environment_mode="current")
    assert "yaml: yes" in out3 and "amlp_probe: no" in out3
    assert current["environment_build"]["kind"] == "current" and "--environment current" in notes3


@pytest.mark.slow
def test_a_build_context_uses_its_requirements_file(tmp_path, offline_index):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM python:3.11\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n")
    (ctx / "requirements.txt").write_text("# the job's packages\namlp-probe==1.0\n")
    record, out, _ = run(job_file(tmp_path, "environment:\n  build: {path: ./ctx}\n"), tmp_path)
    assert record["status"] == "Completed" and "amlp_probe: yes" in out
    assert record["environment_build"]["source"].endswith("requirements.txt")


@pytest.mark.slow
def test_a_failed_build_names_the_package_and_leaves_nothing_behind(tmp_path, offline_index):
    path = job_file(tmp_path, CONDA_ENV.replace("amlp-probe==1.0", "amlp-missing==9.9"))
    with pytest.raises(UserError) as err:
        run(path, tmp_path)
    text = str(err.value) + "\n".join(err.value.problems or [])
    assert "could not be built" in text and "amlp-missing" in text
    envs = tmp_path / "envs"
    assert [p.name for p in envs.iterdir() if not p.name.endswith(".lock")] == []


def test_registered_and_image_environments_run_with_this_machines_python_and_say_so(tmp_path):
    plan = envbuild.plan_for(load_job(job_file(tmp_path, "environment: azureml:AzureML-sklearn-1.5@latest\n")).environment)
    assert plan.kind == "current" and "registered in Azure ML" in plan.notes[0]
    image = envbuild.plan_for(load_job(job_file(tmp_path, "environment: {image: python:3.11}\n")).environment)
    assert image.kind == "current" and "image python:3.11 alone" in image.notes[0]


def test_pip_lines_follow_the_conda_file_and_its_r_files(tmp_path):
    (tmp_path / "more.txt").write_text("b==2\n# comment\n\nc\n")
    pip, python, conda_only = envbuild._pip_lines(
        {"dependencies": ["python=3.10", "pip=23", "scipy", {"pip": ["a==1", "-r more.txt"]}]}, tmp_path, "conda")
    assert pip == ["a==1", "b==2", "c"] and python == "3.10" and conda_only == ["scipy"]


def test_the_key_is_the_content_of_the_environment():
    a = envbuild.Plan("venv", requirements=("a==1", "b"), python=None)
    assert envbuild.env_key(a) == envbuild.env_key(envbuild.Plan("venv", requirements=("a==1", "b")))
    assert envbuild.env_key(a) != envbuild.env_key(envbuild.Plan("venv", requirements=("b", "a==1")))
    assert envbuild.env_key(a) != envbuild.env_key(envbuild.Plan("venv", requirements=("a==2", "b")))


def test_the_cache_lives_where_the_user_says(monkeypatch, tmp_path):
    monkeypatch.delenv("AMLPLATFORM_ENV_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert envbuild.cache_root() == tmp_path / "amlplatform" / "envs"
    monkeypatch.setenv("AMLPLATFORM_ENV_INSTALLER", "conda")
    with pytest.raises(UserError, match="AMLPLATFORM_ENV_INSTALLER"):
        envbuild.installer()
