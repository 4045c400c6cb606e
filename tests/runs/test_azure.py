"""The Azure backend against real parts: Azurite as the blob store behind the pending-upload SAS and
a local fake workspace that validates every request body against the published schema definitions.
Only the control plane (ARM) is faked."""

import json
import re
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # fake_aml / azurite sit next to this file

from azurite import azurite  # noqa: E402,F401 - session fixture
from fake_aml import AML_REST, Fault, FakeCredential, SchemaChecker, client_for, fake_aml  # noqa: E402,F401

from amlplatform.errors import UserError  # noqa: E402
from amlplatform.runs import azure as az  # noqa: E402
from amlplatform.runs import jobbody  # noqa: E402
from amlplatform.cli.progress import ByteProgress, StatusLine  # noqa: E402 - console output is the CLI's
from amlplatform.runs.azure import (  # noqa: E402
    DEFAULT_API_VERSION,
    SUBMISSION_PROPERTY,
    api_version_from,
    code_name_for,
    job_name_for,
)
from amlplatform.runs.coordinates import WorkspaceCoordinates  # noqa: E402
from amlplatform.runs.job import parse_job  # noqa: E402
from amlplatform.runs.snapshot import take_data_snapshot, take_snapshot  # noqa: E402

SUB = "00000000-1111-2222-3333-444444444444"
COORDS = WorkspaceCoordinates(SUB, "rg-aml-dev", "mlw-dev")
HASH = "0123456789abcdef" * 4
needs_contract = pytest.mark.skipif(
    not (AML_REST / "2025-12-01" / "job-definitions.json").is_file(), reason=f"REST contract data missing ({AML_REST})"
)


@pytest.fixture(scope="module")
def schema():
    if not (AML_REST / "2025-12-01" / "job-definitions.json").is_file():
        pytest.skip(f"REST contract data missing ({AML_REST})")
    return SchemaChecker("2025-12-01")


def project(root: Path) -> Path:
    (root / "src" / "pkg" / "deep").mkdir(parents=True)
    (root / "train.py").write_text("import mlflow\nprint('training')\n")
    (root / "src" / "pkg" / "__init__.py").write_text("")  # empty file
    (root / "src" / "pkg" / "deep" / "Model.py").write_text("W = 1\n")
    (root / "data.bin").write_bytes(bytes(range(256)) * 40)
    (root / "README.md").write_text("# sample\n")
    return root


def spec(root: Path, **kw):
    """A command job as the YAML would give it (keywords: the job YAML's fields)."""
    data = dict(code=str(root), compute="azureml:cpu-cluster", command="python train.py --epochs 3",
                environment="azureml:sklearn-env:3", experiment_name="churn-model")
    data.update(kw)
    return parse_job({k: v for k, v in data.items() if v is not None}, base_dir=Path(root).resolve())


GIT = {"mlflow.source.git.repoURL": "https://github.com/contoso/churn.git", "mlflow.source.git.branch": "main",
       "mlflow.source.git.commit": "a" * 40, "azureml.git.dirty": "False"}


class _Snap:
    def __init__(self, content_hash):
        self.content_hash = content_hash


def plan_for(job, snap, git=GIT, job_name=None, workspace_id=None):
    return az.make_plan(job, job_name=job_name, snapshot=lambda p: snap, data_snapshot=take_data_snapshot, git=git,
                        workspace_id=workspace_id or COORDS.workspace_id)


def submit(client, job, snap, git=GIT, job_name=None):
    return client.submit(plan_for(job, snap, git, job_name, client.coords.workspace_id))


def build_job_body(job, *, code_id, coords, git, content_hash, submission_id=None):
    plan = plan_for(job, _Snap(content_hash), git, "job-1", coords.workspace_id)
    return az.job_bodies(plan, coords, code_ids={k: code_id for k in plan.codes}, submission_id=submission_id)[1]


def environment_id_for(env, coords):
    return jobbody.environment_request(spec(Path("."), environment=env).environment, coords.workspace_id)[0]



# ---------------------------------------------------------------- contract: the schema checker and the job body


