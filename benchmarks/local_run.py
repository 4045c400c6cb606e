"""Local run overhead: ``amlplatform submit --compute local`` vs running the same script directly.

Two scripts, each measured both ways in the same run:

- ``hello.py``: prints one line (the pure overhead of a local run);
- ``train.py``: ``mlflow.start_run()`` + three ``log_metric`` calls (the MLflow contract: directly it
  logs into a fresh file store; through submit it attaches to the run created for it).

- ours:     ``amlplatform submit --file job.yml --runs-dir R`` (a command job YAML: ``code: .``,
            ``command: python S``, ``compute: local``)
            (snapshot, run folder, run record, the MLflow run written to the file store, the child
            process, outputs moved back, metrics read, record finished)
- baseline: ``python S`` in the same folder, with the same interpreter.

Every command is a fresh process; one uncounted warm-up each. Prints the medians, the ratios and
the absolute overhead (ours - baseline), which is what a user waits for on every local run.
Target (issue 11): overhead <= 0.5 s (it was +1.3-1.6 s while the parent imported mlflow).

    ./dev bench local_run [--quick] [--reps N]
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

TARGET_OVERHEAD_S = 0.5
TRAIN = """import mlflow
with mlflow.start_run():
    for step in range(3):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
print("done")
"""


def main() -> int:
    p = c.parser(__doc__.splitlines()[0], reps=10)
    args = p.parse_args()
    reps = c.reps_of(args)
    c.header("local run: submit --compute local vs python script.py", reps)

    py = c.python()
    amlplatform = Path(py).parent / "amlplatform"
    tmp = Path(tempfile.mkdtemp(prefix="amlplatform-bench-"))
    try:
        project = tmp / "project"
        project.mkdir()
        (project / "hello.py").write_text("print('hello')\n")
        (project / "train.py").write_text(TRAIN)
        runs = tmp / "runs"
        direct_env = {**os.environ, "MLFLOW_TRACKING_URI": (tmp / "direct-mlruns").as_uri(),
                      "MLFLOW_ALLOW_FILE_STORE": "true"}
        rows, overheads = [], []
        for script in ("hello.py", "train.py"):
            job = tmp / f"{script}.job.yml"
            job.write_text(f"type: command\ncode: ./project\ncommand: python {script}\ncompute: local\n"
                           "environment: azureml:AzureML-sklearn-1.5@latest\nexperiment_name: bench\n")
            ours = c.time_cmd([str(amlplatform), "submit", "--file", str(job), "--runs-dir", str(runs)], reps, cwd=project)
            direct = c.time_cmd([py, script], reps, cwd=project, env=direct_env)
            ratio = c.median(ours) / c.median(direct)
            overhead = c.median(ours) - c.median(direct)
            overheads.append((script, overhead))
            rows.append([f"amlplatform submit (python {script})", f"{c.fmt_s(c.median(ours))} ({c.spread(ours)})",
                         f"{ratio:.2f}"])
            rows.append([f"python {script} (baseline)", f"{c.fmt_s(c.median(direct))} ({c.spread(direct)})", "1.00"])
        n_runs = len([d for d in runs.iterdir() if (d / "run.json").is_file()]) if runs.exists() else 0
        c.table(["command", "median (min-max)", "ratio"], rows)
        print()
        for script, overhead in overheads:
            ok = "met" if overhead <= TARGET_OVERHEAD_S else "MISSED"
            shown = c.fmt_s(overhead) if overhead >= 0 else f"-{c.fmt_s(-overhead)} (below the noise of this machine)"
            print(f"overhead per local run of {script}: {shown} -- {ok} (target <= {TARGET_OVERHEAD_S} s)")
        print(f"({n_runs} runs recorded)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
