"""The request bodies for a job YAML, exactly as azure-ai-ml would send them (pure: no network).

The contract (tests/runs/test_contract.py): for every job YAML of the corpus, the body built here
equals ``azure.ai.ml.load_job(...)._to_rest_object()`` (the job ``ml_client.jobs.create_or_update``
sends) in wire form, once the workspace references azure-ai-ml resolves at submit time are
resolved the same way on both sides. The documented differences (``DIFFERENCES``) are what we
resolve differently or add; everything else must be equal field for field.

Field mapping (azure-ai-ml 1.35 ``CommandJob._to_rest_object`` / ``PipelineJob._to_rest_object``):
literal inputs are sent as text with Python's ``str()`` (``True``, ``0.01``); input modes
``ro_mount`` -> ``ReadOnlyMount``, ``rw_mount`` -> ``ReadWriteMount``, ``download`` ->
``Download``, ``direct`` -> ``Direct``, ``eval_mount`` -> ``EvalMount``, ``eval_download`` ->
``EvalDownload``, ``upload`` -> ``Upload``; ``limits.timeout`` seconds as an ISO 8601 duration
(``isodate.duration_isoformat``: 3600 -> ``PT1H``); ``resources`` always carries
``properties: {}``; ``tags``, ``properties``, ``environmentVariables``, ``inputs``, ``outputs``
are always present, ``isArchived`` is ``false``; a missing ``display_name`` becomes the job name
(``to_rest_functions.generate_defaults``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, Mapping, Optional

from amlplatform.errors import UserError
from amlplatform.runs.job import (CommandJob, Distribution, Environment, Identity, JobInput, JobOutput, PipelineJob,
                                  PipelineStep, Resources)

ANONYMOUS_ENV_NAME = "CliV2AnonymousEnvironment"  # azure-ai-ml constants ANONYMOUS_ENV_NAME
ANONYMOUS_COMPONENT_NAME = "azureml_anonymous"  # azure-ai-ml constants ANONYMOUS_COMPONENT_NAME
DEFAULT_DATASTORE = "workspaceblobstore"  # azure-ai-ml WORKSPACE_BLOB_STORE: where local data inputs go
CURATED_REGISTRY = "azureml"

MODES = {"ro_mount": "ReadOnlyMount", "rw_mount": "ReadWriteMount", "download": "Download", "direct": "Direct",
         "eval_mount": "EvalMount", "eval_download": "EvalDownload", "upload": "Upload", "mount": "ReadWriteMount"}
IDENTITY = {"user_identity": "UserIdentity", "managed": "Managed", "aml_token": "AMLToken"}
DISTRIBUTION = {"pytorch": "PyTorch", "mpi": "Mpi", "tensorflow": "TensorFlow"}

# What we send differently from azure-ai-ml's unresolved body, and why (the contract test applies these).
DIFFERENCES = {
    "codeId": "the code version id (ARM id) both tools resolve the local code folder to",
    "environmentId": "azureml:name:version stays a reference the service resolves (azure-ai-ml looks the ARM id up "
                     "first); name@latest of a curated AzureML-* environment -> its registry label URI; an inline "
                     "image/conda_file -> the anonymous environment version both tools register",
    "computeId": "the compute's ARM id (azure-ai-ml resolves the name the same way)",
    "inputs.*.uri": "a local path -> azureml://datastores/workspaceblobstore/paths/LocalUpload/<hash>/<name>[/] "
                    "(azure-ai-ml uploads and rewrites it the same way); azureml:name:version keeps the azureml: prefix",
    "properties": "adds the git information (azureml.git.*, mlflow.source.git.*), the code hash and a submission id",
    "experimentName": "always sent (azure-ai-ml fills the same default, the current folder's name, at submit)",
    "displayName": "always sent (azure-ai-ml fills the job name at submit)",
    "jobs.*.componentId": "the anonymous component version registered for the step (ARM id); a registered "
                          "component's ARM id (azureml:name:version -> W/components/name/versions/version, @latest -> "
                          "the most recently created version, as azure-ai-ml resolves it); a registry URI as written",
    "settings.default_compute": "the compute's ARM id",
}


# ---------------------------------------------------------------- small pure helpers


def iso_duration(seconds: int) -> str:
    """``isodate.duration_isoformat(timedelta(seconds=...))`` as azure-ai-ml's ``to_iso_duration_format``
    gives it: ``PT1H``, ``PT1M30S``, ``P1DT2H``; zero is ``P0D``."""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    if time:
        out += "T" + time
    return out if out != "P" else "P0D"


def literal_text(value: Any) -> str:
    """azure-ai-ml sends literal input values as ``str(value)`` (so ``true`` in YAML is ``"True"``)."""
    return str(value)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def conda_text(conda: Mapping[str, Any]) -> str:
    """azure-ai-ml's ``translated_conda_file``: ``yaml.dump`` of the conda mapping (sorted keys, block style)."""
    import yaml

    return yaml.dump(dict(conda), default_flow_style=False)


