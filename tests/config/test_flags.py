"""The same flag means the same thing in every command (issue: one CLI)."""

import argparse
from collections import defaultdict

from amlplatform.cli import build_parser


def _commands(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, f"{prefix} {name}".strip())
    yield prefix, parser


def test_every_short_flag_has_one_meaning_across_commands():
    meanings = defaultdict(set)
    for command, parser in _commands(build_parser()):
        for action in parser._actions:
            shorts = [o for o in action.option_strings if not o.startswith("--")]
            longs = [o for o in action.option_strings if o.startswith("--")]
            for short in shorts:
                if short != "-h":
                    meanings[short].add(longs[0] if longs else short)
    clashes = {short: sorted(longs) for short, longs in meanings.items() if len(longs) > 1}
    assert not clashes, f"short flags with several meanings: {clashes}"


def test_every_long_flag_takes_the_same_kind_of_value_everywhere():
    kinds = defaultdict(set)
    for command, parser in _commands(build_parser()):
        for action in parser._actions:
            for option in action.option_strings:
                # `amlplatform --version` (the program's, on the root only) is exempt like --help, as
                # `az --version` is beside `az ml model create --version N`: `model register --version N`
                if option.startswith("--") and option != "--help" and not (command == "" and option == "--version"):
                    kinds[option].add("switch" if action.nargs == 0 else "value")
    mixed = {o: sorted(k) for o, k in kinds.items() if len(k) > 1}
    assert not mixed, f"flags that are a switch in one command and take a value in another: {mixed}"
