"""The contract: azure-ai-ml itself is the oracle for what a job YAML means and what is sent.

azure-ai-ml (1.35.2) is a test dependency only, in its own venv (``.venv-azureml``, made by
``./dev test``; ``AMLPLATFORM_AZUREML_PYTHON`` points elsewhere): its pins conflict with nothing of
ours, but the shim must never import it, and keeping it out of the project venv proves that.
``azureml_oracle.py`` runs ``azure.ai.ml.load_job(...)._to_rest_object()`` for every file of
``job_corpus/`` and the examples; here we check, file by file:

- every file azure-ai-ml rejects we reject, naming the same field (``# field:`` in the file);
- every file it accepts we accept (``stricter/`` holds what we refuse earlier than it does);
- the job body we PUT equals azure-ai-ml's once the workspace references it resolves at submit time
  are resolved on both sides (``jobbody.DIFFERENCES``); local data inputs land where azure-ai-ml would
  put them (its own ``get_object_hash``);
- ``--set`` overrides change both bodies alike.
"""

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from amlplatform.errors import UserError
from amlplatform.runs import azure as az
from amlplatform.runs.coordinates import WorkspaceCoordinates
from amlplatform.runs.job import PipelineJob, default_experiment_name, load_job
from amlplatform.runs.snapshot import take_data_snapshot, take_snapshot

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORPUS = HERE / "job_corpus"
EXAMPLES = ROOT / "examples"
COORDS = WorkspaceCoordinates("00000000-1111-2222-3333-444444444444", "rg-aml-dev", "mlw-dev")
W = COORDS.workspace_id

GOOD = sorted((CORPUS / "good").glob("*.yml"))
BAD = sorted((CORPUS / "bad").glob("*.yml"))
STRICTER = sorted((CORPUS / "stricter").glob("*.yml"))
EXAMPLE_JOBS = sorted(p for p in EXAMPLES.glob("*/*.yml") if ".component." not in p.name and ".data." not in p.name)
ON_CLUSTER = ["compute=azureml:cpu-cluster"]  # the examples run locally; their cluster bodies are compared too
OVERRIDES = [
    (CORPUS / "good" / "command_data.yml", ["resources.instance_count=3", "inputs.epochs=7",
                                            "environment_variables.EXTRA=yes", "compute=azureml:gpu-cluster",
                                            "display_name=overridden", "limits.timeout=90"]),
    (CORPUS / "good" / "command_minimal.yml", ["tags.owner=me", "description=from --set"]),
] + [(p, ON_CLUSTER) for p in EXAMPLE_JOBS
      if "type: pipeline" not in p.read_text(encoding="utf-8") and "type: sweep" not in p.read_text(encoding="utf-8")]


def azureml_python() -> Path:
    explicit = os.environ.get("AMLPLATFORM_AZUREML_PYTHON")
    return Path(explicit) if explicit else ROOT / ".venv-azureml" / "bin" / "python"