@needs_contract
def test_published_example_body_validates(schema):
    example = json.loads((AML_REST / "2025-12-01/examples/Job/CommandJob/createOrUpdate.json").read_text())
    assert schema.problems("JobBase", example["parameters"]["body"]) == []
    code = json.loads((AML_REST / "2025-12-01/examples/Workspace/CodeVersion/createOrUpdate.json").read_text())
    assert schema.problems("CodeVersion", code["parameters"]["body"]) == []


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda p: p.update(comand=p.pop("command")), "'command' is a required property"),
        (lambda p: p.update(experimentname=p.pop("experimentName")), "'experimentname' was unexpected"),
        (lambda p: p.pop("jobType"), "'jobType' is a required property"),
        (lambda p: p.update(jobType="Spark"), "'Spark' is not one of"),
        (lambda p: p.update(distribution={"distributionType": "Horovod"}), "'Horovod'"),
        (lambda p: p.update(distribution={"distributionType": "PyTorch", "workerCount": 2}), "'workerCount' was unexpected"),
        (lambda p: p.update(limits={"jobLimitsType": "Command", "timeout": "300"}), "is not a 'duration'"),
        (lambda p: p.update(displayName=None), "None is not of type 'string'"),
        (lambda p: p.update(command=""), "command"),
        (lambda p: p.update(resources={"instanceCount": "2"}), "'2' is not of type 'integer'"),
    ],
)
def test_schema_checker_catches_bad_bodies(schema, mutate, needle):
    body = build_job_body(spec(Path(".")), code_id="/c", coords=COORDS, git=GIT, content_hash=HASH)
    mutate(body["properties"])
    problems = schema.problems("JobBase", body)
    assert problems and any(needle in p for p in problems), problems


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"distribution": {"type": "pytorch", "process_count_per_instance": 4}, "resources": {"instance_count": 2}},
        {"distribution": {"type": "mpi", "process_count_per_instance": 2}},
        {"distribution": {"type": "tensorflow", "worker_count": 2, "parameter_server_count": 1}},
        {"limits": {"timeout": 3600}, "display_name": "nightly", "tags": {"team": "risk"},
         "environment_variables": {"EPOCHS": "3"}},
        {"environment": {"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"}},
        {"environment": "azureml:AzureML-sklearn-1.5@latest"},
        {"environment": "azureml:my-env@latest"},
        {"inputs": {"lr": 0.1, "d": {"type": "uri_folder", "path": "azureml://datastores/ds/paths/x/", "mode": "download"},
                    "t": {"type": "mltable", "path": "azureml:tbl:1"}},
         "outputs": {"o": {"type": "uri_folder", "mode": "upload"}, "m": {"type": "mlflow_model"}},
         "command": "python train.py ${{inputs.lr}} ${{inputs.d}} ${{inputs.t}} ${{outputs.o}} ${{outputs.m}}"},
        {"identity": {"type": "managed", "client_id": "11111111-2222-3333-4444-555555555555"}},
        {"identity": {"type": "user_identity"}},
    ],
)
def test_job_bodies_validate_against_jobbase(schema, extra):
    body = build_job_body(spec(Path("."), **extra), code_id=COORDS.workspace_id + "/codes/c/versions/1",
                          coords=COORDS, git=GIT, content_hash=HASH, submission_id="s1")
    assert schema.problems("JobBase", body) == []
    props = body["properties"]
    assert props["jobType"] == "Command" and props["computeId"] == COORDS.workspace_id + "/computes/cpu-cluster"
    assert props["properties"][SUBMISSION_PROPERTY] == "s1"
    assert props["properties"]["amlplatform.code_hash"] == HASH
    assert props["properties"]["mlflow.source.git.commit"] == "a" * 40


def test_job_body_fields():
    s = spec(Path("."), limits={"timeout": 90}, distribution={"type": "tensorflow", "worker_count": 3},
             resources={"instance_count": 3}, display_name="d", environment_variables={"A": "1"}, tags={"t": "v"})
    props = build_job_body(s, code_id="cid", coords=COORDS, git={}, content_hash=HASH)["properties"]
    assert props["limits"] == {"jobLimitsType": "Command", "timeout": "PT1M30S"}
    assert props["distribution"] == {"distributionType": "TensorFlow", "workerCount": 3}
    assert props["resources"] == {"instanceCount": 3, "properties": {}}
    assert props["environmentId"] == "azureml:sklearn-env:3"
    assert (props["displayName"], props["environmentVariables"], props["tags"]) == ("d", {"A": "1"}, {"t": "v"})
    assert props["experimentName"] == "churn-model" and props["codeId"] == "cid"
    assert SUBMISSION_PROPERTY not in props["properties"]  # dry-run bodies have no submission yet


def test_job_body_uses_the_stacks_compute_id():
    coords = WorkspaceCoordinates(SUB, "rg-aml-dev", "mlw-dev", compute_ids={"cpu-cluster": "/subscriptions/x/c"})
    props = build_job_body(spec(Path(".")), code_id="c", coords=coords, git={}, content_hash=HASH)["properties"]
    assert props["computeId"] == "/subscriptions/x/c"


def test_local_compute_is_not_an_azure_job():
    with pytest.raises(UserError, match="'local' runs on this machine"):
        build_job_body(spec(Path("."), compute="local"), code_id="c", coords=COORDS, git={}, content_hash=HASH)


