"""Step 1 of the example pipeline: read the raw CSV folder, drop bad rows, write a clean CSV.

    python prep.py --raw_data <folder with *.csv> --prepped_data <output folder>
"""

import argparse
import csv
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--raw_data", required=True, help="folder of CSV files with columns x,y")
    p.add_argument("--prepped_data", required=True, help="output folder")
    args = p.parse_args()
    rows, dropped = [], 0
    for path in sorted(Path(args.raw_data).glob("*.csv")):
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    rows.append((float(row["x"]), float(row["y"])))
                except (KeyError, TypeError, ValueError):
                    dropped += 1
    out = Path(args.prepped_data)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "clean.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["x", "y"])
        w.writerows(rows)
    print(f"prep: kept {len(rows)} rows, dropped {dropped}")


if __name__ == "__main__":
    main()
