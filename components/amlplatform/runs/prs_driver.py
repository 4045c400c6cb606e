"""The local parallel run step: split the input into mini-batches, run the entry script in worker processes.

Standard library only: it runs in the job's own Python (``amlplatform.runs.parallel`` builds its
command line). The entry script's contract is Azure ML's parallel job's
(https://learn.microsoft.com/azure/machine-learning/how-to-use-parallel-job-in-pipeline): ``init()``
once per worker, ``run(mini_batch)`` per mini-batch with the list of file paths, returning a list (or a
pandas DataFrame) with one element per processed item. ``--program-arguments`` reach the entry script
as ``sys.argv``. A worker that raises or exceeds ``--timeout`` on a mini-batch is retried up to
``--max-retries`` times (a timed-out worker is ended and started again); then the mini-batch has
failed. Fewer results than items count the rest as failed items. Past ``--error-threshold`` failed
items or ``--mini-batch-error-threshold`` failed mini-batches (-1: no limit) the step stops and fails.
Rows go to ``--append-row-to`` (``parallel_run_step.txt`` inside a folder), in mini-batch order.
"""

import argparse
import importlib.util
import json
import os
import queue
import select
import shlex
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

ROW_FILE = "parallel_run_step.txt"
SUMMARY = "parallel_run_summary.json"  # in the run's kept outputs folder (AMLPLATFORM_OUTPUTS_DIR)


def items_of(input_data: str) -> list:
    root = Path(input_data)
    if root.is_file():
        return [str(root)]
    if not root.is_dir():
        raise SystemExit(f"parallel: input_data {input_data!r} is neither a file nor a folder")
    return sorted(str(p) for p in root.rglob("*") if p.is_file())


