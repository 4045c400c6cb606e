"""Fault injection: 100 submissions through random 429/500/503 answers and dropped connections
(some dropped *after* the fake stored the job) give exactly 100 jobs, no duplicate, none lost,
and the code is uploaded once."""

import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from azurite import azurite  # noqa: E402,F401 - session fixture
from fake_aml import Fault, client_for, fake_aml  # noqa: E402,F401

from amlplatform.runs.azure import SUBMISSION_PROPERTY, job_name_for, make_plan  # noqa: E402
from amlplatform.runs.job import parse_job  # noqa: E402
from amlplatform.runs.snapshot import take_data_snapshot, take_snapshot  # noqa: E402

SUBMISSIONS = 100
FAULT_RATE = 0.3
MAX_FAULTS_IN_A_ROW = 3  # below the client's retry budget (6), so every call gets through eventually


class RandomFaults:
    """A seeded plan: each request may get a fault; never more than MAX_FAULTS_IN_A_ROW in a row for
    one call (counting its retries)."""

    KINDS = [
        Fault("status", 429, retry_after="0"),
        Fault("status", 500),
        Fault("status", 503),
        Fault("drop"),
        Fault("drop_after"),
    ]

    def __init__(self, seed: int, fake) -> None:
        self.fake = fake
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.in_a_row: dict[str, int] = {}
        self.injected: dict[str, int] = {}

    def __call__(self, method: str, op: str):
        # azure-core's RequestIdPolicy runs before the RetryPolicy: every retry of one call carries the same id
        chain = self.fake.request.headers.get("x-ms-client-request-id")
        with self.lock:
            if self.in_a_row.get(chain, 0) < MAX_FAULTS_IN_A_ROW and self.rng.random() < FAULT_RATE:
                fault = self.rng.choice(self.KINDS)
                self.in_a_row[chain] = self.in_a_row.get(chain, 0) + 1
                key = f"{op}:{fault.kind}:{fault.status if fault.kind == 'status' else ''}"
                self.injected[key] = self.injected.get(key, 0) + 1
                return fault
            self.in_a_row[chain] = 0
            return None


@pytest.mark.slow
@pytest.mark.parametrize("existing_job", ["conflict", "update"])
def test_hundred_submissions_through_faults(fake_aml, tmp_path, existing_job):
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("print('train')\n")
    (root / "pkg" / "model.py").write_text("W = 2\n" * 100)
    (root / "pkg" / "empty.txt").write_text("")
    snap = take_snapshot(root)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text("a,b\n1,2\n" * 50)
    spec = parse_job({"code": ".", "compute": "azureml:cpu-cluster", "command": "python train.py ${{inputs.d}}",
                      "environment": "azureml:sklearn-env:3", "experiment_name": "faults",
                      "inputs": {"d": {"type": "uri_folder", "path": "../data"}}}, base_dir=root)
    fake_aml.existing_job = existing_job
    fake_aml.status_script = ("Completed",)
    plan = RandomFaults(5 if existing_job == "conflict" else 6, fake_aml)
    fake_aml.faults = plan

    names = [job_name_for(spec, snap.content_hash, rand=f"{i:04d}") for i in range(SUBMISSIONS)]
    assert len(set(names)) == SUBMISSIONS

    def submit(name: str) -> dict:
        with client_for(fake_aml) as client:  # one client per submission, like one CLI run each
            plan = make_plan(spec, job_name=name, snapshot=lambda p: snap, data_snapshot=take_data_snapshot,
                             git={"mlflow.source.git.commit": "c" * 40}, workspace_id=fake_aml.workspace_id)
            return client.submit(plan)

    first = submit(names[0])  # the code goes up once ...
    with ThreadPoolExecutor(max_workers=4) as pool:  # ... and the other 99 reuse it, 4 at a time
        results = [first, *pool.map(submit, names[1:])]

    assert sum(plan.injected.values()) > 50, plan.injected  # the run really went through faults
    assert any(k.startswith("job_put:drop_after") for k in plan.injected), plan.injected

    # exactly the 100 jobs we named: no duplicate, none lost, each the submission that named it
    assert sorted(fake_aml.jobs) == sorted(names)
    assert [r["name"] for r in results] == names
    ids = [fake_aml.jobs[n]["properties"]["properties"][SUBMISSION_PROPERTY] for n in names]
    assert len(set(ids)) == SUBMISSIONS
    for r in results:
        assert r["properties"]["properties"][SUBMISSION_PROPERTY] == fake_aml.jobs[r["name"]]["properties"]["properties"][SUBMISSION_PROPERTY]

    # the code was uploaded once: one code version, one blob folder holding exactly the snapshot
    assert len(fake_aml.codes) == 1
    (code,) = fake_aml.codes.values()
    assert {j["properties"]["codeId"] for j in fake_aml.jobs.values()} == {code["id"]}
    blobs = fake_aml.blob_names()
    folders = {"/".join(b.split("/")[:2]) for b in blobs}  # <pending container>/<code folder>/...
    assert {f"{fake_aml.blobs.service_url}/{f}" for f in folders} == {code["properties"]["codeUri"]}
    assert len(blobs) == len(snap.files)
    # the data input too: one LocalUpload/<hash>/data folder, every job pointing at it
    data = fake_aml.data_blob_names()
    assert len(data) == 1 and data[0].startswith("LocalUpload/") and data[0].endswith("/data/rows.csv")
    uris = {j["properties"]["inputs"]["d"]["uri"] for j in fake_aml.jobs.values()}
    assert uris == {"azureml://datastores/workspaceblobstore/paths/" + data[0].rsplit("/", 1)[0] + "/"}
