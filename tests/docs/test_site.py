"""The docs site builds with `mkdocs build --strict` (broken links and anchors, a nav entry without
its page and a page missing from the nav are errors), and every page under docs/ is in the nav."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = ROOT / ".venv-docs" / "bin" / "mkdocs"


def _nav_pages(entries) -> list:
    pages = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            pages += _nav_pages(value)
        else:
            pages.append(value)
    return pages


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    listed = _nav_pages(config["nav"])
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md"))
    missing = [p for p in pages if p not in listed]
    assert not missing, ("pages not in mkdocs.yml's nav; add one line each (under 'More topics' or the "
                         "section they belong to): " + ", ".join(f"`- Title: {p}`" for p in missing))
    assert [p for p in listed if p not in pages] == []
    assert len(listed) == len(set(listed))


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    if not MKDOCS.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{MKDOCS} is missing in CI: ./dev test installs it (setup_docs)")
        pytest.skip(f"{MKDOCS} is missing (./dev test installs it); not in CI, so the build is skipped")
    site = tmp_path / "site"
    done = subprocess.run([str(MKDOCS), "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site / "index.html").is_file() and (site / "reference" / "cli.html").is_file()


def test_readme_is_a_short_guide_whose_contents_and_links_resolve():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 400
    headings = re.findall(r"^## (.+)$", readme, flags=re.M)
    contents = readme[readme.index("## Contents"):readme.index("\n## ", readme.index("## Contents") + 1)]

    def slug(text: str) -> str:  # GitHub's heading anchors
        return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")

    anchors = re.findall(r"\]\(#([^)]+)\)", contents)
    assert anchors and set(anchors) == {slug(h) for h in headings if h != "Contents"}, anchors
    for target in re.findall(r"\]\(((?:docs/)[^)#]+)(?:#[^)]*)?\)", readme):
        assert (ROOT / target).is_file(), target
    for path, anchor in re.findall(r"\]\((docs/[^)#]+)#([^)]+)\)", readme):
        page = (ROOT / path).read_text(encoding="utf-8")
        assert anchor in {re.sub(r"[^\w\- ]", "", h.lower()).strip().replace(" ", "-")
                          for h in re.findall(r"^#+ (.+)$", page, flags=re.M)}, f"{path}#{anchor}"
