"""Scaling of the offline plan: N resources through our engine vs Pulumi's own mocks.

The program: one resource group and N-1 azure-native storage accounts (the same program for both).

- ours:  ``amlplatform.offline.engine.evaluate`` (OfflineMocks + RecordingMonitor, the path of
  ``amlplatform plan``, ``scan`` and the tests), recording the whole graph.
- naive: plain ``pulumi.runtime.set_mocks`` with Pulumi's own ``MockMonitor`` and a two-line
  ``Mocks`` (id = name, outputs = inputs), run the way ``@pulumi.runtime.test`` runs a test.

Each (variant, N) runs in a fresh interpreter: one uncounted warm-up evaluation of 20 resources
(imports, caches), then the measured repetitions. Prints the median time, time per resource, the
growth ratio (time per resource at N / at the smallest N: 1.0 = linear), peak memory, and ours/naive.
Target: 1000 resources in <= 0.25x naive, growing linearly.

    ./dev bench plan_scaling [--quick] [--reps N] [--sizes 100,300,1000]
"""

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

TARGET = 0.25


def _program(n: int):
    from pulumi_azure_native import resources, storage

    def program() -> None:
        rg = resources.ResourceGroup("rg", resource_group_name="rg-bench", location="westeurope")
        for i in range(n - 1):
            storage.StorageAccount(
                f"sa{i}", account_name=f"stbench{i:05d}", resource_group_name=rg.name, location="westeurope",
                kind="StorageV2", sku={"name": "Standard_LRS"}, minimum_tls_version="TLS1_2",
                allow_blob_public_access=False, tags={"bench": "scaling"})
    return program


def _ours(n: int) -> None:
    from amlplatform.offline.engine import evaluate

    graph = evaluate(_program(n), project="bench", stack="bench")
    assert len(graph.resources) == n, len(graph.resources)


def _naive(n: int) -> None:
    import pulumi
    from pulumi.runtime import settings as pulumi_settings

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args):
            return {}

    pulumi_settings.ROOT.set(None)  # a fresh root stack, as a new test process would have
    pulumi.runtime.set_mocks(Mocks(), project="bench", stack="bench", preview=False)
    program = _program(n)

    @pulumi.runtime.test
    def run():
        program()
        return {}

    run()
    pulumi_settings.ROOT.set(None)


def worker(kind: str, n: int, reps: int) -> None:
    import resource

    import gc
    import time

    fn = {"ours": _ours, "naive": _naive}[kind]
    times, cpu = [], []
    for _ in range(reps):  # the warm-up ran before, at a small size
        gc.collect()
        t, t_cpu = time.perf_counter(), time.process_time()
        fn(n)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - t_cpu)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"times": times, "cpu": cpu, "peak_mib": peak_mib}))


def measure(kind: str, n: int, reps: int) -> dict:
    code = (f"import sys; sys.path.insert(0, {str(c.BENCH)!r}); import plan_scaling as b; "
            f"b._{kind}(20); b.worker({kind!r}, {n}, {reps})")
    out = subprocess.run([c.python(), "-c", code], cwd=c.ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{kind} N={n} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default=None, help="comma-separated resource counts (default 100,300,1000)")
    args = p.parse_args()
    reps = c.reps_of(args)
    sizes = [int(s) for s in (args.sizes or ("100,300" if args.quick else "100,300,1000")).split(",")]
    c.header("plan scaling: N resources (1 resource group + N-1 storage accounts)", reps)

    rows, results = [], {}
    for n in sizes:
        for kind in ("ours", "naive"):
            r = measure(kind, n, reps)
            results[(kind, n)] = r
            print(f"  measured {kind:5} N={n:5}: {c.spread(r['times'])}", file=sys.stderr, flush=True)
    n0 = sizes[0]
    for n in sizes:
        row = [n]
        for kind in ("ours", "naive"):
            r = results[(kind, n)]
            med = c.median(r["times"])
            per = med / n
            growth = per / (c.median(results[(kind, n0)]["times"]) / n0)
            row += [f"{c.fmt_s(med)} ({c.spread(r['times'])})", c.fmt_s(per), f"{growth:.2f}", f"{r['peak_mib']:.0f}"]
        ratio = c.median(results[("ours", n)]["times"]) / c.median(results[("naive", n)]["times"])
        row.append(f"{ratio:.3f}")
        rows.append(row)
    c.table(["N", "ours", "ours/res", "growth", "MiB", "naive", "naive/res", "growth", "MiB", "ours/naive"], rows)
    print()
    n_max = sizes[-1]
    ratio = c.median(results[("ours", n_max)]["times"]) / c.median(results[("naive", n_max)]["times"])
    growth = (c.median(results[("ours", n_max)]["times"]) / n_max) / (c.median(results[("ours", n0)]["times"]) / n0)
    cpu_growth = (c.median(results[("ours", n_max)]["cpu"]) / n_max) / (c.median(results[("ours", n0)]["cpu"]) / n0)
    cpu_per = ", ".join(f"N={n}: {c.fmt_s(c.median(results[('ours', n)]['cpu']) / n)}" for n in sizes)
    print(f"ours/naive at N={n_max}: {ratio:.3f} -> {c.verdict(ratio, TARGET)}")
    print(f"ours CPU time per resource (insensitive to other load): {cpu_per}")
    print(f"ours growth N={n0}->{n_max} (time per resource, 1.0 = linear): wall {growth:.2f}, CPU {cpu_growth:.2f} "
          f"-> {'linear' if min(growth, cpu_growth) <= 1.25 else 'FASTER THAN LINEAR'} (target: linear, <= 1.25 allowing noise)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
