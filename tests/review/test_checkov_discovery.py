"""Where ``amlplatform scan`` finds checkov, the pip-user way: ``--checkov`` relative to the current
folder or absolute, $AMLPLATFORM_CHECKOV, the project's .venv-scan, amlplatform's own scripts
folder, PATH, the user cache venv -- made once from the packaged hash lock when none has it."""

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from amlplatform.errors import UserError
from amlplatform.review import scan

ROOT = Path(__file__).resolve().parents[2]

FAKE_REPORT = {"check_type": "arm", "summary": {"resource_count": 0, "checkov_version": "fake"},
               "results": {"passed_checks": [], "failed_checks": [], "skipped_checks": []}}


def _script(path: Path, body: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + (body or f"echo '{json.dumps(FAKE_REPORT)}'\n"))
    path.chmod(0o755)
    return path


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No checkov anywhere: no variable, an empty PATH, an empty user cache, a scripts folder without it."""
    monkeypatch.delenv(scan.CHECKOV_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    monkeypatch.setenv(scan.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(scan, "_beside_package", lambda: [("beside amlplatform", tmp_path / "env" / "bin" / "checkov")])
    monkeypatch.setattr(scan, "_source_checkout", lambda: None)  # not the checkout these tests run from
    (tmp_path / ".git").mkdir()  # the folder walk stops here
    return tmp_path


def test_relative_checkov_is_taken_from_the_current_folder_and_still_runs_elsewhere(nowhere, monkeypatch):
    _script(nowhere / "tools" / "bin" / "checkov")
    monkeypatch.chdir(nowhere)
    found = scan.find_checkov("tools/bin/checkov", None)
    assert found == str(nowhere / "tools" / "bin" / "checkov")
    # checkov runs in a temporary folder: a relative path would name nothing there
    assert scan.run_checkov({"resources": []}, found)["summary"]["checkov_version"] == "fake"
    monkeypatch.setenv(scan.CHECKOV_ENV, "tools/bin/checkov")
    assert scan.find_checkov(None, None) == found


def test_a_given_checkov_that_does_not_work_is_an_error_not_a_fallback(nowhere, monkeypatch):
    _script(nowhere / "env" / "bin" / "checkov")  # would be found beside the package
    monkeypatch.chdir(nowhere)
    with pytest.raises(UserError, match=r"checkov not found at bin/checkov \(from --checkov: no such file, relative to "):
        scan.find_checkov("bin/checkov", None)
    monkeypatch.setenv(scan.CHECKOV_ENV, str(nowhere / "missing"))
    with pytest.raises(UserError, match=r"\$AMLPLATFORM_CHECKOV"):
        scan.find_checkov(None, None)


def test_lookup_order_after_the_explicit_ones(nowhere, monkeypatch):
    project = nowhere / "project"
    beside = _script(nowhere / "env" / "bin" / "checkov")
    assert scan.find_checkov(None, project) == str(beside)
    in_project = _script(project / ".venv-scan" / "bin" / "checkov")
    assert scan.find_checkov(None, project) == str(in_project)
    beside.unlink()
    in_project.unlink()
    on_path = _script(nowhere / "empty-path" / "checkov")
    assert scan.find_checkov(None, project) == str(on_path)
    on_path.unlink()
    cache = scan.checkov_cache_dir()
    assert cache == nowhere / "cache" / "amlplatform" / f"checkov-{scan.CHECKOV_VERSION}"
    cached = _script(cache / "bin" / "checkov")
    with pytest.raises(UserError):  # a half-made cache venv (no completion marker) is not used
        scan.find_checkov(None, project)
    (cache / scan._COMPLETE).write_text("done\n")
    assert scan.find_checkov(None, project) == str(cached)


def test_a_venv_scan_is_found_from_a_subfolder_up_to_the_repository_root(nowhere):
    """`scan --project-dir examples/consumer` in a checkout uses the checkout's .venv-scan."""
    consumer = nowhere / "repo" / "examples" / "consumer"
    consumer.mkdir(parents=True)
    (nowhere / "repo" / ".git").mkdir()
    above = _script(nowhere / ".venv-scan" / "bin" / "checkov")  # beyond the repository root: not used
    with pytest.raises(UserError, match=f"in {consumer} and its parents up to {nowhere / 'repo'}"):
        scan.find_checkov(None, consumer)
    root_one = _script(nowhere / "repo" / ".venv-scan" / "bin" / "checkov")
    assert scan.find_checkov(None, consumer) == str(root_one)
    nearer = _script(consumer / ".venv-scan" / "bin" / "checkov")
    assert scan.find_checkov(None, consumer) == str(nearer)
    assert above.is_file()


def test_the_checkout_amlplatform_is_imported_from_is_looked_in(nowhere, monkeypatch):
    checkout = nowhere / "checkout"
    monkeypatch.setattr(scan, "_source_checkout", lambda: checkout)
    with pytest.raises(UserError, match=f"the checkout amlplatform is imported from: {checkout}"):
        scan.find_checkov(None, nowhere / "project")
    found = _script(checkout / ".venv-scan" / "bin" / "checkov")
    assert scan.find_checkov(None, nowhere / "project") == str(found)


def test_source_checkout_is_this_repository_when_run_from_it():
    assert scan._source_checkout() == ROOT


def test_the_real_scripts_folder_is_looked_in():
    places = [path for _, path in scan._beside_package()]
    assert Path(sys.executable).parent / "checkov" in places


