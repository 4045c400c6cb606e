"""Submit cold start: ``amlplatform submit --dry-run`` on a 2000-file project vs importing azure-ai-ml.

- ours, local:   ``amlplatform submit --source P --script train.py --dry-run`` (walk, deny-list,
                 ignore file, content hash of 2000 files, git properties, the file list printed)
- ours, cluster: the same with ``--compute cpu-cluster --environment azureml:sklearn@latest`` and the
                 workspace from environment variables: also builds the job request body
- baseline:      ``python -c "import azure.ai.ml"`` in a separate virtualenv
                 (``benchmarks/.venv-azureml``, created on first use with ``azure-ai-ml==1.35.2``),
                 i.e. what the official SDK costs before it has done anything at all.

Every command is a fresh process (page cache warm after the warm-up). Target: ours <= 0.5x baseline.

    ./dev bench submit_cold_start [--quick] [--reps N] [--files 2000]
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

TARGET = 0.5
AZURE_AI_ML = "azure-ai-ml==1.35.2"
AZML_VENV = c.BENCH / ".venv-azureml"


def azureml_python() -> Path:
    py = AZML_VENV / "bin" / "python"
    ok = py.exists() and subprocess.run([str(py), "-c", "import azure.ai.ml"], capture_output=True).returncode == 0
    if not ok:
        print(f"creating {AZML_VENV} with {AZURE_AI_ML} (once; takes a minute)", file=sys.stderr, flush=True)
        subprocess.run([c.python(), "-m", "venv", str(AZML_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", AZURE_AI_ML], check=True)
    return py


def make_project(root: Path, n_files: int) -> None:
    (root / "train.py").write_text("print('hello')\n")
    for i in range(n_files - 1):
        d = root / f"pkg{i // 50:02d}"
        if i % 50 == 0:
            d.mkdir(parents=True, exist_ok=True)
            (d / "__init__.py").write_text("")  # counted below
        (d / f"mod{i % 50:02d}.py").write_text(f"VALUE = {i}\n" + "# padding\n" * (i % 40))
    # trim to exactly n_files (the __init__.py files were extra)
    extra = sorted(root.rglob("mod*.py"))[::-1]
    count = sum(1 for p in root.rglob("*") if p.is_file())
    for p in extra[: max(0, count - n_files)]:
        p.unlink()


def main() -> int:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=2000)
    args = p.parse_args()
    reps = c.reps_of(args)
    c.header(f"submit cold start: dry run on a {args.files}-file project vs import azure.ai.ml", reps)

    azml = azureml_python()
    amlplatform = Path(c.python()).parent / "amlplatform"
    tmp = Path(tempfile.mkdtemp(prefix="amlplatform-bench-"))
    try:
        project = tmp / "project"
        project.mkdir()
        make_project(project, args.files)
        n = sum(1 for q in project.rglob("*") if q.is_file())
        env = dict(os.environ, AMLPLATFORM_SUBSCRIPTION_ID="00000000-0000-0000-0000-000000000000",
                   AMLPLATFORM_RESOURCE_GROUP="rg-bench", AMLPLATFORM_WORKSPACE="mlw-bench",
                   AMLPLATFORM_LOCATION="westeurope")
        base_cmd = [str(amlplatform), "submit", "--source", str(project), "--script", "train.py", "--dry-run"]
        cases = [
            ("amlplatform submit --dry-run (local)", base_cmd),
            ("amlplatform submit --dry-run (cluster)",
             base_cmd + ["--compute", "cpu-cluster", "--environment", "azureml:sklearn@latest"]),
        ]
        results = {}
        baseline = c.time_cmd([str(azml), "-c", "import azure.ai.ml"], reps, cwd=tmp)
        for label, cmd in cases:
            results[label] = c.time_cmd(cmd, reps, cwd=tmp, env=env)
        py_start = c.time_cmd([c.python(), "-c", "pass"], reps, cwd=tmp)

        rows = [[label, f"{c.fmt_s(c.median(t))} ({c.spread(t)})", f"{c.median(t) / c.median(baseline):.2f}",
                 c.verdict(c.median(t) / c.median(baseline), TARGET)] for label, t in results.items()]
        rows.append(["python -c 'import azure.ai.ml' (baseline)", f"{c.fmt_s(c.median(baseline))} ({c.spread(baseline)})",
                     "1.00", ""])
        rows.append(["for scale: python -c pass", f"{c.fmt_s(c.median(py_start))} ({c.spread(py_start)})",
                     f"{c.median(py_start) / c.median(baseline):.2f}", ""])
        c.table([f"command ({n} files)", "median (min-max)", "ratio", ""], rows)
        print()
        worst = max(c.median(t) for t in results.values()) / c.median(baseline)
        print(f"worst dry run / import azure.ai.ml: {worst:.2f} -> {c.verdict(worst, TARGET)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
