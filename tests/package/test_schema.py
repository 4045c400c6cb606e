"""The package schema other languages are generated from is committed: a change to it is an API
change (a renamed input breaks every consumer's program), reviewed like a URN change."""

import json

from amlplatform import provider


def test_committed_schema_is_what_the_provider_serves():
    committed = provider.SCHEMA_FILE.read_text(encoding="utf-8")
    current = provider.schema_text()
    if committed != current:
        before, after = json.loads(committed), json.loads(current)
        changed = sorted(k for section in ("resources", "types")
                         for k in set(before.get(section, {})) | set(after.get(section, {}))
                         if before.get(section, {}).get(k) != after.get(section, {}).get(k))
        raise AssertionError(
            f"the package schema changed ({', '.join(changed) or 'metadata'}): this is an API change for "
            f"every language. If it is intended, regenerate it with\n    PYTHONPATH=components "
            f"{provider.REGENERATE}\nand commit {provider.SCHEMA_FILE.name} with the change.")


def test_schema_names_the_package_and_its_version():
    import amlplatform

    schema = json.loads(provider.SCHEMA_FILE.read_text(encoding="utf-8"))
    assert (schema["name"], schema["version"]) == ("amlplatform", amlplatform.__version__)
    assert schema["resources"]["amlplatform:index:MLWorkspace"]["isComponent"] is True


def test_write_schema_writes_the_same_text(tmp_path):
    target = tmp_path / "schema.json"
    assert provider.main(["--write-schema", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == provider.SCHEMA_FILE.read_text(encoding="utf-8")
