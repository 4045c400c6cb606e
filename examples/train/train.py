"""A tiny training script: the same file runs locally and on an Azure ML cluster.

It uses plain MLflow calls. On Azure ML (and under ``amlplatform submit --compute local``) the
environment already names the tracking store and the run, so nothing here mentions either.
Without mlflow installed it still runs and prints its metrics.
"""

import argparse
import json
import math
import os
from pathlib import Path

try:
    import mlflow
except ImportError:  # degrade gracefully: print instead of logging
    mlflow = None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()

    outputs = Path(os.environ.get("AMLPLATFORM_OUTPUTS_DIR", "outputs"))
    outputs.mkdir(parents=True, exist_ok=True)

    run = mlflow.start_run() if mlflow else None
    try:
        if mlflow:
            mlflow.log_param("epochs", args.epochs)
            mlflow.log_param("lr", args.lr)
        loss = 1.0
        for epoch in range(1, args.epochs + 1):
            loss = loss * math.exp(-args.lr * 5)
            accuracy = 1.0 - loss / 2
            print(f"epoch {epoch}: loss={loss:.4f} accuracy={accuracy:.4f}", flush=True)
            if mlflow:
                mlflow.log_metric("loss", loss, step=epoch)
                mlflow.log_metric("accuracy", accuracy, step=epoch)
        (outputs / "model.json").write_text(json.dumps({"epochs": args.epochs, "final_loss": loss}))
        print(f"saved {outputs / 'model.json'}")
    finally:
        if run is not None:
            mlflow.end_run()


if __name__ == "__main__":
    main()
