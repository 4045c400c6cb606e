"""Sweep jobs (hyperparameter tuning): the entity, its YAML, sampling, early termination, the local runner.

The YAML is Azure ML's ``type: sweep`` job (CLI v2 ``sweepJob.schema.json``; azure-ai-ml 1.35
``_schema/_sweep``): a ``trial`` (a command job without inputs/outputs of its own, its command using
``${{search_space.<name>}}`` as well as ``${{inputs.x}}``/``${{outputs.y}}``), ``search_space``
(choice, randint, uniform, quniform, loguniform, qloguniform, normal, qnormal, lognormal, qlognormal),
``sampling_algorithm`` (grid, random with ``seed``/``rule``, bayesian), ``objective`` (``goal``,
``primary_metric``), ``early_termination`` (bandit, median_stopping, truncation_selection) and
``limits`` (``max_total_trials`` required; ``max_concurrent_trials``, ``timeout``, ``trial_timeout``).

On Azure ML the body is azure-ai-ml's ``SweepJob._to_rest_object`` (``jobbody.sweep_body``; the
contract test compares them). On this machine (``run_sweep_job``) trials run as local command runs,
at most ``max_concurrent_trials`` at a time, each reading its objective from its own MLflow run:

- **Sampling.** ``grid``: every combination of the choices, in file order (Azure ML allows only
  ``choice`` with grid, https://learn.microsoft.com/azure/machine-learning/how-to-tune-hyperparameters
  "Grid sampling"); ``random``: independent draws, reproducible with ``seed`` (a drawn seed is
  recorded otherwise); ``rule: sobol`` and ``bayesian`` are **approximated by random draws locally**
  (Azure ML's Bayesian sampling picks each sample from the earlier ones' results; locally every
  trial is drawn independently, and the record says so).
- **Early termination**, as the Learn page ("Early termination") defines the policies, applied
  each time a trial logs its primary metric, from the ``delay_evaluation``-th value on and then
  every ``evaluation_interval`` values: *bandit* cancels a trial whose value at that interval is
  outside ``slack_factor`` (ratio) or ``slack_amount`` (absolute) of the best value any trial had at
  the same interval; *median stopping* cancels a trial whose best value so far is worse than the
  median of all trials' running averages at that interval; *truncation selection* cancels the
  trials in the lowest ``truncation_percentage`` percent at that interval. A cancelled trial is
  recorded ``Canceled`` with the rule and the numbers that stopped it.
- **The best trial** is the one whose last logged primary metric is best for ``goal``; trials that
  logged no primary metric cannot be best (the record says so).
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import math
import os
import random
import re
import signal
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping, Optional, Sequence

from amlplatform.errors import UserError

SEARCH_TYPES = ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal",
                "lognormal", "qlognormal")
# the keys each search-space type takes (azure-ai-ml _schema/_sweep/search_space/*.py)
_PARAM_KEYS = {
    "choice": ("values",), "randint": ("upper",),
    "uniform": ("min_value", "max_value"), "loguniform": ("min_value", "max_value"),
    "quniform": ("min_value", "max_value", "q"), "qloguniform": ("min_value", "max_value", "q"),
    "normal": ("mu", "sigma"), "lognormal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"), "qlognormal": ("mu", "sigma", "q"),
}
SAMPLING_TYPES = ("grid", "random", "bayesian")
RANDOM_RULES = ("random", "sobol")
POLICY_TYPES = ("bandit", "median_stopping", "truncation_selection")
GOALS = ("maximize", "minimize")
SEARCH_REF = re.compile(r"\$\{\{\s*search_space\.([A-Za-z0-9_.-]+)\s*\}\}")
PARAM_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")  # azure-ai-ml validate_key_contains_allowed_characters


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: str
    values: tuple[Any, ...] = ()  # choice
    args: tuple[float, ...] = ()  # the numbers, in _PARAM_KEYS order


@dataclass(frozen=True)
class Sampling:
    type: str = "random"
    seed: Optional[int] = None
    rule: Optional[str] = None
    logbase: Any = None  # a number or "e" (random sampling of log distributions), sent as given


@dataclass(frozen=True)
class Objective:
    goal: str
    primary_metric: str


@dataclass(frozen=True)
class EarlyTermination:
    type: str
    evaluation_interval: Optional[int] = None
    delay_evaluation: Optional[int] = None
    slack_factor: Optional[float] = None
    slack_amount: Optional[float] = None
    truncation_percentage: Optional[int] = None


@dataclass(frozen=True)
class SweepLimits:
    max_total_trials: int
    max_concurrent_trials: Optional[int] = None
    timeout: Optional[int] = None
    trial_timeout: Optional[int] = None


@dataclass(frozen=True)
class SweepJob:
    source: Optional[Path]
    base_dir: Path
    trial: Any  # runs.job.CommandJob: the sweep's inputs, outputs and compute, the trial's command
    search_space: Mapping[str, SearchParam]
    objective: Objective
    limits: SweepLimits
    sampling: Sampling = field(default_factory=Sampling)
    early_termination: Optional[EarlyTermination] = None
    name: Optional[str] = None
    display_name: Optional[str] = None
    description: Optional[str] = None
    experiment_name: Optional[str] = None
    tags: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, str] = field(default_factory=dict)
    compute: Optional[str] = None
    identity: Any = None
    type: str = "sweep"

    @property
    def is_local(self) -> bool:
        return self.compute == "local"

    @property
    def inputs(self) -> Mapping[str, Any]:
        return self.trial.inputs

    @property
    def outputs(self) -> Mapping[str, Any]:
        return self.trial.outputs


# ---------------------------------------------------------------------------- YAML

_SWEEP_KEYS = ("$schema", "type", "name", "display_name", "description", "tags", "properties", "experiment_name",
               "compute", "identity", "trial", "inputs", "outputs", "search_space", "sampling_algorithm", "objective",
               "early_termination", "limits", "resources", "queue_settings")
# azure-ai-ml ParameterizedCommandSchema: a trial has no limits, inputs, outputs or compute of its own
_TRIAL_KEYS = ("code", "command", "environment", "environment_variables", "resources", "distribution", "type",
               "$schema")


def parse_sweep(d: Mapping[str, Any], base_dir: Path, source: Optional[Path], problems: Any) -> Optional[SweepJob]:
    """A ``type: sweep`` mapping -> ``SweepJob`` (problems added to ``problems``, a ``job._Problems``)."""
    from amlplatform.runs import job as j

    j._unknown(d, _SWEEP_KEYS, "", problems)
    if "queue_settings" in d:
        problems.add("queue_settings", "queue_settings is not supported by amlplatform submit")
    space = _search_space(d.get("search_space"), problems)
    sampling = _sampling(d.get("sampling_algorithm"), problems)
    objective = _objective(d.get("objective"), problems)
    limits = _limits(d.get("limits"), problems)
    policy = _policy(d.get("early_termination"), problems)
    raw_trial = d.get("trial")
    trial = None
    if raw_trial is None:
        problems.add("trial", "Missing data for required field.")
    elif not isinstance(raw_trial, Mapping):
        problems.add("trial", "Invalid input type.")
    else:
        j._unknown(raw_trial, _TRIAL_KEYS, "trial", problems)
        body = {k: v for k, v in raw_trial.items() if k not in ("type", "$schema")}
        for k in ("inputs", "outputs", "compute", "identity"):
            if k in d:
                body[k] = d[k]
        if "resources" in d and "resources" not in body:
            body["resources"] = d["resources"]
        trial = j._command_job(body, "trial", base_dir, source, problems, in_pipeline=False,
                               search_space=tuple(space or ()))
    if sampling is not None and sampling.type == "grid" and space:
        not_choice = [n for n, p in space.items() if p.type != "choice"]
        if not_choice:
            problems.add("search_space", f"grid sampling takes only choice parameters ({', '.join(not_choice)} "
                         "are not): https://learn.microsoft.com/azure/machine-learning/how-to-tune-hyperparameters")
    meta = j._metadata(d, "", problems)
    if meta["experiment_name"] is None:
        meta["experiment_name"] = j.default_experiment_name()
    compute = j._compute(d.get("compute"), "compute", problems)
    if problems.items or trial is None or space is None or objective is None or limits is None or sampling is None:
        return None
    return SweepJob(source=source, base_dir=base_dir, trial=trial, search_space=space, sampling=sampling,
                    objective=objective, limits=limits, early_termination=policy, compute=compute,
                    identity=trial.identity, **meta)


def _number(v: Any, path: str, problems: Any, *, integer: bool = False) -> Optional[float]:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        problems.add(path, "Not a valid integer." if integer else "Not a valid number.")
        return None
    if isinstance(v, float) and not math.isfinite(v):
        problems.add(path, "must be a finite number")
        return None
    return v


def _search_space(v: Any, problems: Any) -> Optional[dict[str, SearchParam]]:
    if v is None:
        problems.add("search_space", "Missing data for required field.")
        return None
    if not isinstance(v, Mapping) or not v:
        problems.add("search_space", "give at least one parameter: name: {type: choice, values: [...]}")
        return None
    out: dict[str, SearchParam] = {}
    for name, spec in v.items():
        path = f"search_space.{name}"
        if not isinstance(name, str) or not PARAM_NAME.match(name):
            problems.add(path, "a parameter name is letters, digits, '_', '-' and '.'")
            continue
        if not isinstance(spec, Mapping):
            problems.add(path, "Invalid input type: give {type: choice, values: [...]} or a distribution")
            continue
        t = spec.get("type")
        if t not in SEARCH_TYPES:
            problems.add(f"{path}.type", f"Value {t!r} passed is not in set {list(SEARCH_TYPES)}")
            continue
        keys = _PARAM_KEYS[t]
        extra = sorted(set(spec) - {"type", *keys})
        if extra:
            problems.add(f"{path}.{extra[0]}", f"Unknown field (a {t} parameter takes {', '.join(keys)})")
        if t == "choice":
            values = spec.get("values")
            if not isinstance(values, list) or not values:
                problems.add(f"{path}.values", "give a non-empty list of values")
                continue
            if any(isinstance(x, (Mapping, list)) for x in values):
                problems.add(f"{path}.values", "nested search spaces (a mapping inside choice) are not supported by "
                             "amlplatform; give plain values")
                continue
            out[name] = SearchParam(name, t, values=tuple(values))
            continue
        args = []
        for k in keys:
            if k not in spec:
                problems.add(f"{path}.{k}", "Missing data for required field.")
                continue
            n = _number(spec[k], f"{path}.{k}", problems, integer=(k == "upper"))
            if n is not None:
                args.append(n)
        if len(args) != len(keys):
            continue
        if t == "randint" and args[0] < 1:
            problems.add(f"{path}.upper", "must be at least 1 (values are drawn from 0 to upper - 1)")
            continue
        if "min_value" in keys and args[0] > args[1]:
            problems.add(f"{path}.max_value", "must be at least min_value")
            continue
        if "sigma" in keys and args[1] < 0:
            problems.add(f"{path}.sigma", "must not be negative")
            continue
        if "q" in keys and args[-1] <= 0:
            problems.add(f"{path}.q", "must be greater than 0")
            continue
        out[name] = SearchParam(name, t, args=tuple(args))
    return out


def _sampling(v: Any, problems: Any) -> Optional[Sampling]:
    if v is None:
        problems.add("sampling_algorithm", "Missing data for required field.")
        return None
    if isinstance(v, str):
        if v not in SAMPLING_TYPES:
            problems.add("sampling_algorithm", f"Value {v!r} passed is not in set {list(SAMPLING_TYPES)}")
            return None
        return Sampling(v)
    if not isinstance(v, Mapping):
        problems.add("sampling_algorithm", "Invalid input type.")
        return None
    t = v.get("type")
    if t not in SAMPLING_TYPES:
        problems.add("sampling_algorithm.type", f"Value {t!r} passed is not in set {list(SAMPLING_TYPES)}")
        return None
    allowed = ("type", "seed", "rule", "logbase") if t == "random" else ("type",)
    extra = sorted(set(v) - set(allowed))
    if extra:
        problems.add(f"sampling_algorithm.{extra[0]}", "Unknown field.")
    seed = v.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        problems.add("sampling_algorithm.seed", "Not a valid integer.")
        seed = None
    rule = v.get("rule")
    if rule is not None and rule not in RANDOM_RULES:
        problems.add("sampling_algorithm.rule", f"Value {rule!r} passed is not in set {list(RANDOM_RULES)}")
        rule = None
    logbase = v.get("logbase")
    if logbase is not None and (isinstance(logbase, bool) or not isinstance(logbase, (int, float, str))):
        problems.add("sampling_algorithm.logbase", "give a number or 'e'")
        logbase = None
    return Sampling(t, seed=seed, rule=rule, logbase=logbase)


def _objective(v: Any, problems: Any) -> Optional[Objective]:
    if not isinstance(v, Mapping):
        problems.add("objective", "Missing data for required field." if v is None else "Invalid input type.")
        return None
    extra = sorted(set(v) - {"goal", "primary_metric"})
    if extra:
        problems.add(f"objective.{extra[0]}", "Unknown field.")
    goal, metric = v.get("goal"), v.get("primary_metric")
    ok = True
    if goal not in GOALS:
        problems.add("objective.goal", f"Value {goal!r} passed is not in set {list(GOALS)}")
        ok = False
    if not isinstance(metric, str) or not metric:
        problems.add("objective.primary_metric", "Missing data for required field." if metric is None
                     else "Not a valid string.")
        ok = False
    return Objective(goal, metric) if ok else None


def _limits(v: Any, problems: Any) -> Optional[SweepLimits]:
    from amlplatform.runs import job as j

    if not isinstance(v, Mapping):
        problems.add("limits", "Missing data for required field." if v is None else "Invalid input type.")
        return None
    j._unknown(v, ("max_total_trials", "max_concurrent_trials", "timeout", "trial_timeout"), "limits", problems)
    total = j._int(v.get("max_total_trials"), "limits.max_total_trials", problems)
    if "max_total_trials" not in v:
        problems.add("limits.max_total_trials", "Missing data for required field.")
    values = {k: j._int(v.get(k), f"limits.{k}", problems) for k in ("max_concurrent_trials", "timeout", "trial_timeout")}
    for k, x in (("max_total_trials", total), *values.items()):
        if x is not None and x < 1:
            problems.add(f"limits.{k}", "Must be greater than or equal to 1.")
            return None
    if total is None:
        return None
    return SweepLimits(max_total_trials=total, **values)


def _policy(v: Any, problems: Any) -> Optional[EarlyTermination]:
    from amlplatform.runs import job as j

    if v is None:
        return None
    if not isinstance(v, Mapping):
        problems.add("early_termination", "Invalid input type.")
        return None
    t = v.get("type")
    if t not in POLICY_TYPES:
        problems.add("early_termination.type", f"Value {t!r} passed is not in set {list(POLICY_TYPES)}")
        return None
    own = {"bandit": ("slack_factor", "slack_amount"), "median_stopping": (),
           "truncation_selection": ("truncation_percentage",)}[t]
    j._unknown(v, ("type", "evaluation_interval", "delay_evaluation", *own), "early_termination", problems)
    ints = {k: j._int(v.get(k), f"early_termination.{k}", problems) for k in ("evaluation_interval", "delay_evaluation")}
    floats = {}
    for k in ("slack_factor", "slack_amount"):
        if k in own and v.get(k) is not None:
            floats[k] = _number(v[k], f"early_termination.{k}", problems)
    pct = None
    if t == "truncation_selection":
        pct = j._int(v.get("truncation_percentage"), "early_termination.truncation_percentage", problems)
        if "truncation_percentage" not in v:
            problems.add("early_termination.truncation_percentage", "Missing data for required field.")
        elif pct is not None and not 1 <= pct <= 99:
            problems.add("early_termination.truncation_percentage", "must be between 1 and 99")
    if t == "bandit" and not floats:
        problems.add("early_termination", "a bandit policy needs slack_factor or slack_amount")
    return EarlyTermination(t, truncation_percentage=pct, **ints, **floats)


# ---------------------------------------------------------------------------- sampling (pure)


def draw(param: SearchParam, rng: random.Random) -> Any:
    """One value of ``param`` (the distributions of the Learn page "Define the search space")."""
    t, a = param.type, param.args
    if t == "choice":
        return rng.choice(param.values)
    if t == "randint":
        return rng.randrange(int(a[0]))
    if t == "uniform":
        return rng.uniform(a[0], a[1])
    if t == "loguniform":
        return math.exp(rng.uniform(a[0], a[1]))
    if t == "normal":
        return rng.gauss(a[0], a[1])
    if t == "lognormal":
        return math.exp(rng.gauss(a[0], a[1]))
    q = a[-1]
    if t == "quniform":
        x = rng.uniform(a[0], a[1])
    elif t == "qloguniform":
        x = math.exp(rng.uniform(a[0], a[1]))
    elif t == "qnormal":
        x = rng.gauss(a[0], a[1])
    else:  # qlognormal
        x = math.exp(rng.gauss(a[0], a[1]))
    return quantize(x, q)


def quantize(x: float, q: float) -> float:
    """``round(x / q) * q`` (the q-distributions of the search space), an int when ``q`` and the result are."""
    v = round(x / q) * q
    return int(v) if float(q).is_integer() and float(v).is_integer() else v


def grid(space: Mapping[str, SearchParam]) -> Iterator[dict[str, Any]]:
    """Every combination of the choices, the first parameter changing slowest."""
    names = list(space)
    for combo in itertools.product(*(space[n].values for n in names)):
        yield dict(zip(names, combo))


def samples(space: Mapping[str, SearchParam], sampling: Sampling, count: int, seed: int) -> list[dict[str, Any]]:
    """The parameters of up to ``count`` trials (grid: at most the number of combinations)."""
    if sampling.type == "grid":
        return list(itertools.islice(grid(space), count))
    rng = random.Random(seed)
    return [{n: draw(p, rng) for n, p in space.items()} for _ in range(count)]


def value_text(value: Any) -> str:
    """A sampled value as it is put into the trial's command (``str()``, as the service formats it)."""
    return str(value)


