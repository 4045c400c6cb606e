"""Snapshot speed: content-hash throughput vs sha256sum, and pruning of an ignored folder.

1. Hashing: ``content_hash`` (azure-ai-ml's 202208 hash: one SHA-256 over a header and every
   file's bytes) vs ``sha256sum`` over the same files, page cache warm. Two trees: a few large
   files (throughput) and 2000 small ones (per-file cost). Throughput ratio = sha256sum time /
   our time; target >= 0.8.
2. Walking: ``walk()`` of a 2000-file source tree that also holds a 50,000-file ``data/`` named
   in ``.amlignore``, vs the same tree without ``data/``. Target ~1.0 (the ignored folder is
   pruned, never listed).

Trees are generated once under a temporary folder (not timed) and removed afterwards.

    ./dev bench snapshot [--quick] [--reps N] [--big-mib 256] [--data-files 50000]
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

HASH_TARGET = 0.8
WALK_TARGET = 1.10  # "about 1.0": within 10 %


def _write(path: Path, size: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = (seed.to_bytes(4, "little") * 4096)[:16384] or b"x"
    with open(path, "wb") as fh:
        left = size
        while left > 0:
            chunk = block if left >= len(block) else block[:left]
            fh.write(chunk)
            left -= len(chunk)


def make_big(root: Path, total_mib: int, files: int = 8) -> list:
    per = total_mib * 1024 * 1024 // files
    rels = []
    for i in range(files):
        rel = f"weights/part-{i:02d}.bin"
        _write(root / rel, per, i)
        rels.append(rel)
    return rels


def make_source(root: Path, n_files: int = 2000, size: int = 4096) -> list:
    """A source tree: n_files small files in 40 packages of 50 modules."""
    rels = []
    for i in range(n_files):
        rel = f"pkg{i // 50:02d}/mod{i % 50:02d}.py"
        _write(root / rel, size + (i % 7) * 100, i)
        rels.append(rel)
    return rels


def make_data(root: Path, n_files: int) -> None:
    """n_files tiny files under data/, 1000 per folder."""
    for i in range(n_files):
        d = root / "data" / f"shard{i // 1000:03d}"
        if i % 1000 == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"sample{i:06d}.csv").write_bytes(b"a,b\n1,2\n")


def main() -> int:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--big-mib", type=int, default=None, help="size of the large-file tree (default 256, quick 64)")
    p.add_argument("--data-files", type=int, default=None, help="files under the ignored data/ (default 50000)")
    args = p.parse_args()
    reps = c.reps_of(args)
    big_mib = args.big_mib or (64 if args.quick else 256)
    data_files = args.data_files or (10000 if args.quick else 50000)
    c.header("snapshot: content hash vs sha256sum; walk with an ignored data/ vs without", reps)

    from amlplatform.runs.snapshot import content_hash, walk

    sha256sum = shutil.which("sha256sum")
    tmp = Path(tempfile.mkdtemp(prefix="amlplatform-bench-"))
    try:
        # ---------------------------------------------------------------- hashing
        big = tmp / "big"
        big_rels = make_big(big, big_mib)
        small = tmp / "small"
        small_rels = make_source(small)
        rows = []
        worst = None
        for label, root, rels in ((f"{len(big_rels)} files, {big_mib} MiB", big, big_rels),
                                  (f"{len(small_rels)} files, {sum(os.path.getsize(small / r) for r in small_rels) / 2**20:.1f} MiB",
                                   small, small_rels)):
            nbytes = sum(os.path.getsize(root / r) for r in rels)
            ours = c.time_call(lambda: content_hash(root, rels), reps)
            if sha256sum:
                theirs = c.time_cmd([sha256sum, *rels], reps, cwd=root)
                ratio = c.median(theirs) / c.median(ours)
                worst = ratio if worst is None else min(worst, ratio)
                rows.append([label, f"{c.fmt_s(c.median(ours))} ({c.spread(ours)})",
                             f"{nbytes / c.median(ours) / 2**20:.0f} MiB/s",
                             f"{c.fmt_s(c.median(theirs))} ({c.spread(theirs)})",
                             f"{nbytes / c.median(theirs) / 2**20:.0f} MiB/s", f"{ratio:.2f}",
                             c.verdict(ratio, HASH_TARGET, at_most=False)])
            else:
                rows.append([label, c.fmt_s(c.median(ours)), f"{nbytes / c.median(ours) / 2**20:.0f} MiB/s",
                             "sha256sum not found", "", "", ""])
        c.table(["hash", "content_hash", "throughput", "sha256sum", "throughput", "ratio", ""], rows)
        print("(ratio = sha256sum time / content_hash time; sha256sum's time includes starting the process)")
        openssl = shutil.which("openssl")
        if openssl:  # a stronger reference: OpenSSL's SHA-256, the code hashlib itself calls
            t = c.time_cmd([openssl, "dgst", "-sha256", *big_rels], reps, cwd=big)
            nbytes = sum(os.path.getsize(big / r) for r in big_rels)
            print(f"(for reference, openssl dgst -sha256 over the large files: {c.fmt_s(c.median(t))}, "
                  f"{nbytes / c.median(t) / 2**20:.0f} MiB/s)")
        print()

        # ---------------------------------------------------------------- walking
        plain = tmp / "plain"
        make_source(plain)
        (plain / ".amlignore").write_text("data/\n")
        with_data = tmp / "with-data"
        make_source(with_data)
        (with_data / ".amlignore").write_text("data/\n")
        make_data(with_data, data_files)

        def count_walk(root):
            files, _, _ = walk(root)
            return len(files)
        assert count_walk(plain) == count_walk(with_data)

        t_plain, t_data = [], []
        for _ in range(2):  # warm-up (dentry cache)
            walk(plain), walk(with_data)
        walk_reps = reps * 4  # a walk takes tens of ms: more repetitions keep the ratio out of the noise
        for _ in range(walk_reps):  # interleaved
            t_plain += c.time_call(lambda: walk(plain), 1, warmup=0)
            t_data += c.time_call(lambda: walk(with_data), 1, warmup=0)
        ratio = c.median(t_data) / c.median(t_plain)
        print(f"walk: {walk_reps} interleaved repetitions")
        c.table(["walk", "median (min-max)", "per kept file", "ratio vs no data/", "ratio of minima"], [
            ["2000 files, no data/", f"{c.fmt_s(c.median(t_plain))} ({c.spread(t_plain)})",
             c.fmt_s(c.median(t_plain) / 2001), "1.00", "1.00"],
            [f"2000 files + ignored data/ ({data_files} files)", f"{c.fmt_s(c.median(t_data))} ({c.spread(t_data)})",
             c.fmt_s(c.median(t_data) / 2001), f"{ratio:.2f}", f"{min(t_data) / min(t_plain):.2f}"],
        ])
        print()
        if worst is not None:
            print(f"hash throughput vs sha256sum (worst case): {worst:.2f} -> {c.verdict(worst, HASH_TARGET, at_most=False)}")
        print(f"walk with ignored data/ vs without: {ratio:.2f} -> {c.verdict(ratio, WALK_TARGET)} (target ~1.0)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
