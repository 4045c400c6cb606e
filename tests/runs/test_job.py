"""The job YAML model (runs/job.py) and the pure helpers of the request bodies (runs/jobbody.py).

What azure-ai-ml accepts or rejects is checked against azure-ai-ml itself in test_contract.py; here:
the model's shape (bindings, dependency order, defaults), overrides, the messages, the migration of
the old run spec, and property tests of the pure helpers."""

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlplatform.errors import UserError
from amlplatform.runs import jobbody
from amlplatform.runs.azure import same_url_origin, split_upload_target
from amlplatform.runs.job import (
    Binding,
    CommandJob,
    PipelineJob,
    _levels,
    apply_overrides,
    convert_run_spec,
    load_job,
    parse_job,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(tmp_path: Path, text: str, name: str = "job.yml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_command_job_model(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "data").mkdir()
    job = load_job(write(tmp_path, """
code: src
command: python x.py ${{inputs.d}} ${{inputs.n}} ${{outputs.o}}
inputs:
  d: {type: uri_folder, path: ./data, mode: download}
  n: 4
  remote: {type: uri_file, path: azureml://datastores/ds/paths/a.csv}
  web: {type: uri_file, path: https://example.com/a.csv}
  asset: {type: mltable, path: azureml:tbl@latest}
outputs:
  o: {type: uri_folder, mode: upload}
environment: azureml:env:2
compute: azureml:gpu
resources: {instance_count: 2, instance_type: Standard_NC6}
distribution: {type: PyTorch, process_count_per_instance: 2}
limits: {timeout: 60}
identity: {type: managed_identity, client_id: abc}
"""))
    assert isinstance(job, CommandJob) and job.compute == "gpu" and job.timeout == 60
    assert job.code.local_path == (tmp_path / "src").resolve()
    d = job.inputs["d"]
    assert (d.type, d.path_kind, d.local_path, d.mode) == ("uri_folder", "local", (tmp_path / "data").resolve(), "download")
    assert job.inputs["n"].is_literal and job.inputs["n"].value == 4
    assert [job.inputs[k].path_kind for k in ("remote", "web", "asset")] == ["datastore", "url", "asset"]
    assert job.outputs["o"].mode == "upload"
    assert (job.environment.kind, job.environment.name, job.environment.version) == ("asset", "env", "2")
    assert job.distribution.type == "pytorch" and job.resources.instance_count == 2
    assert job.identity.type == "managed" and job.identity.client_id == "abc"


def test_pipeline_bindings_and_order():
    job = load_job(EXAMPLES / "pipeline" / "pipeline.yml")
    assert isinstance(job, PipelineJob) and job.is_local
    assert job.levels() == [["prep"], ["train"], ["evaluate"]] and job.order() == ["prep", "train", "evaluate"]
    train = job.jobs["train"]
    assert train.depends_on == ("prep",) and train.is_deterministic is True
    assert train.component.endswith("train.component.yml") and train.component_name == "fit_line"
    td = train.job.inputs["training_data"]
    assert td.binding == Binding("step_outputs", "prepped_data", step="prep") and td.path_kind == "step_output"
    # a parent input binding carries what it is bound to
    raw = job.jobs["prep"].job.inputs["raw_data"]
    assert raw.binding == Binding("parent_inputs", "raw_data") and raw.path_kind == "local"
    assert raw.local_path == (EXAMPLES / "pipeline" / "data").resolve()
    # a component input without a value takes the component's default; a bound one the parent's literal
    assert train.job.inputs["learning_rate"].value == 0.01 and train.job.inputs["epochs"].value == 200
    out = job.jobs["evaluate"].job.outputs["evaluation_output"]
    assert out.binding == Binding("parent_outputs", "evaluation")
    assert set(job.jobs["evaluate"].depends_on) == {"train", "prep"}
    assert Binding("step_outputs", "m", step="s").expression == "${{parent.jobs.s.outputs.m}}"


def test_independent_steps_share_a_level(tmp_path):
    job = parse_job({"type": "pipeline", "jobs": {
        "a": {"command": "echo ${{outputs.o}}", "environment": "azureml:e:1", "outputs": {"o": {"type": "uri_folder"}}},
        "b": {"command": "echo ${{outputs.o}}", "environment": "azureml:e:1", "outputs": {"o": {"type": "uri_folder"}}},
        "c": {"command": "echo ${{inputs.x}} ${{inputs.y}}", "environment": "azureml:e:1",
              "inputs": {"x": "${{parent.jobs.a.outputs.o}}", "y": "${{parent.jobs.b.outputs.o}}"}},
    }}, base_dir=tmp_path)
    assert job.levels() == [["a", "b"], ["c"]]


@pytest.mark.parametrize("jobs, message", [
    ({"a": {"command": "echo ${{inputs.x}}", "environment": "azureml:e:1",
            "inputs": {"x": "${{parent.jobs.nope.outputs.o}}"}}}, "no step named 'nope'"),
    ({"a": {"command": "echo ${{inputs.x}}", "environment": "azureml:e:1",
            "inputs": {"x": "${{parent.inputs.missing}}"}}}, "the pipeline has no input 'missing'"),
    ({"a": {"command": "echo ${{inputs.x}} ${{outputs.o}}", "environment": "azureml:e:1",
            "inputs": {"x": "${{parent.jobs.b.outputs.o}}"}, "outputs": {"o": {"type": "uri_folder"}}},
      "b": {"command": "echo ${{inputs.x}} ${{outputs.o}}", "environment": "azureml:e:1",
            "inputs": {"x": "${{parent.jobs.a.outputs.o}}"}, "outputs": {"o": {"type": "uri_folder"}}}},
     "cycle: a -> b -> a"),
])
def test_pipeline_binding_errors_name_the_step(tmp_path, jobs, message):
    with pytest.raises(UserError) as err:
        parse_job({"type": "pipeline", "jobs": jobs}, base_dir=tmp_path)
    assert any(message in p for p in err.value.problems), err.value.problems


def test_placeholders_must_name_inputs_and_outputs(tmp_path):
    with pytest.raises(UserError) as err:
        parse_job({"command": "run ${{inputs.nope}} ${{outputs.gone}} ${{parent.x}}", "environment": "azureml:e:1"},
                  base_dir=tmp_path)
    assert len(err.value.problems) == 3 and all(p.startswith("command:") for p in err.value.problems)


def test_every_bad_field_is_listed_at_once(tmp_path):
    with pytest.raises(UserError) as err:
        load_job(write(tmp_path, "command: 3\nenvironment: azureml:e:1\nresources: {instance_count: 0}\nfoo: 1\n"))
    assert sorted(err.value.problems) == ["command: Not a valid string.", "foo: Unknown field.",
                                          "resources.instance_count: Must be greater than or equal to 1."]
    assert str(tmp_path / "job.yml") in str(err.value)


@pytest.mark.parametrize("text, needle", [
    ("command: [", "not valid YAML at line 1"),
    ("- a\n- b\n", "must be a mapping"),
])
def test_unreadable_files(tmp_path, text, needle):
    with pytest.raises(UserError, match=re.escape(needle)):
        load_job(write(tmp_path, text))
    with pytest.raises(UserError, match="does not exist"):
        load_job(tmp_path / "nope.yml")


def test_overrides_set_dotted_paths_as_text(tmp_path):
    data = {"inputs": {"lr": 0.1}, "resources": None}
    out = apply_overrides(data, ["inputs.lr=0.5", "resources.instance_count=3", "tags.a.b=c", "command=echo a=b"])
    assert out == {"inputs": {"lr": "0.5"}, "resources": {"instance_count": "3"}, "tags": {"a": {"b": "c"}},
                   "command": "echo a=b"}
    assert data == {"inputs": {"lr": 0.1}, "resources": None}  # a copy
    with pytest.raises(UserError, match="expected KEY.PATH=VALUE"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(UserError, match="inputs.lr is float, not a mapping"):
        apply_overrides(data, ["inputs.lr.x=1"])
    job = load_job(EXAMPLES / "train" / "job.yml", ["inputs.epochs=5", "compute=azureml:cpu", "limits.timeout=30"])
    assert job.inputs["epochs"].value == "5" and job.compute == "cpu" and job.timeout == 30


def test_old_run_spec_is_converted_not_kept(tmp_path):
    spec = write(tmp_path, "source: .\nscript: train.py\narguments: [--epochs, 3]\nexperiment: e\n", "run.yaml")
    with pytest.raises(UserError) as err:
        load_job(spec)
    text = str(err.value)
    assert "replaced by Azure ML job YAML" in text
    converted = write(tmp_path, text[text.index("$schema"):], "job.yml")
    job = load_job(converted)
    assert job.command == "python train.py --epochs 3" and job.compute == "local" and job.experiment_name == "e"
    assert "image" in convert_run_spec({"environment": "mcr.microsoft.com/x/y:1"})
    assert "azureml:my-env:2" in convert_run_spec({"environment": "my-env:2"})


def test_examples_load():
    for path in sorted(EXAMPLES.glob("*/*.yml")):
        if ".component." not in path.name and ".data." not in path.name:  # components and data assets are not jobs
            assert load_job(path).type in ("command", "pipeline", "sweep")


# ---------------------------------------------------------------- pure helpers: properties


@given(st.integers(min_value=0, max_value=10 ** 7))
def test_iso_duration_round_trips(seconds):
    text = jobbody.iso_duration(seconds)
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", text)
    assert m and text not in ("P", "PT")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    assert dt.timedelta(days=d, hours=h, minutes=mi, seconds=s).total_seconds() == seconds
    assert h < 24 and mi < 60 and s < 60


def test_iso_duration_matches_isodate():
    assert [jobbody.iso_duration(x) for x in (3600, 90, 86400 + 7200, 0, 59)] == ["PT1H", "PT1M30S", "P1DT2H", "P0D", "PT59S"]


@given(st.dictionaries(st.text("abcdef", min_size=1, max_size=3),
                       st.lists(st.text("abcdef", min_size=1, max_size=3), max_size=3), max_size=6))
def test_levels_respect_every_dependency(graph):
    deps = {n: [d for d in ds if d in graph and d != n] for n, ds in graph.items()}
    try:
        levels = _levels(deps)
    except ValueError:
        return  # a cycle (load_job refuses those first)
    where = {n: i for i, level in enumerate(levels) for n in level}
    assert sorted(where) == sorted(deps)
    assert all(where[d] < where[n] for n, ds in deps.items() for d in ds)


hosts = st.sampled_from(["acct.blob.core.windows.net", "ACCT.blob.core.windows.net", "other.blob.core.windows.net"])


@given(scheme=st.sampled_from(["https", "http"]), host=hosts, explicit=st.booleans(), other=hosts)
def test_same_url_origin_ignores_only_default_ports(scheme, host, explicit, other):
    port = {"https": 443, "http": 80}[scheme]
    a = f"{scheme}://{host}{':' + str(port) if explicit else ''}/c/f"
    b = f"{scheme}://{other}/c?sig=x"
    assert same_url_origin(a, b) == (host.lower() == other.lower()) == same_url_origin(b, a)
    assert not same_url_origin(f"{scheme}://{host}:8443/c", f"{scheme}://{host}/c")


def test_recorded_pending_upload_answer_is_accepted():
    """The shape of a real startPendingUpload answer: blobUri with :443, the container SAS without."""
    blob = "https://mlwdev1234.blob.core.windows.net:443/4a3b2c1d-0000-4e5f-9a8b-7c6d5e4f3a2b"
    sas = "https://mlwdev1234.blob.core.windows.net/4a3b2c1d-0000-4e5f-9a8b-7c6d5e4f3a2b?skoid=x&sv=2021-10-04&sig=Sanitized"
    container, folder = split_upload_target(blob, sas, "start the code upload")
    assert container == "https://mlwdev1234.blob.core.windows.net/4a3b2c1d-0000-4e5f-9a8b-7c6d5e4f3a2b" and folder == ""
    with pytest.raises(UserError, match="outside the SAS container"):
        split_upload_target("https://evil.example:443/4a3b2c1d", sas, "start the code upload")


@given(st.text(min_size=1, max_size=40), st.one_of(st.none(), st.text(max_size=40)))
def test_anonymous_environment_version_is_a_sha256_function_of_its_inputs(image, conda):
    v = jobbody.anonymous_environment_version(image, conda)
    assert re.fullmatch(r"[0-9a-f]{64}", v) and v == jobbody.anonymous_environment_version(image, conda)
    if conda is not None:
        assert v != jobbody.anonymous_environment_version(image, None)


def test_a_nul_byte_in_an_environment_variable_is_refused_naming_it(tmp_path):
    (tmp_path / "job.yml").write_text('type: command\ncommand: echo hi\nenvironment: azureml:x:1\n'
                                      'environment_variables:\n  BAD: "a\\0b"\n')
    with pytest.raises(UserError) as err:
        load_job(tmp_path / "job.yml")
    assert "environment_variables.BAD: must not contain a NUL byte" in str(err.value)
