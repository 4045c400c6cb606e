"""``amlplatform plan --stack prod`` cold, before and after the secure-stack work, as a ratio.

- before: the project as it was at ``--before`` (default ``ff9d8af``, the last commit before the
          private network, private endpoints, data-plane access, CMK, locks, datastores and
          endpoints were added), checked out into a temporary git worktree and planned with the
          same interpreter and packages;
- after:  the current tree.

Both run ``python -m amlplatform.cli plan --stack prod --format json -o <tmp file>`` as a fresh
process (what a user or CI waits for), interleaved so both see the same noise. The resource
counts are printed next to the times: the work roughly doubled prod's resources, so the
per-resource cost is shown too. There is no target: the line documents the cost of the secure
stack.

    ./dev bench plan_private [--quick] [--reps N] [--before COMMIT]
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

DEFAULT_BEFORE = "ff9d8af"


def _plan_once(tree: Path, out: Path) -> Tuple[float, int]:
    """Seconds of one cold plan of prod in ``tree``, and the number of resources it recorded."""
    if out.exists():
        out.unlink()
    env = {**os.environ, "PYTHONPATH": str(tree / "components")}
    argv = [c.python(), "-m", "amlplatform.cli", "plan", "--stack", "prod", "--format", "json", "-o", str(out)]
    t = time.perf_counter()
    proc = subprocess.run(argv, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"plan failed in {tree} ({proc.returncode}):\n{proc.stderr.decode(errors='replace')[-2000:]}")
    return elapsed, len(json.loads(out.read_text())["resources"])


def main() -> int:
    p = c.parser(__doc__.splitlines()[0], reps=5)
    p.add_argument("--before", default=DEFAULT_BEFORE, help=f"the commit to compare with (default {DEFAULT_BEFORE})")
    args = p.parse_args()
    reps = c.reps_of(args)
    c.header(f"plan --stack prod, cold: {args.before} vs the current tree", reps)
    with tempfile.TemporaryDirectory() as tmp:
        before_tree = Path(tmp) / "before"
        made = subprocess.run(["git", "-C", str(c.ROOT), "worktree", "add", "--detach", str(before_tree), args.before],
                              capture_output=True, text=True)
        if made.returncode != 0:
            raise SystemExit(f"cannot check out {args.before}: {made.stderr.strip()} (a full clone is needed)")
        try:
            trees = {"before": before_tree, "after": c.ROOT}
            times: dict = {k: [] for k in trees}
            counts = {}
            for name, tree in trees.items():  # warm-up (file cache, .pyc)
                _, counts[name] = _plan_once(tree, Path(tmp) / f"{name}.json")
            for _ in range(reps):
                for name, tree in trees.items():
                    elapsed, _ = _plan_once(tree, Path(tmp) / f"{name}.json")
                    times[name].append(elapsed)
        finally:
            subprocess.run(["git", "-C", str(c.ROOT), "worktree", "remove", "--force", str(before_tree)],
                           capture_output=True)
    before, after = c.median(times["before"]), c.median(times["after"])
    rows: List[List[object]] = []
    for name, label in (("before", f"before ({args.before})"), ("after", "after (this tree)")):
        med = c.median(times[name])
        rows.append([label, counts[name], c.fmt_s(med), c.spread(times[name]),
                     c.fmt_s(med / counts[name]), f"{med / before:.2f}"])
    c.table(["plan --stack prod", "resources", "median", "min-max", "per resource", "ratio"], rows)
    print()
    print(f"after / before: {after / before:.2f}x wall time for {counts['after'] / counts['before']:.2f}x the resources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
