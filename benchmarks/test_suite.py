"""Test suite wall time, and what dominates it.

Runs ``python -m pytest -q --durations=0`` (the whole suite, as ``./dev test`` does: with checkov
from ``.venv-scan`` when it exists and Azurite from ``node_modules``) one uncounted warm-up plus the
measured repetitions; the floor ``pytest --collect-only`` (imports + collection) is measured the same
way. From the last run's durations it prints where the time goes: per test folder, per file, and
the slowest tests, by phase (setup = fixtures such as stack evaluations, Azurite, checkov scans).

Note: the whole suite takes about a minute and a half here, so the default 5 repetitions + warm-up
take ~8 minutes; ``--quick`` runs it once, without a warm-up.

    ./dev bench test_suite [--quick] [--reps N] [-- PYTEST ARGS]
"""

import collections
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s\s+(setup|call|teardown)\s+(\S+)")
_SUMMARY = re.compile(r"(\d+) passed|(\d+) failed|(\d+) skipped|(\d+) errors?")


def run_suite(extra, env):
    t = time.perf_counter()
    proc = subprocess.run([c.python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0",
                           "--durations-min=0", *extra], cwd=c.ROOT, env=env, capture_output=True, text=True)
    return time.perf_counter() - t, proc


def main() -> int:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = p.parse_args()
    reps = 1 if args.quick else max(1, args.reps)
    c.header("test suite: wall time of the whole pytest run and what dominates it", reps)

    env = dict(os.environ)
    checkov = c.ROOT / ".venv-scan" / "bin" / "checkov"
    if checkov.exists():
        env.setdefault("AMLPLATFORM_CHECKOV", str(checkov))
    print(f"checkov: {env.get('AMLPLATFORM_CHECKOV', 'not set (scan tests may skip)')}; "
          f"azurite: {'present' if (c.ROOT / 'node_modules' / '.bin' / 'azurite').exists() else 'absent'}")

    collect = c.time_cmd([c.python(), "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args.pytest_args],
                         reps, cwd=c.ROOT, env=env, check=False)
    if not args.quick:
        run_suite(args.pytest_args, env)  # warm-up
    times, last = [], None
    for i in range(reps):
        elapsed, last = run_suite(args.pytest_args, env)
        times.append(elapsed)
        print(f"  run {i + 1}/{reps}: {c.fmt_s(elapsed)}", file=sys.stderr, flush=True)

    summary = last.stdout.strip().splitlines()[-1] if last.stdout.strip() else "(no output)"
    c.table(["what", "median (min-max)", "ratio"], [
        ["pytest (whole suite)", f"{c.fmt_s(c.median(times))} ({c.spread(times)})", "1.00"],
        ["pytest --collect-only (floor: imports + collection)", f"{c.fmt_s(c.median(collect))} ({c.spread(collect)})",
         f"{c.median(collect) / c.median(times):.2f}"],
    ])
    print(f"last run: {summary}")
    print()

    by_dir = collections.Counter()
    by_file = collections.Counter()
    by_phase = collections.Counter()
    tests = []
    for line in last.stdout.splitlines():
        m = _DURATION.match(line.strip())
        if not m:
            continue
        secs, phase, nodeid = float(m.group(1)), m.group(2), m.group(3)
        path = nodeid.split("::", 1)[0]
        folder = "/".join(path.split("/")[:2])
        by_dir[folder] += secs
        by_file[path] += secs
        by_phase[phase] += secs
        tests.append((secs, phase, nodeid))
    total = sum(by_phase.values()) or 1.0
    wall = times[-1]
    print(f"time inside tests (setup+call+teardown): {c.fmt_s(total)} of {c.fmt_s(wall)} wall "
          f"(the rest: interpreter start, imports, collection, session fixtures' teardown, reporting)")
    c.table(["phase", "seconds", "share"], [[k, f"{v:.1f}", f"{v / total:.0%}"] for k, v in by_phase.most_common()])
    print()
    c.table(["folder", "seconds", "share"], [[k, f"{v:.1f}", f"{v / total:.0%}"] for k, v in by_dir.most_common()])
    print()
    c.table(["file (top 10)", "seconds", "share"],
            [[k, f"{v:.1f}", f"{v / total:.0%}"] for k, v in by_file.most_common(10)])
    print()
    c.table(["slowest tests (top 15)", "phase", "seconds"],
            [[nodeid, phase, f"{secs:.2f}"] for secs, phase, nodeid in sorted(tests, reverse=True)[:15]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
