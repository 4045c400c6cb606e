"""Sweep jobs: the pure sampling and early-termination rules, the YAML's errors, and local sweeps that
run real trials with MLflow (the request body azure-ai-ml sends is test_contract.py's)."""

import io
import math
import random
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from amlplatform.errors import UserError
from amlplatform.runs import sweep as sw
from amlplatform.runs.job import load_job
from amlplatform.runs.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sweep" / "sweep.yml"


# ---------------------------------------------------------------- sampling (pure)

finite = st.floats(min_value=-50, max_value=50, allow_nan=False, allow_infinity=False)


@given(lo=finite, width=st.floats(min_value=0, max_value=20), seed=st.integers(0, 2**31))
def test_uniform_draws_stay_in_their_range(lo, width, seed):
    p = sw.SearchParam("x", "uniform", args=(lo, lo + width))
    x = sw.draw(p, random.Random(seed))
    assert lo <= x <= lo + width


@given(upper=st.integers(1, 1000), seed=st.integers(0, 2**31))
def test_randint_draws_from_zero_to_upper_minus_one(upper, seed):
    x = sw.draw(sw.SearchParam("x", "randint", args=(upper,)), random.Random(seed))
    assert isinstance(x, int) and 0 <= x < upper


@given(lo=st.floats(min_value=-10, max_value=10), width=st.floats(min_value=0, max_value=10),
       q=st.sampled_from([0.5, 1, 2, 5]), seed=st.integers(0, 2**31))
def test_q_distributions_give_multiples_of_q(lo, width, q, seed):
    for kind, args in (("quniform", (lo, lo + width, q)), ("qnormal", (lo, width, q)),
                       ("qloguniform", (min(lo, 3.0), min(lo, 3.0) + min(width, 2.0), q))):
        x = sw.draw(sw.SearchParam("x", kind, args=args), random.Random(seed))
        assert math.isclose(x / q, round(x / q), abs_tol=1e-9), (kind, x)


@given(mu=finite, sigma=st.floats(min_value=0, max_value=3), seed=st.integers(0, 2**31))
def test_log_distributions_are_positive(mu, sigma, seed):
    for kind in ("lognormal",):
        assert sw.draw(sw.SearchParam("x", kind, args=(min(mu, 20), sigma)), random.Random(seed)) > 0
    assert sw.draw(sw.SearchParam("x", "loguniform", args=(-5, 0)), random.Random(seed)) <= 1


@given(values=st.lists(st.lists(st.integers(), min_size=1, max_size=4, unique=True), min_size=1, max_size=3))
def test_grid_is_every_combination_once(values):
    space = {f"p{i}": sw.SearchParam(f"p{i}", "choice", values=tuple(v)) for i, v in enumerate(values)}
    combos = list(sw.grid(space))
    assert len(combos) == math.prod(len(v) for v in values)
    assert len({tuple(c.items()) for c in combos}) == len(combos)


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31), count=st.integers(1, 20))
def test_random_samples_are_reproducible_from_the_seed(seed, count):
    space = {"a": sw.SearchParam("a", "uniform", args=(0, 1)),
             "b": sw.SearchParam("b", "choice", values=("x", "y"))}
    s = sw.Sampling("random", seed=seed)
    assert sw.samples(space, s, count, seed) == sw.samples(space, s, count, seed)
    assert len(sw.samples(space, s, count, seed)) == count


def test_grid_stops_at_max_total_trials_and_values_fill_the_command():
    space = {"lr": sw.SearchParam("lr", "choice", values=(0.1, 0.01)), "n": sw.SearchParam("n", "choice", values=(1, 2))}
    trials = sw.samples(space, sw.Sampling("grid"), 3, 0)
    assert trials == [{"lr": 0.1, "n": 1}, {"lr": 0.1, "n": 2}, {"lr": 0.01, "n": 1}]
    assert sw.trial_command("train --lr ${{search_space.lr}} -n ${{ search_space.n }}", trials[2]) == "train --lr 0.01 -n 1"
    assert sw.trial_command("train --opt ${{search_space.o}}", {"o": "a; rm -rf x"}) == "train --opt 'a; rm -rf x'"


