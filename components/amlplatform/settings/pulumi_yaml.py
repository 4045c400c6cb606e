"""Stack files read the way the Pulumi CLI reads them, and the config it hands to a program.

Sources (pulumi/pulumi, snapshot 1b5949891b of 2026-08-21; the CLI 3.272.0 we pin has the same
loading code - ``git log`` shows no change to these files since 3.256):

- ``sdk/go/common/encoding/marshal.go:111`` parses stack files with ``gopkg.in/yaml.v3``
  (``yaml.Unmarshal`` into ``any``). yaml.v3's resolver (``resolve.go``) follows YAML 1.2's core
  schema: only ``true``/``True``/``TRUE``/``false``/``False``/``FALSE`` are booleans, so ``on``,
  ``off``, ``yes``, ``no``, ``y``, ``n`` stay strings; ``~``, ``null``, ``Null``, ``NULL`` and an
  empty value are null; integers are parsed with Go's ``strconv.ParseInt(s, 0, 64)`` after
  removing ``_`` (so ``0x1f``, ``0o17``, ``0b11`` and the YAML 1.1 octal ``017`` are numbers);
  ``.inf``/``.nan`` are floats; a timestamp-looking scalar decoded into ``any`` stays the
  string it was (decode.go, "for backward compatibility reasons we set it as a string").
  yaml.v3 refuses a mapping key given twice (``mapping key "x" already defined at line N``) and
  a document with excessive aliasing.
- ``sdk/go/common/workspace/loaders.go:173`` ``LoadProjectStackBytes``: top-level keys must be
  strings (``SimplifyMarshalledProject``, project.go:520 "expected only string keys"); a config
  key without a namespace is put in the project's namespace (``stackConfigNamespacedWithProject``,
  loaders.go:61); a null top-level value is read as ``""`` with a warning (``checkForEmptyConfig``,
  loaders.go:379).
- ``sdk/go/common/resource/config/key.go:44`` ``ParseKey``: a key is ``<namespace>:<name>`` (or
  the old ``<namespace>:config:<name>``); anything else is an error.
- ``sdk/go/common/resource/config/object.go``: a value ``{secure: <string>}`` (exactly that one
  key, a string) is a secret (``isSecureValue``, :541); non-string keys of nested mappings are
  turned into text with Go's ``%v`` (``unmarshalObject``, ``map[any]any``); a top-level scalar
  reaches the program as its text (``MarshalString``: strings as they are, numbers and booleans as
  JSON), a mapping or list as JSON, and a key with a secret anywhere inside is secret as a whole.
  JSON cannot hold ``±inf``/``nan``, so the CLI refuses them (``json: unsupported value``).
- ``sdk/python/cmd/pulumi-language-python/main.go:1071``: the program gets the config as the
  JSON object ``PULUMI_CONFIG`` (key -> text) and the secret keys as the JSON list
  ``PULUMI_CONFIG_SECRET_KEYS``. The Python SDK does not read the latter by itself
  (``pulumi.runtime.config.get_config_secret_keys_env``): the program must.

Beyond Pulumi, a stack file larger than :data:`MAX_BYTES` or one whose aliases expand past
:data:`MAX_NODES` values is refused before it is parsed further (a YAML alias bomb would
otherwise take forever to walk).

Pure: no Pulumi imports.
"""

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from amlplatform.errors import UserError

MAX_BYTES = 1 << 20  # 1 MiB: the largest shipped stack file is a few KiB
MAX_NODES = 100_000  # values once aliases are expanded

_BaseParser = getattr(yaml, "CParser", None)


# ----------------------------------------------------------------- yaml.v3's resolver (resolve.go)

_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INF = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}
_NEG_INF = {"-.inf", "-.Inf", "-.INF"}
_NAN = {".nan", ".NaN", ".NAN"}
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")  # resolve.go yamlStyleFloat
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")


def _go_parse_int(text: str) -> Optional[int]:
    """Go's ``strconv.ParseInt(s, 0, 64)``/``ParseUint`` (base prefixes, a leading 0 is octal)."""
    if not _GO_INT.match(text):
        return None
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    low = body.lower()
    if low.startswith("0x"):
        value = int(body[2:], 16)
    elif low.startswith("0o"):
        value = int(body[2:], 8)
    elif low.startswith("0b"):
        value = int(body[2:], 2)
    elif len(body) > 1 and body.startswith("0"):
        value = int(body[1:], 8)
    else:
        value = int(body)
    value *= sign
    if -(1 << 63) <= value < (1 << 64):  # ParseInt, else ParseUint
        return value
    return None


