"""The generated reference pages of the docs site (docs/reference/) say what the code says: each is
regenerated and compared, and the rule catalogue names every rule id the code defines."""

import re

import pytest

from amlplatform import docgen


@pytest.mark.parametrize("page", ["reference/cli.md", "reference/rules.md", "reference/configuration.md"])
def test_generated_page_is_current(project_root, page):
    on_disk = (project_root / "docs" / page).read_text(encoding="utf-8")
    assert on_disk == docgen.PAGES[page](), f"docs/{page} is stale: run `{docgen.REGENERATE}` in the project folder"


def test_cli_reference_names_every_command_and_flag(project_root):
    import argparse

    from amlplatform.cli import build_parser

    page = (project_root / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    assert f"## `{path} {name}`" in page, f"{path} {name}"
                    walk(sub, f"{path} {name}")
            elif action.option_strings and not isinstance(action, argparse._HelpAction):
                for flag in action.option_strings:
                    assert f"`{flag}`" in page, f"{path} {flag}"

    walk(build_parser(), "amlplatform")


def test_rule_catalogue_lists_exactly_the_rules_the_code_defines(project_root):
    from amlplatform.review import deployability, policies

    page = (project_root / "docs" / "reference" / "rules.md").read_text(encoding="utf-8")
    amld = set(re.findall(r"^\| (AMLD-\d{3}) \|", page, flags=re.M))
    assert amld == set(deployability.RULES)
    ids = set(re.findall(r"^\| `([0-9a-f-]{36})` \|", page, flags=re.M))
    assert ids == {r.rule_id for r in policies.RULES}
    for rule in deployability.RULES.values():
        assert rule.doc in page  # the Azure doc each rule cites
    for rule in policies.RULES:
        assert rule.name in page and (rule.psrule is None or rule.psrule in page)


def test_docgen_check_names_the_stale_page_and_the_command(tmp_path, capsys):
    docs = tmp_path / "docs"
    docgen.write(docs)
    assert docgen.main(["--docs-dir", str(docs), "--check"]) == 0
    (docs / "reference" / "cli.md").write_text("old\n", encoding="utf-8")
    assert docgen.main(["--docs-dir", str(docs), "--check"]) == 1
    err = capsys.readouterr().err
    assert "cli.md is stale" in err and docgen.REGENERATE in err
