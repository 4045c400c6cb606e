"""Distributed jobs on this machine: process_count_per_instance processes, each with the variables Azure
ML sets for its distribution type (runs/dist_launcher.py), one failing process ending the others."""

import io
import json
import textwrap

import pytest

from amlplatform.runs import dist_launcher
from amlplatform.runs.job import load_job
from amlplatform.runs.local import run_command_job
from amlplatform.runs.store import RunStore

SHOW = """\
import json, os, sys
keys = sys.argv[1].split(",")
os.write(1, ("ENV " + json.dumps({k: os.environ.get(k) for k in keys}) + "\\n").encode())  # one write: ranks interleave
sys.exit(int(os.environ.get("RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0"))) == int(sys.argv[2]) and 3 or 0)
"""


def run(tmp_path, distribution: str, keys: str, fail_rank: int = -1):
    (tmp_path / "src").mkdir(parents=True, exist_ok=True)
    (tmp_path / "src" / "show.py").write_text(SHOW)
    path = tmp_path / "job.yml"
    path.write_text(textwrap.dedent(f"""\
        type: command
        code: src
        command: python show.py {keys} {fail_rank}
        environment: azureml:env:1
        compute: local
        distribution: {distribution}
        """))
    store = RunStore(tmp_path / "runs")
    rec = run_command_job(load_job(path), store=store, out=io.BytesIO(), notes=io.StringIO())
    log = (tmp_path / "runs" / rec["name"] / "output.log").read_text()
    envs = [json.loads(line[4:]) for line in log.splitlines() if line.startswith("ENV ")]
    return rec, envs


@pytest.mark.slow
def test_pytorch_processes_get_ranks_world_size_and_one_master(tmp_path):
    rec, envs = run(tmp_path, "{type: pytorch, process_count_per_instance: 3}",
                    "RANK,LOCAL_RANK,WORLD_SIZE,NODE_RANK,MASTER_ADDR,MASTER_PORT")
    assert rec["status"] == "Completed"
    assert sorted(e["RANK"] for e in envs) == ["0", "1", "2"]
    assert {e["WORLD_SIZE"] for e in envs} == {"3"} and {e["NODE_RANK"] for e in envs} == {"0"}
    assert len({(e["MASTER_ADDR"], e["MASTER_PORT"]) for e in envs}) == 1
    assert all(e["LOCAL_RANK"] == e["RANK"] for e in envs)


@pytest.mark.slow
def test_mpi_and_tensorflow_variables(tmp_path):
    rec, envs = run(tmp_path / "mpi", "{type: mpi, process_count_per_instance: 2}",
                    "OMPI_COMM_WORLD_RANK,OMPI_COMM_WORLD_SIZE,OMPI_COMM_WORLD_LOCAL_RANK,AZ_BATCHAI_MPI_MASTER_NODE")
    assert rec["status"] == "Completed"
    assert sorted(e["OMPI_COMM_WORLD_RANK"] for e in envs) == ["0", "1"]
    assert {e["OMPI_COMM_WORLD_SIZE"] for e in envs} == {"2"}
    rec, envs = run(tmp_path / "tf", "{type: tensorflow, worker_count: 2, parameter_server_count: 1}", "TF_CONFIG")
    assert rec["status"] == "Completed"
    configs = [json.loads(e["TF_CONFIG"]) for e in envs]
    assert sorted((c["task"]["type"], c["task"]["index"]) for c in configs) == [("ps", 0), ("worker", 0), ("worker", 1)]
    assert all(len(c["cluster"]["worker"]) == 2 and len(c["cluster"]["ps"]) == 1 for c in configs)


@pytest.mark.slow
def test_a_failing_process_fails_the_job_with_its_exit_code(tmp_path):
    rec, envs = run(tmp_path, "{type: pytorch, process_count_per_instance: 2}", "RANK", fail_rank=1)
    assert rec["status"] == "Failed" and rec["exit_code"] == 3


def test_one_process_needs_no_launcher():
    class D:
        type, process_count_per_instance, worker_count, parameter_server_count = "pytorch", 1, None, None

    class J:
        distribution = D()

    from amlplatform.runs.local import distributed_launch

    assert distributed_launch(J()) is None
    envs = dist_launcher.environments("pytorch", 4)
    assert [e["RANK"] for e in envs] == ["0", "1", "2", "3"] and {e["WORLD_SIZE"] for e in envs} == {"4"}