def resolve_plain(text: str) -> Any:
    """The value yaml.v3 gives an untagged plain scalar decoded into ``any``."""
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text in _INF:
        return math.inf
    if text in _NEG_INF:
        return -math.inf
    if text in _NAN:
        return math.nan
    if text and (text[0].isdigit() or text[0] in "-+."):
        plain = text.replace("_", "")
        number = _go_parse_int(plain)
        if number is not None:
            return number
        if _YAML_FLOAT.match(plain):
            return float(plain)
    return text  # timestamps included: decoded into any they stay strings (decode.go)


class GoKey(str):
    """A mapping key that was not text in the YAML (a number, boolean or null), as Go's ``%v``
    writes it; ``original`` is the decoded value."""

    original: Any

    def __new__(cls, text: str, original: Any) -> "GoKey":
        obj = super().__new__(cls, text)
        obj.original = original
        return obj


class _Resolver(yaml.resolver.BaseResolver):
    """Every plain scalar is resolved by :func:`resolve_plain` (tag ``!v3``); quoted ones are strings."""

    def resolve(self, kind, value, implicit):  # noqa: D401
        if kind is ScalarNode and implicit[0]:
            return "!v3"
        return super().resolve(kind, value, implicit)


class _Constructor(yaml.constructor.SafeConstructor):
    def construct_v3(self, node: ScalarNode) -> Any:
        return resolve_plain(node.value)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> Dict[Any, Any]:
        # yaml.v3 decode.go: "mapping key %#v already defined at line %d" (merged keys may repeat)
        seen: Dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (key_node.tag == "!v3" and key_node.value == "<<"):
                continue
            if not isinstance(key_node, ScalarNode):
                raise ConstructorError(None, None, "a mapping key must be a single value, not a "
                                       f"{'list' if isinstance(key_node, SequenceNode) else 'mapping'}",
                                       key_node.start_mark)
            key = self.construct_object(key_node)
            hashable = (type(key).__name__, key if not isinstance(key, float) or key == key else "nan")
            if hashable in seen:
                raise ConstructorError(None, None, f"mapping key {key_node.value!r} already defined at line "
                                       f"{seen[hashable] + 1}", key_node.start_mark)
            seen[hashable] = key_node.start_mark.line
        self.flatten_mapping(node)
        out: Dict[str, Any] = {}
        raw: Dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                # Go keeps 1 and true apart (map[any]any) and the config layer turns them into text
                # with %v (object.go); Python would merge 1 and True, so they become text here
                key = GoKey(_go_text(key), key)
            if key in raw and type(raw[key]) is not type(getattr(key, "original", key)):
                raise ConstructorError(None, None, f"the keys {raw[key]!r} and {getattr(key, 'original', key)!r} "
                                       "are the same key once read as text", key_node.start_mark)
            raw[key] = getattr(key, "original", key)
            out.pop(key, None)
            out[key] = self.construct_object(value_node, deep=deep)
        return out

    def construct_yaml_map(self, node: MappingNode):  # type: ignore[override]
        data: Dict[str, Any] = {}
        yield data
        data.update(self.construct_mapping(node))

    def flatten_mapping(self, node: MappingNode) -> None:
        # merge keys resolve to "!v3" here; give them the merge tag SafeConstructor expects
        for key_node, _ in node.value:
            if key_node.tag == "!v3" and key_node.value == "<<":
                key_node.tag = "tag:yaml.org,2002:merge"
        super().flatten_mapping(node)

    def construct_yaml_timestamp(self, node: ScalarNode) -> str:
        return node.value  # an explicit !!timestamp decoded into any: its text (decode.go)


_Constructor.add_constructor("!v3", _Constructor.construct_v3)
_Constructor.add_constructor("tag:yaml.org,2002:map", _Constructor.construct_yaml_map)
# yaml.v3 has no sets, ordered maps or pairs: they decode as the mapping or list they are written as
_Constructor.add_constructor("tag:yaml.org,2002:set", _Constructor.construct_yaml_map)
_Constructor.add_constructor("tag:yaml.org,2002:omap", _Constructor.construct_yaml_seq)
_Constructor.add_constructor("tag:yaml.org,2002:pairs", _Constructor.construct_yaml_seq)
_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)


