"""The whole of one stack's settings, and where they are read from.

A stack file looks like::

    config:
      amlplatform:location: westeurope
      amlplatform:naming: {workload: fraud, environment: dev}
      amlplatform:workspace: {public_network_access: Enabled}

Every key in the ``amlplatform:`` namespace is a field of :class:`StackSettings`; an unknown
key is an error. Reading and validating happen before any resource is declared, and every bad
field is reported at once.
"""

import difflib
import json
import math
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Tuple, Union, get_args, get_origin

from pydantic import TypeAdapter, ValidationError
from typing_extensions import Annotated

from amlplatform.errors import UserError, closest, redact_problem, validation_problems
from amlplatform.settings.pulumi_yaml import SECRET_STAND_IN, parse, program_config, read_stack_config
from amlplatform.spec.access import STORAGE_DATA_ROLE_GUIDS, AccessSettings  # noqa: F401
from amlplatform.spec.compute import (  # noqa: F401
    ClusterSettings, EnvironmentSettings, InstancesSettings, KubernetesSettings, repeated_compute_names,
)
from amlplatform.spec.network import NetworkSettings, stack_problems as network_problems  # noqa: F401
from amlplatform.spec.datastores import DatastoreSettings, datastores_problems  # noqa: F401
from amlplatform.spec.endpoints import BatchEndpointSettings, OnlineEndpointSettings, serving_problems  # noqa: F401
from amlplatform.spec.core import (  # noqa: F401
    DiagnosticsSettings, Guid, KeyVaultSettings, Location, Model, MonitoringSettings, NamingSettings,
    PolicyException, RegistrySettings, ResourceGroupSettings, RoleAssignmentSettings,
    StorageSettings, Tags, WorkspaceSettings,
)
from amlplatform.spec.platform import StackSettings, _no_repeats, _scope  # noqa: F401
from amlplatform.spec.protection import EncryptionSettings, LocksSettings  # noqa: F401

NAMESPACE = "amlplatform"
SECRET_PLACEHOLDER = SECRET_STAND_IN


def load_yaml(text: str, source: str = "the YAML") -> Any:
    """Parse YAML the way the Pulumi CLI does (:class:`UserError` on bad input)."""
    return parse(text, source)


def _closest(word: str, choices: Iterable[str]) -> str:
    return closest(word, choices)


