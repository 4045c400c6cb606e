"""Framework overhead: offline plan of each shipped stack vs a hand-written azure-native program.

- stack:    ``evaluate_stack(NAME)`` -- what ``amlplatform plan -s NAME`` runs: read and validate the
            stack file, run ``infra/__main__.py`` (settings -> components -> outputs) under the mocks.
- baseline: a minimal program generated from the stack's recorded graph: every custom resource,
            instantiated from its azure-native (or kubernetes) class by type token with its recorded
            inputs and options (protect, ignore_changes, provider), flat under the stack, no components,
            no settings, no outputs -- run by the same ``evaluate()`` under the same mocks.

The script checks that the baseline records the same custom resources with the same inputs, then
times both in one process (one uncounted warm-up each, repetitions interleaved so both see the same
noise). Target: stack / baseline <= 1.10.

A second table shows what a user waits for: ``amlplatform plan -s NAME`` as a fresh process, next
to its floor, a process that only imports the program's modules (pulumi, azure-native, kubernetes).

    ./dev bench plan_overhead [--quick] [--reps N] [--stacks dev,staging,prod]
"""

import importlib
import inspect
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

TARGET = 1.10
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _class_for(token: str):
    """token -> (resource class, {wire name: python name}) for azure-native / kubernetes tokens."""
    pkg, mod, name = token.split(":")
    if pkg == "pulumi" and mod == "providers":
        module = importlib.import_module(f"pulumi_{name.replace('-', '_')}")
        cls, args_name = module.Provider, "ProviderArgs"
    else:
        base = {"azure-native": "pulumi_azure_native", "kubernetes": "pulumi_kubernetes"}[pkg]
        try:
            module = importlib.import_module(f"{base}.{mod.replace('/', '.')}")
            cls = getattr(module, name)
        except (ImportError, AttributeError):
            if pkg != "kubernetes":
                raise
            from pulumi_kubernetes.apiextensions import CustomResource  # a CRD instance
            return CustomResource, None, {"apiVersion": "api_version"}
        args_cls = getattr(module, f"{name}Args", None) or getattr(module, f"{name}InitArgs", None)
        args_name = args_cls.__name__ if args_cls else None
    args_cls = getattr(module, args_name, None) if args_name else None
    names: Dict[str, str] = {}
    if args_cls is not None:
        from pulumi import _types

        names = {wire: py for py, wire in _types.input_type_py_to_pulumi_names(args_cls).items()}
    return cls, args_cls, names


def baseline_program(graph) -> Callable[[], None]:
    """A flat program declaring the graph's custom resources with their recorded inputs."""
    import pulumi

    plan: List[Tuple[Any, str, Dict[str, Any], Dict[str, Any], str, str]] = []
    seen_names: Dict[Tuple[str, str], int] = {}
    customs = sorted(graph.custom_resources(), key=lambda r: (not r.type.startswith("pulumi:providers:"), r.urn))
    for r in customs:
        cls, _, names = _class_for(r.type)
        init = getattr(cls, "_internal_init", cls.__init__)
        params = set(inspect.signature(init).parameters) | set(inspect.signature(cls.__init__).parameters)
        kwargs = {}
        for wire, value in r.inputs.items():
            py = names.get(wire) or _snake(wire)
            if py in ("resource_name", "opts"):  # the SDK renames inputs that clash with its own parameters
                py += "_"
            if py in params:
                kwargs[py] = value
        opts = {"protect": r.protect or None, "ignore_changes": r.ignore_changes or None}
        key = (r.type, r.name)
        seen_names[key] = seen_names.get(key, 0) + 1
        name = r.name if seen_names[key] == 1 else f"{r.name}-{seen_names[key]}"
        provider_urn = r.provider.rsplit("::", 1)[0] if r.provider else ""
        plan.append((cls, name, kwargs, opts, provider_urn, r.urn))

    def program() -> None:
        providers: Dict[str, Any] = {}
        for cls, name, kwargs, opts, provider_urn, urn in plan:
            o = pulumi.ResourceOptions(provider=providers.get(provider_urn), **{k: v for k, v in opts.items() if v})
            res = cls(name, opts=o, **kwargs)
            if isinstance(res, pulumi.ProviderResource):
                providers[urn] = res
    return program