def _expanded_size(root: Node, limit: int) -> int:
    """Number of values ``root`` stands for once every alias is expanded; stops past ``limit``."""
    sizes: Dict[int, int] = {}
    busy: set = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in busy:
            raise UserError("the YAML refers to itself through an alias (a recursive anchor)")
        busy.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            for item in node.value:
                total += size(item)
                if total > limit:
                    break
        elif isinstance(node, MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > limit:
                    break
        busy.discard(key)
        sizes[key] = total
        return total

    return size(root)


if _BaseParser is not None:
    class _Loader(_BaseParser, _Constructor, _Resolver):  # type: ignore[misc,valid-type]
        def __init__(self, stream: str) -> None:
            _BaseParser.__init__(self, stream)
            _Constructor.__init__(self)
            _Resolver.__init__(self)
else:  # pragma: no cover - PyYAML without libyaml
    class _Loader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser,  # type: ignore[no-redef]
                  yaml.composer.Composer, _Constructor, _Resolver):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _Constructor.__init__(self)
            _Resolver.__init__(self)


def yaml_error(source: str, exc: yaml.YAMLError) -> str:
    """``source is not valid YAML at line L, column C: problem (context at line N)``: the file and the
    line, as job files say it, not PyYAML's ``in "<unicode string>"``."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    if mark is None or not problem:
        return f"{source} is not valid YAML: {str(exc).replace(chr(10), ' ')}"
    where = f" at line {mark.line + 1}, column {mark.column + 1}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context != problem:
        problem += f" ({context}" + (f" at line {context_mark.line + 1}" if context_mark is not None else "") + ")"
    return f"{source} is not valid YAML{where}: {problem}"


def parse(text: str, source: str = "the YAML") -> Any:
    """Parse one YAML document as yaml.v3 decodes it into ``any``; :class:`UserError` on bad input."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise UserError(f"{source} is larger than {MAX_BYTES // 1024} KiB: refusing to read it (a stack file "
                        "is a few KiB)")
    if text.startswith("\ufeff"):
        text = text[1:]  # readFileStripUTF8BOM
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, MAX_NODES) > MAX_NODES:
            raise UserError(f"{source}: the document expands to more than {MAX_NODES} values through aliases "
                            "(a YAML alias bomb?): refusing to read it")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise UserError(yaml_error(source, exc)) from None
    except RecursionError:
        raise UserError(f"{source}: the YAML is nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


# --------------------------------------------------------------------------- the config layout

def _go_text(value: Any) -> str:
    """Go's ``%v`` of a decoded YAML scalar (non-string keys of nested mappings, object.go)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if math.isnan(value):
            return "NaN"
        return format(value, "g") if value != int(value) or abs(value) >= 1e21 else str(int(value))
    return str(value)


def go_json_number(value: Any) -> str:
    """A number as Go's ``encoding/json`` writes it (1.0 -> ``1``, 1e21 -> ``1e+21``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isinf(value) or math.isnan(value):
        raise ValueError(f"json: unsupported value: {value}")
    if value == 0:
        return "0"
    magnitude = abs(value)
    if 1e-6 <= magnitude < 1e21:
        text = format(Decimal(repr(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa, _, exponent = repr(value).partition("e")
    exp = int(exponent)
    return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp)}"


@dataclass
class StackConfig:
    """One stack file's ``config:`` as the CLI holds it.

    ``values`` maps ``namespace:name`` to the decoded value; a secret (``{secure: ...}``) is
    replaced by ``secret_stand_in`` (offline nothing can decrypt it). ``secret_keys`` are the keys
    with a secret anywhere inside; ``secret_paths`` the exact places of the secrets, as
    ``(key, path)`` with ``path`` a tuple of mapping keys and list indexes.
    """

    values: Dict[str, Any]
    secret_keys: List[str] = field(default_factory=list)
    secret_paths: List[Tuple[str, Tuple[Any, ...]]] = field(default_factory=list)
    empty_keys: List[str] = field(default_factory=list)


SECRET_STAND_IN = "[secret]"
# the fields of a stack file (workspace/project.go:1229, type ProjectStack)
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")


def _value(value: Any, where: str, path: Tuple[Any, ...], secrets: List[Tuple[Any, ...]],
           stand_in: str) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("secure"), str):
            secrets.append(path)
            return stand_in
        out: Dict[str, Any] = {}
        for k, v in value.items():
            text = str(k) if isinstance(k, str) else _go_text(k)
            if text in out:
                raise UserError(f"{where}: the keys {text!r} and {k!r} are the same key once read as text")
            out[text] = _value(v, f"{where}.{text}", path + (text,), secrets, stand_in)
        return out
    if isinstance(value, list):
        return [_value(v, f"{where}[{i}]", path + (i,), secrets, stand_in) for i, v in enumerate(value)]
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        raise UserError(f"{where}: {_go_text(value)} is not a value Pulumi config can hold (JSON has no "
                        "infinity or NaN)")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")  # !!binary decoded into any: its bytes as text
    if value is not None and not isinstance(value, (str, bool, int, float)):
        raise UserError(f"{where}: a {type(value).__name__} is not a value Pulumi config can hold")
    return value


def stack_config(doc: Any, *, source: str, project: Optional[str] = None,
                 secret_stand_in: str = SECRET_STAND_IN) -> StackConfig:
    """The ``config:`` of a parsed stack file (``doc``), laid out as the CLI lays it out."""
    if doc is None:
        return StackConfig({})
    if not isinstance(doc, dict):
        raise UserError(f"{source}: expected a mapping (config:, secretsprovider:, ...), got {_kind(doc)}")
    bad = [k for k in doc if isinstance(k, GoKey)]
    if bad:
        raise UserError(f"{source}: expected only string keys, got {str(bad[0])!r}")
    unknown = [k for k in doc if k not in STACK_FILE_KEYS]
    if unknown:
        # the CLI ignores them (yaml.v3 without KnownFields); a misspelt 'config:' would silently
        # drop every setting, so here they are errors
        import difflib

        near = difflib.get_close_matches(unknown[0], STACK_FILE_KEYS, n=1, cutoff=0.5)
        raise UserError(f"{source}: {unknown[0]!r} is not a stack file key"
                        + (f" (did you mean {near[0]!r}?)" if near else f" (known: {', '.join(STACK_FILE_KEYS)})"))
    raw = doc.get("config")
    if raw is None:
        return StackConfig({})
    if not isinstance(raw, dict):
        raise UserError(f"{source}: 'config' must be a mapping of settings, got {_kind(raw)}")
    out = StackConfig({})
    for key, value in raw.items():
        if isinstance(key, GoKey):
            raise UserError(f"{source}: config key {str(key)!r} is not text (keys are '<namespace>:<name>')")
        if ":" not in key and project:
            key = f"{project}:{key}"  # stackConfigNamespacedWithProject
        parsed = parse_key(key)
        if parsed is None:
            raise UserError(f"{source}: could not parse {key!r} as a configuration key (configuration keys "
                            "should be of the form `<namespace>:<name>`)")
        key = f"{parsed[0]}:{parsed[1]}"
        if key in out.values:
            raise UserError(f"{source}: config key {key!r} is given twice")
        if value is None:
            out.empty_keys.append(key)
            value = ""  # checkForEmptyConfig: "treated as an empty string"
        secrets: List[Tuple[Any, ...]] = []
        out.values[key] = _value(value, key, (), secrets, secret_stand_in)
        if secrets:
            out.secret_keys.append(key)
            out.secret_paths.extend((key, p) for p in secrets)
    return out


def parse_key(key: str) -> Optional[Tuple[str, str]]:
    """``ParseKey`` (key.go:44): ``ns:name`` or the old ``ns:config:name``; ``None`` otherwise."""
    parts = key.split(":")
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 3 and parts[1] == "config" and parts[0] and parts[2]:
        return parts[0], parts[2]
    return None


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "a boolean", int: "a number",
            float: "a number", type(None): "nothing"}.get(type(value), type(value).__name__)