def _field_kind(annotation: Any) -> str:
    """How Pulumi's config hands a program this field's value: 'str', 'bool', 'int', 'float' (a
    top-level scalar is text the program parses with get_bool/get_int/get_float) or 'object'
    (JSON, read with get_object)."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin is Union:
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return "object"
            annotation = members[0]
        else:
            break
    if get_origin(annotation) is Literal:
        values = get_args(annotation)
        return "str" if all(isinstance(v, str) for v in values) else "object"
    if annotation is str:
        return "str"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    return "object"


def _decode(kind: str, text: str) -> Any:
    """``text`` as pulumi.Config reads it for ``kind`` (sdk/python/lib/pulumi/config.py: _get_bool
    accepts true/True/false/False, _get_int is int(), _get_float float(), _get_object json.loads)."""
    if kind == "str":
        return text
    if kind == "bool":
        if text in ("true", "True"):
            return True
        if text in ("false", "False"):
            return False
        raise ValueError(f"must be true or false, got {text!r}")
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"must be a whole number, got {text!r}") from None
    if kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {text!r}")
        return value
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ValueError("must be a mapping or a list (Pulumi passes structured values as JSON), "
                         f"got {shown!r}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a value")


def _namespace_problem(namespace: str) -> Optional[str]:
    if namespace == NAMESPACE:
        return None
    lowered = namespace.lower().replace("-", "").replace("_", "")
    if lowered == NAMESPACE or difflib.SequenceMatcher(None, lowered, NAMESPACE).ratio() >= 0.8:
        return f"namespace {namespace!r} is not {NAMESPACE!r}: a misspelling?"
    return None


def check_namespaces(config: Mapping[str, Any], *, source: str = "stack config") -> None:
    """Only the namespaces that look like a misspelt ``amlplatform`` (for programs of their own)."""
    problems = []
    for full_key in config:
        namespace, _, key = full_key.partition(":")
        problem = _namespace_problem(namespace)
        if problem:
            problems.append(f"{full_key}: {problem}")
    if problems:
        raise UserError(f"invalid settings in {source}:", problems)


# The one amlplatform key a program of its own may have: the exceptions `amlplatform scan` honours.
PROGRAM_KEYS = ("policy_exceptions",)


def uses_stack_settings(config: Mapping[str, Any]) -> bool:
    """True when the config is for the amlplatform program: it has amlplatform keys other than
    the ones a program of its own may have (:data:`PROGRAM_KEYS`)."""
    prefix = NAMESPACE + ":"
    return any(k.startswith(prefix) and k[len(prefix):] not in PROGRAM_KEYS for k in config)


def policy_exceptions_from_strings(config: Mapping[str, str], *, source: str = "stack config") -> List[PolicyException]:
    """``amlplatform:policy_exceptions`` alone (for a program of its own); :class:`UserError` when bad."""
    text = config.get(f"{NAMESPACE}:policy_exceptions")
    if text is None:
        return []
    try:
        data = _decode("object", text)
    except ValueError as exc:
        raise UserError(f"invalid settings in {source}:", [f"policy_exceptions: {exc}"]) from None
    try:
        return _EXCEPTIONS.validate_python(data, strict=True)
    except ValidationError as exc:
        raise UserError(f"invalid settings in {source}:", validation_problems(exc, prefix="policy_exceptions",
                                                                            model=None)) from None


_KIND_TYPES = {"str": (str,), "bool": (bool,), "int": (int,), "float": (int, float), "object": (dict, list)}
_KIND_WORDS = {"str": "text", "bool": "true or false", "int": "a whole number", "float": "a number",
               "object": "a mapping or a list"}


def typed_problems(values: Mapping[str, Any]) -> List[str]:
    """Top-level values of a stack file whose YAML type does not fit the setting.

    The program cannot tell ``location: true`` from ``location: "true"`` (both reach it as the text
    ``true``), but the stack file can: offline, a top-level value must already have the setting's
    type (quote a text that looks like a number or a boolean)."""
    out: List[str] = []
    fields = StackSettings.model_fields
    for full_key, value in values.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE or key not in fields or value is None:
            continue
        kind = _field_kind(fields[key].annotation)
        ok = isinstance(value, _KIND_TYPES[kind]) and not (kind in ("int", "float") and isinstance(value, bool))
        if not ok:
            out.append(f"{key}: must be {_KIND_WORDS[kind]}, got {value!r} ({_yaml_kind(value)})"
                       + (" - quote it to mean the text" if kind == "str" else ""))
    return out


def _yaml_kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "text", dict: "a mapping",
            list: "a list"}.get(type(value), type(value).__name__)


def settings_from_strings(config: Mapping[str, str], *, source: str = "stack config",
                          secret_paths: Iterable[str] = (), typed: Optional[Mapping[str, Any]] = None,
                          secret_keys: Iterable[str] = (), secrets: Iterable[str] = ()) -> StackSettings:
    """Validate the config as the Pulumi CLI hands it to a program (``PULUMI_CONFIG``: key -> text).

    Keys in the ``amlplatform`` namespace must each be a setting; a namespace that looks like a
    misspelt ``amlplatform`` is an error; every other namespace passes untouched. Each value is
    read the way pulumi.Config reads it for the setting's type (:func:`_decode`), then checked
    strictly (``max_nodes: true`` is not 1). Raises :class:`UserError` listing every bad field.

    Secrets are never printed: a problem of a field inside one of ``secret_keys`` (full keys,
    ``amlplatform:role_assignments``) says ``got [secret]``, and every text of ``secrets`` is
    redacted wherever a message would quote it (errors.redact_problem).
    """
    problems: List[str] = typed_problems(typed) if typed is not None else []
    typed_bad = {p.split(":")[0] for p in problems}
    data: Dict[str, Any] = {}
    fields = StackSettings.model_fields
    dropped: List[str] = []  # settings refused for their spelling: what they would have set is unknown
    for full_key, text in config.items():
        if full_key.partition(":")[0] == NAMESPACE and full_key.partition(":")[2] in typed_bad:
            continue
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            problem = _namespace_problem(namespace)
            if problem:
                problems.append(f"{full_key}: {problem}" + (f" (did you mean '{NAMESPACE}:{key}'?)"
                                                             if key in fields else ""))
                if key in fields:
                    dropped.append(key)
            continue
        if key not in fields:
            hint = _closest(key, fields)
            problems.append(f"{full_key}: is not a known setting{hint}")
            match = re.match(r" \(did you mean '([^']+)'\?\)$", hint)
            if match and match.group(1) in fields:
                dropped.append(match.group(1))
            continue
        if not isinstance(text, str):
            problems.append(f"{key}: the config value must be text, got {type(text).__name__}")
            continue
        try:
            data[key] = _decode(_field_kind(fields[key].annotation), text)
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    if "location" not in data and "location" not in {p.split(":")[0] for p in problems}:
        location = config.get("azure-native:location")
        if isinstance(location, str) and location:
            data["location"] = location
    try:
        settings = StackSettings.model_validate(data, strict=True)
        if not problems:
            settings._secret_texts = tuple(secrets) + tuple(_stand_in_texts(data, secret_keys, secret_paths))
            return settings
    except ValidationError as exc:
        bad_keys = {p.split(":")[0] for p in problems}
        problems += [p + " (amlplatform:location or azure-native:location)" if p == "location: is required"
                     else p for p in validation_problems(exc, model=StackSettings)
                     if not (p.endswith(": is required") and p.split(":")[0] in bad_keys)
                     and not _follows_from(p, dropped)]
    stand_ins = set(secret_paths)
    secret_fields = [k.partition(":")[2] for k in secret_keys if k.partition(":")[0] == NAMESPACE]
    secret_fields += [re.split(r"[.\[]", p, maxsplit=1)[0] for p in stand_ins]
    texts = list(secrets)
    problems = [redact_problem(p, secret_fields, texts)
                + (" (a secret: offline it reads as a stand-in, so only its shape can be checked)"
                   if p.split(":")[0] in stand_ins else "") for p in problems]
    raise UserError(f"invalid settings in {source} ({len(problems)} problem"
                    f"{'s' if len(problems) != 1 else ''}):", problems)


def _stand_in_texts(data: Mapping[str, Any], secret_keys: Iterable[str], secret_paths: Iterable[str]) -> List[str]:
    """Offline, the texts of the secret keys (with their stand-ins): what a real run's program
    finds secret (settings_from_pulumi), so names come out the same."""
    keys = {k.partition(":")[2] for k in secret_keys if k.partition(":")[0] == NAMESPACE}
    keys |= {re.split(r"[.\[]", p, maxsplit=1)[0] for p in secret_paths}
    return secret_texts({k: v for k, v in data.items() if k in keys})


def _follows_from(problem: str, dropped: Iterable[str]) -> bool:
    """True when ``problem`` names a setting that was refused for its spelling: it was checked against
    that setting's default, so it says nothing until the key is spelt right."""
    return any(re.search(rf"(?<![\w.]){re.escape(name)}(?:[.:\[]|$)", problem) for name in dropped)


