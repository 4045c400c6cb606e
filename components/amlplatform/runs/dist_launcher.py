"""Start a distributed job's processes on this machine with the variables Azure ML sets on a cluster.

Standard library only (it runs in the job's own Python). ``python dist_launcher.py --type pytorch
--processes N -- COMMAND`` runs COMMAND (with ``bash -c``) N times as one node, each process with the
variables of https://learn.microsoft.com/azure/machine-learning/how-to-train-distributed-gpu:

- **pytorch**: ``MASTER_ADDR``, ``MASTER_PORT`` (a free port), ``WORLD_SIZE``, ``NODE_RANK`` (0),
  ``RANK``, ``LOCAL_RANK`` (and ``LOCAL_WORLD_SIZE``);
- **mpi**: ``OMPI_COMM_WORLD_RANK``, ``OMPI_COMM_WORLD_SIZE``, ``OMPI_COMM_WORLD_LOCAL_RANK``,
  ``OMPI_COMM_WORLD_LOCAL_SIZE``, ``AZ_BATCHAI_MPI_MASTER_NODE`` (no ``mpirun``: the processes are
  started directly, as mpirun would start them on one node);
- **tensorflow**: ``TF_CONFIG`` with ``worker_count`` workers and ``parameter_server_count``
  parameter servers on free local ports, each process its own ``task``.

If a process fails, the others are ended and its exit code is the launcher's; SIGTERM/SIGINT end them all.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environments(kind: str, processes: int, workers: int = 0, servers: int = 0) -> list:
    """The extra variables of each process (pure but for the free ports)."""
    if kind == "pytorch":
        port = str(free_port())
        return [{"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "WORLD_SIZE": str(processes), "NODE_RANK": "0",
                 "RANK": str(r), "LOCAL_RANK": str(r), "LOCAL_WORLD_SIZE": str(processes)} for r in range(processes)]
    if kind == "mpi":
        return [{"OMPI_COMM_WORLD_RANK": str(r), "OMPI_COMM_WORLD_SIZE": str(processes),
                 "OMPI_COMM_WORLD_LOCAL_RANK": str(r), "OMPI_COMM_WORLD_LOCAL_SIZE": str(processes),
                 "AZ_BATCHAI_MPI_MASTER_NODE": "127.0.0.1"} for r in range(processes)]
    if kind == "tensorflow":
        cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(max(workers, 1))]}
        if servers:
            cluster["ps"] = [f"127.0.0.1:{free_port()}" for _ in range(servers)]
        tasks = [("worker", i) for i in range(len(cluster["worker"]))] + [("ps", i) for i in range(servers)]
        return [{"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": t, "index": i}})} for t, i in tasks]
    raise SystemExit(f"dist_launcher: unknown distribution type {kind!r}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="dist_launcher")
    p.add_argument("--type", required=True, choices=("pytorch", "mpi", "tensorflow"))
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--parameter-servers", type=int, default=0)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give the command after --")
    envs = environments(args.type, args.processes, args.workers, args.parameter_servers)
    shell = ["bash", "-c", " ".join(command)] if len(command) == 1 else command
    procs = [subprocess.Popen(shell, env={**os.environ, **e}) for e in envs]

    def end_all(signum=None, frame=None):
        for q in procs:
            if q.poll() is None:
                q.terminate()
        if signum is not None:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, end_all)
    code = 0
    try:
        pending = list(procs)
        while pending:
            for q in list(pending):
                rc = q.poll()
                if rc is None:
                    continue
                pending.remove(q)
                if rc != 0 and code == 0:
                    code = rc if rc > 0 else 128 - rc
                    print(f"dist_launcher: process {procs.index(q)} exited {rc}: ending the others", file=sys.stderr,
                          flush=True)
                    end_all()
            if pending:
                try:
                    pending[0].wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
    except KeyboardInterrupt:
        end_all()
        code = 130
    for q in procs:
        q.wait()
    return code


if __name__ == "__main__":
    sys.exit(main())
