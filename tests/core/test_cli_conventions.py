"""What users of well-kept Python CLIs expect: ``--version`` from the package metadata, and one
exit-code table that holds every code a command really returns."""

import ast
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from amlplatform import cli

ROOT = Path(__file__).resolve().parents[2]
CLI_DIR = ROOT / "components" / "amlplatform" / "cli"


def _run(*argv):
    return subprocess.run([sys.executable, "-m", "amlplatform.cli", *argv], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT / "components")})


def test_version_prints_the_installed_distribution_version():
    done = _run("--version")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == f"amlplatform {metadata.version('amlplatform')}\n"


def test_version_needs_no_command_and_is_in_the_help():
    assert "--version" in _run("--help").stdout


def test_version_without_metadata_says_so(monkeypatch):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert cli.package_version().startswith("unknown (not installed")


def _exit_names():
    """EXIT_* constants visible to the CLI modules, with their values."""
    from amlplatform.runs import local, pipeline

    names = {}
    for module in (cli, local, pipeline):
        names.update({k: v for k, v in vars(module).items() if k.startswith("EXIT_") and isinstance(v, int)})
    return names


def _returned_codes():
    """Every literal int or EXIT_* name in a ``return`` of a CLI module (through conditional
    expressions), and every ``SystemExit(...)``/``parser.exit(...)`` argument."""
    names = _exit_names()
    found = {}

    def collect(node, where):
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            found.setdefault(node.value, where)
        elif isinstance(node, ast.Name) and node.id.startswith("EXIT_"):
            found.setdefault(names[node.id], where)
        elif isinstance(node, ast.IfExp):
            collect(node.body, where)
            collect(node.orelse, where)

    for path in sorted(CLI_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.name}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Return) and node.value is not None:
                collect(node.value, where)
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("SystemExit", "exit"):
                for arg in node.args[:1]:
                    collect(arg, where)
    return found


def test_every_code_the_commands_return_is_in_the_table():
    found = _returned_codes()
    assert {0, 1, 2, 3, 124, 130} <= set(found)  # the walk sees the codes we know of
    missing = {code: where for code, where in found.items() if code not in cli.EXIT_CODES}
    assert not missing, f"exit codes returned but not in cli.EXIT_CODES: {missing}"


def test_the_table_is_in_the_help():
    text = _run("--help").stdout
    for code in cli.EXIT_CODES:
        assert f"\n  {code:<4} " in text
    assert "other" in text and "submit" in text


@pytest.mark.parametrize("argv,code", [(["plan", "--no-such-flag"], cli.EXIT_USAGE), (["--version"], cli.EXIT_OK)])
def test_codes_really_returned(argv, code):
    assert _run(*argv).returncode == code