@pytest.mark.parametrize(
    "env, expected",
    [
        ("azureml:sklearn-env:3", "azureml:sklearn-env:3"),
        ("azureml:my-env@latest", "azureml:my-env@latest"),
        ("azureml:AzureML-sklearn-1.5@latest", "azureml://registries/azureml/environments/AzureML-sklearn-1.5/labels/latest"),
        ("azureml:AzureML-sklearn-1.5", "azureml://registries/azureml/environments/AzureML-sklearn-1.5/labels/latest"),
        ("azureml:my-env", "azureml:my-env@latest"),
        (COORDS.workspace_id + "/environments/e/versions/2", COORDS.workspace_id + "/environments/e/versions/2"),
        ("azureml:" + COORDS.workspace_id + "/environments/e/versions/2", COORDS.workspace_id + "/environments/e/versions/2"),
        ("azureml://registries/azureml/environments/x/versions/4", "azureml://registries/azureml/environments/x/versions/4"),
    ],
)
def test_environment_ids(env, expected):
    assert environment_id_for(env, COORDS) == expected


def test_image_environment_is_the_anonymous_one_azure_ai_ml_would_register():
    """azure-ai-ml 1.35 Environment._generate_anonymous_name_version; the two digests below are what it
    gives for these inputs (checked against azure-ai-ml itself in test_contract.py)."""
    image = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    env = {"image": image}
    assert environment_id_for(env, COORDS) == (f"{COORDS.workspace_id}/environments/CliV2AnonymousEnvironment/versions/"
                                              "2071223cb1efca116cf371a107b6bfc1980973cc0487579a5a14e5fffb8cbafc")
    conda = {"name": "env", "dependencies": ["python=3.11", "pip"]}
    assert jobbody.anonymous_environment_version(image, jobbody.conda_text(conda)) == (
        "408aaf4244c44e73a316da35107c267ea98b6d54b8bca25bb3e343730212abfe")


def test_api_version_sources():
    assert api_version_from(None, {}) == DEFAULT_API_VERSION == "2025-12-01"
    assert api_version_from(None, {"AMLPLATFORM_API_VERSION": "2026-05-01"}) == "2026-05-01"
    assert api_version_from("2025-01-01-preview", {"AMLPLATFORM_API_VERSION": "2026-05-01"}) == "2025-01-01-preview"
    with pytest.raises(UserError, match="api-version"):
        api_version_from("latest", {})


JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")


@given(experiment=st.from_regex(r"[A-Za-z0-9_-]{1,255}", fullmatch=True), content=st.binary(min_size=1, max_size=8))
def test_names_are_valid_azure_names(experiment, content):
    import hashlib

    h = hashlib.sha256(content).hexdigest()
    from types import SimpleNamespace

    s = SimpleNamespace(experiment_name=experiment)
    name = job_name_for(s, h)
    assert JOB_NAME.match(name) and len(name) <= 255
    assert JOB_NAME.match(code_name_for(h))
    assert code_name_for(h) == code_name_for(h)  # a function of the content
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert job_name_for(s, h, now=when, rand="x1") == job_name_for(s, h, now=when, rand="x1")
    assert job_name_for(s, h, now=when, rand="x1") != job_name_for(s, h, now=when, rand="x2")


# ---------------------------------------------------------------- the REST sequence, with Azurite behind the SAS


