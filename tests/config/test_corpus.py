"""The generated corpus (issue 13, "Done when"): >= 500 invalid stack files derived from the
settings' JSON schema plus what only YAML can say, and >= 100 invalid command lines. Every one:
a clear error (exit 2, ``error: ...``) naming the field, no traceback, nothing written. Most run
in-process through ``amlplatform.cli.main``; a sample runs as real subprocesses."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from amlplatform.cli import main
from config.corpus import ROOT, invalid_stack_configs, yaml_level_cases

STACK_CASES = invalid_stack_configs()
YAML_CASES = yaml_level_cases()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus") / "project"
    (folder / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", folder / "Pulumi.yaml")
    shutil.copytree(ROOT / "infra", folder / "infra")
    return folder


def run_cli(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def check_refused(project, text, name, capsys, tmp_path):
    stack = project / "stacks" / "Pulumi.case.yaml"
    stack.write_text(text, encoding="utf-8")
    output = tmp_path / "out.json"
    code, out, err = run_cli(["plan", "-s", "case", "--project-dir", str(project), "--format", "json", "-o", str(output)],
                             capsys)
    assert code == 2, (code, err)
    assert err.startswith("error: ") and "Traceback" not in err + out, err
    assert name in err, (name, err)
    assert not output.exists()  # nothing written
    assert stack.read_text(encoding="utf-8") == text


def test_the_corpus_is_big_enough():
    assert len(STACK_CASES) + len(YAML_CASES) >= 500
    assert len(CLI_CASES) >= 100


@pytest.mark.parametrize("case", STACK_CASES, ids=[c[0] for c in STACK_CASES])
def test_invalid_stack_file(case, project, capsys, tmp_path):
    _, config, name = case
    check_refused(project, yaml.safe_dump({"config": config}, sort_keys=False), name, capsys, tmp_path)


@pytest.mark.parametrize("case", YAML_CASES, ids=[c[0] for c in YAML_CASES])
def test_invalid_yaml(case, project, capsys, tmp_path):
    _, text, name = case
    check_refused(project, text, name, capsys, tmp_path)


# ----------------------------------------------------------------------------- command lines

def _cli_cases():
    """(id, argv with {p} = the project, {t} = a scratch folder, what the error must name)."""
    p, t = "{p}", "{t}"
    cases = [
        ("no command", [], "COMMAND"),
        ("unknown command", ["deploy"], "deploy"),
        ("plan without stack", ["plan"], "--stack"),
        ("scan without stack", ["scan"], "--stack"),
        ("bad format", ["plan", "-s", "dev", "--format", "pdf"], "--format"),
        ("scan bad format", ["scan", "-s", "dev", "--format", "svg"], "--format"),
        ("fail-on-replace alone", ["plan", "-s", "dev", "--project-dir", p, "--fail-on-replace"], "--fail-on-replace"),
        ("force alone", ["plan", "-s", "dev", "--project-dir", p, "--force"], "--force"),
        ("scan force alone", ["scan", "-s", "dev", "--project-dir", p, "--force"], "--force"),
        ("diff with format", ["plan", "-s", "dev", "--project-dir", p, "--diff", f"{t}/plan.json", "--format", "svg"], "--diff"),
        ("diff missing", ["plan", "-s", "dev", "--project-dir", p, "--diff", f"{t}/none.json"], "--diff"),
        ("diff folder", ["plan", "-s", "dev", "--project-dir", p, "--diff", t], "--diff"),
        ("diff not json", ["plan", "-s", "dev", "--project-dir", p, "--diff", f"{t}/notjson.json"], "--diff"),
        ("schema write and check", ["schema", "--write", "--check"], "--check"),
        ("project dir missing", ["plan", "-s", "dev", "--project-dir", f"{t}/nowhere"], "--project-dir"),
        ("project dir is a file", ["plan", "-s", "dev", "--project-dir", f"{t}/notjson.json"], "--project-dir"),
        ("project dir without Pulumi.yaml", ["plan", "-s", "dev", "--project-dir", t], "Pulumi.yaml"),
        ("scan project dir without Pulumi.yaml", ["scan", "-s", "dev", "--project-dir", t], "Pulumi.yaml"),
        ("unknown stack", ["plan", "-s", "nosuch", "--project-dir", p], "nosuch"),
        ("runs dir is a file", ["runs", "list", "--runs-dir", f"{t}/notjson.json"], "is a file"),
        ("run show in a file runs dir", ["runs", "show", "x", "--runs-dir", f"{t}/notjson.json"], "is a file"),
        ("run.json not an object (show)", ["runs", "show", "r1", "--runs-dir", f"{t}/runs"], "run.json"),
        ("run.json not an object (logs)", ["runs", "logs", "r1", "--runs-dir", f"{t}/runs"], "run.json"),
    ]
    for bad in ("", "..", ".", "a/b", "../dev", "x\\y"):
        cases.append((f"stack name {bad!r}", ["plan", "-s", bad, "--project-dir", p], "stack"))
    for shape_id, name in (("list", "resources"), ("noresources", "resources"), ("urnint", "urn"),
                           ("namenull", "name"), ("typebool", "type"), ("inputslist", "inputs"),
                           ("resstr", "resources[0]"), ("ignorestr", "ignore_changes"), ("stacknum", "stack"),
                           ("nan", "NaN")):
        cases.append((f"diff shape {shape_id}", ["plan", "-s", "dev", "--project-dir", p, "--diff",
                                                 f"{t}/shape-{shape_id}.json"], name))
    # outputs that would replace inputs, or write where they should not
    targets = [("stack file", f"{p}/stacks/Pulumi.dev.yaml", "stack file"),
               ("other stack file", f"{p}/stacks/Pulumi.prod.yaml", "stack file"),
               ("project file", f"{p}/Pulumi.yaml", "project file"),
               ("program", f"{p}/infra/__main__.py", "program"),
               ("program folder", f"{p}/infra", "program"),
               ("a folder", t, "folder"),
               ("missing folder", f"{t}/new/dir/out.json", "does not exist"),
               ("existing file", f"{t}/notjson.json", "--force"),
               ("under a file", f"{t}/notjson.json/x.json", "does not exist"),
               ("any Pulumi stack file", f"{t}/Pulumi.other.yaml", "stack file")]
    for fmt in ("text", "json", "arm", "mermaid", "svg"):
        for tid, target, name in targets:
            cases.append((f"plan --format {fmt} -o {tid}", ["plan", "-s", "dev", "--project-dir", p, "--format", fmt, "-o", target],
                          name))
    for tid, target, name in targets:
        cases.append((f"scan -o {tid}", ["scan", "-s", "dev", "--project-dir", p, "-o", target], name))
        cases.append((f"scan --policy-pack-config {tid}",
                      ["scan", "-s", "dev", "--project-dir", p, "--policy-pack-config", target], name))
    cases.append(("plan -o the --diff input", ["plan", "-s", "dev", "--project-dir", p, "--diff", f"{t}/plan.json",
                                                "-o", f"{t}/plan.json", "--force"], "--diff input"))
    cases.append(("scan same output twice", ["scan", "-s", "dev", "--project-dir", p, "-o", f"{t}/a.txt",
                                             "--policy-pack-config", f"{t}/a.txt"], "same file"))
    return cases


CLI_CASES = _cli_cases()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, project):
    folder = tmp_path_factory.mktemp("scratch")
    shutil.copy(ROOT / "stacks" / "Pulumi.dev.yaml", project / "stacks" / "Pulumi.dev.yaml")
    shutil.copy(ROOT / "stacks" / "Pulumi.prod.yaml", project / "stacks" / "Pulumi.prod.yaml")
    (folder / "notjson.json").write_text("not json")
    (folder / "plan.json").write_text('{"resources": []}')
    shapes = {"list": "[]", "noresources": "{}", "urnint": '{"resources": [{"urn": 1, "name": "a", "type": "t"}]}',
              "namenull": '{"resources": [{"urn": "u", "name": null, "type": "t"}]}',
              "typebool": '{"resources": [{"urn": "u", "name": "a", "type": true}]}',
              "inputslist": '{"resources": [{"urn": "u", "name": "a", "type": "t", "inputs": []}]}',
              "resstr": '{"resources": ["x"]}',
              "ignorestr": '{"resources": [{"urn": "u", "name": "a", "type": "t", "ignore_changes": [1]}]}',
              "stacknum": '{"stack": 1, "resources": []}', "nan": '{"resources": [], "x": NaN}'}
    for name, text in shapes.items():
        (folder / f"shape-{name}.json").write_text(text)
    (folder / "runs" / "r1").mkdir(parents=True)
    (folder / "runs" / "r1" / "run.json").write_text("[1, 2]")
    return folder


def _fill(argv, project, scratch):
    return [a.replace("{p}", str(project)).replace("{t}", str(scratch)) for a in argv]


def _snapshot(*folders):
    return {p: p.stat().st_mtime_ns for f in folders for p in Path(f).rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_invalid_command_line(case, project, scratch, capsys):
    _, argv, name = case
    before = _snapshot(project, scratch)
    code, out, err = run_cli(_fill(argv, project, scratch), capsys)
    assert code == 2, (code, out, err)
    assert "error:" in err and "Traceback" not in out + err, err
    assert name in err, (name, err)
    assert _snapshot(project, scratch) == before  # nothing written, nothing changed


SUBPROCESS_SAMPLE = [c for c in STACK_CASES[::150]] + [YAML_CASES[-7]]  # a few, incl. the alias bomb


@pytest.mark.parametrize("case", SUBPROCESS_SAMPLE, ids=[c[0] for c in SUBPROCESS_SAMPLE])
def test_sample_as_subprocess(case, project, tmp_path):
    _, config, name = case
    text = config if isinstance(config, str) else yaml.safe_dump({"config": config}, sort_keys=False)
    (project / "stacks" / "Pulumi.sub.yaml").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "components")}
    done = subprocess.run([sys.executable, "-m", "amlplatform.cli", "plan", "-s", "sub", "--project-dir", str(project),
                           "-o", str(tmp_path / "out.txt")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and name in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out.txt").exists()


CLI_SUBPROCESS_SAMPLE = CLI_CASES[::25]


@pytest.mark.parametrize("case", CLI_SUBPROCESS_SAMPLE, ids=[c[0] for c in CLI_SUBPROCESS_SAMPLE])
def test_command_line_sample_as_subprocess(case, project, scratch):
    _, argv, name = case
    before = _snapshot(project, scratch)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "components")}
    done = subprocess.run([sys.executable, "-m", "amlplatform.cli", *_fill(argv, project, scratch)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "error:" in done.stderr and name in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert _snapshot(project, scratch) == before