def read_stack_config(path: Path, *, project: Optional[str] = None,
                      secret_stand_in: str = SECRET_STAND_IN) -> StackConfig:
    """Read ``Pulumi.<stack>.yaml`` at ``path``; :class:`UserError` on anything the CLI would refuse."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise UserError(f"{path} is larger than {MAX_BYTES // 1024} KiB: refusing to read it (a stack file "
                            "is a few KiB)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"no stack file {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not a stack file") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return stack_config(parse(text, str(path)), source=str(path), project=project,
                        secret_stand_in=secret_stand_in)


def program_config(values: Dict[str, Any]) -> Dict[str, str]:
    """``PULUMI_CONFIG`` as the CLI builds it: every value as text (``MarshalString``, object.go)."""
    out: Dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, str):
            out[key] = value
        elif value is None:
            out[key] = ""  # checkForEmptyConfig (loaders.go:379)
        elif isinstance(value, (bool, int, float)):
            out[key] = go_json_number(value)
        else:
            out[key] = json.dumps(_go_numbers(value), separators=(",", ":"), sort_keys=True,
                                  ensure_ascii=False, allow_nan=False)
    return out


def _go_numbers(value: Any) -> Any:
    """Whole floats as integers, as Go's JSON writes them (``1.0`` reaches the program as ``1``)."""
    if isinstance(value, dict):
        return {k: _go_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


# ----------------------------------------------------------------- project config (Pulumi.yaml)

_TYPES = ("string", "integer", "boolean", "array", "object")


def _project_config_types(doc: Dict[str, Any], source: str) -> Dict[str, Dict[str, Any]]:
    """``config:`` of Pulumi.yaml as ProjectConfigType entries (project.go:282), the shorthand
    rewritten like ``RewriteShorthandConfigValues`` (project.go:486): a plain value or a list is the
    default of a project key, the value of any other namespace's key."""
    project = doc["name"]
    raw = doc.get("config")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{source}: 'config' must be a mapping of configuration keys")
    out: Dict[str, Dict[str, Any]] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or isinstance(key, GoKey):
            raise UserError(f"{source}: config key {str(key)!r} is not text")
        own = ":" not in key or key.startswith(project + ":")
        if isinstance(value, (str, int, bool, list)) and not isinstance(value, float):
            out[key] = {"default": value} if own else {"value": value}
            continue
        if not isinstance(value, dict):
            raise UserError(f"{source}: config.{key} must be a value or a mapping (type, default, ...)")
        unknown = sorted(set(value) - {"type", "description", "items", "default", "value", "secret"})
        if unknown:
            raise UserError(f"{source}: config.{key}.{unknown[0]} is not a project config attribute "
                            "(type, description, items, default, value, secret)")
        if "default" in value and "value" in value:
            raise UserError(f"{source}: project config '{key}' cannot have both a 'default' and 'value' attribute")
        if value.get("type") is not None and value["type"] not in _TYPES:
            raise UserError(f"{source}: config.{key}.type must be one of {', '.join(_TYPES)}")
        out[key] = value
    return out


def _valid_for(type_name: str, items: Any, value: Any) -> bool:
    """``ValidateConfigValue`` (project.go:771)."""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        return isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value) is not None
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_name == "object":
        return isinstance(value, dict)
    if not isinstance(value, list) or not isinstance(items, dict):
        return False
    return all(_valid_for(items.get("type"), items.get("items"), item) for item in value)


