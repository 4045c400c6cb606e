"""Step 2 of the example pipeline: fit y = a*x + b by gradient descent; write the model as JSON.

    python train.py --training_data <folder with clean.csv> --model_output <folder>
                    [--epochs N] [--learning_rate LR]

Logs the loss per epoch with MLflow when mlflow is installed (locally, amlplatform has created the
run and exported MLFLOW_TRACKING_URI / MLFLOW_RUN_ID; on Azure ML the service does).
"""

import argparse
import csv
import json
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--training_data", required=True)
    p.add_argument("--model_output", required=True)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--learning_rate", type=float, default=0.01)
    args = p.parse_args()
    with open(Path(args.training_data) / "clean.csv", newline="") as fh:
        data = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(fh)]
    if not data:
        raise SystemExit("train: no training rows")
    try:
        import mlflow
    except ImportError:
        mlflow = None
    a = b = 0.0
    n = len(data)
    run = mlflow.start_run() if mlflow else None
    try:
        if mlflow:
            mlflow.log_params({"epochs": args.epochs, "learning_rate": args.learning_rate})
        for epoch in range(1, args.epochs + 1):
            grad_a = sum(2 * (a * x + b - y) * x for x, y in data) / n
            grad_b = sum(2 * (a * x + b - y) for x, y in data) / n
            a -= args.learning_rate * grad_a
            b -= args.learning_rate * grad_b
            if mlflow and (epoch % 50 == 0 or epoch == args.epochs):
                loss = sum((a * x + b - y) ** 2 for x, y in data) / n
                mlflow.log_metric("loss", loss, step=epoch)
    finally:
        if run is not None:
            mlflow.end_run()
    out = Path(args.model_output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.json").write_text(json.dumps({"a": a, "b": b, "rows": n}, indent=2) + "\n")
    print(f"train: y = {a:.3f} * x + {b:.3f} from {n} rows")


if __name__ == "__main__":
    main()
