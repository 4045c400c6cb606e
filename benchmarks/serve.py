"""Local scoring: ``amlplatform serve`` of the example model vs the same model called in-process.

The model is examples/model's credit-default classifier (an MLflow scikit-learn pipeline), trained
once here (untimed) and registered in a temporary local registry. Measured in the same run:

- latency: sequential ``POST /score`` calls of the example request (2 rows) on one keep-alive
  connection over loopback -> p50 / p95 per call; against the floor, the same model loaded in this
  process: ``model.predict(frame)`` (the model alone) and ``scorer.score(body)`` (the model plus the
  request parsing serve does, no HTTP);
- throughput: the same calls from 1 and from 4 client threads (one connection each) -> requests/s,
  against the in-process ``scorer.score`` calls per second;
- cold start to first answer: a fresh ``amlplatform serve`` process until its first ``/score``
  answer, against a fresh ``python`` process that loads the model and predicts once;
- stop: SIGTERM until the process has exited, with an idle keep-alive client connected (issue 19:
  "serve stops promptly on SIGTERM").

Loopback only, bounded: at most ``--calls`` requests per measurement and a few process starts.

    ./dev bench serve [--quick] [--reps N] [--calls N]
"""

import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

EXAMPLE = c.ROOT / "examples" / "model"


def percentile(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(c.ROOT / "components")}


