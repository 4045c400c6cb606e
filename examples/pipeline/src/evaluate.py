"""Step 3 of the example pipeline: score the model on the clean data; write the metrics as JSON.

    python evaluate.py --model_input <folder with model.json> --test_data <folder with clean.csv>
                       --evaluation_output <folder>
"""

import argparse
import csv
import json
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model_input", required=True)
    p.add_argument("--test_data", required=True)
    p.add_argument("--evaluation_output", required=True)
    args = p.parse_args()
    model = json.loads((Path(args.model_input) / "model.json").read_text())
    with open(Path(args.test_data) / "clean.csv", newline="") as fh:
        data = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(fh)]
    mse = sum((model["a"] * x + model["b"] - y) ** 2 for x, y in data) / len(data)
    out = Path(args.evaluation_output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"mse": mse, "rows": len(data)}, indent=2) + "\n")
    try:
        import mlflow
    except ImportError:
        mlflow = None
    if mlflow:
        with mlflow.start_run():
            mlflow.log_metric("mse", mse)
    print(f"evaluate: mse = {mse:.4f} on {len(data)} rows")


if __name__ == "__main__":
    main()
