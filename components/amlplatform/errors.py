"""Errors caused by what a user gave us: printed as a readable message, never a traceback.

This module imports nothing from Pulumi, so the runtime shim can use it.
"""

import re
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


class Problems(ValueError):
    """Several problems a validator found at once: :func:`validation_problems` reports one line each
    (``str()`` joins them with "; " for anything that prints the error as a whole)."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = [str(p) for p in problems]
        super().__init__("; ".join(self.problems))


# What an error message shows instead of a secret config value (as Pulumi masks it in a preview).
REDACTED = "[secret]"
# A secret shorter than this is redacted only where it is the value a message quotes (after
# "got"): a short text ("User") inside a longer message is more likely a word than the secret.
# program.mark_secrets matches secret texts inside resource inputs with the same length.
CONTAINED_MIN = 8


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret text of at least :data:`CONTAINED_MIN` characters, and its
    ``repr``, replaced by :data:`REDACTED`; a shorter secret only where it is quoted whole."""
    out = str(text)
    for secret in sorted({s for s in secrets if isinstance(s, str) and s}, key=len, reverse=True):
        quoted = [repr(secret), '"' + secret + '"']
        for form in quoted:
            out = out.replace(form, REDACTED)
        if len(secret) >= CONTAINED_MIN:
            out = out.replace(secret, REDACTED)
    return out


def redact_problem(line: str, secret_fields: Iterable[str], secrets: Iterable[str] = ()) -> str:
    """A ``field: rule, got value`` line with the value redacted when the field lies in one of
    ``secret_fields`` (top-level setting names: Pulumi marks a key secret as a whole), and every
    secret text redacted wherever it appears (:func:`redact`)."""
    field, sep, rest = line.partition(": ")
    top = re.split(r"[.\[]", field, maxsplit=1)[0]
    if sep and top in set(secret_fields):
        head, got, _ = rest.rpartition(", got ")
        if got:
            rest = f"{head}, got {REDACTED}"
        line = f"{field}: {rest}"
    return redact(line, secrets)


def _show(value: Any) -> str:
    """A value as the stack file spells it: YAML's null/true/false, not Python's None/True/False."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
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


def _known_names(model: Any, loc: list) -> list[str]:
    """Field names of the model found at ``loc`` (the parent of an unknown key) inside ``model``."""
    import typing

    current: Any = model
    for part in loc:
        current = _unwrap(current)
        fields = getattr(current, "model_fields", None)
        if isinstance(part, int):
            args = [a for a in typing.get_args(current) if a is not type(None)]
            current = args[-1] if args else None
        elif fields is not None and part in fields:
            current = fields[part].annotation
        elif typing.get_origin(current) in (dict, typing.Dict):
            current = typing.get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    return list(getattr(current, "model_fields", {}) or {})


def _unwrap(annotation: Any) -> Any:
    import typing

    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def closest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the choice nearest ``word``, or nothing."""
    import difflib

    names = sorted(choices)
    match = difflib.get_close_matches(str(word), names, n=1, cutoff=0.5)
    if match:
        return f" (did you mean {match[0]!r}?)"
    return f" (known: {', '.join(names)})" if names else ""


def _words(class_name: str) -> str:
    """'StorageSettings' -> 'storage settings', 'KeyVaultSettings' -> 'key vault settings'."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z][a-z0-9]*|[a-z0-9]+", class_name)
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)


def validation_problems(exc: Any, prefix: str = "", model: Any = None) -> list[str]:
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
        match = re.fullmatch(r"must be a valid dictionary or instance of (\w+)", msg)
        if match:  # pydantic's class name is no word of the stack file: say what the mapping holds
            msg = f"must be a mapping of {_words(match.group(1))}"
        elif msg == "must be a valid dictionary":
            msg = "must be a mapping"
        if err.get("type") == "extra_forbidden":
            known = _known_names(model, loc[:-1]) if model is not None else []
            hint = closest(loc[-1], known) if known else ""
            msg = "is not a known setting" + (hint or " (check its spelling)")
        elif err.get("type") == "missing":
            msg = "is required"
        error = (err.get("ctx") or {}).get("error")
        # a validator that found several problems: one line each, never one line joined with "; "
        for one in (error.problems if isinstance(error, Problems) else [msg]):
            key = (path, one)
            if key in seen:
                continue
            seen.add(key)
            if not loc and not prefix:
                lines.append(one)  # a rule across several settings: its message names them
            elif err.get("type") == "missing" or "input" not in err or isinstance(err["input"], (dict, list)):
                lines.append(f"{path}: {one}")
            else:
                lines.append(f"{path}: {one[0].lower() + one[1:] if one else one}, got {_show(err['input'])}")
    return lines


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the member's type into loc for unions ('function-after[...]', 'str', 'int')
    return isinstance(part, str) and ("[" in part and part.endswith("]") or part in {"str", "int", "float", "bool"})