# ---------------------------------------------------------------- early termination (pure)


def test_bandit_stops_a_trial_outside_the_slack_of_the_best_at_that_interval():
    policy = sw.EarlyTermination("bandit", evaluation_interval=1, delay_evaluation=0, slack_factor=0.1)
    hist = {"a": [0.8], "b": [0.75], "c": [0.7]}
    # best 0.8: the limit is 0.8 / 1.1 = 0.727...
    assert sw.stop_reason(policy, "maximize", hist, "b", 1) is None
    assert "bandit" in sw.stop_reason(policy, "maximize", hist, "c", 1)
    # minimize: the limit is best * 1.1
    low = {"a": [1.0], "b": [1.05], "c": [1.2]}
    assert sw.stop_reason(policy, "minimize", low, "b", 1) is None
    assert sw.stop_reason(policy, "minimize", low, "c", 1) is not None
    amount = sw.EarlyTermination("bandit", slack_amount=0.05)
    assert sw.stop_reason(amount, "maximize", hist, "b", 1) is None  # 0.75 >= 0.8 - 0.05
    assert sw.stop_reason(amount, "maximize", hist, "c", 1) is not None


def test_policies_wait_for_delay_evaluation_and_apply_every_interval():
    policy = sw.EarlyTermination("bandit", evaluation_interval=2, delay_evaluation=1, slack_factor=0.0)
    assert [k for k in range(1, 8) if sw.evaluates_at(policy, k)] == [3, 5, 7]
    hist = {"a": [1, 1, 1], "b": [0, 0, 0]}
    assert sw.stop_reason(policy, "maximize", hist, "b", 1) is None
    assert sw.stop_reason(policy, "maximize", hist, "b", 2) is None
    assert sw.stop_reason(policy, "maximize", hist, "b", 3) is not None


def test_median_stopping_compares_the_best_value_with_the_median_of_running_averages():
    policy = sw.EarlyTermination("median_stopping", evaluation_interval=1)
    hist = {"a": [0.9, 0.9], "b": [0.8, 0.85], "c": [0.2, 0.3]}
    # running averages at 2: 0.9, 0.825, 0.25 -> median 0.825; c's best 0.3 is worse
    assert "median" in sw.stop_reason(policy, "maximize", hist, "c", 2)
    assert sw.stop_reason(policy, "maximize", hist, "b", 2) is None
    assert sw.stop_reason(policy, "maximize", {"a": [0.1]}, "a", 1) is None  # one trial: no median


def test_truncation_selection_cancels_the_lowest_percentage():
    policy = sw.EarlyTermination("truncation_selection", evaluation_interval=1, truncation_percentage=50)
    hist = {"a": [0.9], "b": [0.1], "c": [0.5], "d": [0.7]}
    stopped = {t for t in hist if sw.stop_reason(policy, "maximize", hist, t, 1)}
    assert stopped == {"b", "c"}
    assert {t for t in hist if sw.stop_reason(policy, "minimize", hist, t, 1)} == {"a", "d"}


def test_best_trial_ignores_trials_without_the_metric():
    assert sw.best_trial("maximize", {"0": 0.5, "1": None, "2": 0.7}) == "2"
    assert sw.best_trial("minimize", {"0": 0.5, "1": None, "2": 0.7}) == "0"
    assert sw.best_trial("maximize", {"0": None}) is None


# ---------------------------------------------------------------- the YAML


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "t.py").write_text("print('x')\n")
    p = tmp_path / "sweep.yml"
    p.write_text(textwrap.dedent(text))
    return p


