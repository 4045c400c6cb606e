"""Helpers shared by the local half of the runs tests (the Azure half keeps its own modules)."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def run_cli(*argv: str) -> int:
    """``amlplatform.cli.main(argv)``: the one entry point of the command line."""
    from amlplatform import cli

    return cli.main(list(argv))


@pytest.fixture
def cli_run():
    return run_cli
