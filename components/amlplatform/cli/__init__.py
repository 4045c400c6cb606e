"""The ``amlplatform`` command line: one package, one module per command group.

- ``plan``: ``amlplatform plan`` and ``amlplatform schema`` (what a stack declares, offline)
- ``scan``: ``amlplatform scan`` (security and deployability review, offline)
- ``preflight``: ``amlplatform preflight`` (the subscription registrations a stack needs; checked on Azure
  with a subscription)
- ``runs``: ``amlplatform submit`` and ``amlplatform runs list|show|logs|cancel``

Every group registers its sub-commands here and imports its heavy dependencies only when a
command runs, so ``amlplatform submit`` never pays for loading Pulumi. This module is the one
place that turns errors into messages and exit codes (see :func:`main`).
"""

import argparse
import sys
from typing import List, Optional, Sequence

from amlplatform.errors import UserError

# Exit codes, the same for every command: the one table is amlplatform.exit_codes (below cli/ and
# the run backends, which record the same codes).
from amlplatform.exit_codes import (  # noqa: E402,F401 - re-exported for the command modules
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REPLACEMENT,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    PASSED_THROUGH,
)


def exit_code_table() -> str:
    rows = [f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items()]
    return "exit codes:\n" + "\n".join(rows) + f"\n  other {PASSED_THROUGH}\n"


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors printed the way every other error is: ``error: <command>: ...``
    first (naming the sub-command, and the closest flag to one it does not know), then that
    command's usage; exit 2."""

    _given: Sequence[str] = ()

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        command = getattr(parsed, _COMMAND_PARSER, None) or self
        if hasattr(parsed, _COMMAND_PARSER):
            delattr(parsed, _COMMAND_PARSER)
        if extras:
            command.error(f"unrecognized arguments: {' '.join(extras)}{command._closest_flag(extras)}")
        return parsed

    def _flags(self) -> List[str]:
        return [s for action in self._actions for s in action.option_strings if s.startswith("--")]

    def _unknown_flags(self, given: Sequence[str]) -> List[str]:
        """The ``--flags`` among ``given`` this command does not know (abbreviations argparse accepts
        are known)."""
        flags = self._flags()
        unknown = []
        for arg in given:
            if arg == "--":
                break
            name = arg.split("=", 1)[0]
            if name.startswith("--") and not any(f.startswith(name) for f in flags):
                unknown.append(name)
        return unknown

    def _closest_flag(self, extras: Sequence[str]) -> str:
        import difflib

        for arg in extras:
            name = arg.split("=", 1)[0]
            if name.startswith("-"):
                match = difflib.get_close_matches(name, self._flags(), n=1, cutoff=0.6)
                if match:
                    return f" (did you mean {match[0]}?)"
        return ""

    def error(self, message: str) -> "NoReturn":  # type: ignore[name-defined]  # noqa: F821
        unknown = self._unknown_flags(self._given)
        if unknown and message.startswith("the following arguments are required"):
            # a misspelt flag leaves a required one missing: name the misspelling first
            message = f"unrecognized arguments: {' '.join(unknown)}{self._closest_flag(unknown)}; {message}"
        print(f"error: {self.prog}: {message}", file=sys.stderr)
        self.print_usage(sys.stderr)
        raise SystemExit(EXIT_USAGE)


# The namespace key under which each sub-command records its own parser (for its usage in errors).
_COMMAND_PARSER = "_amlplatform_command_parser"


def _mark_commands(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(**{_COMMAND_PARSER: sub})
                _mark_commands(sub)


def package_version() -> str:
    """The installed distribution's version (its metadata, so it is the one pip and uv report)."""
    from importlib import metadata

    try:
        return metadata.version("amlplatform")
    except metadata.PackageNotFoundError:  # imported from a source tree that was never installed
        return "unknown (not installed: no amlplatform distribution metadata)"


class _VersionAction(argparse.Action):
    """``--version``: print ``amlplatform VERSION`` and exit 0 (the metadata is read only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"amlplatform {package_version()}")
        parser.exit(EXIT_OK)


def build_parser() -> argparse.ArgumentParser:
    from amlplatform.cli import assets, model, plan, preflight, runs, scan, serve

    parser = _Parser(
        prog="amlplatform",
        description="Azure Machine Learning platforms on Pulumi: plan and review stacks offline, submit runs.",
        epilog=exit_code_table(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction, help="print the installed amlplatform version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    plan.register(sub)
    scan.register(sub)
    preflight.register(sub)
    runs.register(sub)
    model.register(sub)
    assets.register(sub)
    serve.register(sub)
    _mark_commands(parser)
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
