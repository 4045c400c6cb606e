"""Fresh clone to first result: the README's two commands, timed from a real `git clone`.

- ``./dev plan``  in a fresh clone: venv, hash-locked runtime deps (locks/plan.txt), the project,
  and the plan of stack dev. Installer uv with its cache warm (what a second clone on a machine
  sees), uv with an empty cache (``UV_CACHE_DIR`` pointed at a new folder: every wheel
  downloaded), and pip (``AMLPLATFORM_INSTALLER=pip``; pip's own cache as it is on the machine,
  reported below).
- ``./dev setup`` in a fresh clone: the setup part of ``./dev test`` (the test lock, checkov,
  azure-ai-ml, Azurite with ``npm ci``, Graphviz if missing), uv warm.

Each repetition is a new clone (no warm-up: the first install is the thing measured; the uv cache
is warm from the previous repetition or from the machine). Wall time and the CPU time of all
child processes (user+sys: other load does not inflate it). Target: ``./dev plan`` <= 60 s.

    python benchmarks/fresh_clone.py [--reps 3] [--pip-reps 1] [--setup-reps 1] [--quick]
"""

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

TARGET = 60.0


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def once(command: str, env_extra: dict) -> tuple:
    with tempfile.TemporaryDirectory(prefix="amlplatform-fresh-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(c.ROOT), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "AMLPLATFORM_INSTALLER")}
        env.update(env_extra)
        if env_extra.get("UV_CACHE_DIR") == "<empty>":
            env["UV_CACHE_DIR"] = str(Path(tmp) / "uv-cache")
        load = os.getloadavg()[0]
        cpu0, t0 = _children_cpu(), time.perf_counter()
        proc = subprocess.run(["./dev", command], cwd=clone, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
        if proc.returncode != 0:
            raise SystemExit(f"./dev {command} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')[-3000:]}")
    return wall, cpu, load


def pip_cache() -> str:
    done = subprocess.run([sys.executable, "-m", "pip", "cache", "info"], capture_output=True, text=True)
    sizes = [line.strip() for line in done.stdout.splitlines() if "size" in line.lower()]
    return "; ".join(sizes) or done.stderr.strip()[:200]


def main() -> None:
    p = c.parser(__doc__.splitlines()[0], reps=3)
    p.add_argument("--pip-reps", type=int, default=1, help="repetitions with pip (slow: minutes each)")
    p.add_argument("--setup-reps", type=int, default=1, help="repetitions of ./dev setup")
    args = p.parse_args()
    reps = 1 if args.quick else max(1, args.reps)
    print("# fresh clone to first plan (./dev plan) and to a test-ready checkout (./dev setup)")
    print(f"# {c.machine()}")
    print(f"# {reps} repetitions of each uv case, each a new clone (no warm-up: the first install is what is measured)")
    print(f"# pip cache before: {pip_cache()}")
    uv_cache = Path(os.environ.get("UV_CACHE_DIR", Path.home() / ".cache" / "uv"))
    size = sum(f.stat().st_size for f in uv_cache.rglob("*") if f.is_file()) if uv_cache.is_dir() else 0
    print(f"# uv cache before: {uv_cache} {size / 2**20:.0f} MiB")
    print()
    cases = [("./dev plan, uv, warm cache", "plan", {}, reps),
             ("./dev plan, uv, empty cache", "plan", {"UV_CACHE_DIR": "<empty>"}, reps),
             ("./dev plan, pip", "plan", {"AMLPLATFORM_INSTALLER": "pip"}, 0 if args.quick else args.pip_reps),
             ("./dev setup (the setup of ./dev test), uv, warm cache", "setup", {}, 0 if args.quick else args.setup_reps)]
    rows = []
    for label, command, extra, n in cases:
        results = [once(command, extra) for _ in range(n)]
        if not results:
            continue
        walls = [r[0] for r in results]
        cpus = [r[1] for r in results]
        loads = [r[2] for r in results]
        mark = c.verdict(c.median(walls), TARGET) if command == "plan" else ""
        rows.append((label, n, f"{c.fmt_s(c.median(walls))} ({c.spread(walls)})", c.fmt_s(c.median(cpus)),
                     f"{min(loads):.1f}-{max(loads):.1f}", mark))
        print(f"  {label}: {', '.join(c.fmt_s(w) for w in walls)}", flush=True)
    print()
    c.table(("case", "reps", "wall median (min-max)", "CPU (children)", "load avg", "vs 60 s"), rows)
    print(f"\n# pip cache after: {pip_cache()}")


if __name__ == "__main__":
    main()
