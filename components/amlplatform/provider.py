"""amlplatform as a Pulumi component package: every component, served to every Pulumi language.

Pulumi programs in TypeScript, Go, C#, Java or YAML use the components through this provider: the
engine starts it (``PulumiPlugin.yaml`` and ``__main__.py`` at the repository root), asks for its
schema (inferred from the components' type annotations by Pulumi's analyzer,
``pulumi.provider.experimental``) and sends it a ``Construct`` request for each component the program
declares. docs/components-other-languages.md says how to consume it.

``python -m amlplatform.provider --write-schema`` rewrites the committed schema
(``components/amlplatform/schemas/package.schema.json``); a schema change is an API change, reviewed
like a URN change (tests/package/test_schema.py).
"""

import functools
import importlib
import inspect
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import pulumi
from pulumi.provider.experimental.analyzer import PropertyDefinition, PropertyType
from pulumi.provider.experimental.component import ComponentProvider

import amlplatform

PACKAGE = "amlplatform"
SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "package.schema.json"
REGENERATE = "python -m amlplatform.provider --write-schema"


def component_modules() -> List[str]:
    """Every module of :mod:`amlplatform.iac`, where all the components live."""
    import amlplatform.iac

    return sorted(m.name for m in pkgutil.walk_packages(amlplatform.iac.__path__, "amlplatform.iac."))


def components() -> List[type]:
    """Every ``pulumi.ComponentResource`` the package defines, found by walking its modules (a new
    component is served, and tested, without being listed anywhere), sorted by class name."""
    found: Dict[str, type] = {}
    for name in component_modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, pulumi.ComponentResource)
                    and value.__module__ == module.__name__):
                found[value.__name__] = value
    return [found[k] for k in sorted(found)]


def _as_integers(value: Any, prop: PropertyDefinition, types: Mapping[str, Any]) -> Any:
    """``value`` with every integer property turned back into an ``int``.

    The engine sends every number as a float, and pulumi 3.272's
    ``ComponentProvider.map_input_properties`` converts an integer property to ``int`` and then
    overwrites it with the float again; the components check that counts are whole numbers, so a
    ``3072.0`` from TypeScript would be refused. Only integral floats are converted: ``2.5`` stays
    and gets the component's own error naming the field."""
    if isinstance(value, pulumi.Output) or value is None:
        return value
    if prop.type == PropertyType.INTEGER:
        return int(value) if isinstance(value, float) and value.is_integer() else value
    if prop.type == PropertyType.ARRAY and prop.items is not None and isinstance(value, list):
        return [_as_integers(v, prop.items, types) for v in value]
    if prop.type == PropertyType.OBJECT and prop.additional_properties is not None and isinstance(value, dict):
        return {k: _as_integers(v, prop.additional_properties, types) for k, v in value.items()}
    if prop.ref and prop.ref.startswith(f"#/types/{PACKAGE}:index:") and isinstance(value, dict):
        type_def = types.get(prop.ref.rsplit(":", 1)[-1])
        if type_def is not None and not type_def.enum:
            return _object_as_integers(value, type_def.properties, types)
    return value


def _object_as_integers(value: Mapping[str, Any], properties: Mapping[str, PropertyDefinition],
                        types: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: (_as_integers(v, properties[k], types) if k in properties else v) for k, v in value.items()}


def _with_defaults(schema: Dict[str, Any], components: Mapping[str, type], component_defs: Mapping[str, Any],
                   type_defs: Mapping[str, Any]) -> Dict[str, Any]:
    """The schema with every default a component declares (``amlplatform.iac._base.defaults``):
    ``default`` on the property (Pulumi schema, for plain values) and "Default: ..." in its description.
    The defaults are written once, beside the Args; the schema and the docs read them from there."""
    import typing

    from amlplatform.iac._base import declared_defaults

    declared = declared_defaults()
    targets: List[tuple] = []  # (python type, schema properties, schema name -> python name)
    for name, cls in components.items():
        args_type = typing.get_type_hints(cls.__init__).get("args")
        if args_type in declared:
            targets.append((args_type, schema["resources"][f"{PACKAGE}:index:{name}"]["inputProperties"],
                            component_defs[name].inputs_mapping))
    for type_name, type_def in type_defs.items():
        if type_def.python_type in declared and type_def.enum is None:
            targets.append((type_def.python_type, schema["types"][f"{PACKAGE}:index:{type_name}"]["properties"],
                            type_def.properties_mapping))
    for python_type, properties, mapping in targets:
        schema_name = {py: sch for sch, py in mapping.items()}
        for field, value in declared[python_type].items():
            prop = properties[schema_name[field]]
            if isinstance(value, (str, bool, int, float)) and "type" in prop:
                prop["default"] = value
            shown = json.dumps(value) if not isinstance(value, str) else value
            prop["description"] = (prop.get("description", "").rstrip() + f"\n\nDefault: `{shown}`.").lstrip()
    return schema


class AmlplatformProvider(ComponentProvider):
    """Pulumi's component provider for the package's components, with integer inputs repaired
    (see :func:`_as_integers`) and each declared default in its schema (see :func:`_with_defaults`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = json.dumps(_with_defaults(json.loads(self.schema), self._components, self._component_defs,
                                                self._type_defs))

    def map_inputs(self, inputs: Any, component_def: Any) -> Any:
        if isinstance(inputs, dict):
            inputs = _object_as_integers(inputs, component_def.inputs, self._type_defs)
        return super().map_inputs(inputs, component_def)


def provider() -> AmlplatformProvider:
    return AmlplatformProvider(components(), PACKAGE, None, amlplatform.__version__)


@functools.lru_cache(maxsize=1)
def _schema_json() -> str:
    return provider().schema


def schema() -> Dict[str, Any]:
    """The package schema the provider serves (``GetSchema``), as Pulumi's analyzer infers it."""
    return json.loads(_schema_json())


def schema_text() -> str:
    """The schema as committed: sorted keys, two-space indent, a final newline (stable diffs)."""
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


def serve(args: Sequence[str]) -> None:
    """Serve the components over gRPC as the Pulumi engine expects: print the port, then serve.

    This is ``pulumi.provider.experimental.component_provider_host`` (pulumi 3.272 ``host.py``) with
    :class:`AmlplatformProvider` in place of the plain ``ComponentProvider``: the host cannot be
    given a provider of its own. ``args`` are the engine's (its address first)."""
    from pulumi.provider import main as provider_main

    provider_main(provider(), list(args))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--write-schema"]:
        target = Path(args[1]) if len(args) > 1 else SCHEMA_FILE
        target.write_text(schema_text(), encoding="utf-8")
        print(f"wrote {target}")
        return 0
    if args[:1] == ["--print-schema"]:
        sys.stdout.write(schema_text())
        return 0
    if not [a for a in args if not a.startswith("-")]:
        print("usage: python -m amlplatform.provider [--logtostderr ...] ENGINE_ADDRESS   (as the Pulumi engine "
              "starts it)\n       python -m amlplatform.provider --write-schema [FILE] | --print-schema",
              file=sys.stderr)
        return 2
    serve(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
