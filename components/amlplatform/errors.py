"""Errors caused by what a user gave us: printed as a readable message, never a traceback.

This module imports nothing from Pulumi, so the runtime shim can use it.
"""

from typing import Any, Iterable


class UserError(Exception):
    """Bad input (stack settings, CLI arguments, run specs, server answers) with a readable message.

    ``problems`` lists one line per bad field when there are several.
    """

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        self.problems = list(problems)
        super().__init__(message)

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  - {p}" for p in self.problems)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def field_path(loc: Iterable[Any]) -> str:
    """('workspace', 'computes', 0, 'name') -> 'workspace.computes[0].name'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"


def validation_problems(exc: Any, prefix: str = "") -> list[str]:
    """Turn a pydantic ``ValidationError`` into lines ``field: rule, got value``.

    Union members and model-level ("after") validators are folded so each bad field is named
    once, with the rule it broke and the value it got.
    """
    lines: list[str] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        loc = [p for p in err.get("loc", ()) if not _is_union_tag(p)]
        path = field_path(([prefix] if prefix else []) + loc)
        msg = err.get("msg", "invalid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if msg.startswith("Input should be "):
            msg = "must be " + msg[len("Input should be "):]
        if err.get("type") == "extra_forbidden":
            msg = "is not a known setting (check its spelling)"
        elif err.get("type") == "missing":
            msg = "is required"
        key = (path, msg)
        if key in seen:
            continue
        seen.add(key)
        if not loc and not prefix:
            lines.append(msg)  # a rule across several settings: its message names them
        elif err.get("type") == "missing" or "input" not in err or isinstance(err["input"], (dict, list)):
            lines.append(f"{path}: {msg}")
        else:
            lines.append(f"{path}: {msg[0].lower() + msg[1:] if msg else msg}, got {_show(err['input'])}")
    return lines


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the member's type into loc for unions ('function-after[...]', 'str', 'int')
    return isinstance(part, str) and ("[" in part and part.endswith("]") or part in {"str", "int", "float", "bool"})
