"""Helpers shared by the local half of the runs tests (the Azure half keeps its own modules)."""

import argparse
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def run_cli(*argv: str) -> int:
    """``amlplatform.cli.main(argv)``; until the plan commands exist, the same main over the runs commands only."""
    try:
        from amlplatform import plan_cli  # noqa: F401
    except ImportError:
        from amlplatform import cli
        from amlplatform.runs import cli as runs_cli

        def build_parser() -> argparse.ArgumentParser:
            parser = argparse.ArgumentParser(prog="amlplatform")
            sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
            runs_cli.register(sub)
            return parser

        original = cli.build_parser
        cli.build_parser = build_parser
        try:
            return cli.main(list(argv))
        finally:
            cli.build_parser = original
    from amlplatform import cli

    return cli.main(list(argv))


@pytest.fixture
def cli_run():
    return run_cli
