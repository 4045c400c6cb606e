"""Layers point down: pure Azure facts below both settings and components; components never
import the settings models; one table of built-in role ids."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import amlplatform
from amlplatform.azure.roles import ROLES, role_guid, role_name

PACKAGE = Path(amlplatform.__file__).resolve().parent
# the component modules: every module that declares a ComponentResource
COMPONENT_MODULES = sorted(
    p for p in PACKAGE.rglob("*.py") if re.search(r"^class \w+\(pulumi\.ComponentResource\):", p.read_text(), re.M))


def _loaded_after_import(modules):
    code = ("import importlib, json, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(k for k in sys.modules if k.startswith(('amlplatform', 'pulumi', 'pydantic')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(PACKAGE.parent), "PATH": "/usr/bin:/bin"})
    return set(json.loads(out.stdout))


def test_there_are_component_modules_to_check():
    names = {".".join(p.relative_to(PACKAGE).with_suffix("").parts) for p in COMPONENT_MODULES}
    assert {"iac.workspace.mlworkspace", "iac.workspace.storage", "iac.workspace.keyvault",
            "iac.kubernetes.target", "iac.serving.endpoints", "iac.network.privatelink",
            "iac.platform.__init__"} <= names
    # components live in amlplatform/iac/ and nowhere else
    assert all(n.startswith("iac.") for n in names), names


def test_no_component_module_loads_the_settings_models():
    modules = [".".join(("amlplatform",) + p.relative_to(PACKAGE).with_suffix("").parts) for p in COMPONENT_MODULES]
    loaded = _loaded_after_import([m.removesuffix(".__init__") for m in modules])
    assert "amlplatform.settings" not in loaded
    assert not any(m.startswith("amlplatform.settings.") for m in loaded)


def test_azure_facts_import_neither_pulumi_nor_pydantic():
    loaded = _loaded_after_import(["amlplatform.azure.roles", "amlplatform.azure.private_dns",
                                   "amlplatform.azure.rules", "amlplatform.azure.providers"])
    assert not any(m == "pulumi" or m.startswith(("pulumi.", "pulumi_", "pydantic")) for m in loaded)


def test_role_guids_are_written_in_one_table():
    guids = set(ROLES.values())
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "azure" / "roles.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in guids:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert found == []


def test_settings_and_components_share_the_role_table():
    from amlplatform.iac.workspace import encryption
    from amlplatform.iac.kubernetes import target as kubernetes
    from amlplatform.settings.access import ROLE_GUIDS
    from amlplatform.settings.core import BUILTIN_ROLES
    from amlplatform.settings.datastores import ROLES as DATASTORE_ROLES

    for table in (ROLE_GUIDS, BUILTIN_ROLES, DATASTORE_ROLES):
        assert all(ROLES[name] == guid for name, guid in table.items())
    assert kubernetes.READER_ROLE == ROLES["Reader"]
    assert encryption.CRYPTO_SERVICE_ENCRYPTION_USER == ROLES["Key Vault Crypto Service Encryption User"]


def test_role_guid_takes_a_name_or_a_guid_and_names_an_unknown_role():
    assert role_guid("AcrPull") == "7f951dda-4ed3-4680-a7ca-43fe172d538d"
    assert role_guid("7F951DDA-4ED3-4680-A7CA-43FE172D538D") == "7f951dda-4ed3-4680-a7ca-43fe172d538d"
    assert role_name("7f951dda-4ed3-4680-a7ca-43fe172d538d") == "AcrPull"
    try:
        role_guid("Acr Pull")
    except KeyError as exc:
        assert "'Acr Pull' is not a built-in role" in str(exc)
    else:
        raise AssertionError("an unknown role name must be refused")


def test_every_component_and_its_args_is_public():
    import inspect

    import pulumi

    exported = set(amlplatform.__all__)
    for path in COMPONENT_MODULES:
        module = __import__(".".join(("amlplatform",) + path.relative_to(PACKAGE).with_suffix("").parts)
                            .removesuffix(".__init__"), fromlist=["x"])
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, pulumi.ComponentResource) and \
                    value.__module__ == module.__name__:
                assert name in exported and f"{name}Args" in exported, name
                assert getattr(amlplatform, name) is value
    assert amlplatform.role_guid("AcrPull") == ROLES["AcrPull"]


def test_the_program_is_a_thin_mapping_to_the_platform_component():
    source = (PACKAGE / "stack" / "program.py").read_text()
    assert len(source.splitlines()) <= 200
    imported = {n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
    # it declares nothing itself: no azure-native, no component but MLPlatform
    assert not any(m.startswith("pulumi_") for m in imported)
    components = {".".join(("amlplatform",) + p.relative_to(PACKAGE).with_suffix("").parts) for p in COMPONENT_MODULES}
    assert not imported & (components - {"amlplatform.iac.platform.__init__"})
    assert not any(m.startswith("amlplatform.iac.") for m in imported)
