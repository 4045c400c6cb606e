"""A parallel run step entry script: one row per file, the file's name and line count."""
import argparse
from pathlib import Path

THRESHOLD = None


def init():
    global THRESHOLD
    parser = argparse.ArgumentParser()
    parser.add_argument("--threshold", type=float, default=0.5)
    args, _ = parser.parse_known_args()
    THRESHOLD = args.threshold


def run(mini_batch):
    rows = []
    for f in mini_batch:
        n = len(Path(f).read_text().splitlines())
        rows.append(f"{Path(f).name} {n} {n > THRESHOLD}")
    return rows