BASE = """\
type: sweep
compute: local
trial:
  code: src
  command: python t.py ${{search_space.x}}
  environment: azureml:env:1
search_space:
  x: {type: choice, values: [1, 2]}
sampling_algorithm: grid
objective: {goal: maximize, primary_metric: acc}
limits: {max_total_trials: 2}
"""


@pytest.mark.parametrize("change, field", [
    (("sampling_algorithm: grid", "sampling_algorithm: grid\nextra: 1"), "extra"),
    (("x: {type: choice, values: [1, 2]}", "x: {type: uniform, min_value: 2, max_value: 1}"), "search_space.x"),
    (("x: {type: choice, values: [1, 2]}", "x: {type: choice, values: []}"), "search_space.x.values"),
    (("x: {type: choice, values: [1, 2]}", "x: {type: randint, upper: 0}"), "search_space.x.upper"),
    (("x: {type: choice, values: [1, 2]}", "x: {type: qnormal, mu: 0, sigma: 1, q: 0}"), "search_space.x.q"),
    (("x: {type: choice, values: [1, 2]}", "x: {type: choice, values: [{a: {type: choice, values: [1]}}]}"),
     "search_space.x.values"),
    (("sampling_algorithm: grid", "sampling_algorithm: {type: random, seed: one}"), "sampling_algorithm.seed"),
    (("limits: {max_total_trials: 2}", "limits: {max_total_trials: 0}"), "limits.max_total_trials"),
    (("limits: {max_total_trials: 2}", "limits: {max_total_trials: 2}\nearly_termination: {type: bandit}"),
     "early_termination"),
    (("limits: {max_total_trials: 2}",
      "limits: {max_total_trials: 2}\nearly_termination: {type: truncation_selection, truncation_percentage: 100}"),
     "early_termination.truncation_percentage"),
    (("${{search_space.x}}", "${{search_space.y}}"), "trial.command"),
    (("sampling_algorithm: grid", "sampling_algorithm: grid\nqueue_settings: {job_tier: spot}"), "queue_settings"),
])
def test_bad_sweeps_name_the_field(tmp_path, change, field):
    path = write(tmp_path, BASE.replace(*change))
    with pytest.raises(UserError) as err:
        load_job(path)
    assert any(p.startswith(field) for p in err.value.problems), err.value.problems


def test_the_example_sweep_loads_as_a_local_sweep():
    job = load_job(EXAMPLE)
    assert job.type == "sweep" and job.is_local
    assert job.trial.code.local_path == (ROOT / "examples" / "train").resolve()
    assert set(job.search_space) == {"lr"} and job.limits.max_concurrent_trials == 2


# ---------------------------------------------------------------- local sweeps (real trials, real MLflow)


@pytest.mark.slow
def test_the_example_sweep_runs_every_trial_and_names_the_best(tmp_path):
    job = replace(load_job(EXAMPLE), name="sweep_example")
    out, notes = io.BytesIO(), io.StringIO()
    record = sw.run_sweep_job(job, store=RunStore(tmp_path / "runs"), out=out, notes=notes)
    assert record["status"] == "Completed", (record, notes.getvalue())
    assert [t["parameters"]["lr"] for t in record["trials"]] == [0.01, 0.1, 0.5, 1.0]
    # the bandit policy (slack 0.2 from the second value on) may stop the weakest trials while they run
    for t in record["trials"]:
        assert t["status"] == "Completed" or (t["status"] == "Canceled" and "bandit" in t["early_termination"]), t
    assert [t["status"] for t in record["trials"][2:]] == ["Completed", "Completed"]
    # train.py: accuracy = 1 - exp(-5 lr epochs) / 2 grows with lr
    assert record["best_trial"]["parameters"] == {"lr": 1.0}
    assert record["best_trial"]["primary_metric"] == pytest.approx(1 - math.exp(-5 * 1.0 * 3) / 2)
    # each trial is a run of its own with its MLflow run, its parameter and its output folder
    store = RunStore(tmp_path / "runs")
    for t in record["trials"]:
        trial = store.load(t["run"])
        assert trial["sweep"] == "sweep_example" and trial["parameters"] == t["parameters"]
        assert (Path(trial["mlflow"]["run_dir"]) / "params" / "lr").read_text() == str(t["parameters"]["lr"])
        assert f"--lr {t['parameters']['lr']}" in trial["command"]
    assert "[trial 3] epoch 3" in out.getvalue().decode()
    lines = sw.summary_lines(record)
    assert lines[-1].startswith("best trial: 3 (sweep_example_3) accuracy=")


