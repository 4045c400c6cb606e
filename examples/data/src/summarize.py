"""Summarise a folder of CSV files (city,temperature) into summary.json in the output folder.

    python summarize.py --rows <folder of *.csv> --summary <output folder> [--min_temperature T]
"""

import argparse
import csv
import json
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--min_temperature", type=float, default=-100.0)
    args = p.parse_args()
    values, skipped = [], 0
    for path in sorted(Path(args.rows).glob("*.csv")):
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    t = float(row["temperature"])
                except (KeyError, TypeError, ValueError):
                    skipped += 1
                    continue
                if t >= args.min_temperature:
                    values.append(t)
    out = Path(args.summary)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"rows": len(values), "skipped": skipped, "mean": sum(values) / len(values) if values else None}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"summarize: {summary}")


if __name__ == "__main__":
    main()
