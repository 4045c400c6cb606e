"""The --top warmest rows of clean.csv (in --rows) into warmest.csv (in --out)."""

import argparse
import csv
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--rows", required=True)
p.add_argument("--top", type=int, required=True)
p.add_argument("--out", required=True)
args = p.parse_args()
with open(Path(args.rows) / "clean.csv", newline="") as fh:
    rows = sorted(csv.DictReader(fh), key=lambda r: -float(r["temperature"]))[: args.top]
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
with open(out / "warmest.csv", "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=["city", "temperature"])
    w.writeheader()
    w.writerows(rows)
print("warmest:", ", ".join(r["city"] for r in rows))