def anonymous_environment_version(image: str, conda: Optional[str] = None) -> str:
    """azure-ai-ml ``Environment._generate_anonymous_name_version(source="image")``: sha256 of the
    image's sha256; with a conda file, that digest ``str.join``-ed between the characters of the
    conda text's sha256 (``hash_str.join(...)`` in the SDK), then sha256 of the result."""
    hash_str = sha256_text(image)
    if conda is not None:
        hash_str = hash_str.join(sha256_text(conda))
    return sha256_text(hash_str)


def hash_dict(items: Mapping[str, Any]) -> str:
    """azure-ai-ml ``_utils.utils.hash_dict``: a GUID from the sha256 of the sorted JSON."""
    digest = hashlib.sha256(json.dumps(items, sort_keys=True).encode("utf-8")).hexdigest()
    return str(uuid.UUID(digest[:32]))


# ---------------------------------------------------------------- environments


def environment_request(env: Environment, workspace_id: str) -> tuple[str, Optional[tuple[str, dict[str, Any]]]]:
    """``(environmentId, (path, body) of the PUT that registers it, or None)``."""
    if env.kind == "inline":
        if env.image is None:
            raise UserError("environment: a build context (build:) is not supported by amlplatform submit; "
                            "give image (and conda_file) or a registered environment")
        conda = conda_text(env.conda) if env.conda is not None else None
        version = anonymous_environment_version(env.image, conda)
        path = f"{workspace_id}/environments/{ANONYMOUS_ENV_NAME}/versions/{version}"
        props: dict[str, Any] = {"image": env.image, "isAnonymous": True, "isArchived": False}
        if conda is not None:
            props["condaFile"] = conda
        return path, (path, {"properties": props})
    if env.kind in ("arm", "registry"):
        ref = env.ref or ""
        return (ref[len("azureml:"):] if ref.lower().startswith("azureml:/subscriptions/") else ref), None
    # an asset: azureml:name:version or azureml:name@label
    assert env.name is not None
    if env.version:
        return f"azureml:{env.name}:{env.version}", None
    label = env.label or "latest"
    if env.name.lower().startswith("azureml-"):
        # curated environments live in the azureml registry; the label URI is what the service resolves
        return f"azureml://registries/{CURATED_REGISTRY}/environments/{env.name}/labels/{label}", None
    return f"azureml:{env.name}@{label}", None


# ---------------------------------------------------------------- inputs and outputs


def input_body(inp: JobInput, uri: Optional[str] = None) -> dict[str, Any]:
    """One entry of ``properties.inputs`` (``uri``: the resolved location of a local path)."""
    if inp.type == "literal":
        return {"jobInputType": "literal", "value": literal_text(inp.value)}
    out: dict[str, Any] = {"jobInputType": inp.type}
    path = uri if uri is not None else inp.path
    if path is not None:
        out["uri"] = path
    if inp.mode:
        out["mode"] = MODES[inp.mode]
    if inp.description:
        out["description"] = inp.description
    return out


def output_body(o: JobOutput) -> dict[str, Any]:
    out: dict[str, Any] = {"jobOutputType": o.type}
    if o.path:
        out["uri"] = o.path
    if o.mode:
        out["mode"] = MODES[o.mode]
    if o.asset_name:
        out["assetName"] = o.asset_name
    if o.asset_version:
        out["assetVersion"] = o.asset_version
    if o.description:
        out["description"] = o.description
    return out


def _resources(job: CommandJob) -> Optional[dict[str, Any]]:
    r = job.resources
    if r is None:
        return None
    out: dict[str, Any] = {}
    if r.instance_count is not None:
        out["instanceCount"] = r.instance_count
    if r.instance_type is not None:
        out["instanceType"] = r.instance_type
    if r.shm_size is not None:
        out["shmSize"] = r.shm_size
    if r.docker_args is not None:
        out["dockerArgs"] = r.docker_args
    out["properties"] = dict(r.properties)
    return out


