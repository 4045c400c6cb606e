"""The repository is a source-based Pulumi plugin as `pulumi package add <repo or path>` expects
(PulumiPlugin.yaml and __main__.py at the root), and still the stack program of Pulumi.yaml."""

import subprocess
import sys

import yaml

from .engine import ROOT


def test_plugin_manifest_names_the_python_runtime():
    manifest = yaml.safe_load((ROOT / "PulumiPlugin.yaml").read_text(encoding="utf-8"))
    assert manifest["runtime"]["name"] == "python"
    # the language host runs <root>/__main__.py when there is one (it takes precedence over pyproject)
    assert (ROOT / "__main__.py").is_file()
    assert "main" not in manifest


def test_the_program_manifest_is_unchanged():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project["main"] == "infra/" and project["runtime"]["name"] == "python"


def test_plugin_dependencies_install_the_package_itself():
    # the language host installs requirements.txt into the plugin's virtualenv
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").split()
    assert "-e" in lines and "." in lines


def test_entry_point_without_an_engine_address_explains_itself():
    done = subprocess.run([sys.executable, str(ROOT)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "ENGINE_ADDRESS" in done.stderr and "--write-schema" in done.stderr