def settings_from_config(config: Mapping[str, Any], *, source: str = "stack config") -> StackSettings:
    """Validate ``config`` (``namespace:key`` -> value as decoded from a stack file) as stack
    settings: the values are first turned into the text the Pulumi CLI passes to the program,
    so offline and ``pulumi up`` read them the same way. Raises :class:`UserError`."""
    try:
        strings = program_config(dict(config))
    except ValueError as exc:
        raise UserError(f"invalid settings in {source}: {exc}") from None
    return settings_from_strings(strings, source=source, typed=config)


def read_stack_file(path: Path, project: Optional[str] = NAMESPACE) -> Tuple[Dict[str, Any], List[str]]:
    """The ``config:`` map of a ``Pulumi.<stack>.yaml`` file and the keys that are secrets.

    Read as the Pulumi CLI reads it (:mod:`amlplatform.settings.pulumi_yaml`). Secrets
    (``{secure: ...}``) cannot be decrypted without the Pulumi CLI; offline they read as a
    placeholder, and a key with a secret anywhere inside is secret as a whole.
    """
    read = read_stack_config(path, project=project)
    if read.empty_keys:
        raise UserError(f"{path}: no value for {', '.join(read.empty_keys)} (Pulumi reads an empty key as "
                        "the text \"\"): give it a value or remove the line")
    return read.values, read.secret_keys


def load_stack_settings(path: Path, project: Optional[str] = NAMESPACE) -> StackSettings:
    config, _ = read_stack_file(path, project)
    return settings_from_config(config, source=str(path))


def settings_from_pulumi() -> Tuple[StackSettings, List[str]]:
    """The running program's settings and the plain text of its secret values.

    The CLI passes the config as ``PULUMI_CONFIG`` (key -> text) and the secret keys as
    ``PULUMI_CONFIG_SECRET_KEYS``; the Python SDK reads the first but not the second, so the
    program reads both (offline, the mock engine's ``set_all_config`` provides them instead).
    """
    from pulumi.runtime import config as runtime_config

    raw: Dict[str, Any] = {}
    raw.update(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    secrets = secret_texts({k: v for k, v in raw.items() if k in secret_keys})
    settings = settings_from_strings(raw, source="the stack's configuration", secret_keys=sorted(secret_keys),
                                     secrets=secrets)
    return settings, secrets


def secret_texts(secret_config: Mapping[str, Any]) -> List[str]:
    """Every text a secret key holds: the whole value, and each string inside a structured one.
    A resource input containing one of them is marked secret (see program.mark_secrets)."""
    out: List[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and value and value not in out:
            out.append(value)

    for text in secret_config.values():
        walk(text)
        if isinstance(text, str):
            try:
                walk(json.loads(text))
            except ValueError:
                pass
    return out


def config_for_engine(config: Mapping[str, Any]) -> Dict[str, str]:
    """Config values as the Pulumi CLI hands them to a program (see pulumi_yaml.program_config)."""
    return program_config(dict(config))


def json_schema() -> Dict[str, Any]:
    """JSON Schema of a ``Pulumi.<stack>.yaml`` file, for editors (yaml-language-server)."""
    model = StackSettings.model_json_schema(mode="validation")
    defs = model.pop("$defs", {})
    properties = {f"{NAMESPACE}:{name}": prop for name, prop in model["properties"].items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "amlplatform stack file (stacks/Pulumi.<stack>.yaml)",
        "description": "Generated from amlplatform.settings by `amlplatform schema --write`; do not edit.",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": {
                    **properties,
                    "azure-native:location": {"type": "string"},
                },
                "required": [f"{NAMESPACE}:naming"],
                "patternProperties": {"^(?!amlplatform:).+:.+$": {}},
                "additionalProperties": False,
            },
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "encryptionsalt": {"type": "string"},
            "environment": {},
        },
        "additionalProperties": False,
        "$defs": defs,
    }


_EXCEPTIONS = TypeAdapter(List[PolicyException])

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "stack-config.schema.json"


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