def _distribution(job: CommandJob) -> Optional[dict[str, Any]]:
    d = job.distribution
    if d is None:
        return None
    out: dict[str, Any] = {"distributionType": DISTRIBUTION[d.type]}
    if d.process_count_per_instance is not None:
        out["processCountPerInstance"] = d.process_count_per_instance
    if d.worker_count is not None:
        out["workerCount"] = d.worker_count
    if d.parameter_server_count is not None:
        out["parameterServerCount"] = d.parameter_server_count
    return out


def _identity(identity: Any) -> Optional[dict[str, Any]]:
    if identity is None:
        return None
    out: dict[str, Any] = {"identityType": IDENTITY[identity.type]}
    if identity.client_id:
        out["clientId"] = identity.client_id
    if identity.object_id:
        out["objectId"] = identity.object_id
    if identity.msi_resource_id:
        out["resourceId"] = identity.msi_resource_id
    return out


# ---------------------------------------------------------------- the job bodies


def command_body(
    job: CommandJob,
    *,
    name: str,
    code_id: Optional[str],
    environment_id: str,
    compute_id: Optional[str],
    input_uris: Mapping[str, str],
    run_properties: Mapping[str, str],
) -> dict[str, Any]:
    """The ``PUT W/jobs/{name}`` body of a command job.

    ``input_uris``: the ``azureml://datastores/...`` location of each uploaded local input, by input name.
    ``run_properties``: added to the user's ``properties`` (git info, code hash, submission id).
    """
    props: dict[str, Any] = {
        "jobType": "Command",
        "command": job.command,
        "environmentId": environment_id,
        "displayName": job.display_name or name,
        "experimentName": job.experiment_name,
        "isArchived": False,
        "tags": dict(job.tags),
        "properties": {**dict(job.properties), **dict(run_properties)},
        "environmentVariables": dict(job.environment_variables),
        "inputs": {n: input_body(i, input_uris.get(n)) for n, i in job.inputs.items()},
        "outputs": {n: output_body(o) for n, o in job.outputs.items()},
    }
    if code_id is not None:
        props["codeId"] = code_id
    if compute_id is not None:
        props["computeId"] = compute_id
    if job.description is not None:
        props["description"] = job.description
    for key, value in (("resources", _resources(job)), ("distribution", _distribution(job)),
                       ("identity", _identity(job.identity))):
        if value is not None:
            props[key] = value
    if job.timeout is not None:
        props["limits"] = {"jobLimitsType": "Command", "timeout": iso_duration(job.timeout)}
    return {"properties": props}


def component_spec(step: PipelineStep, *, code_id: Optional[str], environment_id: str) -> dict[str, Any]:
    """The ``componentSpec`` of a step's anonymous command component (azure-ai-ml
    ``CommandComponent._to_rest_object``: the component YAML as a mapping, references resolved)."""
    job = step.job
    if step.kind == "parallel":
        spec = {"name": ANONYMOUS_COMPONENT_NAME, "type": "parallel", "is_deterministic": step.is_deterministic,
                **parallel_spec(step, code_id=code_id, environment_id=environment_id)}
    else:
        spec = {
            "name": ANONYMOUS_COMPONENT_NAME,
            "type": "command",
            "command": job.command,
            "environment": environment_id,
            "is_deterministic": step.is_deterministic,
        }
    # azure-ai-ml leaves out empty port mappings
    # a component file's declared ports as declared; an inline step's from its inputs
    ports = step.ports if step.ports is not None else {n: _port(i) for n, i in job.inputs.items()}
    if ports:
        spec["inputs"] = {n: dict(p) for n, p in ports.items()}
    out_ports = step.out_ports if step.out_ports is not None else {n: _out_port(o) for n, o in job.outputs.items()}
    if out_ports:
        spec["outputs"] = {n: dict(p) for n, p in out_ports.items()}
    if step.component_schema:
        spec["$schema"] = step.component_schema
    if code_id is not None and step.kind != "parallel":
        spec["code"] = code_id
    if step.spec_resources is not None:
        r = step.spec_resources  # the spec's resources carry no properties (they are the node's)
        spec["resources"] = {k: v for k, v in (("instance_count", r.instance_count), ("instance_type", r.instance_type),
                                               ("shm_size", r.shm_size), ("docker_args", r.docker_args)) if v is not None}
    if step.spec_distribution is not None:
        d = step.spec_distribution
        spec["distribution"] = {k: v for k, v in (("type", d.type),
                                                   ("process_count_per_instance", d.process_count_per_instance),
                                                   ("worker_count", d.worker_count),
                                                   ("parameter_server_count", d.parameter_server_count)) if v is not None}
    return spec


