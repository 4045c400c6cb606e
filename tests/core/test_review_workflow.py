"""The sample review workflow (.github/workflows/amlplatform-review.yml) runs as CI would: each
step of its job, in order, in a fresh clone, with GitHub's bash (`-eo pipefail`), GITHUB_ENV and
GITHUB_STEP_SUMMARY files, `if:`/`continue-on-error` semantics and its own install step (so it
must install what the later steps use: the picture step needs the diagram extra). No cloud and
no Pulumi CLI are needed; `uses:` steps are stood in for (the clone is the checkout, this Python
is setup-python's, the artifact folder is checked to exist). The clone is of the committed HEAD.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "amlplatform-review.yml"
EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def _value(name, ctx):
    if name not in ctx:
        pytest.fail(f"the workflow uses ${{{{ {name} }}}}, which this test does not provide")
    return ctx[name]


def _substitute(text, ctx):
    return EXPR.sub(lambda m: str(_value(m.group(1), ctx)), text)


def _condition(expr, ctx, failed):
    """GitHub's `if:` for the forms the workflow uses: always(), success(), failure(), ==, ||, &&."""
    if expr is None:
        return not failed  # the implicit success()
    expr = EXPR.sub(lambda m: m.group(1), str(expr)).strip()
    python = re.sub(r"\b(steps\.[\w-]+\.outcome|matrix\.\w+|github\.\w+)\b", lambda m: repr(_value(m.group(1), ctx)), expr)
    python = python.replace("||", " or ").replace("&&", " and ").replace("!", " not ").replace(" not =", "!=")
    python = python.replace("always()", "True").replace("success()", repr(not failed)).replace("failure()", repr(failed))
    return bool(eval(python, {"__builtins__": {}}, {}))  # only literals are left


def test_the_workflow_expressions_are_all_understood():
    text = WORKFLOW.read_text()
    names = set(EXPR.findall(text))
    assert names <= {"matrix.stack", "github.base_ref", "steps.scan.outcome", "steps.diff.outcome"}, names
    ctx = {"steps.scan.outcome": "failure", "steps.diff.outcome": "success"}
    assert _condition("steps.scan.outcome == 'failure' || steps.diff.outcome == 'failure'", ctx, False)
    assert not _condition("steps.scan.outcome == 'success' && steps.diff.outcome == 'failure'", ctx, False)
    assert _condition("always()", ctx, True) and not _condition(None, ctx, True)


@pytest.mark.slow  # installs the venvs (hash-locked, uv) and plans and scans the matrix's stack like CI
@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed: apt-get install graphviz (./dev setup does)")
def test_the_review_workflow_runs_as_ci_would(tmp_path):
    doc = yaml.safe_load(WORKFLOW.read_text())
    (job,) = doc["jobs"].values()
    stacks = job["strategy"]["matrix"]["stack"]
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=300)
    subprocess.run(["git", "update-ref", "refs/remotes/origin/review-base", "HEAD"], cwd=clone, check=True)
    tools = tmp_path / "setup-python"  # setup-python puts `python` first on PATH
    tools.mkdir()
    base_python = getattr(sys, "_base_executable", sys.executable)
    (tools / "python").symlink_to(base_python)
    wanted = next(s["with"]["python-version"] for s in job["steps"] if "setup-python" in s.get("uses", ""))
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" == str(wanted), "this machine's Python is not the workflow's"

    for stack in stacks[:1]:  # one matrix leg: every leg runs the same steps
        ctx = {"matrix.stack": stack, "github.base_ref": "review-base"}
        github_env, summary = tmp_path / "github_env", tmp_path / "summary.md"
        github_env.write_text("")
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "AMLPLATFORM_CHECKOV", "VIRTUAL_ENV", "AMLPLATFORM_RUNS_DIR")}
        env.update({"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_ENV": str(github_env),
                    "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_BASE_REF": "review-base",
                    "PATH": f"{tools}{os.pathsep}{env['PATH']}"})
        env.update({k: _substitute(str(v), ctx) for k, v in job.get("env", {}).items()})
        shell = job["defaults"]["run"]["shell"]
        assert shell == "bash"
        failed = False
        outcomes = {}
        for step in job["steps"]:
            name = step.get("name") or step.get("uses")
            if not _condition(step.get("if"), {**ctx, **outcomes}, failed):
                outcomes[f"steps.{step.get('id', '-')}.outcome"] = "skipped"
                continue
            if "uses" in step:
                action = step["uses"].split("@")[0]
                assert action in ("actions/checkout", "actions/setup-python", "actions/upload-artifact"), action
                if action == "actions/upload-artifact":
                    folder = clone / step["with"]["path"]
                    assert folder.is_dir() and any(folder.iterdir()), f"{name}: nothing to upload"
                continue
            script = tmp_path / "step.sh"
            script.write_text(_substitute(step["run"], {**ctx, **outcomes}))
            for line in github_env.read_text().splitlines():
                key, _, value = line.partition("=")
                env[key] = value
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=clone, env=env,
                                  capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL)
            outcome = "success" if done.returncode == 0 else "failure"
            if "id" in step:
                outcomes[f"steps.{step['id']}.outcome"] = outcome
            if outcome == "failure" and not step.get("continue-on-error"):
                failed = True
            assert done.returncode == 0, f"step {name!r} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

        review = clone / "review"
        for artifact in ("base-plan.json", "plan.txt", "plan.json", "template.json", "diff.txt",
                         "architecture.svg", "architecture.mmd", "scan.txt", "scan.json"):
            assert (review / artifact).is_file() and (review / artifact).stat().st_size > 0, artifact
        assert "<svg" in (review / "architecture.svg").read_text()
        assert (review / "scan.txt").read_text().strip().splitlines()[-1].startswith("OK: ")
        assert f"amlplatform review of stack `{stack}`" in summary.read_text()
        assert outcomes["steps.scan.outcome"] == outcomes["steps.diff.outcome"] == "success"
        assert env["AMLPLATFORM_CHECKOV"] == f"{clone}/.venv-scan/bin/checkov"