def test_cache_dir_honours_xdg_and_ignores_a_relative_value(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(scan.CACHE_ENV, "relative/cache")  # the XDG spec: relative paths are invalid, ignore
    assert scan.checkov_cache_dir("1.2.3") == tmp_path / "home" / ".cache" / "amlplatform" / "checkov-1.2.3"
    monkeypatch.delenv(scan.CACHE_ENV)
    assert scan.checkov_cache_dir("1.2.3") == tmp_path / "home" / ".cache" / "amlplatform" / "checkov-1.2.3"
    monkeypatch.setenv(scan.CACHE_ENV, str(tmp_path / "xdg"))
    assert scan.checkov_cache_dir("1.2.3") == tmp_path / "xdg" / "amlplatform" / "checkov-1.2.3"


def test_the_error_names_every_place_tried(nowhere):
    project = nowhere / "project"
    with pytest.raises(UserError) as err:
        scan.find_checkov(None, project)
    text = str(err.value)
    for place in ("--checkov: not given", "$AMLPLATFORM_CHECKOV: not set",
                  f".venv-scan/bin/checkov (./dev setup) in {project} and its parents up to {nowhere}",
                  str(nowhere / "env" / "bin" / "checkov"), "PATH: no checkov", str(scan.checkov_cache_dir()),
                  "--no-provision", "./dev setup"):
        assert place in text, place


def test_the_packaged_lock_pins_the_version_with_hashes():
    text = scan.CHECKOV_LOCK.read_text()
    assert f"\ncheckov=={scan.CHECKOV_VERSION} " in text
    pins = [line for line in text.splitlines() if line[:1].isalpha()]
    assert len(pins) > 50  # checkov and every dependency, not only the top level
    blocks = text.split("\n")
    assert all("--hash=sha256:" in blocks[blocks.index(pin) + 1] for pin in pins)
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "review/checkov-lock.txt" in data["tool"]["setuptools"]["package-data"]["amlplatform"]


def test_cli_provisions_unless_told_not_to(monkeypatch):
    import argparse

    from amlplatform.cli import scan as cli
    from amlplatform.review import scan as review

    seen = []

    def fake_scan_stack(stack, **kwargs):
        seen.append(kwargs["provision"])
        raise UserError("stop here")

    monkeypatch.setattr(review, "scan_stack", fake_scan_stack)
    parser = argparse.ArgumentParser(prog="amlplatform")
    cli.register(parser.add_subparsers(dest="command", required=True))
    for argv, want in ((["scan", "--stack", "dev"], True), (["scan", "--stack", "dev", "--no-provision"], False)):
        args = parser.parse_args(argv + ["--project-dir", str(ROOT)])
        with pytest.raises(UserError, match="stop here"):
            args.func(args)
        assert seen[-1] is want


# ----------------------------------------------------------------------------- provisioning, offline

def _wheel(folder: Path) -> Path:
    """A tiny wheel named checkov whose console script prints an empty checkov report."""
    dist = f"checkov-{scan.CHECKOV_VERSION}.dist-info"
    files = {
        "fakecheckov/__init__.py": f"import json\n\ndef run():\n    print(json.dumps({FAKE_REPORT!r}))\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: checkov\nVersion: {scan.CHECKOV_VERSION}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: amlplatform-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": "[console_scripts]\ncheckov = fakecheckov:run\n",
    }
    record = io.StringIO()
    for name, body in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b"=").decode()
        record.write(f"{name},sha256={digest},{len(body.encode())}\n")
    record.write(f"{dist}/RECORD,,\n")
    files[f"{dist}/RECORD"] = record.getvalue()
    path = folder / f"checkov-{scan.CHECKOV_VERSION}-py3-none-any.whl"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, body)
    return path


@pytest.fixture
def offline_index(tmp_path, monkeypatch):
    wheel = _wheel(tmp_path / "wheels")
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip sees only the folder: nothing leaves the machine
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheel.parent))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    good = tmp_path / "good-lock.txt"
    good.write_text(f"checkov=={scan.CHECKOV_VERSION} \\\n    --hash=sha256:{digest}\n")
    bad = tmp_path / "bad-lock.txt"
    bad.write_text(f"checkov=={scan.CHECKOV_VERSION} \\\n    --hash=sha256:{'0' * 64}\n")
    return good, bad


@pytest.mark.slow  # makes two virtualenvs (ensurepip: a few seconds each)
def test_provisioning_makes_the_cache_venv_once_hash_checked(nowhere, offline_index, monkeypatch):
    good, bad = offline_index
    target = scan.checkov_cache_dir()
    log = io.StringIO()
    with pytest.raises(UserError, match="failed"):
        scan.provision_checkov(target, lock=bad, progress=log)
    assert "hash" in log.getvalue().lower() and not target.exists()  # pip refused it; nothing half made is left
    log = io.StringIO()
    monkeypatch.setattr(scan, "CHECKOV_LOCK", good)
    found = scan.find_checkov(None, nowhere / "project", provision=True, progress=log)
    assert found == str(target / "bin" / "checkov")
    assert f"installing it once into {target}" in log.getvalue() and f"checkov installed in {target}" in log.getvalue()
    out = subprocess.run([found], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"'))["summary"]["checkov_version"] == "fake"
    # the next scan finds it without installing anything
    again = io.StringIO()
    assert scan.find_checkov(None, nowhere / "project", provision=True, progress=again) == found
    assert again.getvalue() == ""


def test_a_failed_provisioning_is_named_in_the_error(nowhere, monkeypatch, tmp_path):
    def refuse(target, progress=None):
        raise UserError("no network")

    monkeypatch.setattr(scan, "provision_checkov", refuse)
    with pytest.raises(UserError, match=r"user cache venv .*could not be made: no network"):
        scan.find_checkov(None, None, provision=True)
