"""Generators for the invalid-input corpus: stack files derived from the settings' JSON schema, and
command lines. Deterministic (no randomness): the same corpus on every run."""

import copy
import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import jsonschema

from amlplatform.settings.pulumi_yaml import read_stack_config
from amlplatform.settings.stack import json_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json_schema()
DEFS = SCHEMA["$defs"]
CANDIDATES: List[Any] = [12345, True, "some-text", 1.5, [1], {"k": "v"}, -1, None, "", 10 ** 9]


def base_config() -> Dict[str, Any]:
    """The prod stack's config: it sets most settings, so most fields get mutated in place."""
    return read_stack_config(ROOT / "stacks" / "Pulumi.prod.yaml", project="amlplatform").values


def _resolve(schema: Dict[str, Any]) -> Dict[str, Any]:
    while "$ref" in schema:
        schema = {**DEFS[schema["$ref"].split("/")[-1]], **{k: v for k, v in schema.items() if k != "$ref"}}
    if "anyOf" in schema:
        non_null = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if len(non_null) == 1:
            return _resolve(non_null[0])
    return schema


def _invalid(schema: Dict[str, Any], value: Any) -> bool:
    return not jsonschema.Draft202012Validator({**schema, "$defs": DEFS}).is_valid(value)


def _typo(name: str, taken) -> str:
    for cand in (name[:-1] + name[-1] * 2, name[1:] + name[0], name + "s", "x" + name):
        if cand not in taken:
            return cand
    return name + "_unknown"


def _bad_values(schema: Dict[str, Any]) -> Iterator[Tuple[Any, str]]:
    resolved = _resolve(schema)
    if "minimum" in resolved:
        yield resolved["minimum"] - 1, "below minimum"
    if "maximum" in resolved:
        yield resolved["maximum"] + 1, "above maximum"
    if "exclusiveMinimum" in resolved:
        yield resolved["exclusiveMinimum"], "not above exclusive minimum"
    if "enum" in resolved:
        yield "Not-An-Option", "not one of the choices"
    if resolved.get("minLength"):
        yield "", "too short"
    kept = 0
    for cand in CANDIDATES:
        if kept >= 3:
            break
        if _invalid(schema, cand):
            kept += 1
            yield cand, f"wrong type {type(cand).__name__}"


def mutations(value: Any, schema: Dict[str, Any], path: Tuple[Any, ...]) -> Iterator[Tuple[Tuple[Any, ...], Any, str, str]]:
    """(path, bad value or a marker, the name the error must contain, description)."""
    resolved = _resolve(schema)
    if isinstance(value, dict) and "properties" in resolved:
        props = resolved["properties"]
        for name, prop in props.items():
            for bad, why in _bad_values(prop):
                yield path + (name,), bad, name, why
            if name in value:
                yield from mutations(value[name], prop, path + (name,))
        if value:
            first = next(iter(value))
            typo = _typo(first, props)
            yield path + (typo,), value[first], typo, f"unknown key (typo of {first})"
    elif isinstance(value, list) and value and "items" in resolved:
        yield from mutations(value[0], resolved["items"], path + (0,))


def _set(config: Dict[str, Any], path: Tuple[Any, ...], bad: Any) -> Dict[str, Any]:
    out = copy.deepcopy(config)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = bad
    return out


def invalid_stack_configs() -> List[Tuple[str, Dict[str, Any], str]]:
    """(case id, the whole config with one invalid thing, the name the error must contain)."""
    base = base_config()
    cases: List[Tuple[str, Dict[str, Any], str]] = []
    config_schema = SCHEMA["properties"]["config"]["properties"]
    for key, prop in config_schema.items():
        if not key.startswith("amlplatform:"):
            continue
        short = key.split(":", 1)[1]
        for bad, why in _bad_values(prop):
            if bad is None or bad == "":
                continue  # a null/empty top-level value is the empty-key case below
            cases.append((f"{key} {why}", {**base, key: bad}, short))
        if key in base:
            for path, bad, name, why in mutations(base[key], prop, ()):
                cases.append((f"{key}{''.join(f'.{p}' if isinstance(p, str) else f'[{p}]' for p in path)} {why}",
                              {**base, key: _set({"v": base[key]}, ("v",) + path, bad)["v"]}, name))
        # the key misspelt, in the namespace or the name
        cases.append((f"{key} misspelt name", {**{k: v for k, v in base.items() if k != key},
                                               "amlplatform:" + _typo(short, set()): base.get(key, 1)},
                      _typo(short, set())))
        cases.append((f"{key} misspelt namespace", {**base, "amlplatfrom:" + short: base.get(key, 1)}, "amlplatfrom"))
        cases.append((f"{key} empty", {**base, key: None}, key))
    return cases


def yaml_level_cases() -> List[Tuple[str, str, str]]:
    """(case id, stack file text, the name the error must contain): what only YAML can say."""
    head = "config:\n  amlplatform:location: westeurope\n  amlplatform:naming: {workload: fraud, environment: dev}\n"
    out = []
    for key in ("location", "tags", "workspace", "clusters", "protect"):
        out.append((f"duplicate {key}", head + f"  amlplatform:{key}: x\n  amlplatform:{key}: y\n", key))
    for field, text in (("max_nodes", ".inf"), ("max_nodes", "-.inf"), ("min_nodes", ".nan"),
                        ("idle_time_before_scale_down", ".inf")):
        out.append((f"{field}={text}", head + f"  amlplatform:clusters: [{{name: cpu, vm_size: Standard_DS3_v2, {field}: {text}}}]\n",
                    field))
    out.append(("non-string config key", head + "  7: x\n", "7"))
    out.append(("non-string top key", "1: x\n" + head, "1"))
    out.append(("nested duplicate", head + "  amlplatform:tags: {a: 1, a: 2}\n", "'a'"))
    out.append(("list as config", "config: [1, 2]\n", "config"))
    out.append(("scalar document", "just text\n", "mapping"))
    out.append(("bad key form", head + "  a:b:c: 1\n", "a:b:c"))
    out.append(("recursive anchor", head + "  amlplatform:tags: &t {a: *t}\n", "alias"))
    bomb = head + "  amlplatform:tags: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        bomb += f"  amlplatform:t{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n"
    out.append(("alias bomb", bomb, "aliases"))
    out.append(("unknown without namespace", head + "  unexpected_key: 1\n", "unexpected_key"))
    out.append(("protect: on", head + "  amlplatform:protect: on\n", "protect"))
    out.append(("tenant_id: null", head + "  amlplatform:tenant_id: null\n", "tenant_id"))
    out.append(("max_nodes: true", head + "  amlplatform:clusters: [{name: cpu, vm_size: Standard_DS3_v2, max_nodes: true}]\n",
                "max_nodes"))
    out.append(("Premium-only on Basic", head + "  amlplatform:workspace: {public_network_access: Enabled}\n"
                "  amlplatform:registry: {mode: create, sku: Basic, zone_redundancy: true}\n", "zone_redundancy"))
    return out