def literal_kind(value: Any) -> str:
    """The port type azure-ai-ml infers for a literal value (``bool`` before ``int``: True is an int in Python)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _port(inp: JobInput) -> dict[str, Any]:
    """An inline step input as the anonymous component's port: a literal's inferred type with the value as its
    default; a bound input the type of what it is bound to; a data input its type and mode."""
    if inp.node_type is not None:  # {path: ${{...}}, type, mode}: what the step says, not its source
        port: dict[str, Any] = {"type": inp.node_type}
    elif inp.type == "literal":
        port = {"type": literal_kind(inp.value)}
        if inp.binding is None and inp.value is not None:
            port["default"] = literal_text(inp.value)
        return port
    else:
        port = {"type": inp.type}
    if inp.mode:  # the step's mode, else (a bare binding) the mode of the pipeline input it names
        port["mode"] = inp.mode
    return port


def _out_port(o: JobOutput) -> dict[str, Any]:
    port: dict[str, Any] = {"type": o.type}
    if o.binding is None and o.mode:
        port["mode"] = o.mode
    return port


def _node_resources(r: Resources) -> dict[str, Any]:
    out = {k: v for k, v in (("instance_count", r.instance_count), ("instance_type", r.instance_type),
                             ("shm_size", r.shm_size), ("docker_args", r.docker_args)) if v is not None}
    if r.properties:
        out["properties"] = dict(r.properties)
    return out


def _node_distribution(d: Distribution) -> dict[str, Any]:
    """A node's distribution (azure-ai-ml ``get_rest_dict_for_node_attrs``: the REST model in snake case;
    TensorFlow's ``parameter_server_count`` defaults to 0 there)."""
    out: dict[str, Any] = {"distribution_type": DISTRIBUTION[d.type]}
    if d.process_count_per_instance is not None:
        out["process_count_per_instance"] = d.process_count_per_instance
    if d.type == "tensorflow":
        if d.worker_count is not None:
            out["worker_count"] = d.worker_count
        out["parameter_server_count"] = d.parameter_server_count or 0
    return out


def _node_identity(i: Identity) -> dict[str, Any]:
    out: dict[str, Any] = {"identity_type": IDENTITY[i.type]}
    for key, value in (("client_id", i.client_id), ("object_id", i.object_id), ("resource_id", i.msi_resource_id)):
        if value:
            out[key] = value
    return out


def node_settings(step: PipelineStep) -> dict[str, Any]:
    """What a pipeline node sets itself (azure-ai-ml ``Command._to_rest_object``): resources, distribution,
    limits, environment variables, identity and tags, each only when given."""
    n = step.node
    out: dict[str, Any] = {}
    if n.resources is not None:
        out["resources"] = _node_resources(n.resources)
    if n.distribution is not None:
        out["distribution"] = _node_distribution(n.distribution)
    if n.timeout is not None:
        out["limits"] = {"timeout": iso_duration(n.timeout), "job_limits_type": "Command"}
    if n.environment_variables:
        out["environment_variables"] = dict(n.environment_variables)
    if n.identity is not None:
        out["identity"] = _node_identity(n.identity)
    if n.tags is not None:
        out["tags"] = dict(n.tags)
    return out


def component_version(spec: Mapping[str, Any]) -> str:
    """Our anonymous component version: ``hash_dict`` of the spec without its name (equal steps -> equal
    version -> the service can reuse them)."""
    return hash_dict({k: v for k, v in spec.items() if k not in ("name", "version")})


