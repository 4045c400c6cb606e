"""What every amlplatform component shares: its type token and how children are parented.

Children get ``parent=self`` and nothing merged from the component's own options: providers and
``protect`` flow from the parent through Pulumi itself, and merging would copy the component's
aliases onto every child.
"""

import collections.abc
import enum
import inspect
import math
import types
import typing
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Union

import pulumi
from typing_extensions import Annotated, NotRequired, Required, is_typeddict

from amlplatform.errors import UserError, closest

TOKEN_PREFIX = "amlplatform:index:"


def token(class_name: str) -> str:
    """Type tokens are public API: other languages consume only the ``index`` module."""
    return TOKEN_PREFIX + class_name


def child(parent: pulumi.Resource, *, protect: bool = False,
          ignore_changes: Optional[Sequence[str]] = None,
          depends_on: Optional[Sequence[pulumi.Resource]] = None,
          **extra: Any) -> pulumi.ResourceOptions:
    """Options for a child resource of ``parent``. ``protect`` only where data would be lost."""
    return pulumi.ResourceOptions(
        parent=parent,
        protect=protect or None,
        ignore_changes=list(ignore_changes) if ignore_changes else None,
        depends_on=list(depends_on) if depends_on else None,
        **extra,
    )


def waits_for(values: Optional[Sequence[Any]]) -> Optional[List[pulumi.Output[None]]]:
    """``depends_on`` entries for values taken as ``pulumi.Input[str]`` (component args cannot hold
    resources: Pulumi's schema analyzer rejects them): the resource waits for every resource that
    produces one of the values, exactly as if those resources were listed. A plain value adds no
    dependency."""
    if not values:
        return None
    return [pulumi.Output.from_input(v).apply(lambda _: None) for v in values]


def merged_tags(tags: Optional[Mapping[str, str]]) -> dict:
    return dict(tags or {})


# ------------------------------------------------------------------ defaults, written once

_DEFAULTS: Dict[type, Mapping[str, Any]] = {}


def defaults(spec: type, **values: Any) -> Mapping[str, Any]:
    """Declare the defaults of fields of the Args TypedDict ``spec``, once, beside it.

    The component reads them from the mapping returned (``args.get("sku", DEFAULTS["sku"])``); the
    package schema (:mod:`amlplatform.provider`) and the stack settings (:mod:`amlplatform.spec`), and
    through them the generated docs, read them from here. Field docstrings do not repeat them.
    Each value must be a field of ``spec`` and of its type."""
    hints = _hints(spec)
    problems = [f"{spec.__name__}.{k}: is not a field" for k in values if k not in hints]
    for key, value in values.items():
        if key in hints:
            _check_value(value, hints[key], f"{spec.__name__}.{key}", problems)
    if problems:
        raise TypeError("bad defaults: " + "; ".join(problems))
    frozen = types.MappingProxyType(dict(values))
    _DEFAULTS[spec] = frozen
    return frozen


def inherit_defaults(spec: type, source: type, *, derived: Sequence[str] = ()) -> Mapping[str, Any]:
    """``spec`` (a part of a bigger component's args, e.g. MLWorkspace's storage settings) takes the
    defaults ``source`` (the part's own component args) declares for the fields both have, except
    the ``derived`` ones, whose default the bigger component works out (and documents) itself."""
    hints = _hints(spec)
    return defaults(spec, **{k: v for k, v in _DEFAULTS[source].items() if k in hints and k not in derived})


def declared_defaults() -> Dict[type, Mapping[str, Any]]:
    """Every Args type with declared defaults (the schema generator's source)."""
    return dict(_DEFAULTS)


# ------------------------------------------------------------------ arguments checked at the boundary

class ComponentArgsError(UserError, ValueError):
    """A component was given arguments its ``...Args`` TypedDict does not allow (a ValueError too,
    so programs that catch the components' ValueErrors keep working)."""


def check_args(component: str, args: Any, spec: type) -> None:
    """Check ``args`` against the TypedDict ``spec`` before any child is declared.

    An unknown or misspelt key is an error naming the closest valid key; a missing required key
    is an error; a value of the wrong type is an error. ``pulumi.Output`` (and awaitables) are
    accepted exactly where the TypedDict says ``pulumi.Input[...]`` - the places where Azure takes
    a value from another resource; elsewhere the value must be plain, because the component checks
    it (names, combinations) before deploying. Raises :class:`ComponentArgsError` listing every
    problem.
    """
    problems: List[str] = []
    _check_typed_dict(args, spec, "args", problems)
    if problems:
        raise ComponentArgsError(f"{component}: invalid arguments ({len(problems)} problem"
                                 f"{'s' if len(problems) != 1 else ''}):", problems)


