"""Replays of recorded real answers, end to end through ``amlplatform submit`` (fake workspace + Azurite).

The recordings (``recordings/``, see its README) are azure-sdk-for-python test recordings of a real
workspace. Two things are checked against them:

- what we send: our code version and job PUT bodies, field by field for every field the recorded
  azure-ai-ml request also carries (ids compared by shape with the workspace part replaced by ``W``,
  content hashes and generated names by pattern);
- what we get: the fake answers with the recorded shape (``recorded_job_answer`` /
  ``recorded_code_answer`` in ``fake_aml.py``: null service ports, ``isAnonymous`` false in the code
  version answer, the ``default`` output and filled ``resources``), and the CLI must handle it.
"""

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from azurite import azurite  # noqa: E402,F401 - session fixture
from fake_aml import (  # noqa: E402,F401
    FakeAML, fake_aml, recorded, recorded_code_answer, recorded_job_answer)
from test_azure_cli import cli_env, submit_args  # noqa: E402,F401 - the same client aiming

from amlplatform.cli import main  # noqa: E402

BUILDER = recorded("command_job_builder.json")
PATH_UPDATE = recorded("code_asset_path_update.json")
RECORDED_WS = "/subscriptions/00000000-0000-0000-0000-000000000/resourceGroups/00000/providers/" \
              "Microsoft.MachineLearningServices/workspaces/00000"