def trial_command(command: str, params: Mapping[str, Any]) -> str:
    """The trial's command with its sampled values, each one shell word (quoted as local runs quote every
    substituted value: docs/local-runs-security.md)."""
    import shlex

    return SEARCH_REF.sub(lambda m: shlex.quote(value_text(params[m.group(1)])), command)


# ---------------------------------------------------------------------------- early termination (pure)


def _better(goal: str, a: float, b: float) -> bool:
    return a > b if goal == "maximize" else a < b


def evaluates_at(policy: EarlyTermination, k: int) -> bool:
    """Whether the policy is applied when a trial logs its ``k``-th value (1-based)."""
    delay = policy.delay_evaluation or 0
    every = policy.evaluation_interval or 1
    return k > delay and (k - delay) % every == 0


def stop_reason(policy: EarlyTermination, goal: str, histories: Mapping[str, Sequence[float]], trial: str,
                k: int) -> Optional[str]:
    """Why ``trial`` stops at its ``k``-th primary-metric value, or None (``histories``: every trial's values)."""
    mine = histories[trial]
    if len(mine) < k or not evaluates_at(policy, k):
        return None
    at_k = {t: h[k - 1] for t, h in histories.items() if len(h) >= k}
    value = mine[k - 1]
    if policy.type == "bandit":
        best = max(at_k.values()) if goal == "maximize" else min(at_k.values())
        limits = []
        if policy.slack_factor is not None:
            limits.append(best / (1 + policy.slack_factor) if goal == "maximize" else best * (1 + policy.slack_factor))
        if policy.slack_amount is not None:
            limits.append(best - policy.slack_amount if goal == "maximize" else best + policy.slack_amount)
        # the most permissive limit of those given
        limit = min(limits) if goal == "maximize" else max(limits)
        if _better(goal, limit, value):
            return (f"bandit: value {value:g} at interval {k} is outside the slack of the best trial's {best:g} "
                    f"(limit {limit:g})")
        return None
    if policy.type == "median_stopping":
        averages = [statistics.fmean(h[:k]) for h in histories.values() if len(h) >= k]
        if len(averages) < 2:
            return None
        median = statistics.median(averages)
        best_so_far = max(mine[:k]) if goal == "maximize" else min(mine[:k])
        if _better(goal, median, best_so_far):
            return (f"median stopping: best value {best_so_far:g} by interval {k} is worse than the median "
                    f"{median:g} of the trials' running averages")
        return None
    # truncation selection: the lowest percentage at this interval
    ranked = sorted(at_k, key=lambda t: at_k[t], reverse=(goal == "maximize"))
    cut = int(len(ranked) * (policy.truncation_percentage or 0) / 100)
    if cut and trial in ranked[len(ranked) - cut:]:
        return (f"truncation selection: value {value:g} at interval {k} is in the lowest "
                f"{policy.truncation_percentage}% of {len(ranked)} trials")
    return None


