"""Every fenced block of docs/*.md and README.md is run, or says why not (docs/contributing.md,
"Every code block is run, or says why not"): shell blocks run page by page in a fresh copy of the
repository; blocks marked ``<!-- block: cloud -->`` / ``slow`` are parsed (each ``amlplatform``
command by the CLI's own parser, each ``./dev`` command against ./dev); YAML is validated as a stack
fragment or a job file; a ``file=`` block must be that file."""

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LANGUAGES = {"bash", "sh", "python", "yaml", "json", "text"}
# programs in other Pulumi languages use the SDK `pulumi package add` generates, which needs the Pulumi
# CLI: marked <!-- block: sdk -->, they are not run here (tests/package checks the schema they rely on)
SDK_LANGUAGES = {"ts", "go", "csharp", "java"}
MARKER = re.compile(r"^\s*<!--\s*block:\s*(?P<words>.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
SERVER_PORTS = {"amlplatform serve": 5001, "mlflow ui": 5000}  # their default ports


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    markers: Dict[str, str] = field(default_factory=dict)  # cloud/slow/server -> "", file/save -> PATH

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def shell(self) -> bool:
        return self.lang in ("bash", "sh")

    @property
    def runs(self) -> bool:
        return not ({"cloud", "slow", "file"} & set(self.markers))


def blocks_of(page: Path) -> List[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    out: List[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = len(m["indent"]), m["fence"], m["info"].strip()
        prev = lines[i - 1] if i > 0 else ""
        marked = MARKER.match(prev)
        markers: Dict[str, str] = {}
        for word in (marked["words"].split() if marked else []):
            key, _, value = word.partition("=")
            markers[key] = value
        body: List[str] = []
        j = i + 1
        while j < len(lines) and not re.match(rf"^ {{0,{indent + 3}}}{fence[0]}{{{len(fence)},}}\s*$", lines[j]):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        out.append(Block(page, i + 1, info, "\n".join(body) + "\n", markers))
        i = j + 1
    return out


ALL = [b for page in PAGES for b in blocks_of(page)]


def _id(block: Block) -> str:
    return block.where


# ------------------------------------------------------------------------------------ every block


def test_the_docs_have_blocks_of_every_kind():
    kinds = {b.lang for b in ALL} | {k for b in ALL for k in b.markers}
    assert {"bash", "yaml", "python", "text", "cloud", "slow", "server", "file", "save"} <= kinds, kinds


@pytest.mark.parametrize("block", ALL, ids=_id)
def test_block_has_a_language_and_known_markers(block):
    assert block.lang in LANGUAGES | SDK_LANGUAGES, (
        f"{block.where}: a fenced block needs a language ({', '.join(sorted(LANGUAGES | SDK_LANGUAGES))}), "
        f"got {block.lang!r}; see docs/contributing.md")
    if block.lang in SDK_LANGUAGES:
        assert "sdk" in block.markers, f"{block.where}: a {block.lang} program needs <!-- block: sdk --> before it"
    allowed = {"bash": {"cloud", "slow", "server"}, "sh": {"cloud", "slow", "server"},
               "python": {"file", "cloud"}, "yaml": {"save"}}.get(block.lang, {"sdk"} if block.lang in SDK_LANGUAGES else set())
    if block.lang == "python" and "cloud" in block.markers:
        compile(block.text, block.where, "exec")  # not run (it needs a workspace), but it must be Python
    unknown = set(block.markers) - allowed
    assert not unknown, f"{block.where}: marker(s) {sorted(unknown)} do not apply to a {block.lang} block"
    for key in ("file", "save"):
        if key in block.markers:
            rel = Path(block.markers[key])
            assert block.markers[key] and not rel.is_absolute() and ".." not in rel.parts, block.where


# ------------------------------------------------------------------------- commands, statically

def _commands(text: str) -> List[List[str]]:
    """The simple commands of a shell block, as words (continuation lines joined, comments dropped,
    split at ; && || |)."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        split: List[str] = []
        for word in words:  # `--quick;` is `--quick` `;`
            split += [word[:-1], ";"] if len(word) > 1 and word.endswith(";") else [word]
        current: List[str] = []
        skip = False
        for word in split + [";"]:
            if skip:
                skip = False
                continue
            if word in (">", ">>", "<", "2>", "2>>", "&>"):
                skip = True  # a redirection and its file
                continue
            if re.match(r"^(\d?>>?|\d>&\d)", word):  # 2>&1, >file (a <placeholder> stays)
                continue
            if word in (";", "&&", "||", "|", "&"):
                while current and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", current[0]):
                    current.pop(0)  # VAR=value before the command
                if current and current[0] == "export":
                    current = []
                if current:
                    out.append(current)
                current = []
            else:
                current.append(word)
    return out


def _dev_commands() -> set:
    return set(re.findall(r"^  ([a-z]+)\)", (ROOT / "dev").read_text(encoding="utf-8"), flags=re.M))


SHELL = [b for b in ALL if b.shell]


@pytest.mark.parametrize("block", SHELL, ids=_id)
def test_shell_block_commands_exist_and_parse(block, capsys):
    from amlplatform.cli import build_parser

    seen = 0
    for words in _commands(block.text):
        starts_server = words[:2] == ["amlplatform", "serve"] or words[:2] in (["mlflow", "ui"], ["mlflow", "server"])
        assert not (starts_server and block.runs and "server" not in block.markers), (
            f"{block.where}: `{' '.join(words[:2])}` serves until stopped: mark the block <!-- block: server --> "
            "(docs/contributing.md), or it would hang the run of its page")
        if words[0] == "amlplatform":
            seen += 1
            try:
                build_parser().parse_args(words[1:])
            except SystemExit as exc:
                pytest.fail(f"{block.where}: `{' '.join(words)}` does not parse (exit {exc.code}): "
                            f"{capsys.readouterr().err.strip()}")
        elif words[0] == "./dev":
            seen += 1
            assert len(words) > 1 and words[1] in _dev_commands(), f"{block.where}: ./dev has no command {words[1:2]}"
            if words[1] == "bench":
                assert (ROOT / "benchmarks" / f"{words[2]}.py").is_file(), f"{block.where}: no benchmark {words[2]}"
        elif re.match(r"^\.venv[\w-]*/bin/", words[0]):
            seen += 1  # a tool from one of the virtualenvs ./dev makes
            venv = words[0].split("/", 1)[0]
            assert f"$ROOT/{venv}" in (ROOT / "dev").read_text(encoding="utf-8"), f"{block.where}: ./dev makes no {venv}"
    assert block.text.strip(), f"{block.where}: an empty block"


def test_the_quickstart_is_what_ci_runs():
    """README's two commands: `./dev test` is CI's command; `./dev plan` plans the dev stack by default."""
    quick = next(b for b in blocks_of(ROOT / "README.md") if "./dev plan" in b.text)
    assert [w[:2] for w in _commands(quick.text)] == [["./dev", "plan"], ["./dev", "test"]]
    assert (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1] == "./dev test"
    dev = (ROOT / "dev").read_text(encoding="utf-8")
    plan = dev[dev.index("  plan)"):dev.index(";;", dev.index("  plan)"))]
    assert "set -- --stack dev" in plan and 'amlplatform" plan "$@"' in plan


# --------------------------------------------------------------------------- files and data

@pytest.mark.parametrize("block", [b for b in ALL if "file" in b.markers], ids=_id)
def test_file_block_is_that_file(block):
    code = (ROOT / block.markers["file"]).read_text(encoding="utf-8")
    if code.lstrip().startswith('"""'):
        code = code.split('"""', 2)[2]
    assert block.text.strip() == code.strip(), f"{block.where} differs from {block.markers['file']}"


@pytest.fixture(scope="module")
def stack_schema():
    from amlplatform.settings.stack import schema_text

    return json.loads(schema_text())


@pytest.mark.parametrize("block", [b for b in ALL if b.lang in ("yaml", "json")], ids=_id)
def test_data_block_is_a_valid_stack_fragment_or_job(block, stack_schema, tmp_path):
    import jsonschema

    data = json.loads(block.text) if block.lang == "json" else yaml.safe_load(block.text)
    assert isinstance(data, dict), f"{block.where}: expected a mapping"
    if data.get("runtime") == "yaml":  # a Pulumi YAML program: tests/package/test_docs_yaml.py checks it
        return                         # against the component package's schema
    if data.get("type") in ("command", "pipeline", "sweep"):
        from amlplatform.runs.job import parse_job

        for rel in re.findall(r"(?:code|path): (\./[\w./-]*)", block.text):
            (tmp_path / rel).mkdir(parents=True, exist_ok=True)
        parse_job(data, base_dir=tmp_path)
        return
    config = data.get("config", data)
    keys = [k for k in config if str(k).startswith("amlplatform:")]
    assert keys, f"{block.where}: neither a job file nor amlplatform: settings"
    properties = stack_schema["properties"]["config"]["properties"]
    for key in keys:
        assert key in properties, f"{block.where}: {key} is not a setting"
        schema = {**properties[key], "$defs": stack_schema["$defs"]}
        try:
            jsonschema.validate(config[key], schema)
        except jsonschema.ValidationError as exc:
            pytest.fail(f"{block.where}: {key}: {exc.message} (at {list(exc.absolute_path)})")


# ----------------------------------------------------------------------------- running blocks

RUN_PAGES = [p for p in PAGES if any(b.runs and b.lang in ("bash", "sh", "python") for b in blocks_of(p))]


def _copy_of_repository(dest: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file() and not src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _env() -> Dict[str, str]:
    keep = {"AMLPLATFORM_CHECKOV", "AMLPLATFORM_AZUREML_PYTHON"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMLPLATFORM_", "MLFLOW_")) or k in keep}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    checkov = ROOT / ".venv-scan" / "bin" / "checkov"
    if "AMLPLATFORM_CHECKOV" not in env and checkov.exists():
        env["AMLPLATFORM_CHECKOV"] = str(checkov)
    return env


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _server_port(block: Block) -> int:
    given = re.search(r"--port (\d+)", block.text)
    if given:
        return int(given.group(1))
    for command, port in SERVER_PORTS.items():
        if command in block.text:
            return port
    raise AssertionError(f"{block.where}: a server block needs --port (no default known for it)")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_blocks_run(page, tmp_path):
    work = _copy_of_repository(tmp_path / "repo")
    state = tmp_path / "env.sh"
    state.write_text("", encoding="utf-8")
    env = _env()
    server: Optional[subprocess.Popen] = None
    server_block: Optional[Block] = None

    def script(text: str) -> str:
        return f"set -euo pipefail\nsource {shlex.quote(str(state))}\n{text}\nexport -p > {shlex.quote(str(state))}\n"

    def run(block: Block, argv: List[str]) -> None:
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (f"{block.where} exited {done.returncode}\n--- stdout\n{done.stdout[-4000:]}"
                                      f"\n--- stderr\n{done.stderr[-4000:]}")

    try:
        for block in blocks_of(page):
            if "save" in block.markers:
                target = work / block.markers["save"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.text, encoding="utf-8")
            if not block.runs or block.lang not in ("bash", "sh", "python"):
                continue
            if server is not None:  # the block after a server block runs once the server answers
                port = _server_port(server_block)
                deadline = time.monotonic() + 90
                while not _port_answers(port):
                    assert server.poll() is None, f"{server_block.where}: the server exited {server.returncode}"
                    assert time.monotonic() < deadline, f"{server_block.where}: nothing answers on port {port}"
                    time.sleep(0.5)
            if "server" in block.markers:
                exports = "\n".join(line for line in block.text.splitlines() if line.startswith("export "))
                run(block, ["bash", "-c", script(exports)])
                server = subprocess.Popen(["bash", "-c", script(block.text)], cwd=work, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True)
                server_block = block
                continue
            if block.lang == "python":
                run(block, [sys.executable, "-c", block.text])
            else:
                run(block, ["bash", "-c", script(block.text)])
            if server is not None:
                _stop(server)
                server = None
        if server is not None:  # a server block with no block after it: it must at least come up
            port = _server_port(server_block)
            deadline = time.monotonic() + 90
            while not _port_answers(port):
                assert server.poll() is None, f"{server_block.where}: the server exited {server.returncode}"
                assert time.monotonic() < deadline, f"{server_block.where}: nothing answers on port {port}"
                time.sleep(0.5)
    finally:
        if server is not None:
            _stop(server)


# ------------------------------------------------------------------------- the reader itself

def test_reader_finds_blocks_markers_and_indented_fences(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("\n".join([
        "# t", "", "<!-- block: cloud -->", "```bash", "az login", "```", "",
        "1. a list item:", "", "   ```yaml", "   a: 1", "   ```", "",
        "```", "no language", "```", "",
        "<!-- block: save=stacks/Pulumi.x.yaml -->", "````yaml", "```", "b: 2", "````",
    ]) + "\n", encoding="utf-8")
    found = [(b.line, b.lang, b.markers, b.text) for b in blocks_of(page)]
    assert found == [(4, "bash", {"cloud": ""}, "az login\n"), (10, "yaml", {}, "a: 1\n"),
                     (14, "", {}, "no language\n"), (19, "yaml", {"save": "stacks/Pulumi.x.yaml"}, "```\nb: 2\n")]


def test_commands_are_split_as_the_shell_splits_them():
    text = ("export A=1 \\\n       B=2\n"
            "X=1 amlplatform plan --stack dev > plan.txt 2>&1   # a comment\n"
            "amlplatform runs list && amlplatform runs show last | head -3\n"
            "./dev bench snapshot --quick; echo done\n")
    assert _commands(text) == [["amlplatform", "plan", "--stack", "dev"], ["amlplatform", "runs", "list"],
                               ["amlplatform", "runs", "show", "last"], ["head", "-3"],
                               ["./dev", "bench", "snapshot", "--quick"], ["echo", "done"]]
