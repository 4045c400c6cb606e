"""`amlplatform plan` and `schema` as a user runs them: real subprocesses of the installed CLI."""

import json
import subprocess
import sys

import pytest


def amlplatform(*args, cwd):
    return subprocess.run([sys.executable, "-m", "amlplatform.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def prod_plan(project_root):
    done = amlplatform("plan", "--stack", "prod", "--format", "json", cwd=project_root)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_prod_json_lists_the_workspace_and_its_dependencies_with_protect(prod_plan):
    by_type = {}
    for res in prod_plan["resources"]:
        by_type.setdefault(res["type"], []).append(res)
    ws = by_type["azure-native:machinelearningservices:Workspace"][0]
    for needed in ("azure-native:storage:StorageAccount", "azure-native:keyvault:Vault",
                   "azure-native:operationalinsights:Workspace", "azure-native:applicationinsights:Component"):
        assert needed in by_type, needed
    deps = set(ws["dependencies"])
    for dep_type in ("azure-native:storage:StorageAccount", "azure-native:keyvault:Vault",
                     "azure-native:applicationinsights:Component"):
        assert by_type[dep_type][0]["urn"] in deps
    law, appi = by_type["azure-native:operationalinsights:Workspace"][0], by_type["azure-native:applicationinsights:Component"][0]
    assert law["urn"] in appi["dependencies"]
    assert ws["protect"] and by_type["azure-native:storage:StorageAccount"][0]["protect"]
    assert by_type["azure-native:keyvault:Vault"][0]["protect"]
    for res in prod_plan["resources"]:
        assert set(res) >= {"type", "name", "urn", "parent", "inputs", "dependencies", "protect"}
    assert prod_plan["outputs"]["workspace_id"].endswith("/workspaces/mlw-fraud-prod")


def test_dev_declares_no_registry(project_root):
    done = amlplatform("plan", "--stack", "dev", "--format", "json", cwd=project_root)
    assert done.returncode == 0, done.stderr
    types = {r["type"] for r in json.loads(done.stdout)["resources"]}
    assert "azure-native:containerregistry:Registry" not in types


def test_text_plan_shows_tree_protection_outputs_and_estimate(project_root):
    done = amlplatform("plan", "--stack", "prod", cwd=project_root)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("Stack prod (project amlplatform):")
    assert "'stfraudprod" in out and "[protected]" in out
    assert "Outputs:" in out and "workspace_name: mlw-fraud-prod" in out
    assert "first deploy ≈" in out and "critical path: resource group →" in out
    assert done.stderr == ""  # nothing on stderr, no asyncio noise at exit


def test_several_invalid_values_give_one_readable_error(make_stack):
    project = make_stack({
        "amlplatform:location": "West Europe",
        "amlplatform:naming": {"workload": "fraud", "environment": "dev"},
        "amlplatform:workspace": {"public_network_access": "off"},
        "amlplatform:storage": {"sku": "cheap", "blob_soft_delete_days": 0},
        "amlplatform:clusters": [{"name": "gpu-1", "priority": "Spot", "min_nodes": 4, "max_nodes": 2}],
    }, name="broken")
    done = amlplatform("plan", "--stack", "broken", cwd=project)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    err = done.stderr
    assert err.startswith("error: invalid settings in ")
    for field in ("location:", "workspace.public_network_access: must be 'Enabled' or 'Disabled', got 'off'",
                  "storage.sku:", "storage.blob_soft_delete_days:", "clusters[0].name:",
                  "clusters[0].priority:", "clusters[0].max_nodes:"):
        assert f"  - {field}" in err, (field, err)


@pytest.mark.parametrize("args,message", [
    (["plan", "--stack", "nope"], "notice: no stack file "),
    (["plan", "--stack", "dev", "--diff", "missing.json"], "--diff: no file missing.json"),
    (["plan", "--stack", "dev", "--fail-on-replace"], "--fail-on-replace needs --diff"),
])
def test_bad_arguments_are_named_without_a_traceback(project_root, args, message):
    done = amlplatform(*args, cwd=project_root)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_not_a_plan_file_for_diff(project_root, tmp_path):
    bogus = tmp_path / "plan.json"
    bogus.write_text(json.dumps({"hello": 1}))
    done = amlplatform("plan", "--stack", "dev", "--diff", str(bogus), cwd=project_root)
    assert done.returncode == 2 and "is not a plan" in done.stderr


def test_outside_a_project_says_where_to_run(tmp_path):
    done = amlplatform("plan", "--stack", "dev", cwd=tmp_path)
    assert done.returncode == 2 and "no Pulumi.yaml" in done.stderr


def test_schema_check_passes_for_the_shipped_schema(project_root):
    done = amlplatform("schema", "--check", cwd=project_root)
    assert done.returncode == 0, done.stderr


def test_unreadable_stack_file(make_stack):
    project = make_stack({}, name="empty")
    (project / "stacks" / "Pulumi.empty.yaml").write_text("config: [unclosed")
    done = amlplatform("plan", "--stack", "empty", cwd=project)
    assert done.returncode == 2 and "is not valid YAML" in done.stderr and "Traceback" not in done.stderr


def test_own_program_plans_without_a_stack_file_with_a_notice(project_root, tmp_path):
    """The Pulumi CLI runs a stack that has no stack file with empty config: so does plan, and says so.
    (A program of its own that needs no settings: examples/consumer now has a stack file.)"""
    consumer = project = tmp_path / "consumer"
    project.mkdir()
    (project / "Pulumi.yaml").write_bytes((project_root / "examples" / "consumer" / "Pulumi.yaml").read_bytes())
    (project / "__main__.py").write_text(
        "import pulumi\nfrom pulumi_azure_native import resources\nfrom amlplatform import WorkspaceStorage\n"
        "from amlplatform.azure.naming import generate\nnames = generate('vision', pulumi.get_stack())\n"
        "group = resources.ResourceGroup('rg', resource_group_name=names.resource_group, location='northeurope')\n"
        "WorkspaceStorage('raw', {'resource_group_name': group.name, 'location': 'northeurope',\n"
        "                         'account_name': names.storage_account})\n")
    done = amlplatform("plan", "-s", "dev", "--project-dir", str(consumer), "--format", "json", cwd=project_root)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["resources"]
    notices = [line for line in done.stderr.splitlines() if line.startswith("notice:")]
    assert notices == [f"notice: no stack file {consumer / 'Pulumi.dev.yaml'}: stack 'dev' is read as empty "
                       "config, as the Pulumi CLI reads a stack without one (stacks here: none)"], done.stderr


def test_missing_stack_notice_honours_stack_config_dir_and_names_the_siblings(project_root):
    """A misspelt stack of the amlplatform project: the notice names stacks/Pulumi.<stack>.yaml and the
    stacks that do exist."""
    done = amlplatform("plan", "--stack", "prdo", cwd=project_root)
    assert done.returncode == 2
    first = done.stderr.splitlines()[0]
    assert first.startswith(f"notice: no stack file {project_root / 'stacks' / 'Pulumi.prdo.yaml'}"), first
    assert "(stacks here: dev, prod, staging)" in first


def test_help_says_where_the_stack_file_lives(project_root):
    done = amlplatform("plan", "--help", cwd=project_root)
    assert "stackConfigDir" in " ".join(done.stdout.split()) and "stacks/Pulumi" not in done.stdout


@pytest.mark.parametrize("args,first", [
    (["plan", "--stack", "dev", "--bogus"], "error: amlplatform plan: unrecognized arguments: --bogus"),
    (["plan", "--stak", "dev"], "error: amlplatform plan: unrecognized arguments: --stak (did you mean --stack?)"),
    (["scan", "-s", "dev", "--formt", "json"],
     "error: amlplatform scan: unrecognized arguments: --formt json (did you mean --format?)"),
    (["runs", "list", "--bogus"], "error: amlplatform runs list: unrecognized arguments: --bogus"),
])
def test_wrong_flags_name_the_sub_command_then_show_its_usage(project_root, args, first):
    done = amlplatform(*args, cwd=project_root)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0].startswith(first), done.stderr
    assert lines[1].startswith(f"usage: amlplatform {' '.join(a for a in args[:2] if not a.startswith('-'))} ")
    assert "Traceback" not in done.stderr


def test_a_misspelt_required_flag_is_named_not_only_the_missing_one(project_root):
    done = amlplatform("plan", "--stak", "dev", cwd=project_root)
    first = done.stderr.splitlines()[0]
    assert "--stak" in first and "did you mean --stack?" in first and "required: --stack" in first
