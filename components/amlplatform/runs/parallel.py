"""Parallel steps (``type: parallel`` in a pipeline): the YAML, and how such a step runs on this machine.

Azure ML runs a parallel step (the parallel run step, PRS) by splitting ``input_data`` into
mini-batches and calling the task's ``entry_script`` in worker processes: ``init()`` once per worker,
then ``run(mini_batch)`` per mini-batch with the list of file paths; with ``append_row_to`` the rows
``run`` returns are gathered into one output. Settings and defaults follow
https://learn.microsoft.com/azure/machine-learning/how-to-use-parallel-job-in-pipeline (and azure-ai-ml
1.35 ``_schema/job/parameterized_parallel.py``): ``mini_batch_size`` is a number of files for a
folder (default 10) or a size (``10kb``, ``1mb``) for tabular data; ``max_concurrency_per_instance``
(default 1) workers on each of ``resources.instance_count`` nodes; ``error_threshold`` failed
items and ``mini_batch_error_threshold`` failed mini-batches are tolerated (-1: any number);
``retry_settings.max_retries`` (default 2) and ``retry_settings.timeout`` (default 60 s) per mini-batch.
A mini-batch fails when ``run`` raises or times out (after its retries); ``run`` returning fewer
results than the mini-batch had items counts the difference as failed items (the PRS rule).

Parallel jobs exist only as pipeline steps (azure-ai-ml: "Unsupported job type: parallel" for a
standalone file). On Azure ML the node and its anonymous parallel component are sent as
azure-ai-ml sends them (``jobbody``; the contract test compares them). On this machine the step is a
command that runs ``prs_driver.py`` (standard library only, so it runs in the job's own Python):
``instance_count x max_concurrency_per_instance`` worker processes over the mini-batches, rows
appended to ``parallel_run_step.txt`` in a folder output (or the file of a ``uri_file`` output), a
summary (``parallel_run_summary.json``) in the step run's outputs folder.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

DRIVER = Path(__file__).with_name("prs_driver.py")
MINI_BATCH = re.compile(r"^\d+([kKmMgG][bB])?$")  # azure-ai-ml Parallel: ^\d+([kKmMgG][bB])*$
LOGGING_LEVELS = ("DEBUG", "INFO", "WARNING")
DEFAULT_MINI_BATCH_FILES = 10
DEFAULT_MAX_RETRIES = 2
DEFAULT_RETRY_TIMEOUT = 60
ROW_FILE = "parallel_run_step.txt"  # the PRS output file name for append_row in a folder output
_TASK_KEYS = ("type", "code", "entry_script", "environment", "program_arguments", "append_row_to", "model")
# what a parallel node may set (azure-ai-ml ParallelSchema + ParameterizedParallelSchema)
_NODE_KEYS = ("type", "component", "inputs", "outputs", "compute", "resources", "task", "input_data",
              "mini_batch_size", "max_concurrency_per_instance", "error_threshold", "mini_batch_error_threshold",
              "logging_level", "retry_settings", "environment_variables", "display_name", "description", "tags",
              "properties", "identity", "name", "experiment_name", "partition_keys")
_COMPONENT_KEYS = ("$schema", "type", "name", "version", "display_name", "description", "tags", "is_deterministic",
                   "inputs", "outputs", "resources", "task", "input_data", "mini_batch_size",
                   "max_concurrency_per_instance", "error_threshold", "mini_batch_error_threshold", "logging_level",
                   "retry_settings", "partition_keys", "properties")


@dataclass(frozen=True)
class ParallelSettings:
    """A parallel step's own settings: ``node_*`` what the node gives, ``spec_*`` its component's."""

    entry_script: str
    input_data: Optional[str]
    mini_batch_size: Optional[str]  # as written ("10", "10kb"); None: the service's default
    max_concurrency_per_instance: Optional[int]
    error_threshold: Optional[int]
    mini_batch_error_threshold: Optional[int]
    logging_level: Optional[str]
    max_retries: Optional[int]
    retry_timeout: Optional[int]
    program_arguments: Optional[str]
    append_row_to: Optional[str]
    # the component file's own values (a node without them inherits them; see jobbody.parallel_node)
    spec: Optional[Mapping[str, Any]] = None
    # which of the values above the node itself gives
    node_keys: tuple[str, ...] = ()


def mini_batch_bytes(text: str) -> Optional[int]:
    """``10kb`` -> 10240 (azure-ai-ml's conversion); a plain number is a count of files: None."""
    m = MINI_BATCH.match(text)
    if not m or not m.group(1):
        return None
    unit = m.group(1).lower()
    return int(text[:-2]) * {"kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3}[unit]


def mini_batch_wire(text: Optional[str]) -> int:
    """The node's ``mini_batch_size`` as azure-ai-ml sends it: an int (files, or bytes for kb/mb/gb); 0 unset."""
    if text is None:
        return 0
    b = mini_batch_bytes(text)
    return b if b is not None else int(text)


def parse_parallel(name: str, raw: Mapping[str, Any], base_dir: Path, problems: Any) -> Optional[Any]:
    """A ``type: parallel`` step -> ``PipelineStep`` whose job runs the local driver."""
    from dataclasses import replace

    from amlplatform.errors import UserError
    from amlplatform.runs import job as j

    path = f"jobs.{name}"
    j._unknown(raw, _NODE_KEYS, path, problems)
    comp = raw.get("component")
    cdata: dict[str, Any] = {}
    comp_dir, comp_source = base_dir, None
    if comp is not None:
        if isinstance(comp, str) and comp.startswith("azureml:"):
            problems.add(f"{path}.component", f"{comp!r}: registered components are not supported yet; give a "
                         "component file (./score.yml) or the step's settings inline")
            return None
        if not isinstance(comp, str):
            problems.add(f"{path}.component", "give a parallel component file (./score.yml)")
            return None
        cpath = j._local(base_dir, comp)
        if not cpath.is_file():
            problems.add(f"{path}.component", f"component file {comp!r} does not exist ({cpath})")
            return None
        try:
            cdata = j.read_yaml(cpath)
        except UserError as exc:
            problems.add(f"{path}.component", str(exc))
            return None
        comp_dir, comp_source = cpath.parent, str(cpath)
        j._unknown(cdata, _COMPONENT_KEYS, f"{path}.component", problems)
        if cdata.get("type") != "parallel":
            problems.add(f"{path}.component.type", f"Value {cdata.get('type')!r} passed is not in set ['parallel']")
            return None
    merged = {**{k: v for k, v in cdata.items() if k not in ("inputs", "outputs")},
              **{k: v for k, v in raw.items() if k not in ("component",)}}
    task = merged.get("task")
    tpath = f"{path}.task"
    if not isinstance(task, Mapping):
        problems.add(tpath, "Missing data for required field." if task is None else "Invalid input type.")
        return None
    j._unknown(task, _TASK_KEYS, tpath, problems)
    if task.get("type", "run_function") != "run_function":
        problems.add(f"{tpath}.type", f"Value {task.get('type')!r} passed is not in set ['run_function'] "
                     "(amlplatform runs function tasks)")
    if "model" in task:
        problems.add(f"{tpath}.model", "a task model is not supported by amlplatform")
    entry = j._str(task.get("entry_script"), f"{tpath}.entry_script", problems, required=True)
    if task.get("environment") is None:
        problems.add(f"{tpath}.environment", "Missing data for required field.")
        return None
    task_dir = comp_dir if "task" not in raw else base_dir
    ints = {}
    for key in ("max_concurrency_per_instance", "error_threshold", "mini_batch_error_threshold"):
        ints[key] = j._int(merged.get(key), f"{path}.{key}", problems)
    if ints["max_concurrency_per_instance"] is not None and ints["max_concurrency_per_instance"] < 1:
        problems.add(f"{path}.max_concurrency_per_instance", "Must be greater than or equal to 1.")
    for key in ("error_threshold", "mini_batch_error_threshold"):
        if ints[key] is not None and ints[key] < -1:
            problems.add(f"{path}.{key}", "must be -1 (no limit) or a number of failures")
    mbs = merged.get("mini_batch_size")
    if mbs is not None:
        mbs = str(mbs)
        if not MINI_BATCH.match(mbs):
            problems.add(f"{path}.mini_batch_size", r"Parameter mini_batch_size must follow regex rule ^\d+([kKmMgG][bB])*$")
    level = merged.get("logging_level")
    if level is not None and level not in LOGGING_LEVELS:
        problems.add(f"{path}.logging_level", f"Value {level!r} passed is not in set {list(LOGGING_LEVELS)}")
    retry = j._mapping(merged.get("retry_settings"), f"{path}.retry_settings", problems) or {}
    j._unknown(retry, ("max_retries", "timeout"), f"{path}.retry_settings", problems)
    max_retries = j._int(retry.get("max_retries"), f"{path}.retry_settings.max_retries", problems)
    retry_timeout = j._int(retry.get("timeout"), f"{path}.retry_settings.timeout", problems)
    input_data = j._str(merged.get("input_data"), f"{path}.input_data", problems)
    if input_data is None and "input_data" not in merged:
        problems.add(f"{path}.input_data", "Missing data for required field.")
    own = j._OWN_REF
    ref = j.BINDING.fullmatch((input_data or "").strip())
    if input_data is not None and not (ref and own.match(ref.group(1)) and ref.group(1).startswith("inputs.")):
        problems.add(f"{path}.input_data", f"{input_data!r}: give ${{{{inputs.<name>}}}}, the step input to split")
        return None
    append = task.get("append_row_to")
    args = task.get("program_arguments")
    # the command the step runs here: the driver, with the step's own placeholders for the service's values
    command = " ".join([
        "python", shlex.quote(str(DRIVER)), "--entry-script", shlex.quote(str(entry or "")),
        "--input-data", input_data or "",
        "--mini-batch-size", shlex.quote(mbs or str(DEFAULT_MINI_BATCH_FILES)),
        "--workers", str(((merged.get("resources") or {}).get("instance_count") or 1)
                         * (ints["max_concurrency_per_instance"] or 1)),
        "--error-threshold", str(-1 if ints["error_threshold"] is None else ints["error_threshold"]),
        "--mini-batch-error-threshold", str(-1 if ints["mini_batch_error_threshold"] is None
                                            else ints["mini_batch_error_threshold"]),
        "--max-retries", str(DEFAULT_MAX_RETRIES if max_retries is None else max_retries),
        "--timeout", str(DEFAULT_RETRY_TIMEOUT if retry_timeout is None else retry_timeout),
        *(["--append-row-to", append] if append else []),
        *(["--program-arguments=" + shlex.quote(args)] if args else []),
    ])
    body = {"command": command, "code": task.get("code"), "environment": task.get("environment"),
            "compute": raw.get("compute")}
    for key in ("resources", "environment_variables", "display_name", "description", "tags", "properties", "identity"):
        if key in raw:
            body[key] = raw[key]
    if "resources" not in raw and "resources" in cdata:
        body["resources"] = cdata["resources"]
    # inputs: declared by the component (values from the node), or the node's own
    declared = j._mapping(cdata.get("inputs"), f"{path}.component.inputs", problems) or {}
    node_inputs = j._mapping(raw.get("inputs"), f"{path}.inputs", problems) or {}
    inputs: dict[str, Any] = {}
    if comp is not None:
        for k, decl in declared.items():
            if k in node_inputs:
                inputs[k] = j._rebased(node_inputs[k], base_dir)
            elif isinstance(decl, Mapping) and "default" in decl:
                inputs[k] = decl["default"]
            elif not (isinstance(decl, Mapping) and decl.get("optional")):
                problems.add(f"{path}.inputs.{k}", "required input of the component is not given")
        for k in node_inputs:
            if k not in declared:
                problems.add(f"{path}.inputs.{k}", "the component has no such input")
    else:
        inputs = dict(node_inputs)
    declared_out = j._mapping(cdata.get("outputs"), f"{path}.component.outputs", problems) or {}
    node_outputs = j._mapping(raw.get("outputs"), f"{path}.outputs", problems) or {}
    outputs = {k: node_outputs.get(k, d) for k, d in declared_out.items()} if comp is not None else dict(node_outputs)
    body["inputs"], body["outputs"] = inputs, outputs
    placeholders = (declared if comp is not None else None)
    job = j._command_job({k: v for k, v in body.items() if v is not None or k == "environment"}, path, task_dir,
                         None, problems, in_pipeline=True, declared_inputs=placeholders)
    for text, where in ((args, f"{tpath}.program_arguments"), (append, f"{tpath}.append_row_to")):
        if text:
            j._check_placeholders(text, placeholders if placeholders is not None else node_inputs,
                                  declared_out if comp is not None else node_outputs, where, problems)
    if job is None or entry is None:
        return None
    code = job.code.local_path if job.code is not None else None
    if code is not None and code.is_dir() and not (code / entry).is_file():
        problems.add(f"{tpath}.entry_script", f"{entry!r} is not in the task's code folder ({code})")
        return None
    settings = ParallelSettings(
        entry_script=entry, input_data=input_data, mini_batch_size=mbs,
        max_concurrency_per_instance=ints["max_concurrency_per_instance"], error_threshold=ints["error_threshold"],
        mini_batch_error_threshold=ints["mini_batch_error_threshold"], logging_level=level,
        max_retries=max_retries, retry_timeout=retry_timeout, program_arguments=args, append_row_to=append,
        spec=cdata or None, node_keys=tuple(k for k in raw if k != "component"))
    node = j.StepNode(resources=job.resources if "resources" in raw else None,
                      environment_variables=job.environment_variables, identity=job.identity if "identity" in raw else None,
                      tags=dict(job.tags) if "tags" in raw else None)
    step = j.PipelineStep(name=name, job=job, component=comp_source, component_name=cdata.get("name"),
                          component_version=None if cdata.get("version") is None else str(cdata["version"]),
                          node_inputs=j._given(raw, "inputs"), node_outputs=j._given(raw, "outputs"),
                          component_schema=cdata.get("$schema"), node=node, kind="parallel", parallel=settings,
                          spec_resources=job.resources if comp is None else j._resources(
                              cdata.get("resources"), f"{path}.component.resources", j._Problems()),
                          is_deterministic=bool(cdata.get("is_deterministic", True)))
    if comp is not None:
        step = replace(step, ports={str(k): j._declared_port(d) for k, d in declared.items()},
                       out_ports={str(k): {"type": d.get("type", "uri_folder"), **({"mode": d["mode"]} if d.get("mode") else {})}
                                  if isinstance(d, Mapping) else {"type": "uri_folder"} for k, d in declared_out.items()})
    return step