@pytest.fixture(scope="module")
def oracle():
    py = azureml_python()
    if not py.exists():
        pytest.skip(f"azure-ai-ml venv missing ({py}): ./dev test creates it")
    items = [{"path": str(p)} for p in GOOD + BAD + STRICTER + EXAMPLE_JOBS]
    items += [{"path": str(p), "overrides": list(o)} for p, o in OVERRIDES + PIPELINES + SWEEPS if o]
    done = subprocess.run([str(py), str(HERE / "azureml_oracle.py")], input=json.dumps(items), capture_output=True,
                          text=True, timeout=300, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    return {(it["path"], tuple(it.get("overrides", ()))): r for it, r in zip(items, results)}


@pytest.fixture(autouse=True)
def empty_asset_store(tmp_path, monkeypatch):
    """Bodies never depend on the local asset store: every file is read with an empty one (test_assets.py checks a
    filled one gives the same bodies)."""
    monkeypatch.setenv("AMLPLATFORM_ASSETS_DIR", str(tmp_path / "no-assets"))


def verdict(oracle, path: Path, overrides=()):
    return oracle[(str(path), tuple(overrides))]


def test_the_shim_never_imports_azure_ai_ml():
    code = ("import sys, amlplatform.runs.job, amlplatform.runs.jobbody, amlplatform.runs.azure, amlplatform.cli.runs\n"
            "assert not [m for m in sys.modules if m.startswith('azure.ai.ml')]\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- what is accepted and rejected


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_every_file_azure_ai_ml_rejects_we_reject_naming_the_field(oracle, path):
    field = re.search(r"^# field: (\S+)", path.read_text(encoding="utf-8"), re.M).group(1)
    theirs = verdict(oracle, path)
    assert not theirs["ok"], "the corpus file should be one azure-ai-ml rejects"
    leaf = field.split(".")[-1]
    assert leaf in theirs["error"] or field.split(".")[0] in theirs["error"], theirs["error"][:500]
    with pytest.raises(UserError) as err:
        load_job(path)
    problems = err.value.problems or [str(err.value)]
    assert any(p.startswith(field) for p in problems), problems


@pytest.mark.parametrize("path", GOOD + EXAMPLE_JOBS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_file_azure_ai_ml_accepts_we_accept(oracle, path):
    theirs = verdict(oracle, path)
    assert theirs["ok"], theirs.get("error", "")[:1500]
    job = load_job(path)
    assert job.type == theirs["type"]


@pytest.mark.parametrize("path", STRICTER, ids=lambda p: p.stem)
def test_files_we_refuse_earlier_than_azure_ai_ml(oracle, path):
    assert verdict(oracle, path)["ok"]  # azure-ai-ml loads it; it fails at submit
    with pytest.raises(UserError):
        load_job(path)


# ---------------------------------------------------------------- the bodies


def our_bodies(job, *, name: str):
    plan = az.make_plan(job, job_name=name, snapshot=take_snapshot, data_snapshot=take_data_snapshot, git={},
                        workspace_id=W)
    code_ids = {k: f"{W}/codes/{az.code_name_for(s.content_hash)}/versions/1" for k, s in plan.codes.items()}
    components, body = az.job_bodies(plan, COORDS, code_ids=code_ids, submission_id=None)
    return plan, components, body


CURATED = re.compile(r"^(AzureML-[^@:]+)@(.+)$")


def resolve_environment(theirs: str, ours: str) -> str:
    """azure-ai-ml's unresolved environment -> what both tools send (see jobbody.DIFFERENCES)."""
    if theirs.startswith("Environment("):
        version = re.search(r"'version': '([0-9a-f]{64})'", theirs).group(1)
        return f"{W}/environments/CliV2AnonymousEnvironment/versions/{version}"
    m = CURATED.match(theirs)
    if m:
        return f"azureml://registries/azureml/environments/{m.group(1)}/labels/{m.group(2)}"
    return "azureml:" + theirs


def resolve_inputs(theirs: dict, yaml_dir: Path, hashes: dict, key: str = "jobInputType") -> dict:
    out = copy.deepcopy(theirs)
    for inp in out.values():
        uri = inp.get("uri")
        if uri is None:
            continue
        if "://" not in uri and not uri.startswith("azureml:"):
            local = (yaml_dir / uri).resolve()
            if local.name.startswith(":"):
                continue
            if (":" in uri or "@" in uri) and not uri.startswith((".", "/")):  # name:version / name@label of an asset
                inp["uri"] = "azureml:" + uri
                continue
            suffix = "/" if inp[key] != "uri_file" else ""
            inp["uri"] = f"azureml://datastores/workspaceblobstore/paths/LocalUpload/{hashes[str(local)]}/{local.name}{suffix}"
        elif uri.startswith("azureml:") is False and ":" in uri and "://" not in uri:
            inp["uri"] = "azureml:" + uri
    return out


COMMAND_GOOD = [p for p in GOOD + EXAMPLE_JOBS if p.read_text(encoding="utf-8").find("type: pipeline") < 0
                and "type: sweep" not in p.read_text(encoding="utf-8")
                and "compute: local" not in p.read_text(encoding="utf-8")]


@pytest.mark.parametrize("path", COMMAND_GOOD, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_command_body_equals_azure_ai_mls(oracle, path):
    theirs = verdict(oracle, path)
    assert theirs["ok"], theirs.get("error")
    job = load_job(path)
    name = theirs["body"].get("name") or "contract-job"
    plan, _, ours = our_bodies(job, name=name)
    compare_command(theirs, ours, plan, path.parent, name)


@pytest.mark.parametrize("path, overrides", OVERRIDES, ids=lambda x: x.stem if isinstance(x, Path) else "set")
def test_set_overrides_change_both_bodies_alike(oracle, path, overrides):
    theirs = verdict(oracle, path, overrides)
    assert theirs["ok"], theirs.get("error")
    job = load_job(path, overrides)
    name = theirs["body"].get("name") or "contract-job"
    plan, _, ours = our_bodies(job, name=name)
    compare_command(theirs, ours, plan, path.parent, name)
    if overrides != ON_CLUSTER:
        assert ours != our_bodies(load_job(path), name=name)[2]  # the overrides did something


def compare_command(theirs, ours, plan, yaml_dir: Path, name: str) -> None:
    t = copy.deepcopy(theirs["body"]["properties"])
    u = ours["properties"]
    assert set(ours) == {"properties"}
    if "codeId" in t:
        local = (yaml_dir / t["codeId"]).resolve()
        assert str(local) in plan.codes
        t["codeId"] = f"{W}/codes/{az.code_name_for(plan.codes[str(local)].content_hash)}/versions/1"
    if "computeId" in t:
        t["computeId"] = COORDS.compute_id(t["computeId"])
    t["environmentId"] = resolve_environment(t["environmentId"], u["environmentId"])
    t["inputs"] = resolve_inputs(t["inputs"], yaml_dir, theirs["object_hashes"])
    assert t["properties"].items() <= u["properties"].items()
    t["properties"] = u["properties"]
    t.setdefault("experimentName", default_experiment_name())
    t.setdefault("displayName", name)
    assert u == t


PIPELINES = [(p, ()) for p in GOOD if "type: pipeline" in p.read_text(encoding="utf-8")] + [
    (p, tuple(ON_CLUSTER)) for p in EXAMPLE_JOBS if "type: pipeline" in p.read_text(encoding="utf-8")]


@pytest.mark.parametrize("path, overrides", PIPELINES, ids=lambda x: f"{x.parent.name}/{x.stem}" if isinstance(x, Path) else "")
def test_pipeline_body_equals_azure_ai_mls(oracle, path, overrides):
    theirs = verdict(oracle, path, overrides)
    assert theirs["ok"], theirs.get("error")
    job = load_job(path, overrides)
    assert isinstance(job, PipelineJob)
    plan, components, ours = our_bodies(job, name="contract-pipeline")
    t = copy.deepcopy(theirs["body"]["properties"])
    u = ours["properties"]
    t["inputs"] = resolve_inputs(t["inputs"], path.parent, theirs["object_hashes"])
    if "default_compute" in t.get("settings", {}):
        t["settings"]["default_compute"] = COORDS.compute_id(t["settings"]["default_compute"])
    if "computeId" in t:
        t["computeId"] = COORDS.compute_id(t["computeId"])
    assert t["properties"].items() <= u["properties"].items()
    t["properties"] = u["properties"]
    t.setdefault("experimentName", default_experiment_name())
    t.setdefault("displayName", "contract-pipeline")
    their_jobs, our_jobs = t.pop("jobs"), u["jobs"]
    assert {k: v for k, v in u.items() if k != "jobs"} == t
    compare_nodes(their_jobs, our_jobs, theirs["components"], components, job.jobs, plan, path, theirs["object_hashes"])


def yaml_node(node: dict, name: str) -> dict:
    """A pipeline node in azure-ai-ml's YAML form (``inputs: {n: {path: ${{...}}}}``, ``n: 4``) in its REST form
    (``{"job_input_type": "literal", "value": ...}``), as ``BaseNode._to_rest_object`` writes it."""
    out = {"name": name, "type": node["type"]}
    if node.get("inputs"):
        out["inputs"] = {k: {"job_input_type": "literal", "value": str(v["path"] if isinstance(v, dict) else v)}
                         for k, v in node["inputs"].items()}
    if node.get("outputs"):
        out["outputs"] = {k: ({"value": v, "type": "literal"} if isinstance(v, str) else
                              {"job_output_type": v.get("type", "uri_folder"), **{x: y for x, y in v.items() if x != "type"}})
                          for k, v in node["outputs"].items()}
    return out


def registered_id(ref: str) -> str:
    """azure-ai-ml ``get_asset_arm_id`` of a registered component (name@latest: resolved at submit; the plan
    without a lookup names the label)."""
    return az.registered_component_id("azureml:" + ref if not ref.startswith("azureml:") else ref, COORDS, {})


def compare_nodes(their_jobs, our_jobs, their_components, components, steps, plan, path, hashes, prefix=""):
    """Node by node, then each node's component: anonymous command components spec by spec, a pipeline component
    by its ports and (recursively) its jobs, a registered component by the id it is sent as."""
    assert set(their_jobs) == set(our_jobs)
    for step, node in their_jobs.items():
        mine = our_jobs[step]
        key = prefix + step
        if "component" in node and "componentId" not in node:
            # two levels down the oracle shows a node in its YAML form (the nested component's own YAML text)
            node = yaml_node(node, step)
            mine = {k: v for k, v in mine.items() if k != "_source"}
        node = {k: v for k, v in node.items() if k != "componentId"}
        if "computeId" in node:
            node["computeId"] = COORDS.compute_id(node["computeId"])
        if "inputs" in node:
            node["inputs"] = resolve_inputs(node["inputs"], path.parent, hashes, key="job_input_type")
        if node.get("type") == "sweep":
            # a sweep node names its trial component in trial (the oracle shows the component it will register)
            their_component = node.pop("trial")
            assert mine["trial"] == {"componentId": components[key][0]} and "componentId" not in mine
            mine = {k: v for k, v in mine.items() if k != "trial"}
        else:
            their_component = their_components[step]
            if isinstance(their_component, str) and steps[step].registered:
                # a registered component: sent as its reference, resolved to the workspace's ARM id (a registry URI as is)
                assert mine["componentId"] == registered_id(their_component) and key not in components
                assert {k: v for k, v in mine.items() if k != "componentId"} == node, key
                continue
            assert mine["componentId"] == components[key][0]
        if "task" not in node:
            assert {k: v for k, v in mine.items() if k != "componentId"} == node, key
        # the step's component: azure-ai-ml's anonymous component spec, references resolved
        if isinstance(their_component, str):
            their_component = yaml.safe_load(their_component)
        their_spec = copy.deepcopy(their_component["properties"]["componentSpec"] if "properties" in their_component
                                   else their_component)
        our_spec = components[key][1]["properties"]["componentSpec"]
        for k in ("_source", "version", "display_name", "description", "tags"):
            their_spec.pop(k, None)
        if their_spec["type"] == "pipeline":
            # a pipeline component: its inner components are named by the YAML azure-ai-ml registers for each
            inner_theirs = their_spec.pop("jobs")
            inner_components = {n: j.get("componentId", j.get("component")) for n, j in inner_theirs.items()}
            compare_nodes(inner_theirs, our_spec["jobs"], inner_components, components, steps[step].pipeline.jobs, plan,
                          path, hashes, prefix=f"{key}.")
            rest_only = () if "properties" in their_component else ("sourceJobId",)  # not in the YAML form
            assert {k: v for k, v in our_spec.items() if k not in ("version", "jobs", *rest_only)} == their_spec, key
            continue
        # a parallel step names its code and environment in its task, on the node and in the spec
        where, ours_at = (their_spec["task"], our_spec["task"]) if their_spec["type"] == "parallel" else (their_spec, our_spec)
        if "code" in where:
            where["code"] = ours_at["code"]  # the code version both resolve the folder to
            step_code = steps[step].job.code.local_path
            assert str(step_code) in plan.codes
        where["environment"] = resolve_environment(where["environment"].removeprefix("azureml:"), ours_at["environment"])
        if "task" in node:
            node["task"] = {**node["task"], "code": ours_at.get("code"), "environment": ours_at["environment"]}
            if node["task"]["code"] is None:
                del node["task"]["code"]
            assert {k: v for k, v in mine.items() if k != "componentId"} == node, key
        assert {k: v for k, v in our_spec.items() if k != "version"} == their_spec, key


def _top_type(p: Path) -> str:
    m = re.search(r"^type: (\w+)", p.read_text(encoding="utf-8"), re.M)
    return m.group(1) if m else "command"


SWEEPS = [(p, ()) for p in GOOD if _top_type(p) == "sweep"] + [
    (p, tuple(ON_CLUSTER)) for p in EXAMPLE_JOBS if _top_type(p) == "sweep"]


@pytest.mark.parametrize("path, overrides", SWEEPS, ids=lambda x: f"{x.parent.name}/{x.stem}" if isinstance(x, Path) else "")
def test_sweep_body_equals_azure_ai_mls(oracle, path, overrides):
    theirs = verdict(oracle, path, overrides)
    assert theirs["ok"], theirs.get("error")
    job = load_job(path, overrides)
    assert job.type == "sweep"
    plan, components, ours = our_bodies(job, name="contract-sweep")
    assert components == {}
    t = copy.deepcopy(theirs["body"]["properties"])
    u = ours["properties"]
    trial = t["trial"]
    if "codeId" in trial:
        local = (path.parent / trial["codeId"]).resolve()
        assert str(local) in plan.codes
        trial["codeId"] = f"{W}/codes/{az.code_name_for(plan.codes[str(local)].content_hash)}/versions/1"
    trial["environmentId"] = resolve_environment(trial["environmentId"], u["trial"]["environmentId"])
    if "computeId" in t:
        t["computeId"] = COORDS.compute_id(t["computeId"])
    t["inputs"] = resolve_inputs(t["inputs"], path.parent, theirs["object_hashes"])
    assert t["properties"].items() <= u["properties"].items()
    t["properties"] = u["properties"]
    t.setdefault("experimentName", default_experiment_name())
    t.setdefault("displayName", "contract-sweep")
    assert u == t
