"""Local job types: the job's environment built vs reused, a sweep's concurrency, a parallel step vs a loop.

Each figure is measured against its baseline in the same run (repetitions after a warm-up):

- environment: ``runs.envbuild.ensure`` of a one-requirement environment (a wheel made here, pip
  from a local folder, no index), built into a fresh cache each time vs found in the cache.
  Target (issue 18): a cache hit <= 0.3 s.
- sweep: 8 trials of a script that works 0.5 s, at max_concurrent_trials 4 vs 1. Expected ~4x
  faster on 4 idle CPUs; this machine has 2, so ~2x is the ceiling here.
- parallel: a parallel step over 40 files (mini-batches of 5, 4 workers, 50 ms of work per file)
  vs a plain Python loop over the same files doing the same work in one process.

    ./dev bench job_types [--quick] [--reps N]
"""

import io
import os
import sys
import tempfile
import textwrap
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

sys.path.insert(0, str(c.ROOT / "components"))
sys.path.insert(0, str(c.ROOT / "tests" / "runs"))

HIT_TARGET_S = 0.3


def bench_environment(reps: int, tmp: Path) -> None:
    from amlplatform.runs import envbuild
    from test_envbuild import make_wheel

    wheels = tmp / "wheels"
    make_wheel(wheels)
    os.environ.update({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels), "AMLPLATFORM_ENV_INSTALLER": "pip"})
    plan = envbuild.Plan("venv", requirements=("amlp-probe==1.0",), source="benchmark")
    roots = iter(tmp / f"cold-{i}" for i in range(reps + 1))
    cold = c.time_call(lambda: envbuild.ensure(plan, root=next(roots)), reps, warmup=1)
    warm_root = tmp / "warm"
    envbuild.ensure(plan, root=warm_root)
    hit = c.time_call(lambda: envbuild.ensure(plan, root=warm_root), reps * 4, warmup=1)
    print("environment (one requirement, pip from a local folder)")
    c.table(("case", "median (min-max)", "ratio"), [
        ("first build (fresh cache)", f"{c.fmt_s(c.median(cold))} ({c.spread(cold)})", "1.00"),
        ("cache hit", f"{c.fmt_s(c.median(hit))} ({c.spread(hit)})", f"{c.median(hit) / c.median(cold):.4f}"),
    ])
    print(f"cache hit: {c.fmt_s(c.median(hit))}; {c.verdict(c.median(hit), HIT_TARGET_S)}")
    print()


SWEEP = """\
type: sweep
name: {name}
compute: local
trial:
  code: src
  command: python work.py ${{{{search_space.x}}}}
  environment: azureml:env:1
search_space:
  x: {{type: choice, values: [1, 2, 3, 4, 5, 6, 7, 8]}}
sampling_algorithm: grid
objective: {{goal: maximize, primary_metric: score}}
limits: {{max_total_trials: 8, max_concurrent_trials: {concurrency}}}
"""
WORK = "import sys, time\ntime.sleep(0.5)\nprint('trial', sys.argv[1])\n"


def bench_sweep(reps: int, tmp: Path) -> None:
    from amlplatform.runs.job import load_job
    from amlplatform.runs.store import RunStore
    from amlplatform.runs.sweep import run_sweep_job

    (tmp / "src").mkdir()
    (tmp / "src" / "work.py").write_text(WORK)
    jobs = {}
    for concurrency in (4, 1):
        path = tmp / f"sweep-{concurrency}.yml"
        path.write_text(SWEEP.format(name=f"s{concurrency}", concurrency=concurrency))
        jobs[concurrency] = load_job(path)
    counter = iter(range(10 ** 6))

    def run(concurrency: int) -> None:
        job = replace(jobs[concurrency], name=f"s{concurrency}_{next(counter)}")
        rec = run_sweep_job(job, store=RunStore(tmp / "runs"), out=io.BytesIO(), notes=io.StringIO())
        assert rec["status"] == "Completed" and len(rec["trials"]) == 8, rec.get("reason")

    # interleaved: concurrent, sequential, concurrent, ...
    conc, seq = [], []
    run(4)
    for _ in range(reps):
        conc += c.time_call(lambda: run(4), 1, warmup=0)
        seq += c.time_call(lambda: run(1), 1, warmup=0)
    ratios = [a / b for a, b in zip(conc, seq)]
    print("sweep: 8 trials of 0.5 s each")
    c.table(("case", "median (min-max)", "ratio"), [
        ("max_concurrent_trials 4", f"{c.fmt_s(c.median(conc))} ({c.spread(conc)})", f"{c.median(ratios):.2f}"),
        ("max_concurrent_trials 1 (baseline)", f"{c.fmt_s(c.median(seq))} ({c.spread(seq)})", "1.00"),
    ])
    print(f"concurrent / one by one, pair by pair: {c.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) "
          f"on {os.cpu_count()} CPUs")
    print()