def component_body(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {"properties": {"componentSpec": {**spec, "version": component_version(spec)}, "isAnonymous": True,
                           "isArchived": False, "properties": {}, "tags": {}}}


def _step_input(inp: JobInput, uri: Optional[str]) -> dict[str, Any]:
    if inp.binding is not None:
        out = {"job_input_type": "literal", "value": inp.binding.expression}
        if inp.node_mode:
            out["mode"] = MODES[inp.node_mode]
        return out
    if inp.type == "literal":
        return {"job_input_type": "literal", "value": literal_text(inp.value)}
    out: dict[str, Any] = {"job_input_type": inp.type}
    if uri or inp.path:
        out["uri"] = uri or inp.path
    if inp.mode:
        out["mode"] = MODES[inp.mode]
    return out


def _step_output(o: JobOutput) -> dict[str, Any]:
    if o.binding is not None:
        return {"value": o.binding.expression, "type": "literal"}
    out: dict[str, Any] = {"job_output_type": o.type}
    if o.path:
        out["uri"] = o.path
    if o.mode:
        out["mode"] = MODES[o.mode]
    return out


def _job_header(job_type: str, job: Any, *, name: str, run_properties: Mapping[str, str], inputs: Mapping[str, Any],
                outputs: Mapping[str, Any], input_uris: Mapping[str, str]) -> dict[str, Any]:
    """The fields every job body of a pipeline or sweep starts with (azure-ai-ml fills displayName and
    experimentName at submit; see the module docstring)."""
    return {
        "jobType": job_type,
        "displayName": job.display_name or name,
        "experimentName": job.experiment_name,
        "isArchived": False,
        "tags": dict(job.tags),
        "properties": {**dict(job.properties), **dict(run_properties)},
        "inputs": {n: input_body(i, input_uris.get(n)) for n, i in inputs.items()},
        "outputs": {n: output_body(o) for n, o in outputs.items()},
    }


def node_source(step: PipelineStep) -> str:
    """The node's ``_source`` as azure-ai-ml sets it (``ComponentSource``): a registered component is
    ``REMOTE.WORKSPACE.COMPONENT`` (``azureml:name:version`` / ``@label``) or ``REMOTE.REGISTRY``
    (``azureml://registries/...``); a component file ``YAML.COMPONENT``; an inline step ``YAML.JOB``."""
    if step.registered:
        return "REMOTE.REGISTRY" if step.registered.startswith("azureml://registries/") else "REMOTE.WORKSPACE.COMPONENT"
    return "YAML.COMPONENT" if step.component else "YAML.JOB"


def pipeline_nodes(steps: Mapping[str, PipelineStep], *, component_ids: Mapping[str, str],
                   compute_ids: Mapping[str, str], step_input_uris: Mapping[tuple[str, str], str],
                   step_code_ids: Mapping[str, Optional[str]], step_environment_ids: Mapping[str, str],
                   prefix: str = "") -> dict[str, Any]:
    """The ``jobs`` of a pipeline job or of a pipeline component's spec (azure-ai-ml ``BaseNode._to_rest_object``
    for each node); ``prefix`` keys the steps of a pipeline component (``<step>.``)."""
    jobs: dict[str, Any] = {}
    for sname, step in steps.items():
        key = prefix + sname
        # azure-ai-ml sends the inputs/outputs the step's YAML gives (a component's defaults stay in the component)
        node: dict[str, Any] = {"name": sname, "type": step.kind, "componentId": component_ids[key],
                                "_source": node_source(step)}
        # an empty inputs:/outputs: mapping is not sent (BaseNode._to_rest_object: convert_ordered_dict_to_dict drops
        # empty values)
        if step.node_inputs:
            node["inputs"] = {n: _step_input(step.job.inputs[n], step_input_uris.get((key, n)))
                              for n in step.node_inputs if n in step.job.inputs}
        if step.node_outputs:
            node["outputs"] = {n: _step_output(step.job.outputs[n]) for n in step.node_outputs if n in step.job.outputs}
        if step.own_compute:
            node["computeId"] = compute_ids[step.own_compute]
        if step.job.display_name:
            node["display_name"] = step.job.display_name
        node.update(node_settings(step))
        if step.kind == "parallel" and not step.opaque:
            node.update(parallel_node(step, task=parallel_task(step, code_id=step_code_ids.get(key),
                                                               environment_id=step_environment_ids[key])))
        if step.kind == "sweep":  # "sweep node has no componentId": its trial component is named in trial
            node["trial"] = {"componentId": node.pop("componentId")}
            node.update(sweep_node(step.sweep))
        jobs[sname] = node
    return jobs


def pipeline_component_spec(step: PipelineStep, jobs: Mapping[str, Any]) -> dict[str, Any]:
    """The ``componentSpec`` of a pipeline component step's anonymous component (azure-ai-ml
    ``PipelineComponent._to_rest_object``): its ports and its ``jobs`` as nodes, each naming the anonymous
    component registered for it (azure-ai-ml ``_resolve_dependencies_for_pipeline_component_jobs`` registers the
    inner components first, then the pipeline component, and the node references it)."""
    spec: dict[str, Any] = {"name": ANONYMOUS_COMPONENT_NAME, "type": "pipeline", "jobs": dict(jobs),
                            "sourceJobId": None}
    if step.ports:
        spec["inputs"] = {n: dict(p) for n, p in step.ports.items()}
    if step.out_ports:
        spec["outputs"] = {n: dict(p) for n, p in step.out_ports.items()}
    if step.component_schema:
        spec["$schema"] = step.component_schema
    return spec


def pipeline_component_body(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A pipeline component's version body: as ``component_body`` but without ``isArchived`` (azure-ai-ml's
    ``PipelineComponent._to_rest_object`` does not set it)."""
    return {"properties": {"componentSpec": {**spec, "version": component_version(spec)}, "isAnonymous": True,
                           "properties": {}, "tags": {}}}


def pipeline_body(
    pipeline: PipelineJob,
    *,
    name: str,
    component_ids: Mapping[str, str],
    compute_ids: Mapping[str, str],
    input_uris: Mapping[str, str],
    step_input_uris: Mapping[tuple[str, str], str],
    run_properties: Mapping[str, str],
    step_code_ids: Optional[Mapping[str, Optional[str]]] = None,
    step_environment_ids: Optional[Mapping[str, str]] = None,
) -> dict[str, Any]:
    """The ``PUT W/jobs/{name}`` body of a pipeline job (azure-ai-ml ``PipelineJob._to_rest_object``).

    ``compute_ids``: compute name -> ARM id for every compute named. ``step_input_uris``: uploaded
    local inputs given directly on a step, by (step, input). Steps of a pipeline component are keyed
    ``<step>.<inner step>`` in ``component_ids`` and the other step mappings."""
    jobs = pipeline_nodes(pipeline.jobs, component_ids=component_ids, compute_ids=compute_ids,
                          step_input_uris=step_input_uris, step_code_ids=step_code_ids or {},
                          step_environment_ids=step_environment_ids or {})
    settings: dict[str, Any] = {"_source": "YAML.JOB"}
    s = pipeline.settings
    if s.default_compute:
        settings["default_compute"] = compute_ids[s.default_compute]
    if s.default_datastore:
        settings["default_datastore"] = s.default_datastore
    if s.continue_on_step_failure is not None:
        settings["continue_on_step_failure"] = s.continue_on_step_failure
    if s.force_rerun is not None:
        settings["force_rerun"] = s.force_rerun
    settings.update(s.extra)
    props = _job_header("Pipeline", pipeline, name=name, run_properties=run_properties, inputs=pipeline.inputs,
                        outputs=pipeline.outputs, input_uris=input_uris)
    props.update({"jobs": jobs, "settings": settings})
    if pipeline.compute:
        props["computeId"] = compute_ids[pipeline.compute]
    if pipeline.description is not None:
        props["description"] = pipeline.description
    if pipeline.identity is not None:
        props["identity"] = _identity(pipeline.identity)
    return {"properties": props}


# ---------------------------------------------------------------- sweep jobs

SAMPLING = {"grid": "Grid", "random": "Random", "bayesian": "Bayesian"}
POLICY = {"bandit": "Bandit", "median_stopping": "MedianStopping", "truncation_selection": "TruncationSelection"}


def sweep_timeout(seconds: Optional[int]) -> Optional[str]:
    """azure-ai-ml ``_get_floored_timeout``: the service reads a duration under 60 s as days, so 1-59 s
    is sent as 60 s; then ISO 8601."""
    floored = _floored(seconds)
    return None if floored is None else iso_duration(floored)


def search_space_body(param: Any) -> list[Any]:
    """One ``searchSpace`` entry (azure-ai-ml ``Choice/Randint/Uniform/...._to_rest_object``):
    ``["choice", [[values]]]``, ``["randint", [upper]]``, ``["quniform", [min, max, q]]``, ..."""
    if param.type == "choice":
        return ["choice", [list(param.values)]]
    return [param.type, [int(a) if param.type == "randint" else a for a in param.args]]


def _early_termination(policy: Any) -> dict[str, Any]:
    """azure-ai-ml's policy entities with their defaults (bandit: delay 0, interval 0, slacks 0; median
    stopping: delay 0, interval 1; truncation selection: delay 0, interval 0)."""
    default_interval = 1 if policy.type == "median_stopping" else 0
    out: dict[str, Any] = {"policyType": POLICY[policy.type], "delayEvaluation": policy.delay_evaluation or 0,
                           "evaluationInterval": (policy.evaluation_interval if policy.evaluation_interval is not None
                                                  else default_interval)}
    if policy.type == "bandit":
        out["slackFactor"] = policy.slack_factor or 0
        out["slackAmount"] = policy.slack_amount or 0
    if policy.type == "truncation_selection":
        out["truncationPercentage"] = policy.truncation_percentage or 0
    return out


def sweep_body(
    job: Any,
    *,
    name: str,
    code_id: Optional[str],
    environment_id: str,
    compute_id: Optional[str],
    input_uris: Mapping[str, str],
    run_properties: Mapping[str, str],
) -> dict[str, Any]:
    """The ``PUT W/jobs/{name}`` body of a sweep job (azure-ai-ml ``SweepJob._to_rest_object``)."""
    trial = job.trial
    t: dict[str, Any] = {"command": trial.command, "environmentId": environment_id,
                         "environmentVariables": dict(trial.environment_variables)}
    if code_id is not None:
        t["codeId"] = code_id
    for key, value in (("resources", _resources(trial)), ("distribution", _distribution(trial))):
        if value is not None:
            t[key] = value
    s = job.sampling
    sampling: dict[str, Any] = {"samplingAlgorithmType": SAMPLING[s.type]}
    for key, value in (("seed", s.seed), ("rule", s.rule), ("logbase", s.logbase)):
        if value is not None:
            sampling[key] = value
    limits: dict[str, Any] = {"jobLimitsType": "Sweep", "maxTotalTrials": job.limits.max_total_trials}
    for key, value in (("maxConcurrentTrials", job.limits.max_concurrent_trials),
                       ("timeout", sweep_timeout(job.limits.timeout)),
                       ("trialTimeout", sweep_timeout(job.limits.trial_timeout))):
        if value is not None:
            limits[key] = value
    props = _job_header("Sweep", job, name=name, run_properties=run_properties, inputs=trial.inputs,
                        outputs=trial.outputs, input_uris=input_uris)
    props.update({
        "searchSpace": {n: search_space_body(p) for n, p in job.search_space.items()},
        "samplingAlgorithm": sampling,
        "limits": limits,
        "objective": {"goal": job.objective.goal, "primaryMetric": job.objective.primary_metric},
        "trial": t,
    })
    if job.early_termination is not None:
        props["earlyTermination"] = _early_termination(job.early_termination)
    if compute_id is not None:
        props["computeId"] = compute_id
    if job.description is not None:
        props["description"] = job.description
    if job.identity is not None:
        props["identity"] = _identity(job.identity)
    if "resources" in t:  # azure-ai-ml: the sweep's resources are the trial's when the sweep gives none
        props["resources"] = t["resources"]
    return {"properties": props}


# ---------------------------------------------------------------- parallel steps


def parallel_task(step: PipelineStep, *, code_id: Optional[str], environment_id: str) -> dict[str, Any]:
    """The step's ``task`` with its code and environment resolved (azure-ai-ml resolves both before sending)."""
    p = step.parallel
    task: dict[str, Any] = {"type": "run_function"}
    if code_id is not None:
        task["code"] = code_id
    task["entry_script"] = p.entry_script
    task["environment"] = environment_id
    if p.program_arguments:
        task["program_arguments"] = p.program_arguments
    if p.append_row_to:
        task["append_row_to"] = p.append_row_to
    return task