def best_trial(goal: str, finals: Mapping[str, Optional[float]]) -> Optional[str]:
    scored = {t: v for t, v in finals.items() if v is not None and not math.isnan(v)}
    if not scored:
        return None
    return (max if goal == "maximize" else min)(scored, key=lambda t: scored[t])


# ---------------------------------------------------------------------------- on this machine


def metric_history(run_dir: Optional[str], metric: str) -> list[float]:
    """The values an MLflow file-store run logged for ``metric``, in order (``<ts> <value> <step>`` lines)."""
    if not run_dir:
        return []
    path = Path(run_dir) / "metrics" / metric
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2:
            try:
                out.append(float(parts[1]))
            except ValueError:
                continue
    return out


def _write_params(run_dir: Optional[str], params: Mapping[str, Any]) -> None:
    """The trial's hyperparameters as MLflow params (file store: ``params/<key>`` holds the value)."""
    if not run_dir:
        return
    folder = Path(run_dir) / "params"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for k, v in params.items():
            (folder / k).write_text(value_text(v), encoding="utf-8")
    except OSError:
        pass


def run_sweep_job(job: SweepJob, *, store: Any, out: Optional[BinaryIO] = None, notes: Optional[Any] = None,
                  poll_seconds: float = 0.25, seed: Optional[int] = None,
                  bound_inputs: Optional[Mapping[str, Path]] = None, extra: Optional[Mapping[str, Any]] = None,
                  mlflow_tags: Optional[Mapping[str, str]] = None, where: str = "trial",
                  cancel: Optional[threading.Event] = None, pass_env: Sequence[str] = (),
                  environment_mode: str = "job") -> dict[str, Any]:
    """Run a sweep on this machine: trials as local command runs, early termination, the best trial.

    In a pipeline (a ``type: sweep`` step): ``bound_inputs`` are the step inputs another step produced,
    ``extra`` goes into the sweep's record (pipeline, step), ``mlflow_tags`` onto its MLflow run;
    ``cancel`` (the pipeline stopping) cancels every trial."""
    from amlplatform.runs import local
    from amlplatform.runs.gitinfo import git_properties
    from amlplatform.runs.pipeline import _PrefixedOut, _Quiet
    from amlplatform.runs.store import create_mlflow_run, end_mlflow_run, fresh_lifecycle

    out = out if out is not None else sys.stdout.buffer
    notes = notes if notes is not None else sys.stderr
    snapshot, folder = local.job_snapshot(job.trial)
    env_vars = dict(job.trial.environment_variables or {})
    problems = local.command_problems(trial_command(job.trial.command, _placeholder_params(job)), snapshot,
                                      path=local._child_path(env_vars))
    if problems:
        raise UserError("the sweep's trial cannot run:", [f"trial.{p}" for p in problems])
    git = git_properties(folder)
    seed = job.sampling.seed if job.sampling.seed is not None else (seed if seed is not None else random.SystemRandom().randrange(2**31))
    trials = samples(job.search_space, job.sampling, job.limits.max_total_trials, seed)
    concurrency = max(1, min(job.limits.max_concurrent_trials or len(trials), len(trials)))
    approx = []
    if job.sampling.type == "bayesian":
        approx.append("bayesian sampling is approximated by independent random draws on this machine")
    if job.sampling.rule == "sobol":
        approx.append("the sobol rule is approximated by random draws on this machine")
    record: dict[str, Any] = {
        "name": job.name, "type": "sweep", "job_file": str(job.source) if job.source else None,
        "experiment": local._safe_experiment(job.experiment_name), "display_name": job.display_name,
        "description": job.description, "compute": "local", "command": job.trial.command, "tags": dict(job.tags),
        **fresh_lifecycle(),
        "sweep_settings": {"sampling": job.sampling.type, "seed": seed, "objective": {"goal": job.objective.goal,
                                                                         "primary_metric": job.objective.primary_metric},
                  "early_termination": job.early_termination.type if job.early_termination else None,
                  "max_total_trials": job.limits.max_total_trials, "max_concurrent_trials": concurrency,
                  "approximations": approx},
        "trials": [{"index": i, "parameters": p, "status": "NotStarted"} for i, p in enumerate(trials)],
        "named_outputs": {},
        **dict(extra or {}),
    }
    record["status"] = "NotStarted"
    record["status_history"] = [{"status": "NotStarted", "time": record["created_at"]}]
    store.create(record)
    for note in approx:
        local._note(notes, f"note: {note}")
    lock, out_lock = threading.Lock(), threading.Lock()
    uri = store.mlruns.resolve().as_uri()
    try:
        parent_mlflow = create_mlflow_run(store.mlruns, record["experiment"], record["name"],
                                          {"amlplatform.type": "sweep", **dict(mlflow_tags or {})})
        record["mlflow"] = {"tracking_uri": uri, "available": True, **parent_mlflow}
    except OSError as exc:
        parent_mlflow = None
        record.setdefault("warnings", []).append(f"could not create the MLflow run: {exc}")
    cancels = [threading.Event() for _ in trials]
    stopped: dict[int, str] = {}
    run_dirs: dict[int, str] = {}
    deadline = time.monotonic() + job.limits.timeout if job.limits.timeout else None

    def save() -> None:
        with lock:
            store.save(record)

    def run_trial(i: int) -> dict[str, Any]:
        params = trials[i]
        tj = replace(job.trial, command=trial_command(job.trial.command, params),
                     timeout=job.limits.trial_timeout or job.trial.timeout)
        name = f"{record['name']}_{i}"
        tags = {"amlplatform.sweep": record["name"], "amlplatform.trial": str(i)}
        if parent_mlflow is not None:
            tags["mlflow.parentRunId"] = parent_mlflow["run_id"]
        with lock:
            record["trials"][i].update({"status": "Running", "run": name})
        save()
        sink = _PrefixedOut(out, f"[trial {i}] ", out_lock)
        try:
            return local.run_command_job(tj, store=store, out=sink, notes=_Quiet(notes), snapshot=snapshot, git=git,
                                         cancel=cancels[i], mlflow_tags=tags, where=where, bound_inputs=bound_inputs,
                                         pass_env=pass_env, environment_mode=environment_mode,
                                         extra={"name": name, "sweep": record["name"], "trial": i,
                                                "parameters": params, "experiment": record["experiment"]})
        finally:
            sink.close_line()

    def histories() -> dict[str, list[float]]:
        hs = {}
        for i, t in enumerate(record["trials"]):
            if i not in run_dirs and t.get("run"):
                try:
                    rd = (store.load(t["run"]).get("mlflow") or {}).get("run_dir")
                except UserError:
                    rd = None
                if rd:
                    run_dirs[i] = rd
            if i in run_dirs:
                hs[str(i)] = metric_history(run_dirs[i], job.objective.primary_metric)
        return hs

    checked: dict[int, int] = {}  # trial -> the last interval the policy was applied at

    def apply_policy(running_now: Sequence[int]) -> None:
        policy = job.early_termination
        if policy is None:
            return
        hs = histories()
        for i in running_now:
            if i in stopped or str(i) not in hs:
                continue
            # each interval is judged once, when it is first seen, against the trials that reached it by then
            first, checked[i] = checked.get(i, 0) + 1, len(hs[str(i)])
            for k in range(first, len(hs[str(i)]) + 1):
                why = stop_reason(policy, job.objective.goal, hs, str(i), k)
                if why:
                    stopped[i] = why
                    local._note(notes, f"sweep {record['name']}: trial {i} stopped early ({why})")
                    cancels[i].set()
                    break

    on_main = threading.current_thread() is threading.main_thread()
    old: dict[int, Any] = {}

    def on_signal(signum, frame):
        raise local._Cancel(signum)

    pending = list(range(len(trials)))
    running: dict[cf.Future, int] = {}
    results: dict[int, dict[str, Any]] = {}
    canceled: Optional[str] = None
    pool = cf.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="trial")
    try:
        if on_main:
            for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
                if sig is not None:
                    old[sig] = signal.signal(sig, on_signal)
        store.transition(record, "Running")
        local._note(notes, f"sweep {record['name']}: {len(trials)} trials ({job.sampling.type} sampling, seed {seed}), "
                           f"at most {concurrency} at a time")
        while pending or running:
            if cancel is not None and cancel.is_set() and canceled is None:
                canceled = "the pipeline stopped"
                for e in cancels:
                    e.set()
                pending = []
            if deadline is not None and time.monotonic() > deadline and canceled is None:
                canceled = f"limits.timeout ({job.limits.timeout} s) reached"
                for e in cancels:
                    e.set()
                pending = []
            while pending and len(running) < concurrency and canceled is None:
                i = pending.pop(0)
                running[pool.submit(run_trial, i)] = i
            done, _ = cf.wait(list(running), timeout=poll_seconds, return_when=cf.FIRST_COMPLETED)
            apply_policy(list(running.values()))
            for fut in done:
                i = running.pop(fut)
                try:
                    rec = fut.result()
                except UserError as exc:
                    with lock:
                        record["trials"][i].update({"status": "Failed", "why": str(exc)})
                    continue
                results[i] = rec
                with lock:
                    entry = record["trials"][i]
                    entry.update({"status": rec["status"], "run": rec["name"], "exit_code": rec.get("exit_code")})
                    if i in stopped:
                        entry.update({"status": "Canceled", "early_termination": stopped[i]})
                    elif rec.get("reason"):
                        entry["reason"] = rec["reason"]
                _write_params((rec.get("mlflow") or {}).get("run_dir"), trials[i])
                save()
    except (KeyboardInterrupt, local._Cancel) as exc:
        if on_main:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        canceled = local._cancel_reason(exc)
        for e in cancels:
            e.set()
        cf.wait(list(running))
        for fut, i in running.items():
            try:
                rec = fut.result()
                results[i] = rec
                record["trials"][i].update({"status": rec["status"], "run": rec["name"]})
            except BaseException as e:  # noqa: BLE001 - recorded, the sweep is being canceled anyway
                record["trials"][i].update({"status": "Failed", "why": str(e)})
        if on_main:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    finally:
        pool.shutdown(wait=True)
        if on_main:
            for sig, h in old.items():
                signal.signal(sig, h)
    for i in pending:
        record["trials"][i].update({"status": "Skipped", "why": canceled or "the sweep stopped"})
    hs = histories()
    finals = {}
    for i, t in enumerate(record["trials"]):
        h = hs.get(str(i)) or []
        t["primary_metric"] = h[-1] if h else None
        finals[str(i)] = h[-1] if h and t["status"] in ("Completed", "Canceled") else None
    best = best_trial(job.objective.goal, finals)
    record["best_trial"] = None if best is None else {"index": int(best), "run": record["trials"][int(best)].get("run"),
                                                      "parameters": trials[int(best)], "primary_metric": finals[best]}
    if best is not None:
        winner = results.get(int(best))
        if winner is not None:
            record["named_outputs"] = winner.get("named_outputs") or {}
    ok = [t for t in record["trials"] if t["status"] == "Completed" or t.get("early_termination")]
    if canceled is not None and not (canceled.startswith("limits.timeout") and ok):
        status, reason, code = "Canceled", canceled, local.EXIT_CANCELED
    elif not ok:
        status, reason, code = "Failed", "no trial completed", 1
    else:
        status, reason, code = "Completed", canceled, 0
        if best is None:
            record.setdefault("warnings", []).append(
                f"no trial logged the primary metric {job.objective.primary_metric!r}: there is no best trial")
    record["exit_code"] = code
    if parent_mlflow is not None:
        try:
            end_mlflow_run(Path(parent_mlflow["run_dir"]),
                           {"Completed": "FINISHED", "Failed": "FAILED", "Canceled": "KILLED"}[status])
        except OSError:
            pass
    store.transition(record, status, reason)
    return record


