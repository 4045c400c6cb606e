"""Supply chain: every install in ./dev, .ci and the sample workflow takes exact versions with
hashes from a committed lock; the locks agree with each other; workflow actions are pinned by
commit SHA (issue: least privilege and a locked-down shim, item 9)."""

import json
import re
from pathlib import Path

import pytest
import yaml

from amlplatform.review import scan

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "locks"
ALL_LOCKS = sorted(LOCKS.glob("*.txt")) + [scan.CHECKOV_LOCK]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _scripts():
    """(where, shell text) of everything that installs: ./dev, .ci/*, each workflow's run steps."""
    out = [("dev", (ROOT / "dev").read_text())]
    out += [(f".ci/{p.name}", p.read_text()) for p in sorted((ROOT / ".ci").iterdir()) if p.is_file()]
    for wf in WORKFLOWS:
        for job in yaml.safe_load(wf.read_text())["jobs"].values():
            for step in job["steps"]:
                if "run" in step:
                    out.append((f"{wf.name}: {step.get('name', '?')}", step["run"]))
    return out


def _commands(text):
    """Shell lines with continuations joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            yield line


INSTALL = re.compile(r"\b(pip|pip3)\b[^|;&]*\binstall\b|\bnpm\s+(install|i|ci)\b|\bapt-get\s+install\b|\bpipx\b|\bconda\b")


def _lock_pins(path):
    """{name: (version, frozenset of hashes)} of a uv/pip-compile lock; every line accounted for."""
    pins = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash=sha256:"):
            assert current is not None, f"{path.name}: a hash before any requirement"
            assert re.fullmatch(r"--hash=sha256:[0-9a-f]{64}( \\)?", line), f"{path.name}: {line}"
            pins[current][1].add(line.split(":", 1)[1].rstrip(" \\"))
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;]+)( ;[^\\]*)? \\", line)
        assert m, f"{path.name}: not an exact pin with hashes following: {line!r}"
        current = f"{m.group(1).lower().replace('_', '-')}{m.group(3) or ''}"
        assert current not in pins, f"{path.name}: {current} twice"
        pins[current] = (m.group(2), set())
    assert pins, f"{path.name} pins nothing"
    return {k: (v, frozenset(h)) for k, (v, h) in pins.items()}


@pytest.mark.parametrize("lock", ALL_LOCKS, ids=lambda p: p.name)
def test_every_lock_pins_exact_versions_each_with_hashes(lock):
    for name, (version, hashes) in _lock_pins(lock).items():
        assert hashes, f"{lock.name}: {name}=={version} has no hash"


def test_every_install_command_uses_hashes():
    """pip/uv: --require-hashes -r LOCK, or the project itself (--no-deps -e .); npm: `npm ci`
    (package-lock.json's integrity hashes); apt-get: verified by apt against the distribution's
    signed package lists."""
    seen = 0
    for where, text in _scripts():
        for line in _commands(text):
            if not INSTALL.search(line):
                continue
            seen += 1
            if re.search(r"\bpip\b.*\binstall\b", line):
                project = "--no-deps" in line and re.search(r"(^| )-e \.( |$)", line)
                assert "--require-hashes" in line or project, f"{where}: unhashed install: {line}"
                assert not re.search(r"--(index-url|extra-index-url|find-links|trusted-host)\b|(^| )-[ifF] ", line), \
                    f"{where}: an install that changes where packages come from: {line}"
                if "--require-hashes" in line:
                    assert re.search(r" -r ", line) and not project, f"{where}: hashes need a lock file: {line}"
                    named = re.search(r" -r (\S+)", line).group(1).strip('"')
                    if "$" not in named:  # a literal path: it must be one of the checked locks
                        assert (ROOT / named).resolve() in [p.resolve() for p in ALL_LOCKS], f"{where}: {named}"
            elif re.search(r"\bnpm\b", line):
                assert re.search(r"\bnpm ci\b", line), f"{where}: npm without the lock file: {line}"
            elif "apt-get" in line:
                assert "--allow-unauthenticated" not in line, f"{where}: {line}"
            else:
                pytest.fail(f"{where}: an installer this test does not know: {line}")
    assert seen >= 8  # ./dev's and the workflow's installs were found


def test_dev_installs_only_from_checked_locks():
    """./dev passes its locks through variables: the ones it names exist and are checked above."""
    dev = (ROOT / "dev").read_text()
    named = set(re.findall(r"(?:locks/[\w$.{}-]+\.txt|components/amlplatform/review/checkov-lock\.txt)", dev))
    expanded = {n.replace("$level", level) for n in named for level in ("plan", "test")}
    assert {"locks/plan.txt", "locks/test.txt", "locks/azureml.txt", "locks/tools.txt",
            "components/amlplatform/review/checkov-lock.txt"} <= expanded
    for name in expanded:
        assert (ROOT / name).is_file(), name
    assert 'install_locked "$VENV/bin/python" "$lock"' in dev and "lock=locks/$level.txt" in dev
    assert re.search(r"\n  plan\)\n    setup_venv plan\n", dev)  # ./dev plan installs the plan lock only


def test_npm_lock_has_integrity_for_every_package():
    packages = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    missing = [k for k, v in packages.items() if k and not v.get("link") and "integrity" not in v]
    assert not missing


@pytest.mark.parametrize("small", ["plan.txt", "review.txt"])
def test_smaller_locks_are_resolved_within_the_test_lock(small):
    """./dev marks the plan venv done when the test lock is installed: it must hold plan's pins."""
    big = _lock_pins(LOCKS / "test.txt")
    for name, (version, hashes) in _lock_pins(LOCKS / small).items():
        assert name in big and big[name][0] == version, f"{small}: {name}=={version} vs test.txt {big.get(name)}"
        assert hashes <= big[name][1]


def test_plan_lock_holds_no_test_or_picture_tools():
    names = {n.split(" ")[0] for n in _lock_pins(LOCKS / "plan.txt")}
    assert "pulumi" in names and "pydantic" in names
    assert not names & {"mlflow", "mlflow-skinny", "scikit-learn", "pandas", "diagrams", "pytest", "hypothesis", "numpy"}
    assert "diagrams" in {n.split(" ")[0] for n in _lock_pins(LOCKS / "review.txt")}


def test_locks_follow_the_declared_versions():
    test = _lock_pins(LOCKS / "test.txt")
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert test[name.lower()][0] == version, line
    assert _lock_pins(LOCKS / "azureml.txt")["azure-ai-ml"][0] == "1.35.2"
    assert _lock_pins(scan.CHECKOV_LOCK)["checkov"][0] == scan.CHECKOV_VERSION
    assert "uv" in _lock_pins(LOCKS / "tools.txt")


def test_workflow_actions_are_pinned_by_commit_sha_with_the_tag_named():
    for wf in WORKFLOWS:
        for line in wf.read_text().splitlines():
            m = re.search(r"uses:\s*(\S+)", line)
            if not m or m.group(1).startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", m.group(1)), f"{wf.name}: not pinned by SHA: {line}"
            assert re.search(r"#\s*v\d+\.\d+\.\d+\s*$", line), f"{wf.name}: name the tag next to the SHA: {line}"