def _retry(max_retries: Optional[int], timeout: Optional[int]) -> Optional[dict[str, Any]]:
    out = {k: v for k, v in (("timeout", timeout), ("max_retries", max_retries)) if v is not None}
    return out or None


def parallel_spec(step: PipelineStep, *, code_id: Optional[str], environment_id: str) -> dict[str, Any]:
    """A parallel step's anonymous component (azure-ai-ml ``ParallelComponent._to_rest_object``): the component
    file's settings, or for an inline step the step's; ``mini_batch_size`` as text ("0" when unset)."""
    p = step.parallel
    src = p.spec if p.spec is not None else None
    out: dict[str, Any] = {"task": parallel_task(step, code_id=code_id, environment_id=environment_id)}
    if src is not None:  # a component file: its own values
        mbs = src.get("mini_batch_size")
        values = {"logging_level": src.get("logging_level"), "input_data": src.get("input_data"),
                  "max_concurrency_per_instance": src.get("max_concurrency_per_instance"),
                  "error_threshold": src.get("error_threshold"),
                  "mini_batch_error_threshold": src.get("mini_batch_error_threshold")}
        retry = src.get("retry_settings") if isinstance(src.get("retry_settings"), Mapping) else None
        retry = _retry(retry.get("max_retries"), retry.get("timeout")) if retry else None
    else:
        mbs = p.mini_batch_size
        values = {"logging_level": p.logging_level, "input_data": p.input_data,
                  "max_concurrency_per_instance": p.max_concurrency_per_instance, "error_threshold": p.error_threshold,
                  "mini_batch_error_threshold": p.mini_batch_error_threshold}
        retry = _retry(p.max_retries, p.retry_timeout)
    out["mini_batch_size"] = "0" if mbs is None else str(mbs)
    out.update({k: v for k, v in values.items() if v is not None})
    if retry:
        out["retry_settings"] = retry
    if step.component_schema:
        out["$schema"] = step.component_schema
    return out