TRAINER = """\
import sys, time
import mlflow
x = float(sys.argv[1])
with mlflow.start_run():
    for step in range(6):
        mlflow.log_metric("acc", x, step=step)
        # the weak trial reports slowly, so the others have reached each interval when it is judged
        time.sleep(0.8 if x < 0.5 else 0.05)
"""


@pytest.mark.slow
def test_bandit_early_termination_cancels_the_weak_trial_while_it_runs(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "t.py").write_text(TRAINER)
    path = tmp_path / "sweep.yml"
    path.write_text(textwrap.dedent("""\
        type: sweep
        name: bandit_sweep
        compute: local
        trial:
          code: src
          command: python t.py ${{search_space.x}}
          environment: azureml:env:1
        search_space:
          x: {type: choice, values: [0.9, 0.1, 0.85]}
        sampling_algorithm: grid
        objective: {goal: maximize, primary_metric: acc}
        early_termination: {type: bandit, slack_factor: 0.1, evaluation_interval: 1, delay_evaluation: 1}
        limits: {max_total_trials: 3, max_concurrent_trials: 3}
        """))
    notes = io.StringIO()
    record = sw.run_sweep_job(load_job(path), store=RunStore(tmp_path / "runs"), out=io.BytesIO(), notes=notes)
    by_x = {t["parameters"]["x"]: t for t in record["trials"]}
    assert by_x[0.1]["status"] == "Canceled", (record, notes.getvalue())
    assert "bandit" in by_x[0.1]["early_termination"]
    assert by_x[0.9]["status"] == "Completed" and by_x[0.85]["status"] == "Completed"
    assert record["status"] == "Completed" and record["best_trial"]["parameters"] == {"x": 0.9}
    assert "trial 1 stopped early" in notes.getvalue()


@pytest.mark.slow
def test_a_sweep_whose_trials_all_fail_fails(tmp_path):
    path = write(tmp_path, BASE.replace("python t.py", "python -c 'raise SystemExit(3)'"))
    record = sw.run_sweep_job(replace(load_job(path), name="failing_sweep"), store=RunStore(tmp_path / "runs"),
                              out=io.BytesIO(), notes=io.StringIO())
    assert record["status"] == "Failed" and record["exit_code"] == 1
    assert all(t["status"] == "Failed" for t in record["trials"])
    assert record["best_trial"] is None


TRIAL_COMPONENT = """\
type: command
name: trial
inputs:
  base: {type: number, default: 1}
  lr: {type: number, default: 0.1}
outputs:
  model: {type: uri_folder}
code: ./src
command: python fit.py ${{inputs.base}} ${{inputs.lr}} ${{outputs.model}}
environment: azureml:env:1
"""
FIT = """\
import sys
from pathlib import Path
import mlflow
base, lr, out = float(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
with mlflow.start_run():
    mlflow.log_metric("score", base - abs(lr - 0.3))
(out / "model.txt").write_text(str(lr))
"""


