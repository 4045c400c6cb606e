"""The Pulumi YAML example of docs/components-other-languages.md names only what the committed
schema has: the type tokens, every input (nested ones too), the required inputs, the outputs."""

import re

import yaml

from amlplatform import provider

from .engine import ROOT

DOC = ROOT / "docs" / "components-other-languages.md"


def _yaml_program():
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    programs = [yaml.safe_load(b) for b in blocks]
    (program,) = [p for p in programs if isinstance(p, dict) and p.get("runtime") == "yaml"]
    return program


def _unknown(value, properties, types, where):
    out = []
    for key, item in value.items():
        prop = properties.get(key)
        if prop is None:
            out.append(f"{where}.{key}")
            continue
        ref = prop.get("$ref", "")
        if ref.startswith("#/types/") and isinstance(item, dict):
            type_ = types[ref[len("#/types/"):]]
            out += _unknown(item, type_["properties"], types, f"{where}.{key}")
            out += [f"{where}.{key}.{r} (required)" for r in type_.get("required", []) if r not in item]
    return out


def test_the_yaml_example_matches_the_schema():
    schema = provider.schema()
    program = _yaml_program()
    assert "amlplatform" in program["packages"]
    problems = []
    for name, res in program["resources"].items():
        resource = schema["resources"].get(res["type"])
        if resource is None:
            problems.append(f"{name}: no type {res['type']}")
            continue
        props = res.get("properties", {})
        problems += _unknown(props, resource["inputProperties"], schema["types"], name)
        problems += [f"{name}.{r} (required)" for r in resource.get("requiredInputs", []) if r not in props]
    # every ${resource.output} in properties and outputs names an output of that resource
    references = re.findall(r"\$\{(\w+)\.(\w+)\}", yaml.safe_dump([program["resources"], program["outputs"]]))
    assert references
    for ref, prop in references:
        outputs = schema["resources"][program["resources"][ref]["type"]]["properties"]
        if prop not in outputs:
            problems.append(f"${{{ref}.{prop}}}")
    assert not problems
    assert program["resources"]["ml"]["type"] == "amlplatform:index:MLWorkspace"


def test_the_checker_finds_a_misspelt_nested_input():
    schema = provider.schema()
    resource = schema["resources"]["amlplatform:index:MLWorkspace"]
    assert _unknown({"storage": {"skuu": "x"}}, resource["inputProperties"], schema["types"], "ml") == [
        "ml.storage.skuu"]