def parallel_node(step: PipelineStep, *, task: Mapping[str, Any]) -> dict[str, Any]:
    """What a parallel node sends besides the common node fields (azure-ai-ml ``Parallel.__init__`` and
    ``_to_rest_object``): resources, retry settings, input data, max concurrency, mini-batch error threshold,
    mini-batch size and task are the node's or else its component's; error threshold and logging level only
    the node's; mini_batch_size the node's as a number (kb/mb/gb in bytes)."""
    p, given, src = step.parallel, set(step.parallel.node_keys), step.parallel.spec or {}
    out: dict[str, Any] = {"task": dict(task)}
    if "resources" not in given and isinstance(src.get("resources"), Mapping):
        out["resources"] = {k: v for k, v in src["resources"].items()}
    if "retry_settings" in given:
        retry = _retry(p.max_retries, p.retry_timeout)
    elif isinstance(src.get("retry_settings"), Mapping):
        retry = _retry(src["retry_settings"].get("max_retries"), src["retry_settings"].get("timeout"))
    else:
        retry = None
    if retry:
        out["retry_settings"] = retry
    for key in ("input_data", "max_concurrency_per_instance", "mini_batch_error_threshold"):
        value = getattr(p, key) if key in given else src.get(key)
        if value is not None:
            out[key] = value
    for key in ("error_threshold", "logging_level"):
        if key in given and getattr(p, key) is not None:
            out[key] = getattr(p, key)
    if "mini_batch_size" in given:
        from amlplatform.runs.parallel import mini_batch_wire

        out["mini_batch_size"] = mini_batch_wire(p.mini_batch_size)
    else:
        out["mini_batch_size"] = src.get("mini_batch_size", 0)
    return out


