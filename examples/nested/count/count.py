"""Count the rows of every CSV file in --rows into count.json (in --out)."""

import argparse
import csv
import json
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--rows", required=True)
p.add_argument("--out", required=True)
args = p.parse_args()
counts = {}
for path in sorted(Path(args.rows).glob("*.csv")):
    with open(path, newline="") as fh:
        counts[path.name] = sum(1 for _ in csv.DictReader(fh))
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
(out / "count.json").write_text(json.dumps(counts))
print("counted", counts)
