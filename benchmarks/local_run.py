"""Local run overhead: ``amlplatform submit --compute local`` of a trivial script vs running it directly.

- ours:     ``amlplatform submit --source P --script hello.py --compute local --runs-dir R`` (snapshot,
            run folder, run record, the child process, outputs moved back, record finished)
- baseline: ``python hello.py`` in the same folder, with the same interpreter (the one a local run
            gives the script: the project's virtualenv).

Every command is a fresh process; one uncounted warm-up each. Prints the medians, the ratio and the
absolute overhead (ours - baseline), which is what a user waits for on every local run. There is
no target in the issue; the figure is reported.

    ./dev bench local_run [--quick] [--reps N]
"""

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402


def main() -> int:
    p = c.parser(__doc__.splitlines()[0], reps=10)
    args = p.parse_args()
    reps = c.reps_of(args)
    c.header("local run: submit --compute local of a trivial script vs python script.py", reps)

    py = c.python()
    amlplatform = Path(py).parent / "amlplatform"
    tmp = Path(tempfile.mkdtemp(prefix="amlplatform-bench-"))
    try:
        project = tmp / "project"
        project.mkdir()
        (project / "hello.py").write_text("print('hello')\n")
        runs = tmp / "runs"
        ours = c.time_cmd([str(amlplatform), "submit", "--source", str(project), "--script", "hello.py",
                           "--compute", "local", "--runs-dir", str(runs)], reps, cwd=project)
        direct = c.time_cmd([py, "hello.py"], reps, cwd=project)
        n_runs = len([d for d in runs.iterdir() if d.is_dir()]) if runs.exists() else 0
        ratio = c.median(ours) / c.median(direct)
        c.table(["command", "median (min-max)", "ratio"], [
            ["amlplatform submit --compute local", f"{c.fmt_s(c.median(ours))} ({c.spread(ours)})", f"{ratio:.2f}"],
            ["python hello.py (baseline)", f"{c.fmt_s(c.median(direct))} ({c.spread(direct)})", "1.00"],
        ])
        print()
        print(f"overhead per local run: {c.fmt_s(c.median(ours) - c.median(direct))} "
              f"({ratio:.1f}x a bare interpreter start; {n_runs} runs recorded; no target set)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