def mini_batches(items: list, size_text: str) -> list:
    text = size_text.strip().lower()
    units = {"kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3}
    if text[-2:] in units:  # a size: files gathered until they reach it (tabular data is split by bytes)
        limit = int(text[:-2]) * units[text[-2:]]
        out, cur, total = [], [], 0
        for item in items:
            cur.append(item)
            total += os.path.getsize(item)
            if total >= limit:
                out.append(cur)
                cur, total = [], 0
        if cur:
            out.append(cur)
        return out
    n = max(1, int(text or "10"))
    return [items[i:i + n] for i in range(0, len(items), n)]


# ---------------------------------------------------------------- the worker process


def worker_main(entry_script: str, program_arguments: str) -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the entry script's own prints go to the log, not into the protocol
    sys.stdout = sys.stderr
    sys.argv = [entry_script] + shlex.split(program_arguments or "")
    sys.path.insert(0, os.getcwd())
    try:
        spec = importlib.util.spec_from_file_location("entry_script", entry_script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "run"):
            raise AttributeError(f"{entry_script} has no run(mini_batch) function")
        if hasattr(module, "init"):
            module.init()
    except BaseException:  # noqa: BLE001 - reported to the driver, which fails the step
        proto.write(json.dumps({"ready": False, "error": traceback.format_exc()}) + "\n")
        return 1
    proto.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        task = json.loads(line)
        try:
            result = module.run(task["items"])
            if hasattr(result, "to_csv"):  # a DataFrame: one row per line, values separated by spaces
                rows = result.to_csv(sep=" ", header=False, index=False).splitlines()
            elif result is None:
                rows = []
            else:
                rows = [str(r) for r in result]
            proto.write(json.dumps({"id": task["id"], "ok": True, "rows": rows}) + "\n")
        except BaseException:  # noqa: BLE001 - the mini-batch failed; the driver retries or counts it
            proto.write(json.dumps({"id": task["id"], "ok": False, "error": traceback.format_exc()}) + "\n")
    return 0


# ---------------------------------------------------------------- the driver


class Worker:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.proc = None
        self.buf = b""

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", self.args.entry_script,
                                      "--program-arguments=" + (self.args.program_arguments or "")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.buf = b""
        ready = self.read(None)
        if not ready or not ready.get("ready"):
            raise RuntimeError((ready or {}).get("error") or "the worker ended before init() finished")

    def read(self, timeout):
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return "timeout"
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                return "timeout"
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, task) -> None:
        self.proc.stdin.write((json.dumps(task) + "\n").encode())
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def drive(args: argparse.Namespace) -> int:
    items = items_of(args.input_data)
    batches = mini_batches(items, args.mini_batch_size)
    print(f"parallel: {len(items)} items in {len(batches)} mini-batches, {args.workers} workers", flush=True)
    todo: "queue.Queue" = queue.Queue()
    for i, b in enumerate(batches):
        todo.put(i)
    lock = threading.Lock()
    results: dict = {}
    failures: list = []
    stop = threading.Event()
    state = {"failed_items": 0, "failed_batches": 0, "why": None}

    def over_limits() -> bool:
        if args.error_threshold >= 0 and state["failed_items"] > args.error_threshold:
            state["why"] = f"{state['failed_items']} failed items exceed error_threshold {args.error_threshold}"
            return True
        if args.mini_batch_error_threshold >= 0 and state["failed_batches"] > args.mini_batch_error_threshold:
            state["why"] = (f"{state['failed_batches']} failed mini-batches exceed mini_batch_error_threshold "
                            f"{args.mini_batch_error_threshold}")
            return True
        return False

    def work() -> None:
        w = Worker(args)
        try:
            w.start()
        except (RuntimeError, OSError) as exc:
            with lock:
                state["why"] = state["why"] or f"init() failed: {exc}"
            stop.set()
            return
        try:
            while not stop.is_set():
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                batch, error = batches[i], None
                for attempt in range(args.max_retries + 1):
                    w.send({"id": i, "items": batch})
                    answer = w.read(args.timeout)
                    if answer == "timeout" or answer is None:
                        error = (f"timed out after {args.timeout} s" if answer == "timeout"
                                 else "the worker process ended")
                        w.kill()
                        try:
                            w.start()
                        except (RuntimeError, OSError) as exc:
                            error = f"{error}; restarting the worker failed: {exc}"
                            break
                        continue
                    if answer.get("ok"):
                        error = None
                        with lock:
                            results[i] = answer["rows"]
                            missing = max(0, len(batch) - len(answer["rows"]))
                            state["failed_items"] += missing
                            if over_limits():
                                stop.set()
                        break
                    error = answer.get("error", "run() failed")
                if error is not None:
                    with lock:
                        failures.append({"mini_batch": i, "items": len(batch), "error": error.strip()[-2000:]})
                        state["failed_batches"] += 1
                        state["failed_items"] += len(batch)
                        print(f"parallel: mini-batch {i} failed after {args.max_retries + 1} attempts: "
                              f"{error.strip().splitlines()[-1] if error.strip() else error}", flush=True)
                        if over_limits():
                            stop.set()
        finally:
            w.stop()

    workers = max(1, min(args.workers, len(batches) or 1))
    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = [r for i in sorted(results) for r in results[i]]
    if args.append_row_to:
        target = Path(args.append_row_to)
        if target.is_dir():
            target = target / ROW_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as f:
            for r in rows:
                f.write(r + "\n")
    summary = {"items": len(items), "mini_batches": len(batches), "workers": workers, "succeeded_mini_batches": len(results),
               "failed_mini_batches": state["failed_batches"], "failed_items": state["failed_items"],
               "rows": len(rows), "failures": failures, "stopped": state["why"]}
    try:
        folder = Path(os.environ.get("AMLPLATFORM_OUTPUTS_DIR") or "outputs")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SUMMARY).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    except OSError:
        pass
    print(f"parallel: {len(results)} of {len(batches)} mini-batches succeeded, {state['failed_items']} failed items, "
          f"{len(rows)} rows", flush=True)
    if state["why"]:
        print(f"parallel: stopped: {state['why']}", flush=True)
        return 1
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="prs_driver")
    p.add_argument("--worker", metavar="ENTRY_SCRIPT")
    p.add_argument("--entry-script")
    p.add_argument("--input-data")
    p.add_argument("--mini-batch-size", default="10")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--error-threshold", type=int, default=-1)
    p.add_argument("--mini-batch-error-threshold", type=int, default=-1)
    p.add_argument("--max-retries", type=int, default=2)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--append-row-to")
    p.add_argument("--program-arguments", default="")
    args = p.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, args.program_arguments)
    if not args.entry_script or not args.input_data:
        p.error("--entry-script and --input-data are required")
    if not Path(args.entry_script).is_file():
        print(f"parallel: entry_script {args.entry_script!r} is not in the code folder", file=sys.stderr)
        return 2
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