def start_server(py: str, project: Path, port: int) -> tuple[subprocess.Popen, float]:
    """Spawn ``amlplatform serve``; return it and the seconds until its first ``/score`` answer."""
    body = (EXAMPLE / "sample-request.json").read_bytes()
    t = time.perf_counter()
    proc = subprocess.Popen([py, "-m", "amlplatform.cli", "serve", "credit-default:1", "--port", str(port), "--quiet"],
                            cwd=project, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = t + 120
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/score", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            conn.close()
            if resp.status == 200:
                return proc, time.perf_counter() - t
        except OSError:
            time.sleep(0.005)
    proc.kill()
    raise SystemExit("serve did not answer within 120 s")


def stop(proc: subprocess.Popen) -> float:
    """SIGTERM; the seconds until the process has exited."""
    t = time.perf_counter()
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return time.perf_counter() - t


def http_calls(port: int, body: bytes, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("POST", "/score", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        out.append(time.perf_counter() - t)
        if resp.status != 200:
            raise SystemExit(f"/score answered {resp.status}")
    conn.close()
    return out


def threaded_rate(port: int, body: bytes, threads: int, per_thread: int) -> float:
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            http_calls(port, body, per_thread)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for th in pool:
        th.start()
    barrier.wait()
    t = time.perf_counter()
    for th in pool:
        th.join()
    elapsed = time.perf_counter() - t
    if errors:
        raise SystemExit(f"client thread failed: {errors[0]}")
    return threads * per_thread / elapsed


def main() -> int:
    p = c.parser(__doc__.splitlines()[0], reps=3)
    p.add_argument("--calls", type=int, default=400, help="requests per latency/throughput measurement (default 400)")
    args = p.parse_args()
    reps = c.reps_of(args)
    calls = 60 if args.quick else max(20, min(args.calls, 5000))
    c.header("serve: amlplatform serve of the example model vs the model in-process", reps)
    py = c.python()
    tmp = Path(tempfile.mkdtemp(prefix="amlplatform-bench-serve-"))
    try:
        project = tmp / "project"
        shutil.copytree(EXAMPLE, project)
        outputs = tmp / "outputs"
        subprocess.run([py, "train.py", "--rows", "2000"], cwd=project, env={**env(), "AMLPLATFORM_OUTPUTS_DIR": str(outputs)},
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([py, "-m", "amlplatform.cli", "model", "register", str(outputs / "model"), "--name", "credit-default"],
                       cwd=project, env=env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        body = (project / "sample-request.json").read_bytes()

        # ---- the floor: the same registered model in this process
        sys.path.insert(0, str(c.ROOT / "components"))
        from amlplatform.runs.models import LocalRegistry
        from amlplatform.runs.serve import load_scorer

        resolved = LocalRegistry(project / ".amlplatform" / "models").resolve("credit-default:1")
        scorer = load_scorer(resolved)
        frame = scorer.model_input(body.decode())
        text = body.decode()
        predict = c.time_call(lambda: scorer.model.predict(frame), calls, warmup=20, collect=False)
        in_proc = c.time_call(lambda: scorer.score(text), calls, warmup=20, collect=False)

        # ---- served: latency, throughput, cold start (each repetition a fresh server process)
        served, rate1, rate4, cold, stops = [], [], [], [], []
        for _ in range(reps):
            port = free_port()
            proc, first = start_server(py, project, port)
            idle = None
            try:
                cold.append(first)
                http_calls(port, body, 20)  # warm-up, uncounted
                served += http_calls(port, body, calls)
                rate1.append(threaded_rate(port, body, 1, calls))
                rate4.append(threaded_rate(port, body, 4, max(5, calls // 4)))
                idle = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # kept alive, idle at SIGTERM
                idle.request("GET", "/")
                idle.getresponse().read()
            finally:
                stops.append(stop(proc))
                if idle is not None:
                    idle.close()
        fresh_cmd = [py, "-c", "import sys, pandas as pd, mlflow.pyfunc, json; "
                     "m = mlflow.pyfunc.load_model(sys.argv[1]); r = json.load(open(sys.argv[2]))['input_data']; "
                     "m.predict(pd.DataFrame(r['data'], columns=r['columns']))",
                     str(resolved.model_path), str(project / "sample-request.json")]
        cold_floor = c.time_cmd(fresh_cmd, reps, warmup=1, cwd=project, env=env())

        p50, p95 = percentile(served, 50), percentile(served, 95)
        f50, f95 = percentile(in_proc, 50), percentile(in_proc, 95)
        m50 = percentile(predict, 50)
        print(f"latency per call ({len(served)} served calls, {calls} in-process calls; 2-row request)")
        c.table(["", "p50", "p95", "served / this"], [
            ["amlplatform serve (HTTP, loopback)", c.fmt_s(p50), c.fmt_s(p95), "1.00"],
            ["in-process scorer.score(body)", c.fmt_s(f50), c.fmt_s(f95), f"{p50 / f50:.2f}"],
            ["in-process model.predict(frame)", c.fmt_s(m50), c.fmt_s(percentile(predict, 95)), f"{p50 / m50:.2f}"],
        ])
        print(f"  HTTP overhead per call (served p50 - scorer p50): {c.fmt_s(p50 - f50)}")
        print()
        floor_rate = 1 / statistics.median(in_proc)
        r1, r4 = statistics.median(rate1), statistics.median(rate4)
        print("throughput (requests per second; median of the repetitions)")
        c.table(["", "req/s", "of in-process"], [
            ["in-process scorer.score (1 / median call)", f"{floor_rate:.0f}", "1.00"],
            ["served, 1 client", f"{r1:.0f}", f"{r1 / floor_rate:.2f}"],
            ["served, 4 clients", f"{r4:.0f}", f"{r4 / floor_rate:.2f}"],
        ])
        print()
        cs, cf = c.median(cold), c.median(cold_floor)
        print("cold start to the first answer (fresh process each time)")
        c.table(["", "median", "min-max", "ratio"], [
            ["amlplatform serve -> first /score", c.fmt_s(cs), c.spread(cold), f"{cs / cf:.2f}"],
            ["python: load model + predict once", c.fmt_s(cf), c.spread(cold_floor), "1.00"],
        ])
        print()
        print("stop: SIGTERM until the process has exited (one idle keep-alive client connected)")
        c.table(["", "median", "min-max"], [["amlplatform serve", c.fmt_s(c.median(stops)), c.spread(stops)]])
        print(f"\n  (the machine: {os.cpu_count()} CPUs shared; serve scores one request at a time, like azmlinfsrv's one worker)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
