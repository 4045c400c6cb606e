"""The ``amlplatform`` command: offline plan and review of stacks, and run submission.

Each command group registers its own sub-commands and imports its heavy dependencies only when
it runs, so ``amlplatform submit`` never pays for loading Pulumi.
"""

import argparse
import sys
from typing import Optional, Sequence

from amlplatform.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    from amlplatform import plan_cli
    from amlplatform.review import cli as review_cli
    from amlplatform.runs import cli as runs_cli

    parser = argparse.ArgumentParser(
        prog="amlplatform",
        description="Azure Machine Learning platforms on Pulumi: plan and review stacks offline, submit runs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    plan_cli.register(sub)
    review_cli.register(sub)
    runs_cli.register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