def sweep_node(s: Any) -> dict[str, Any]:
    """A sweep step's own fields (azure-ai-ml ``Sweep._to_rest_object``: the node's YAML forms in snake case;
    the early termination policy as its REST object's attributes, timeouts floored to 60 s)."""
    limits = {k: v for k, v in (("max_concurrent_trials", s.limits.max_concurrent_trials),
                                ("max_total_trials", s.limits.max_total_trials),
                                ("timeout", _floored(s.limits.timeout)),
                                ("trial_timeout", _floored(s.limits.trial_timeout))) if v is not None}
    out: dict[str, Any] = {"limits": limits, "objective": {"goal": s.objective.goal,
                                                          "primary_metric": s.objective.primary_metric}}
    for key in ("sampling_algorithm", "search_space"):
        if key in s.raw:
            out[key] = s.raw[key]
    p = s.early_termination
    if p is not None:
        default_interval = 1 if p.type == "median_stopping" else 0
        et: dict[str, Any] = {"delay_evaluation": p.delay_evaluation or 0,
                              "evaluation_interval": p.evaluation_interval if p.evaluation_interval is not None
                              else default_interval}
        for key in ("slack_factor", "slack_amount", "truncation_percentage"):
            if getattr(p, key) is not None:
                et[key] = getattr(p, key)
        et["policy_type"] = POLICY[p.type]
        out["early_termination"] = et
    return out


def _floored(seconds: Optional[int]) -> Optional[int]:
    return None if seconds is None else (seconds if not seconds or seconds > 60 else 60)