def apply_project_config(doc: Dict[str, Any], read: StackConfig, *, stack: str, source: str) -> StackConfig:
    """Merge Pulumi.yaml's ``config:`` into a stack's config as the CLI does (pkg/workspace/config.go
    ``mergeConfig``): a key the stack lacks takes the project's default or value; a project key with
    neither is missing (an error); an explicitly typed key must have that type, and a ``secret: true``
    key must be a secret in the stack file."""
    project = doc["name"]
    types = _project_config_types(doc, source)
    missing: List[str] = []
    for raw_key, spec in sorted(types.items()):
        key = raw_key if ":" in raw_key else f"{project}:{raw_key}"
        if parse_key(key) is None:
            raise UserError(f"{source}: could not parse {raw_key!r} as a configuration key")
        if key not in read.values:
            if "default" in spec or "value" in spec:
                read.values[key] = _value(spec.get("default", spec.get("value")), key, (), [], SECRET_STAND_IN)
            elif key.split(":")[0] == project:
                missing.append(raw_key)
    if missing:
        names = " ".join(f"'{k}'" for k in missing)
        raise UserError(f"Stack '{stack}' is missing configuration value{'s' if len(missing) > 1 else ''} {names} "
                        f"(declared in {source} without a default)")
    for raw_key, spec in sorted(types.items()):
        key = raw_key if ":" in raw_key else f"{project}:{raw_key}"
        if spec.get("secret") and key not in read.secret_keys:
            raise UserError(f"Stack '{stack}' with configuration key '{raw_key}' must be encrypted as it's secret "
                            f"(`pulumi config set --secret {key} ...`)")
        if spec.get("type") is not None and key in read.values:
            value = read.values[key]
            content = value if isinstance(value, (dict, list)) else program_config({key: value})[key]
            if not _valid_for(spec["type"], spec.get("items"), content):
                raise UserError(f"Stack '{stack}' with configuration key '{raw_key}' must be of type "
                                f"'{spec['type']}'")
    return read