def _placeholder_params(job: SweepJob) -> dict[str, Any]:
    """A stand-in value per parameter, so the trial's command can be checked before anything runs."""
    return {n: (p.values[0] if p.values else p.args[0]) for n, p in job.search_space.items()}


def summary_lines(record: Mapping[str, Any]) -> list[str]:
    """The sweep's trials, one line each, and the best trial (what ``submit`` and ``runs show`` print)."""
    obj = (record.get("sweep_settings") or {}).get("objective") or {}
    lines = [f"sweep {record.get('name')}: {record.get('status')} ({obj.get('goal')} {obj.get('primary_metric')})"]
    for t in record.get("trials") or []:
        params = ", ".join(f"{k}={value_text(v)}" for k, v in (t.get("parameters") or {}).items())
        metric = "-" if t.get("primary_metric") is None else f"{t['primary_metric']:g}"
        why = t.get("early_termination") or t.get("reason") or t.get("why") or ""
        lines.append(f"  trial {t.get('index')}: {t.get('status'):<9} {metric:>10}  {params}" + (f"  ({why})" if why else ""))
    best = record.get("best_trial")
    if best:
        params = ", ".join(f"{k}={value_text(v)}" for k, v in best["parameters"].items())
        lines.append(f"best trial: {best['index']} ({best['run']}) {obj.get('primary_metric')}={best['primary_metric']:g}: {params}")
    return lines


