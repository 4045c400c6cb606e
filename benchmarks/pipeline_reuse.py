"""Local pipeline re-run with every step reused: ``amlplatform submit pipeline.yml`` of a 5-step pipeline.

The pipeline (the example pipeline's step scripts and data, copied to a temporary folder):
prep -> train_a, train_b (in parallel) -> evaluate_a, evaluate_b. Measured in the same run:

- full:     the first run, every step executed (one measurement: later runs would reuse);
- reused:   the same command again, nothing changed: all 5 steps reused (repeated);
- one step: the same command with ``--set jobs.evaluate_b.inputs...`` changed so one step re-runs;
- baseline: ``python -c pass`` with the same interpreter (what any CLI costs to start).

Every command is a fresh process. Prints the medians, the ratio reused/full and the absolute time
of the all-reused re-run. Target (issue 11): <= 1 s for 5 steps.

    ./dev bench pipeline_reuse [--quick] [--reps N]
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

TARGET_S = 1.0
EXAMPLE = c.ROOT / "examples" / "pipeline"

STEP = """  {name}:
    type: command
    code: ./src
    command: >-
      {command}
    environment: azureml:AzureML-sklearn-1.5@latest
    inputs:
{inputs}
    outputs:
      {output}:
        type: uri_folder
"""


def pipeline_yaml() -> str:
    steps = [
        ("prep", "python prep.py --raw_data ${{inputs.raw_data}} --prepped_data ${{outputs.prepped_data}}",
         {"raw_data": "${{parent.inputs.raw}}"}, "prepped_data"),
    ]
    for v, lr in (("a", 0.01), ("b", 0.02)):
        steps.append((f"train_{v}", "python train.py --training_data ${{inputs.training_data}} "
                      "--model_output ${{outputs.model_output}} --learning_rate ${{inputs.lr}}",
                      {"training_data": "${{parent.jobs.prep.outputs.prepped_data}}", "lr": lr}, "model_output"))
        steps.append((f"evaluate_{v}", "python evaluate.py --model_input ${{inputs.model_input}} "
                      "--test_data ${{inputs.test_data}} --evaluation_output ${{outputs.evaluation_output}} # ${{inputs.tag}}",
                      {"model_input": f"${{{{parent.jobs.train_{v}.outputs.model_output}}}}",
                       "test_data": "${{parent.jobs.prep.outputs.prepped_data}}", "tag": "v1"}, "evaluation_output"))
    body = "".join(STEP.format(name=n, command=cmd, output=o,
                               inputs="".join(f"      {k}: {json.dumps(v)}\n" for k, v in ins.items()))
                   for n, cmd, ins, o in steps)
    return ("$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\n"
            "type: pipeline\nexperiment_name: bench-pipeline\ncompute: local\n"
            "inputs:\n  raw:\n    type: uri_folder\n    path: ./data\njobs:\n" + body)


def once(argv, cwd) -> float:
    t = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def main() -> int:
    p = c.parser(__doc__.splitlines()[0], reps=10)
    args = p.parse_args()
    reps = c.reps_of(args)
    c.header("local pipeline: 5 steps, re-run with every step reused", reps)
    py = c.python()
    amlplatform = Path(py).parent / "amlplatform"
    tmp = Path(tempfile.mkdtemp(prefix="amlplatform-bench-"))
    try:
        root = tmp / "pipeline"
        shutil.copytree(EXAMPLE / "src", root / "src")
        shutil.copytree(EXAMPLE / "data", root / "data")
        (root / "pipeline.yml").write_text(pipeline_yaml())
        runs = tmp / "runs"
        submit = [str(amlplatform), "submit", str(root / "pipeline.yml"), "--runs-dir", str(runs)]
        full = once(submit, root)
        reused = c.time_cmd(submit, reps, warmup=0, cwd=root)
        one = [once(submit + ["--set", f"jobs.evaluate_b.inputs.tag=v{i + 2}"], root) for i in range(max(2, reps // 3))]
        base = c.time_cmd([py, "-c", "pass"], reps, cwd=root)
        records = [json.loads((d / "run.json").read_text()) for d in runs.iterdir() if (d / "run.json").is_file()]
        pipelines = sorted((r for r in records if r.get("type") == "pipeline"), key=lambda r: r["created_at"])
        all_reused = sum(1 for r in pipelines[1:1 + reps] if len(r.get("reused_steps") or []) == 5)
        c.table(["command", "median (min-max)", "ratio to full"], [
            ["full run (5 steps executed, 1 run)", c.fmt_s(full), "1.00"],
            ["re-run, all 5 steps reused", f"{c.fmt_s(c.median(reused))} ({c.spread(reused)})", f"{c.median(reused) / full:.3f}"],
            ["re-run, 1 step changed (4 reused)", f"{c.fmt_s(c.median(one))} ({c.spread(one)})", f"{c.median(one) / full:.3f}"],
            ["python -c pass (baseline)", f"{c.fmt_s(c.median(base))} ({c.spread(base)})", f"{c.median(base) / full:.3f}"],
        ])
        print()
        ok = "met" if c.median(reused) <= TARGET_S else "MISSED"
        print(f"all-reused re-run: {c.fmt_s(c.median(reused))} -- {ok} (target <= {TARGET_S:g} s for 5 steps); "
              f"{all_reused}/{len(pipelines[1:1 + reps])} re-runs reused all 5 steps")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