@pytest.mark.slow
def test_a_sweep_step_runs_its_trials_and_the_next_step_reads_the_best_trials_output(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "fit.py").write_text(FIT)
    (tmp_path / "trial.yml").write_text(TRIAL_COMPONENT)
    (tmp_path / "p.yml").write_text(textwrap.dedent("""\
        type: pipeline
        settings: {default_compute: local}
        jobs:
          tune:
            type: sweep
            trial: ./trial.yml
            inputs: {base: 2}
            outputs: {model: {type: uri_folder}}
            search_space:
              lr: {type: choice, values: [0.1, 0.3, 0.9]}
            sampling_algorithm: grid
            objective: {goal: maximize, primary_metric: score}
            limits: {max_total_trials: 3, max_concurrent_trials: 3}
          use:
            type: command
            command: cat ${{inputs.m}}/model.txt
            environment: azureml:env:1
            inputs: {m: "${{parent.jobs.tune.outputs.model}}"}
        """))
    from amlplatform.runs.pipeline import run_pipeline_job

    job = load_job(tmp_path / "p.yml")
    assert job.jobs["tune"].kind == "sweep"
    out = io.BytesIO()
    store = RunStore(tmp_path / "runs")
    record = run_pipeline_job(job, store=store, out=out, notes=io.StringIO())
    assert record["status"] == "Completed", record
    sweep_record = store.load(record["steps"]["tune"]["run"])
    assert sweep_record["type"] == "sweep" and sweep_record["pipeline"] == record["name"]
    assert sweep_record["best_trial"]["parameters"] == {"lr": 0.3}
    assert sweep_record["best_trial"]["primary_metric"] == pytest.approx(2.0)
    # each trial got its search-space value as the input of that name (and base 2: the best score is 2.0)
    assert sorted(store.load(t["run"])["command"].split()[3] for t in sweep_record["trials"]) == ["0.1", "0.3", "0.9"]
    assert "[use] 0.3" in out.getvalue().decode()


def test_a_sweep_step_whose_trial_lacks_a_parameter_input_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "trial.yml").write_text(TRIAL_COMPONENT)
    (tmp_path / "p.yml").write_text(textwrap.dedent("""\
        type: pipeline
        settings: {default_compute: local}
        jobs:
          tune:
            type: sweep
            trial: ./trial.yml
            search_space: {momentum: {type: uniform, min_value: 0, max_value: 1}}
            sampling_algorithm: random
            objective: {goal: maximize, primary_metric: score}
            limits: {max_total_trials: 2}
        """))
    with pytest.raises(UserError) as err:
        load_job(tmp_path / "p.yml")
    assert any(p.startswith("jobs.tune.search_space") and "momentum" in p for p in err.value.problems), err.value.problems


@pytest.mark.slow
def test_submit_runs_the_example_sweep_and_runs_show_last_is_the_sweep(tmp_path, capsys):
    from runs_helpers import run_cli

    runs = str(tmp_path / "runs")
    assert run_cli("submit", "--file", str(EXAMPLE), "--runs-dir", runs) == 0
    err = capsys.readouterr().err
    assert "trial 3: Completed" in err and "best trial: 3" in err
    assert run_cli("runs", "show", "last", "--runs-dir", runs) == 0
    shown = capsys.readouterr().out
    assert "type:        sweep" in shown and "trials:" in shown and "lr=1.0" in shown
    # a trial is shown by its name, with the sweep it belongs to and its parameters
    trial = sorted(p.name for p in (tmp_path / "runs").iterdir() if p.name.endswith("_3"))[0]
    assert run_cli("runs", "show", trial, "--runs-dir", runs) == 0
    assert "(trial 3: lr=1.0)" in capsys.readouterr().out


def test_submit_refuses_pass_env_and_environment_current_for_a_cluster(tmp_path, capsys):
    from runs_helpers import run_cli

    outputs = tmp_path / "o.json"
    outputs.write_text('{"workspace_id": "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/'
                       'providers/Microsoft.MachineLearningServices/workspaces/mlw"}')
    code = run_cli("submit", "--file", str(EXAMPLE), "--compute", "cpu", "--outputs-file", str(outputs),
                   "--environment", "current", "--dry-run")
    assert code == 2 and "--environment current is for local runs" in capsys.readouterr().err