# ---------------------------------------------------------------------------- sweep steps of a pipeline

_STEP_KEYS = ("type", "trial", "inputs", "outputs", "compute", "search_space", "sampling_algorithm", "objective",
              "early_termination", "limits", "display_name", "description", "tags", "properties", "identity", "name",
              "experiment_name", "queue_settings", "resources")


@dataclass(frozen=True)
class SweepSettings:
    """A sweep step's sweep: the parsed parts (local runs) and the node's YAML forms (its body)."""

    search_space: Mapping[str, SearchParam]
    sampling: Sampling
    objective: Objective
    limits: SweepLimits
    early_termination: Optional[EarlyTermination]
    raw: Mapping[str, Any]  # sampling_algorithm and search_space as written


def parse_sweep_step(name: str, raw: Mapping[str, Any], base_dir: Path, problems: Any) -> Optional[Any]:
    """A ``type: sweep`` pipeline step: ``trial`` is a command component file whose inputs named like the
    search space's parameters get each trial's values (azure-ai-ml ``Sweep._to_job``)."""
    from dataclasses import replace as dc_replace

    from amlplatform.runs import job as j

    path = f"jobs.{name}"
    j._unknown(raw, _STEP_KEYS, path, problems)
    if "queue_settings" in raw:
        problems.add(f"{path}.queue_settings", "queue_settings is not supported by amlplatform submit")

    class _At:  # the sweep parts' problems, under the step's path
        items = problems.items

        @staticmethod
        def add(p: str, m: str) -> None:
            problems.add(f"{path}.{p}", m)

    space = _search_space(raw.get("search_space"), _At)
    sampling = _sampling(raw.get("sampling_algorithm"), _At)
    objective = _objective(raw.get("objective"), _At)
    limits = _limits(raw.get("limits"), _At)
    policy = _policy(raw.get("early_termination"), _At)
    trial = raw.get("trial")
    if not isinstance(trial, str):
        problems.add(f"{path}.trial", "Missing data for required field." if trial is None
                     else "give the trial's command component file (./train.yml)")
        return None
    # the trial as a command step of that component; search-space parameters stand in as its inputs
    node_inputs = dict(raw.get("inputs") or {}) if isinstance(raw.get("inputs"), Mapping) else {}
    for p, param in (space or {}).items():
        node_inputs.setdefault(p, param.values[0] if param.values else param.args[0])
    fake = {"type": "command", "component": trial, "inputs": node_inputs,
            **{k: raw[k] for k in ("outputs", "compute", "resources", "display_name", "tags", "properties", "identity")
               if k in raw}}
    step = j._step(name, fake, base_dir, problems)
    if step is None or space is None or sampling is None or objective is None or limits is None:
        return None
    missing = [p for p in space if p not in (step.ports or {})]
    if missing:
        problems.add(f"{path}.search_space", f"the trial component has no input named {', '.join(missing)} "
                     "(each search-space parameter is given to the trial as the input of that name)")
        return None
    settings = SweepSettings(search_space=space, sampling=sampling, objective=objective, limits=limits,
                             early_termination=policy,
                             raw={k: raw[k] for k in ("sampling_algorithm", "search_space") if k in raw})
    return dc_replace(step, kind="sweep", sweep=settings, node_inputs=j._given(raw, "inputs"),
                      component=step.component)


def step_sweep_job(step: Any, *, name: str, experiment: Optional[str]) -> SweepJob:
    """The ``SweepJob`` a sweep step runs locally: the trial's command with ``${{inputs.<p>}}`` of each
    search-space parameter turned into ``${{search_space.<p>}}`` (as azure-ai-ml's ``Sweep._to_job``)."""
    s = step.sweep
    command = step.job.command
    for p in s.search_space:
        command = re.sub(r"\$\{\{\s*inputs\." + re.escape(p) + r"\s*\}\}", "${{search_space." + p + "}}", command)
    inputs = {k: v for k, v in step.job.inputs.items() if k not in s.search_space}
    trial = replace(step.job, command=command, inputs=inputs)
    return SweepJob(source=None, base_dir=step.job.base_dir, trial=trial, search_space=s.search_space,
                    objective=s.objective, limits=s.limits, sampling=s.sampling, early_termination=s.early_termination,
                    name=name, experiment_name=experiment, compute="local")
