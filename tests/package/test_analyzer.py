"""Every component of the package is accepted by Pulumi's schema analyzer (the pulumi we pin), so
other Pulumi languages can use it: typed args, no resources in args, documented outputs."""

import ast
import inspect
from pathlib import Path

import pytest
from pulumi.provider.experimental.analyzer import Analyzer

from amlplatform import provider

PACKAGE_DIR = Path(provider.__file__).resolve().parent
COMPONENTS = provider.components()


def _classes_in_source():
    """``class X(...ComponentResource)`` statements anywhere in the package's source: what discovery
    must find, read without importing."""
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                    (isinstance(b, ast.Attribute) and b.attr == "ComponentResource")
                    or (isinstance(b, ast.Name) and b.id == "ComponentResource") for b in node.bases):
                found[node.name] = str(rel)
    return found


def test_discovery_finds_every_component_class_in_the_source():
    in_source = _classes_in_source()
    assert {c.__name__ for c in COMPONENTS} == set(in_source)
    # one obvious place: every component lives under amlplatform/iac/
    assert all(path.startswith("iac/") for path in in_source.values()), in_source
    # the components the package has shipped since 0.1 are all there (discovery cannot silently shrink)
    assert {"MLWorkspace", "Workspace", "WorkspaceStorage", "KubernetesInferenceTarget",
            "OnlineEndpoint", "PlatformNetwork"} <= set(in_source)


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
def test_the_analyzer_accepts_the_component(component):
    result = Analyzer("amlplatform").analyze([component])
    assert component.__name__ in result["component_definitions"]


def test_the_analyzer_accepts_all_components_together():
    # the provider analyses them at once: type names must not collide across modules
    result = Analyzer("amlplatform").analyze(COMPONENTS)
    assert set(result["component_definitions"]) == {c.__name__ for c in COMPONENTS}
    assert not result["dependencies"]  # no resource of another package in any args


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
def test_outputs_are_annotated_and_documented(component):
    definition = Analyzer("amlplatform").analyze([component])["component_definitions"][component.__name__]
    undocumented = sorted(k for k, p in definition.outputs.items() if not p.description)
    assert not undocumented, f"{component.__name__}: outputs without a docstring: {undocumented}"
    assert definition.description, f"{component.__name__} has no class docstring"


def test_every_input_and_type_property_is_documented():
    schema = provider.schema()
    missing = [f"{tok}.{k}" for tok, r in schema["resources"].items()
               for k, p in r.get("inputProperties", {}).items() if not p.get("description")]
    missing += [f"{tok}.{k}" for tok, t in schema["types"].items()
                for k, p in t.get("properties", {}).items() if not p.get("description")]
    assert not missing


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
def test_init_takes_name_args_opts(component):
    params = list(inspect.signature(component.__init__).parameters)
    assert params[:4] == ["self", "name", "args", "opts"]


def test_no_component_module_postpones_annotations():
    # `from __future__ import annotations` turns every annotation into text: the analyzer crashes
    offenders = sorted({c.__module__ for c in COMPONENTS
                        if "from __future__ import annotations" in inspect.getsource(inspect.getmodule(c))})
    assert not offenders


def test_the_provider_serves_every_component_under_the_index_module():
    schema = provider.schema()
    assert schema["name"] == "amlplatform"
    assert set(schema["resources"]) == {f"amlplatform:index:{c.__name__}" for c in COMPONENTS}
    assert all(r["isComponent"] for r in schema["resources"].values())


def _required(properties):
    return {k for k, p in properties.items() if not p.optional}


def test_required_inputs_are_exactly_the_required_keys():
    # the analyzer recognises typing.TypedDict only (typing.is_typeddict): a typing_extensions
    # TypedDict (a distinct class before Python 3.12) would make every optional key required
    from pulumi.provider.experimental.util import camel_case

    result = Analyzer("amlplatform").analyze(COMPONENTS)
    wrong = []
    for component in COMPONENTS:
        args = inspect.get_annotations(component.__init__)["args"]
        definition = result["component_definitions"][component.__name__]
        if _required(definition.inputs) != {camel_case(k) for k in args.__required_keys__}:
            wrong.append(component.__name__)
    for name, type_def in result["type_definitions"].items():
        keys = getattr(type_def.python_type, "__required_keys__", None)
        if keys is not None and _required(type_def.properties) != {camel_case(k) for k in keys}:
            wrong.append(name)
    assert not wrong
