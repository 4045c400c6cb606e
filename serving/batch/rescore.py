"""The rescoring step of the nightly pipeline: score every CSV file of a folder with the model and
write one CSV of scores (the command component serving/rescoring/rescore.component.yml runs it)."""

import argparse
import os
import pickle
from pathlib import Path

import pandas as pd

FEATURES = ["income", "debt_ratio", "age", "late_payments"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--scores", required=True)
    args = parser.parse_args()
    with open(os.path.join(args.model, "model.pkl"), "rb") as fh:  # only models you trained
        model = pickle.load(fh)
    frames = [pd.read_csv(p) for p in sorted(Path(args.transactions).glob("*.csv"))]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FEATURES)
    rows["default_probability"] = model.predict_proba(rows[FEATURES])[:, 1].round(6) if len(rows) else []
    Path(args.scores).mkdir(parents=True, exist_ok=True)
    rows.to_csv(Path(args.scores) / "scores.csv", index=False)
    print(f"scored {len(rows)} rows")


if __name__ == "__main__":
    main()
