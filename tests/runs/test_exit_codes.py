"""One exit-code table (``amlplatform.exit_codes``) for the command line and the run records."""

import pytest

from amlplatform import cli, exit_codes
from amlplatform.cli.runs import _exit_for
from amlplatform.runs import local


def test_the_documented_codes_keep_their_values():
    assert list(exit_codes.EXIT_CODES) == [0, 1, 2, 3, 124, 130]
    assert (cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE, cli.EXIT_REPLACEMENT, cli.EXIT_TIMEOUT,
            cli.EXIT_INTERRUPTED) == (0, 1, 2, 3, 124, 130)
    assert cli.EXIT_CODES is exit_codes.EXIT_CODES
    # the local backend records the same codes the command exits with
    assert (local.EXIT_CANCELED, local.EXIT_TIMEOUT) == (exit_codes.EXIT_INTERRUPTED, exit_codes.EXIT_TIMEOUT)


@pytest.mark.parametrize("status, code, reason, expected", [
    ("Completed", 0, None, 0),
    ("Canceled", 130, "canceled (Ctrl-C)", 130),
    ("Canceled", 124, "timed out after 5 s (limits.timeout)", 124),
    ("Failed", 3, None, 3),          # a local command's own code passes through
    ("Failed", None, None, 1),       # a failed Azure job
    ("Failed", 300, None, 1),        # not an exit status
    ("Failed", True, None, 1),
    ("NotResponding", None, None, 1),
    ("Paused", None, None, 1),
])
def test_exit_code_of_a_run(status, code, reason, expected):
    assert _exit_for(status, code, reason) == expected