# the recorded builder job (test_command_job_builder) as job YAML: same command shape, inputs of the same
# kinds (a datastore file, a local folder uploaded to LocalUpload/<hash>/), MPI with 2 processes per
# instance, AMLToken identity, description, display and experiment names
JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
code: ./training
command: echo ${{inputs.uri}} ${{inputs.local_data}}
inputs:
  uri: {type: uri_file, path: azureml://datastores/workspaceblobstore/paths/python/data.csv}
  local_data: {type: uri_folder, path: ./data}
environment: azureml:sklearn-env:3
compute: azureml:cpu-cluster
distribution: {type: mpi, process_count_per_instance: 2}
identity: {type: aml_token}
description: new-description
display_name: new_builder_command_job
experiment_name: mfe-test1-dataset
"""


def entry(recording: dict, method: str, prefix: str, index: int = 0) -> dict:
    return [e for e in recording["entries"] if e["method"] == method and e["path"].startswith(prefix)][index]


def shape(value, workspace_id: str):
    """Our ids with the workspace part replaced by ``W``, as the recordings are trimmed."""
    if isinstance(value, str):
        return value.replace(workspace_id, "W").replace(RECORDED_WS, "W")
    if isinstance(value, dict):
        return {k: shape(v, workspace_id) for k, v in value.items()}
    return value


def sent(fake, op: str) -> list:
    return [c.body for c in fake.calls if c.op == op and c.status in (200, 201)]


@pytest.fixture
def builder_project(cli_env):
    project, outputs, spy = cli_env
    (project / "training").mkdir()
    (project / "training" / "train_mlflow.py").write_text("print('train')\n")
    (project / "job.yml").write_text(JOB)
    return project, outputs


def test_command_job_sends_what_azure_ai_ml_sent_and_handles_the_recorded_answers(builder_project, fake_aml, capsys):
    project, outputs = builder_project
    code = main(submit_args(outputs, "--json"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    ws = fake_aml.workspace_id

    # ---- the code version PUT, field by field against the recorded azure-ai-ml request
    rec_code = entry(BUILDER, "PUT", "W/codes/")["request"]["properties"]
    (our_code,) = sent(fake_aml, "code_put")
    ours = our_code["properties"]
    assert ours["isAnonymous"] is rec_code["isAnonymous"] is True
    assert ours["properties"]["hash_version"] == rec_code["properties"]["hash_version"] == "202208"
    assert set(ours["properties"]) == set(rec_code["properties"])
    assert re.fullmatch(r"[0-9a-f]{64}", ours["properties"]["hash_sha256"])
    # codeUri: <blob service>/<container>/.../<code folder name>, no query, as recorded (".../training")
    assert rec_code["codeUri"].rsplit("/", 1)[-1] == "training" == ours["codeUri"].rsplit("/", 1)[-1]
    assert "?" not in ours["codeUri"] and ours["codeUri"].startswith(fake_aml.blobs.service_url.split("://")[0] + "://")
    assert set(ours) <= set(rec_code)  # nothing azure-ai-ml does not send (we leave isArchived to its default)

    # ---- the job PUT, field by field
    rec_job = entry(BUILDER, "PUT", "W/jobs/")["request"]["properties"]
    (our_job,) = sent(fake_aml, "job_put")
    job = shape(our_job["properties"], ws)
    for field in ("description", "displayName", "experimentName", "jobType", "command", "distribution", "identity"):
        assert job[field] == rec_job[field].replace(" ${{inputs.data_asset}}", "") if field == "command" \
            else job[field] == rec_job[field], field
    assert re.fullmatch(r"W/computes/[^/]+", job["computeId"]) and re.fullmatch(r"W/computes/[^/]+", rec_job["computeId"])
    assert re.fullmatch(r"W/codes/[^/]+/versions/1", job["codeId"]) and re.fullmatch(
        r"W/codes/[^/]+/versions/1", rec_job["codeId"])
    # environmentId: azure-ai-ml looked the ARM id up and sent it; we send the azureml:name:version reference
    # the service resolves (jobbody.DIFFERENCES["environmentId"]), naming the same environment version
    rec_env = re.fullmatch(r"W/environments/([^/]+)/versions/([^/]+)", rec_job["environmentId"])
    assert rec_env and job["environmentId"] == "azureml:sklearn-env:3"
    assert "environmentId" in __import__("amlplatform.runs.jobbody", fromlist=["DIFFERENCES"]).DIFFERENCES
    assert job["inputs"]["uri"]["uri"] == rec_job["inputs"]["uri"]["uri"]
    for name in ("uri", "local_data"):
        assert job["inputs"][name]["jobInputType"] == rec_job["inputs"][name]["jobInputType"], name
    local = re.compile(r"azureml://datastores/workspaceblobstore/paths/LocalUpload/[0-9a-f]+/data/")
    assert local.fullmatch(job["inputs"]["local_data"]["uri"]) and local.fullmatch(rec_job["inputs"]["local_data"]["uri"])
    extra = set(job) - set(rec_job) - {"resources"}  # resources: azure-ai-ml sends it on the builder's 2nd PUT
    assert extra <= {"environmentVariables", "outputs", "tags", "properties", "isArchived"}, extra

    # ---- the recorded answers were handled: the job ran to its end and the answer kept its recorded shape
    answer = json.loads(captured.out)
    assert answer["properties"]["status"] == "Completed"
    assert answer["properties"]["services"]["Studio"]["port"] is None
    assert answer["properties"]["outputs"]["default"]["jobOutputType"] == "uri_folder"
    assert answer["properties"]["resources"]["shmSize"] == "2g"
    assert answer["properties"]["inputs"]["uri"]["mode"] == "ReadOnlyMount"
    # the code version answer said isAnonymous false (as recorded for an anonymous request): the id was used
    (code,) = fake_aml.codes.values()
    assert our_job["properties"]["codeId"] == code["id"]
    assert "studio" in captured.err.lower() or f"job {answer['name']}" in captured.err


def test_the_fake_answers_as_the_recordings_show(fake_aml):
    """The fake's answer shaping reproduces every field of the recorded answers that it can know."""
    rec = entry(BUILDER, "PUT", "W/jobs/")
    request = rec["request"]
    stored = {"id": "W/jobs/000000000000000000000", "name": "000000000000000000000",
              "type": rec["response"]["type"],
              "properties": {**json.loads(json.dumps(request["properties"])), "status": "Starting",
                             "services": {k: {"jobServiceType": v["jobServiceType"], "endpoint": v["endpoint"]}
                                          for k, v in rec["response"]["properties"]["services"].items()}}}
    got = recorded_job_answer(stored)["properties"]
    want = rec["response"]["properties"]
    for key in want:
        if key == "properties":
            assert set(got[key]) == set(want[key])
        else:
            assert got[key] == want[key], key
    pipeline = PIPELINE["entries"][0]
    stored = {"id": "W/jobs/test_136581382934", "name": "test_136581382934", "type": pipeline["response"]["type"],
              "properties": {**json.loads(json.dumps(pipeline["request"]["properties"])), "status": "Preparing",
                             "services": {k: {"jobServiceType": v["jobServiceType"], "endpoint": v["endpoint"]}
                                          for k, v in pipeline["response"]["properties"]["services"].items()}}}
    assert recorded_job_answer(stored)["properties"] == pipeline["response"]["properties"]
    code = entry(BUILDER, "PUT", "W/codes/")
    got_code = recorded_code_answer({"id": "x", "properties": code["request"]["properties"]})["properties"]
    assert got_code == code["response"]["properties"]


def test_a_same_body_code_version_put_is_answered_200_as_recorded(builder_project, fake_aml, capsys):
    """test_asset_path_update: a second PUT of a code version with the same codeUri and hash is a 200 with
    the stored version (our fake: same), where another codeUri is the 409 "Asset paths cannot be updated"."""
    first, second = (e for e in PATH_UPDATE["entries"])
    assert (first["status"], second["status"]) == (201, 200)
    assert first["request"] == second["request"]
    assert second["response"]["properties"] == first["response"]["properties"]
    project, outputs = builder_project
    assert main(submit_args(outputs, "--no-wait")) == 0
    (our_code,) = sent(fake_aml, "code_put")
    (key,) = fake_aml.codes
    path = f"/codes/{key[0]}/versions/{key[1]}"
    status, answer, _ = fake_aml.handle("code_put", {"name": key[0], "version": key[1]}, {}, our_code)
    assert status == second["status"]
    assert set(answer["properties"]) == set(second["response"]["properties"]) | {"provisioningState"}
    assert answer["properties"]["isAnonymous"] is False and path in answer["id"]


PIPELINE = recorded("pipeline_job_create.json")

# the recorded pipeline (test_pipeline_job_create, hello world pipeline) as job YAML: the same literals,
# a local mltable folder in Direct mode, an rw_mount output, continue_on_step_failure, two command steps
# binding the parent's inputs (inline here: the recording's steps reference a registered component). As
# in the recording, job_out_path_1 is bound by no step: the service took it, and so do we.
PIPELINE_JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
description: The hello world pipeline job
display_name: test_136581382934
experiment_name: my_first_experiment
tags: {tag: tagvalue, owner: sdkteam}
compute: azureml:cpu-cluster
inputs:
  job_in_number: 10
  job_in_other_number: 15
  job_in_string: a_random_string
  job_data_path: {type: mltable, path: ./iris-mltable, mode: direct}
  score_model: ../model/
outputs:
  job_out_path_1: {type: uri_folder, mode: rw_mount}
settings:
  continue_on_step_failure: true
jobs:
  hello_world_component:
    type: command
    code: ./src
    command: echo Hello World & echo ${{inputs.component_in_number}}
    environment: azureml:sklearn-env:3
    inputs: {component_in_number: "${{parent.inputs.job_in_number}}"}
  hello_world_component_2:
    type: command
    code: ./src
    command: echo Hello World & echo ${{inputs.component_in_number}}
    environment: azureml:sklearn-env:3
    inputs: {component_in_number: "${{parent.inputs.job_in_other_number}}"}
"""


def test_pipeline_job_sends_what_azure_ai_ml_sent_and_handles_the_recorded_answer(cli_env, fake_aml, capsys):
    project, outputs, spy = cli_env
    (project / "iris-mltable").mkdir()
    (project / "iris-mltable" / "MLTable").write_text("paths:\n  - file: ./iris.csv\n")
    (project / "iris-mltable" / "iris.csv").write_text("a,b\n1,2\n")
    (project / "job.yml").write_text(PIPELINE_JOB)
    code = main(submit_args(outputs, "--json"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rec = PIPELINE["entries"][0]["request"]["properties"]
    (our_job,) = sent(fake_aml, "job_put")
    job = shape(our_job["properties"], fake_aml.workspace_id)
    for field in ("description", "tags", "displayName", "experimentName", "jobType"):
        assert job[field] == rec[field], field
    assert job["settings"]["continue_on_step_failure"] is rec["settings"]["continue_on_step_failure"] is True
    for name in ("job_in_number", "job_in_other_number", "job_in_string", "score_model"):
        assert job["inputs"][name] == rec["inputs"][name], name
    data, rec_data = job["inputs"]["job_data_path"], rec["inputs"]["job_data_path"]
    assert (data["jobInputType"], data["mode"]) == (rec_data["jobInputType"], rec_data["mode"]) == ("mltable", "Direct")
    table = re.compile(r"azureml://datastores/workspaceblobstore/paths/LocalUpload/[0-9a-f]+/iris-mltable/?")
    assert table.fullmatch(data["uri"]) and table.fullmatch(rec_data["uri"])
    assert job["outputs"] == rec["outputs"]
    assert set(job["jobs"]) == set(rec["jobs"])
    for step, rec_step in rec["jobs"].items():
        ours = job["jobs"][step]
        assert ours["type"] == rec_step["type"] == "command", step
        assert ours["inputs"] == rec_step["inputs"], step
        assert re.fullmatch(r"W/components/[^/]+/versions/[^/]+", ours["componentId"]), step

    answer = json.loads(captured.out)
    assert answer["properties"]["status"] == "Completed"
    assert answer["properties"]["services"]["Studio"]["nodes"] is None
    assert answer["properties"]["properties"]["azureml.runsource"] == "azureml.PipelineRun"
    assert answer["properties"]["outputs"]["job_out_path_1"]["uri"] is None


WAIT = recorded("pipeline_job_wait.json")


def test_the_recorded_status_sequence_ends_the_wait(cli_env, fake_aml, capsys):
    """test_pipeline_job_download: the PUT answered Preparing, the next GET Completed (with the added
    azureml.pipelines.stages run property); submit waits through exactly that sequence and stops."""
    put, get = WAIT["entries"]
    sequence = [put["response"]["properties"]["status"], get["response"]["properties"]["status"]]
    assert sequence == ["Preparing", "Completed"]
    # the fake's answers have the recorded shape for this job too
    stored = {"id": put["response"]["id"], "name": put["response"]["name"], "type": put["response"]["type"],
              "properties": {**json.loads(json.dumps(put["request"]["properties"])), "status": "Preparing",
                             "services": {k: {"jobServiceType": v["jobServiceType"], "endpoint": v["endpoint"]}
                                          for k, v in put["response"]["properties"]["services"].items()}}}
    shaped = recorded_job_answer(stored)["properties"]
    for key, want in put["response"]["properties"].items():
        if key != "outputs":  # 2022-12-01-preview adds assetName/assetVersion null to outputs; not in the fake
            assert shaped[key] == want, key
    project, outputs, spy = cli_env
    (project / "iris-mltable").mkdir()
    (project / "iris-mltable" / "MLTable").write_text("paths:\n  - file: ./iris.csv\n")
    (project / "iris-mltable" / "iris.csv").write_text("a,b\n1,2\n")
    (project / "job.yml").write_text(PIPELINE_JOB)
    fake_aml.status_script = tuple(sequence)
    code = main(submit_args(outputs, "--json"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    answer = json.loads(captured.out)
    assert answer["properties"]["status"] == "Completed"
    gets = [c for c in fake_aml.calls if c.op == "job_get"]
    assert len(gets) == 2  # Preparing, then Completed: no poll after the terminal status