PIPELINE = """\
type: pipeline
settings: {default_compute: local, force_rerun: true}
inputs:
  files: {type: uri_folder, path: ./files}
jobs:
  score:
    type: parallel
    inputs: {data: "${{parent.inputs.files}}"}
    outputs: {out: {type: uri_folder}}
    input_data: ${{inputs.data}}
    mini_batch_size: "5"
    max_concurrency_per_instance: 4
    task:
      type: run_function
      code: ./src
      entry_script: score.py
      environment: azureml:env:1
      append_row_to: ${{outputs.out}}
"""
SCORE = textwrap.dedent("""\
    import time
    from pathlib import Path

    def score(f):
        time.sleep(0.05)
        return f"{Path(f).name} {len(Path(f).read_text())}"

    def init():
        pass

    def run(mini_batch):
        return [score(f) for f in mini_batch]
    """)
LOOP = textwrap.dedent("""\
    import sys
    from pathlib import Path
    sys.path.insert(0, "src")
    from score import score
    rows = [score(str(f)) for f in sorted(Path("files").iterdir())]
    Path("rows.txt").write_text("\\n".join(rows) + "\\n")
    """)


def bench_parallel(reps: int, tmp: Path) -> None:
    (tmp / "src").mkdir()
    (tmp / "src" / "score.py").write_text(SCORE)
    (tmp / "files").mkdir()
    for i in range(40):
        (tmp / "files" / f"f{i:02d}.txt").write_text("x" * i)
    (tmp / "p.yml").write_text(PIPELINE)
    (tmp / "loop.py").write_text(LOOP)
    env = {**os.environ, "PYTHONPATH": str(c.ROOT / "components"), "AMLPLATFORM_RUNS_DIR": str(tmp / "runs")}
    submit = [c.python(), "-m", "amlplatform.cli", "submit", "--file", str(tmp / "p.yml")]
    loop = [c.python(), str(tmp / "loop.py")]
    par, base = [], []
    c.time_cmd(submit, 1, warmup=0, cwd=tmp, env=env)
    for _ in range(reps):
        par += c.time_cmd(submit, 1, warmup=0, cwd=tmp, env=env)
        base += c.time_cmd(loop, 1, warmup=0, cwd=tmp, env=env)
    ratios = [a / b for a, b in zip(par, base)]
    print("parallel step: 40 files, 50 ms each, mini-batches of 5, 4 workers (amlplatform submit, whole process)")
    c.table(("case", "median (min-max)", "ratio"), [
        ("parallel step", f"{c.fmt_s(c.median(par))} ({c.spread(par)})", f"{c.median(ratios):.2f}"),
        ("plain loop in one process (baseline)", f"{c.fmt_s(c.median(base))} ({c.spread(base)})", "1.00"),
    ])
    print(f"parallel / loop, pair by pair: {c.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
    print()


def main() -> int:
    args = c.parser(__doc__.splitlines()[0]).parse_args()
    reps = c.reps_of(args)
    c.header("local job types", reps)
    with tempfile.TemporaryDirectory(prefix="amlp-bench-jobs-") as t:
        tmp = Path(t)
        for name, fn in (("env", bench_environment), ("sweep", bench_sweep), ("parallel", bench_parallel)):
            (tmp / name).mkdir()
            fn(reps, tmp / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
