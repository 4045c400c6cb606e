"""Keep the rows of a folder of CSV files (city,temperature) whose temperature parses: clean.csv in --out."""

import argparse
import csv
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--rows", required=True)
p.add_argument("--out", required=True)
args = p.parse_args()
kept = []
for path in sorted(Path(args.rows).glob("*.csv")):
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                kept.append((row["city"], float(row["temperature"])))
            except (KeyError, TypeError, ValueError):
                continue
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
with open(out / "clean.csv", "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["city", "temperature"])
    w.writerows(kept)
print(f"kept {len(kept)} rows")