def test_submit_follows_the_rest_sequence_and_uploads_real_blobs(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    snap = take_snapshot(root)
    credential = FakeCredential()
    with client_for(fake_aml, credential=credential) as client:
        job = submit(client, spec(root), snap, GIT, job_name="churn-1")
    assert fake_aml.ops() == ["code_list", "pending", "code_put", "job_put"]
    assert credential.scopes and all(s == ("https://management.azure.com/.default",) for s in credential.scopes)
    list_call = fake_aml.calls[0]
    assert list_call.query["hash"] == snap.content_hash and list_call.query["hashVersion"] == "202208"
    assert all(c.query["api-version"] == "2025-12-01" for c in fake_aml.calls)
    from amlplatform import __version__

    assert all(f"amlplatform/{__version__}" in c.user_agent for c in fake_aml.calls)

    # the code version points at <SAS container>/<folder name>, holding exactly the snapshot, byte for byte,
    # laid out as azure-ai-ml lays it out; the first blob carries azure-ai-ml's confirmation metadata
    (code,) = fake_aml.codes.values()
    assert code["properties"]["isAnonymous"] is True
    assert code["properties"]["properties"] == {"hash_sha256": snap.content_hash, "hash_version": "202208"}
    (container,) = set(fake_aml.pending.values())
    assert code["properties"]["codeUri"] == f"{fake_aml.blobs.service_url}/{container}/proj"
    names = fake_aml.blob_names(container=container)
    assert names == sorted(f"proj/{f.relpath}" for f in snap.files)
    for f in snap.files:
        assert fake_aml.read_blob(f"proj/{f.relpath}", container=container) == f.path.read_bytes()
    first = sorted(snap.files, key=lambda f: str(f.path))[0]
    assert fake_aml.blob_metadata(container, f"proj/{first.relpath}") == {
        "upload_status": "completed", "name": code_name_for(snap.content_hash), "version": "1"}

    # the job as stored
    assert job["name"] == "churn-1" and job["properties"]["status"] == "Starting"  # the recorded first answer
    stored = fake_aml.jobs["churn-1"]["properties"]
    assert stored["codeId"] == code["id"]
    assert stored["environmentId"] == "azureml:sklearn-env:3"
    assert stored["properties"]["mlflow.source.git.repoURL"] == GIT["mlflow.source.git.repoURL"]
    assert stored["properties"]["amlplatform.code_hash"] == snap.content_hash
    assert client.last_upload.files == len(snap.files) and not client.last_upload.reused


def test_unchanged_code_uploads_nothing(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    snap = take_snapshot(root)
    with client_for(fake_aml) as client:
        submit(client, spec(root), snap, GIT)
        blobs_before = fake_aml.blob_names()
        fake_aml.calls.clear()
        submit(client, spec(root), take_snapshot(root), GIT)
        assert client.last_upload.reused
    assert fake_aml.ops() == ["code_list", "job_put"]  # no pending upload, no code version PUT
    assert fake_aml.blob_names() == blobs_before
    assert len(fake_aml.jobs) == 2 and len(fake_aml.codes) == 1
    jobs = list(fake_aml.jobs.values())
    assert jobs[0]["properties"]["codeId"] == jobs[1]["properties"]["codeId"]


def test_changed_code_is_a_new_code_version(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    with client_for(fake_aml) as client:
        submit(client, spec(root), take_snapshot(root), GIT)
        (root / "train.py").write_text("print('v2')\n")
        submit(client, spec(root), take_snapshot(root), GIT)
    assert len(fake_aml.codes) == 2


def test_image_environment_is_registered_once(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    image = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    with client_for(fake_aml) as client:
        submit(client, spec(root, environment={"image": image}), take_snapshot(root), GIT)
        submit(client, spec(root, environment={"image": image}), take_snapshot(root), GIT)
    assert len(fake_aml.environments) == 1
    (env,) = fake_aml.environments.values()
    assert env["properties"]["image"] == image and env["properties"]["isAnonymous"] is True
    assert {j["properties"]["environmentId"] for j in fake_aml.jobs.values()} == {env["id"]}


def test_bad_job_fails_before_any_call(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    with pytest.raises(UserError, match="environment: Missing data for required field"):
        spec(root, environment=None)
    with client_for(fake_aml) as client:
        with pytest.raises(UserError, match="'local' runs on this machine"):
            submit(client, spec(root, compute="local"), take_snapshot(root), GIT)
        with pytest.raises(UserError, match="build context"):
            submit(client, spec(root, environment={"build": {"path": "."}}), take_snapshot(root), GIT)
    assert fake_aml.calls == []


# ---------------------------------------------------------------- idempotency


def test_lost_answer_after_the_job_was_stored_gives_one_job(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    dropped = []

    def faults(method, op):
        if op == "job_put" and not dropped:
            dropped.append(op)
            return Fault("drop_after")
        return None

    fake_aml.faults = faults
    with client_for(fake_aml) as client:
        job = submit(client, spec(root), take_snapshot(root), GIT, job_name="once")
    assert fake_aml.ops() == ["code_list", "pending", "code_put", "job_put", "job_put", "job_get"]
    assert list(fake_aml.jobs) == ["once"] and job["name"] == "once"


def test_lost_answer_when_the_service_treats_the_retry_as_an_update(fake_aml, tmp_path):
    fake_aml.existing_job = "update"
    root = project(tmp_path / "proj")
    state = {"n": 0}

    def faults(method, op):
        state["n"] += op == "job_put"
        return Fault("drop_after") if op == "job_put" and state["n"] == 1 else None

    fake_aml.faults = faults
    with client_for(fake_aml) as client:
        submit(client, spec(root), take_snapshot(root), GIT, job_name="once")
    assert list(fake_aml.jobs) == ["once"]


def test_a_name_taken_by_another_submission_is_an_error(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    with client_for(fake_aml) as client:
        submit(client, spec(root), take_snapshot(root), GIT, job_name="taken")
        with pytest.raises(UserError, match="a different job named 'taken' already exists"):
            submit(client, spec(root), take_snapshot(root), GIT, job_name="taken")
    assert len(fake_aml.jobs) == 1


def test_concurrent_submissions_of_the_same_code_both_succeed(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    snap = take_snapshot(root)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run(i):
        try:
            with client_for(fake_aml) as client:
                barrier.wait(timeout=10)
                results.append(submit(client, spec(root), snap, GIT, job_name=f"race-{i}"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    # both clients miss the dedupe lookup, so both upload and both register: the second PUT must not fail
    fake_aml.op_code_list = lambda p, q, b: (200, {"value": []}, {})
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(fake_aml.jobs) == ["race-0", "race-1"]
    assert len(fake_aml.codes) == 1
    assert len({j["properties"]["codeId"] for j in fake_aml.jobs.values()}) == 1
    assert fake_aml.ops().count("code_put") == 2  # both registered: the second PUT was accepted, not failed


def test_code_version_registered_meanwhile_answered_400_already_exists(fake_aml, tmp_path):
    """The service may refuse a code version that exists with 400 "already exists" instead of 409;
    the same content registered by a concurrent submission is still the same code."""
    from fake_aml import _Reject

    root = project(tmp_path / "proj")
    snap = take_snapshot(root)
    with client_for(fake_aml) as client:
        submit(client, spec(root), snap, GIT, job_name="first")  # the concurrent submission registers the code
    stored_put = fake_aml.op_code_put

    def already_exists(p, q, body):
        if (p["name"], p["version"]) in fake_aml.codes:
            raise _Reject(400, "UserError", f"Code version {p['name']}:{p['version']} already exists.")
        return stored_put(p, q, body)

    fake_aml.op_code_put = already_exists
    fake_aml.op_code_list = lambda p, q, b: (200, {"value": []}, {})  # ours looked before it was registered
    with client_for(fake_aml) as client:
        job = submit(client, spec(root), snap, GIT, job_name="second")
    assert [c.status for c in fake_aml.calls if c.op == "code_put"][-1] == 400
    (code,) = fake_aml.codes.values()
    assert job["properties"]["codeId"] == fake_aml.jobs["first"]["properties"]["codeId"] == code["id"]
    assert sorted(fake_aml.jobs) == ["first", "second"]


def test_image_environment_registered_meanwhile_answered_400_already_exists(fake_aml, tmp_path):
    from fake_aml import _Reject

    root = project(tmp_path / "proj")
    image = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    with client_for(fake_aml) as client:
        submit(client, spec(root, environment={"image": image}), take_snapshot(root), GIT, job_name="first")
    stored_put = fake_aml.op_env_put

    def already_exists(p, q, body):
        if (p["name"], p["version"]) in fake_aml.environments:
            raise _Reject(400, "UserError", f"Environment {p['name']}:{p['version']} already exists.")
        return stored_put(p, q, body)

    fake_aml.op_env_put = already_exists
    with client_for(fake_aml) as client:
        job = submit(client, spec(root, environment={"image": image}), take_snapshot(root), GIT, job_name="second")
    assert [c.status for c in fake_aml.calls if c.op == "env_put"][-1] == 400
    (env,) = fake_aml.environments.values()
    assert job["properties"]["environmentId"] == env["id"]


def test_a_conflict_about_something_else_keeps_its_message(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    from fake_aml import _Reject

    def refuse(p, q, body):  # the service refuses without storing anything
        raise _Reject(409, "QuotaExceeded", "no cores left")

    fake_aml.op_job_put = refuse
    with client_for(fake_aml) as client:
        with pytest.raises(UserError, match="409 QuotaExceeded: no cores left"):
            submit(client, spec(root), take_snapshot(root), GIT, job_name="quota")


def test_retry_after_is_honoured(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    sent = []

    def faults(method, op):
        if op == "job_put" and not sent:
            sent.append(time.monotonic())
            return Fault("status", 429, retry_after="1")
        return None

    fake_aml.faults = faults
    with client_for(fake_aml) as client:
        submit(client, spec(root), take_snapshot(root), GIT, job_name="later")
    retried = [c for c in fake_aml.calls if c.op == "job_put"]
    assert [c.status for c in retried] == [429, 201]
    assert time.monotonic() - sent[0] >= 1.0
    assert list(fake_aml.jobs) == ["later"]


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_on_every_call(fake_aml, tmp_path, status):
    root = project(tmp_path / "proj")
    seen = set()

    def faults(method, op):
        if op not in seen:
            seen.add(op)
            return Fault("status", status)
        return None

    fake_aml.faults = faults
    with client_for(fake_aml) as client:
        submit(client, spec(root), take_snapshot(root), GIT, job_name="j")
    assert seen == {"code_list", "pending", "code_put", "job_put"}
    assert list(fake_aml.jobs) == ["j"]


def test_retries_are_bounded(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    fake_aml.faults = lambda method, op: Fault("status", 503) if op == "job_put" else None
    with client_for(fake_aml, retry={**{"retry_backoff_factor": 0.0}, "retry_total": 3}) as client:
        with pytest.raises(UserError, match=r"create the job \(PUT .*jobs/j\): the service answered 503"):
            submit(client, spec(root), take_snapshot(root), GIT, job_name="j")
    assert fake_aml.ops().count("job_put") == 4  # the first try and 3 retries
    assert fake_aml.jobs == {}


# ---------------------------------------------------------------- malformed answers: clear errors, nothing half-done


@pytest.mark.parametrize(
    "op, rewrite, needle",
    [
        ("pending", lambda b: {k: v for k, v in b.items() if k != "blobReferenceForConsumption"},
         "no 'blobReferenceForConsumption.blobUri'"),
        ("pending", lambda b: {**b, "blobReferenceForConsumption": {**b["blobReferenceForConsumption"], "credential": {"credentialType": "SAS"}}},
         "no 'blobReferenceForConsumption.credential.sasUri'"),
        ("pending", lambda b: {**b, "blobReferenceForConsumption": {**b["blobReferenceForConsumption"], "blobUri": "https://elsewhere.example/x/y"}},
         "outside the SAS container"),
        ("pending", lambda b: b"<html>gateway</html>", "not JSON"),
        ("code_list", lambda b: {"values": []}, "no 'value'"),
    ],
)
def test_malformed_answers_before_registration(fake_aml, tmp_path, op, rewrite, needle):
    root = project(tmp_path / "proj")
    fake_aml.answer_hook = lambda o, status, body: (status, rewrite(body)) if o == op else (status, body)
    with client_for(fake_aml) as client:
        with pytest.raises(UserError) as err:
            submit(client, spec(root), take_snapshot(root), GIT)
    assert needle in str(err.value)
    assert "POST" in str(err.value) or "GET" in str(err.value)  # the call is named
    assert fake_aml.codes == {} and fake_aml.jobs == {}
    assert "code_put" not in fake_aml.ops() and "job_put" not in fake_aml.ops()


def test_code_version_answer_without_id_means_no_job(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    fake_aml.answer_hook = lambda o, s, b: (s, {k: v for k, v in b.items() if k != "id"}) if o == "code_put" else (s, b)
    with client_for(fake_aml) as client:
        with pytest.raises(UserError, match=r"register the code version \(PUT .*\): the service's answer has no 'id'"):
            submit(client, spec(root), take_snapshot(root), GIT)
    assert "job_put" not in fake_aml.ops()


def test_unexpected_status_is_named(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    fake_aml.answer_hook = lambda o, s, b: (202, b) if o == "job_put" else (s, b)
    with client_for(fake_aml) as client:
        with pytest.raises(UserError, match=r"create the job \(PUT .*\): the service answered 202"):
            submit(client, spec(root), take_snapshot(root), GIT)


def test_failed_upload_registers_no_code_version(fake_aml, tmp_path):
    root = project(tmp_path / "proj")

    def broken_sas(o, status, body):
        if o == "pending":
            cred = body["blobReferenceForConsumption"]["credential"]
            cred["sasUri"] = re.sub(r"sig=[^&]+", "sig=AAAA", cred["sasUri"])  # a SAS the store refuses
        return status, body

    fake_aml.answer_hook = broken_sas
    with client_for(fake_aml) as client:
        with pytest.raises(UserError, match="upload of the code to .* failed: .*nothing was registered") as err:
            submit(client, spec(root), take_snapshot(root), GIT)
    assert fake_aml.codes == {} and fake_aml.jobs == {}
    assert "sig=" not in str(err.value) and "?" not in str(err.value).split(" failed")[0]  # the SAS is never shown


def test_file_changed_after_the_snapshot(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    snap = take_snapshot(root)
    (root / "train.py").write_text("print('changed meanwhile, and longer')\n")
    with client_for(fake_aml) as client:
        with pytest.raises(UserError, match="train.py: the file changed while submitting"):
            submit(client, spec(root), snap, GIT)
    assert fake_aml.codes == {} and fake_aml.jobs == {}


def test_wrong_token_is_a_readable_error(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    with client_for(fake_aml, credential=FakeCredential("stale")) as client:
        with pytest.raises(UserError, match="(?s)answered 401 AuthenticationFailed.*az login"):
            submit(client, spec(root), take_snapshot(root), GIT)


def test_credential_failure_is_a_readable_error(fake_aml, tmp_path):
    from azure.core.exceptions import ClientAuthenticationError

    class NoLogin:
        def get_token(self, *scopes, **kw):
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")

    root = project(tmp_path / "proj")
    with client_for(fake_aml, credential=NoLogin()) as client:
        with pytest.raises(UserError, match="(?s)could not get an Azure access token.*az login"):
            submit(client, spec(root), take_snapshot(root), GIT)
    assert fake_aml.calls == []


def test_api_version_is_sent_and_configurable(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    with client_for(fake_aml, api_version="2026-05-01") as client:
        with pytest.raises(UserError, match="InvalidApiVersionParameter"):
            submit(client, spec(root), take_snapshot(root), GIT)
    assert fake_aml.calls[0].query["api-version"] == "2026-05-01"


def test_plain_http_endpoint_is_refused():
    with pytest.raises(UserError, match="https"):
        az.AzureMLClient(COORDS, endpoint="http://127.0.0.1:1", credential=FakeCredential())


def test_default_credential_is_used_when_none_is_given(fake_aml, tmp_path, monkeypatch):
    made = []

    class TokenOnly:  # a credential without get_token_info, like older azure-identity ones
        def get_token(self, *scopes, **kw):
            made.append(scopes)
            return FakeCredential().get_token(*scopes)

    monkeypatch.setattr("amlplatform.runs.rest._default_credential", TokenOnly)
    root = project(tmp_path / "proj")
    with client_for(fake_aml, credential=None) as client:
        submit(client, spec(root), take_snapshot(root), GIT, job_name="lazy")
    assert made and made[0] == ("https://management.azure.com/.default",)
    assert list(fake_aml.jobs) == ["lazy"]


def test_default_credential_is_created_lazily(monkeypatch):
    made = []
    monkeypatch.setattr("amlplatform.runs.rest._default_credential", lambda: made.append(1) or FakeCredential())
    client = az.AzureMLClient(COORDS)
    assert made == []  # building the client (e.g. for --dry-run) never touches azure-identity
    client.close()


# ---------------------------------------------------------------- status, back-off, cancel


def test_wait_polls_with_backoff_until_terminal(fake_aml, tmp_path):
    fake_aml.status_script = ("Queued",) * 3 + ("Running",) * 8 + ("Completed",)
    root = project(tmp_path / "proj")
    slept, seen = [], []
    with client_for(fake_aml, poll_interval=2, max_poll_interval=60) as client:
        job = submit(client, spec(root), take_snapshot(root), GIT, job_name="poll")
        done = client.wait("poll", on_status=lambda s, j: seen.append(s), sleep=slept.append)
    assert done["properties"]["status"] == "Completed" and job["name"] == "poll"
    assert seen == ["Queued"] * 3 + ["Running"] * 8 + ["Completed"]
    assert slept == [2, 4, 8, 2, 4, 8, 16, 32, 60, 60, 60]  # grows, resets when the status changes, capped


def test_cancel(fake_aml, tmp_path):
    fake_aml.status_script = ("Running",) * 100
    root = project(tmp_path / "proj")
    with client_for(fake_aml) as client:
        submit(client, spec(root), take_snapshot(root), GIT, job_name="stop-me")
        assert client.get_job("stop-me")["properties"]["status"] == "Running"
        client.cancel("stop-me")
        final = client.wait("stop-me", sleep=lambda d: None)
    assert final["properties"]["status"] == "Canceled"
    ops = fake_aml.ops()
    assert ops[ops.index("job_cancel"):] == ["job_cancel", "job_get"]  # CancelRequested -> Canceled on the next read


def test_cancel_is_retried_when_the_service_is_busy(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    once = []
    fake_aml.faults = lambda m, op: (once.append(1) or Fault("status", 429, retry_after="0")) if op == "job_cancel" and not once else None
    with client_for(fake_aml) as client:
        submit(client, spec(root), take_snapshot(root), GIT, job_name="busy")
        client.cancel("busy")
    assert [c.status for c in fake_aml.calls if c.op == "job_cancel"] == [429, 202]


def test_unknown_job(fake_aml):
    with client_for(fake_aml) as client:
        with pytest.raises(UserError, match="no job named 'ghost'"):
            client.get_job("ghost")
        with pytest.raises(UserError, match="no job named 'ghost'"):
            client.cancel("ghost")


class Stream:
    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_status_line_is_live_on_a_tty_and_plain_otherwise():
    tty = StatusLine("j", Stream(True), clock=iter(range(0, 1000, 61)).__next__)
    plain = StatusLine("j", Stream(False), clock=iter(range(0, 1000, 61)).__next__)
    for status in ("Queued", "Queued", "Running", "Completed"):
        tty(status, {})
        plain(status, {})
    assert tty.stream.text.count("\r\033[K") == 4 and tty.stream.text.endswith("Completed (4m04s)\n")
    assert plain.stream.text.splitlines() == ["j: Queued (1m01s)", "j: Running (3m03s)", "j: Completed (4m04s)"]


def test_progress_bar_only_on_a_tty(fake_aml, tmp_path):
    quiet, loud = Stream(False), Stream(True)
    ByteProgress(quiet)(5, 10)
    ByteProgress(quiet)(10, 10)
    assert quiet.text == ""
    root = project(tmp_path / "proj")
    snap = take_snapshot(root)
    calls = []
    with client_for(fake_aml) as client:
        client.upload_code(snap, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, snap.total_bytes) and calls[-1] == (snap.total_bytes, snap.total_bytes)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    bar = ByteProgress(loud)
    bar(snap.total_bytes, snap.total_bytes)
    assert "[" in loud.text and loud.text.endswith("\n")


# ---------------------------------------------------------------- dry run: the same requests, no network


def test_describe_submission_matches_what_submit_sends(fake_aml, tmp_path, schema):
    root = project(tmp_path / "proj")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text("a,b\n1,2\n")
    snap = take_snapshot(root)
    image = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    s = spec(root, environment={"image": image}, command="python train.py ${{inputs.d}}",
             inputs={"d": {"type": "uri_folder", "path": str(tmp_path / "data")}})
    plan = plan_for(s, snap, GIT, "dry", fake_aml.workspace_id)
    described = az.describe_submission(plan, fake_aml.coords(), endpoint=fake_aml.endpoint)
    assert fake_aml.calls == []  # describing sends nothing
    job_body = described["requests"][-1]["body"]
    assert schema.problems("JobBase", job_body) == []
    with client_for(fake_aml) as client:
        job = client.submit(plan)
    sent = [(c.method, c.path) for c in fake_aml.calls]
    planned = [(r["method"], r["url"].split("?")[0].replace(fake_aml.endpoint, ""))
               for r in described["requests"] if not r["url"].startswith("<")]
    assert sorted(sent) == sorted(planned)  # the same calls (the client registers environments first)
    stored = fake_aml.jobs["dry"]["properties"]
    assert {k: v for k, v in job_body["properties"].items() if k != "properties"} == {
        k: v for k, v in stored.items() if k not in ("properties", "status", "services")}
    assert az.studio_url(job).startswith("https://ml.azure.com/runs/dry")


def test_bad_job_name_is_refused_before_any_call(fake_aml, tmp_path):
    root = project(tmp_path / "proj")
    with client_for(fake_aml) as client:
        with pytest.raises(UserError, match="name: job names"):
            submit(client, spec(root), take_snapshot(root), GIT, job_name="bad name!")
    assert fake_aml.calls == []


def test_imports_stay_light():
    import subprocess

    code = (
        "import sys\n"
        "import amlplatform.runs.coordinates\n"
        "assert not [m for m in sys.modules if m.startswith(('azure', 'pulumi'))], 'coordinates imports azure/pulumi'\n"
        "import amlplatform.runs.azure\n"
        "heavy = [m for m in sys.modules if m.startswith(('pulumi', 'azure.identity', 'azure.storage'))]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- data inputs: uploaded once, recognised by a signed HEAD


def test_unchanged_data_is_recognised_without_uploading(fake_aml, tmp_path):
    from amlplatform.runs.blobput import blob_metadata_shared_key

    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("x\n1\n")
    (data / "sub" / "b.csv").write_text("x\n2\n")
    snap = take_data_snapshot(data)
    with client_for(fake_aml, blob_options={}) as client:  # no blob options: the lean HEAD path
        first = client.upload_data(snap)
        second = client.upload_data(take_data_snapshot(data))
    assert not first.reused and first.bytes == snap.total_bytes and second.reused and second.bytes == 0
    assert first.uri == second.uri == f"azureml://datastores/workspaceblobstore/paths/{snap.upload_prefix}/"
    assert fake_aml.data_blob_names() == [f"{snap.upload_prefix}/a.csv", f"{snap.upload_prefix}/sub/b.csv"]
    # the Shared Key signature is accepted by the storage service and reads the same metadata
    from azurite import ACCOUNT_KEY, ACCOUNT_NAME

    meta = blob_metadata_shared_key(fake_aml.blobs.service_url, fake_aml.datastore_container,
                                    f"{snap.upload_prefix}/a.csv", ACCOUNT_NAME, ACCOUNT_KEY)
    assert meta == fake_aml.blob_metadata(fake_aml.datastore_container, f"{snap.upload_prefix}/a.csv")
    assert blob_metadata_shared_key(fake_aml.blobs.service_url, fake_aml.datastore_container, "nope",
                                    ACCOUNT_NAME, ACCOUNT_KEY) is None
    with pytest.raises(UserError, match="403"):
        blob_metadata_shared_key(fake_aml.blobs.service_url, fake_aml.datastore_container, "nope", ACCOUNT_NAME,
                                 "AAAA" + ACCOUNT_KEY[4:])
    (data / "a.csv").write_text("x\n1\n3\n")  # changed data: a new folder
    with client_for(fake_aml, blob_options={}) as client:
        third = client.upload_data(take_data_snapshot(data))
    assert not third.reused and third.uri != first.uri


def test_a_lost_put_blob_answer_is_not_a_failure(fake_aml, tmp_path):
    """Create-only Put Blob retried after its answer was lost meets 409 BlobAlreadyExists: done, not failed."""
    from amlplatform.runs.blobput import SasBlobPutter

    container = "lost-answer-test"
    fake_aml._container(container)
    url = f"{fake_aml.blobs.service_url}/{container}?{fake_aml._sas(container)}"
    with SasBlobPutter(url) as putter:
        putter.put("f/x.txt", b"one", overwrite=False)
        putter.put("f/x.txt", b"one", overwrite=False)  # the retry of an upload that already landed
        putter.put("f/x.txt", b"two", overwrite=True)
    assert fake_aml.read_blob("f/x.txt", container=container) == b"two"
    with SasBlobPutter(url.replace("sig=", "sig=AAAA")) as putter:
        with pytest.raises(UserError, match="Put Blob f/y.txt: 403"):
            putter.put("f/y.txt", b"one", overwrite=False)


def test_unreachable_storage_is_a_clear_error_not_a_traceback():
    """A storage account that does not answer (a closed port here) is reported, naming the host."""
    import socket

    from amlplatform.runs.blobput import blob_metadata_shared_key

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserError, match=rf"Get Blob Properties a\.csv: no answer from 127\.0\.0\.1:{port}"):
        blob_metadata_shared_key(f"http://127.0.0.1:{port}/devstoreaccount1", "data", "a.csv", "devstoreaccount1",
                                 "a2V5", timeout=2)