def _check_typed_dict(value: Any, spec: type, where: str, problems: List[str]) -> None:
    if not isinstance(value, Mapping):
        problems.append(f"{where}: must be a mapping of {spec.__name__}, got {type(value).__name__}")
        return
    hints = _hints(spec)
    required = set(getattr(spec, "__required_keys__", ()))
    for key in value:
        if key not in hints:
            problems.append(f"{where}.{key}: is not an argument of {spec.__name__}{closest(str(key), hints)}")
    for key in sorted(required - set(value)):
        problems.append(f"{where}.{key}: is required")
    for key, item in value.items():
        if key in hints:
            _check_value(item, _strip_required(hints[key]), f"{where}.{key}", problems)


_HINTS: Dict[type, Dict[str, Any]] = {}


def _hints(spec: type) -> Dict[str, Any]:
    """The TypedDict's annotations, evaluated once (pulumi.Input refers to ``'Output'`` by name)."""
    if spec not in _HINTS:
        import sys

        namespace = {**vars(pulumi.output), **vars(sys.modules[spec.__module__])}
        _HINTS[spec] = typing.get_type_hints(spec, globalns=namespace, include_extras=True)
    return _HINTS[spec]


def _strip_required(annotation: Any) -> Any:
    while typing.get_origin(annotation) in (Required, NotRequired):
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_output(value: Any) -> bool:
    return isinstance(value, pulumi.Output) or inspect.isawaitable(value)


def _is_input(annotation: Any) -> bool:
    """``pulumi.Input[T]`` is ``Union[T, Awaitable[T], Output[T]]``."""
    return typing.get_origin(annotation) is Union and any(
        a is pulumi.Output or typing.get_origin(a) is pulumi.Output for a in typing.get_args(annotation))


def _check_value(value: Any, annotation: Any, where: str, problems: List[str]) -> None:  # noqa: C901
    annotation = _strip_required(annotation)
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return
    if origin is Annotated:
        _check_value(value, typing.get_args(annotation)[0], where, problems)
        return
    if _is_input(annotation):
        if _is_output(value):
            return
        plain = [a for a in typing.get_args(annotation)
                 if not (a is pulumi.Output or typing.get_origin(a) in (pulumi.Output, collections.abc.Awaitable))]
        _check_value(value, plain[0] if len(plain) == 1 else Union[tuple(plain)], where, problems)
        return
    if annotation is pulumi.Output or origin is pulumi.Output:
        # an Output and only an Output (e.g. a secret read with require_secret)
        if not _is_output(value):
            problems.append(f"{where}: must be a pulumi.Output, got {_shown(value)}")
        return
    if _is_output(value):
        problems.append(f"{where}: must be a plain value here (it is checked before anything is deployed), "
                        "got a pulumi.Output")
        return
    if origin is Union:
        members = typing.get_args(annotation)
        if value is None and type(None) in members:
            return
        for member in members:
            trial: List[str] = []
            _check_value(value, member, where, trial)
            if not trial:
                return
        problems.append(f"{where}: must be {_describe(annotation)}, got {_shown(value)}")
        return
    if origin is Literal:
        if value not in typing.get_args(annotation):
            problems.append(f"{where}: must be one of {', '.join(map(repr, typing.get_args(annotation)))}, "
                            f"got {_shown(value)}")
        return
    if is_typeddict(annotation):
        _check_typed_dict(value, annotation, where, problems)
        return
    if origin in (list, List, collections.abc.Sequence, tuple):
        if not isinstance(value, (list, tuple)):
            problems.append(f"{where}: must be a list, got {_shown(value)}")
            return
        args = typing.get_args(annotation)
        for i, item in enumerate(value):
            if args:
                _check_value(item, args[0], f"{where}[{i}]", problems)
        return
    if origin in (dict, Dict, collections.abc.Mapping):
        if not isinstance(value, Mapping):
            problems.append(f"{where}: must be a mapping, got {_shown(value)}")
            return
        key_type, value_type = (typing.get_args(annotation) or (Any, Any))
        for k, v in value.items():
            _check_value(k, key_type, f"{where} key", problems)
            _check_value(v, value_type, f"{where}[{k!r}]", problems)
        return
    if annotation is bool:
        if not isinstance(value, bool):
            problems.append(f"{where}: must be true or false, got {_shown(value)}")
        return
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{where}: must be a whole number, got {_shown(value)}")
        return
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            problems.append(f"{where}: must be a finite number, got {_shown(value)}")
        return
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        # other languages send an enum's value (the schema lists them); Python may pass the member
        allowed = [m.value for m in annotation]
        if value not in allowed and not isinstance(value, annotation):
            problems.append(f"{where}: must be one of {', '.join(map(repr, allowed))}, got {_shown(value)}")
        return
    if isinstance(annotation, type):
        if not isinstance(value, annotation):
            problems.append(f"{where}: must be {_describe(annotation)}, got {_shown(value)}")
        return
    # an annotation this checker does not know: accept rather than guess


def _describe(annotation: Any) -> str:
    if isinstance(annotation, type):
        return {str: "text", bool: "true or false", int: "a whole number", float: "a number"}.get(
            annotation, annotation.__name__)
    return str(annotation).replace("typing.", "")


def _shown(value: Any) -> str:
    text = repr(value)
    return (text if len(text) <= 60 else text[:57] + "...") + f" ({type(value).__name__})"
