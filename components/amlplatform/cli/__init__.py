"""The ``amlplatform`` command line: one package, one module per command group.

- ``plan``: ``amlplatform plan`` and ``amlplatform schema`` (what a stack declares, offline)
- ``scan``: ``amlplatform scan`` (security and deployability review, offline)
- ``runs``: ``amlplatform submit`` and ``amlplatform runs list|show|logs|cancel``

Every group registers its sub-commands here and imports its heavy dependencies only when a
command runs, so ``amlplatform submit`` never pays for loading Pulumi. This module is the one
place that turns errors into messages and exit codes (see :func:`main`).
"""

import argparse
import sys
from typing import Optional, Sequence

from amlplatform.errors import UserError

# Exit codes, the same for every command.
EXIT_OK = 0
EXIT_FAILED = 1        # the command ran and found a failure (scan findings, a failed job)
EXIT_USAGE = 2         # bad input: arguments, settings, files, server answers (argparse uses 2 too)
EXIT_TIMEOUT = 124     # like timeout(1)
EXIT_INTERRUPTED = 130  # 128 + SIGINT


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors printed the way every other error is (``error: ...``, exit 2)."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[name-defined]  # noqa: F821
        self.print_usage(sys.stderr)
        print(f"error: {self.prog}: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    from amlplatform.cli import model, plan, runs, scan, serve

    parser = _Parser(
        prog="amlplatform",
        description="Azure Machine Learning platforms on Pulumi: plan and review stacks offline, submit runs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    plan.register(sub)
    scan.register(sub)
    runs.register(sub)
    model.register(sub)
    serve.register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; bad input is ``error: ...`` on stderr and exit 2, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:
        # A file we were told to read or write: name it and the reason, not a traceback.
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"error:{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
