"""Helpers shared by the local half of the runs tests (the Azure half keeps its own modules)."""

import signal
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def default_signals() -> None:
    """``preexec_fn`` for a child a test will interrupt: SIGINT and SIGQUIT back to their defaults.

    A shell starts a background job (``./dev test &``) with both ignored (POSIX), an ignored signal
    stays ignored across exec, and Python then installs no KeyboardInterrupt handler: the test's
    SIGINT would do nothing. The child's disposition is the test's to set, not the caller's."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def run_cli(*argv: str) -> int:
    """``amlplatform.cli.main(argv)``: the one entry point of the command line."""
    from amlplatform import cli

    return cli.main(list(argv))


@pytest.fixture
def cli_run():
    return run_cli
