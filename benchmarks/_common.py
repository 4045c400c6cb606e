"""Shared helpers of the benchmark scripts: repetitions, medians, ratio tables, the machine.

Every script measures its baseline in the same run, repeats each measurement (after a warm-up
that is not counted), prints medians and ratios, and exits 0 even when a target is missed.
"""

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
VENV_PY = ROOT / ".venv" / "bin" / "python"


def parser(description: str, reps: int = 5) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--reps", type=int, default=reps, help=f"measured repetitions (default {reps}, at least 5 for figures)")
    p.add_argument("--quick", action="store_true", help="fewer repetitions and smaller inputs, to check the script works")
    return p


def reps_of(args: argparse.Namespace) -> int:
    return 3 if args.quick else max(1, args.reps)


def python() -> str:
    """The project's interpreter (the one ./dev bench runs), else this one."""
    return str(VENV_PY) if VENV_PY.exists() else sys.executable


def time_call(fn: Callable[[], object], reps: int, warmup: int = 1, collect: bool = True) -> List[float]:
    """Seconds of ``fn()`` per repetition, after ``warmup`` uncounted calls. A full garbage
    collection runs before each call (untimed) so one repetition's garbage is not billed to the next."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        if collect:
            gc.collect()
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def time_cmd(argv: Sequence[str], reps: int, warmup: int = 1, cwd: Optional[Path] = None,
             env: Optional[dict] = None, check: bool = True) -> List[float]:
    """Wall seconds of a command per repetition (stdout/stderr discarded), after ``warmup`` runs."""
    def once() -> float:
        t = time.perf_counter()
        proc = subprocess.run(list(argv), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - t
        if check and proc.returncode != 0:
            raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(map(str, argv))}\n"
                             f"{proc.stderr.decode(errors='replace')[-2000:]}")
        return elapsed
    for _ in range(warmup):
        once()
    return [once() for _ in range(reps)]


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def spread(xs: Sequence[float]) -> str:
    """min-max of the repetitions, for judging noise."""
    return f"{fmt_s(min(xs))}-{fmt_s(max(xs))}"


def fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def verdict(ratio: float, target: float, at_most: bool = True) -> str:
    ok = ratio <= target if at_most else ratio >= target
    sign = "<=" if at_most else ">="
    return f"{'met' if ok else 'MISSED'} (target {sign} {target:g})"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    try:
        load = " load %.2f" % os.getloadavg()[0]
    except OSError:
        load = ""
    return (f"{os.cpu_count()} CPUs ({cpu}){mem}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()};{load}")


def header(title: str, reps: int) -> None:
    print(f"# {title}")
    print(f"# {machine()}")
    print(f"# {reps} measured repetitions after a warm-up; medians (min-max)")
    print()