def same_resources(stack_graph, base_graph) -> str:
    """How many of the stack's custom resources the baseline declares with identical inputs."""
    def key(r):
        return (r.type, r.name)
    base = {key(r): r for r in base_graph.custom_resources()}
    wanted = stack_graph.custom_resources()
    same = sum(1 for r in wanted if key(r) in base and base[key(r)].inputs == r.inputs)
    return f"{same}/{len(wanted)}"


def main() -> int:
    p = c.parser(__doc__.splitlines()[0], reps=10)
    p.add_argument("--stacks", default="dev,staging,prod")
    args = p.parse_args()
    reps = c.reps_of(args)
    c.header("plan overhead: shipped stacks vs a flat azure-native program with the same resources", reps)

    from amlplatform.offline.engine import evaluate, evaluate_stack

    rows = []
    worst = 0.0
    for stack in args.stacks.split(","):
        graph = evaluate_stack(stack, project_dir=c.ROOT)  # warm-up of the stack
        program = baseline_program(graph)

        def run_baseline():
            return evaluate(program, project=graph.project, stack=stack)
        base_graph = run_baseline()  # warm-up of the baseline
        same = same_resources(graph, base_graph)

        ours: List[float] = []
        base: List[float] = []
        for _ in range(reps):  # interleaved
            ours += c.time_call(lambda: evaluate_stack(stack, project_dir=c.ROOT), 1, warmup=0)
            base += c.time_call(run_baseline, 1, warmup=0)
        ratio = c.median(ours) / c.median(base)
        worst = max(worst, ratio)
        n_comp = sum(1 for r in graph.resources if not r.custom)
        n_custom = len(graph.custom_resources())
        # registrations the engine sees: the stack itself, every resource; components also register outputs
        per_reg = ratio * (n_custom + 1) / (n_custom + n_comp + 1)
        rows.append([stack, f"{n_custom} + {n_comp} comp.", same,
                     f"{c.fmt_s(c.median(ours))} ({c.spread(ours)})", f"{c.fmt_s(c.median(base))} ({c.spread(base)})",
                     f"{ratio:.2f}", f"{per_reg:.2f}", c.verdict(ratio, TARGET)])
    c.table(["stack", "resources", "same inputs", "amlplatform plan", "flat azure-native", "ratio",
             "per registration", ""], rows)
    print()
    print(f"worst ratio {worst:.2f} -> {c.verdict(worst, TARGET)}")
    print("('per registration' divides out the component registrations the flat program does not have:\n"
          " ~1.0 there means the overhead is the components themselves, not settings or naming code.)")

    # What a user waits for: the whole command in a fresh process, against its import floor.
    print()
    amlplatform = str(Path(c.python()).parent / "amlplatform")
    # every module an evaluation of these stacks loaded (azure-native loads sub-packages on first use)
    import tempfile

    loaded = sorted(m for m in sys.modules if m.split(".")[0] in
                    ("pulumi", "pulumi_azure_native", "pulumi_kubernetes", "amlplatform", "yaml", "grpc"))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(loaded))
    floor = c.time_cmd([c.python(), "-c", "import importlib, sys\n"
                        "for m in open(sys.argv[1]).read().split(): importlib.import_module(m)", fh.name],
                       reps, cwd=c.ROOT)
    os.unlink(fh.name)
    rows = []
    for stack in args.stacks.split(","):
        t = c.time_cmd([amlplatform, "plan", "--stack", stack], reps, cwd=c.ROOT)
        rows.append([f"amlplatform plan -s {stack}", f"{c.fmt_s(c.median(t))} ({c.spread(t)})",
                     f"{c.median(t) / c.median(floor):.2f}"])
    rows.append([f"import floor: the {len(loaded)} modules a plan loads, nothing else",
                 f"{c.fmt_s(c.median(floor))} ({c.spread(floor)})", "1.00"])
    c.table(["command (fresh process)", "median (min-max)", "vs import floor"], rows)
    print("(the floor imports every module the measured stacks loaded -- pulumi, azure-native, kubernetes, amlplatform;\n"
          " a stack that loads fewer modules (dev) can finish under it; the rest is evaluation and printing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
