"""Train a small credit-default classifier and save it as an MLflow model in ./outputs/model.

Runs the same locally and on an Azure ML cluster (``amlplatform submit``): the data is generated
here (no download), metrics go to MLflow when it is installed, and the model folder
``outputs/model`` (``MLmodel`` + ``model.pkl``) is what ``amlplatform model register --run ... --path
outputs/model`` registers as an ``mlflow_model``.
"""

import argparse
import json
import os
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["income", "debt_ratio", "age", "late_payments"]


def make_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic borrowers: lower income, higher debt ratio and late payments raise the default odds."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(mean=10.5, sigma=0.5, size=n) / 1000.0  # thousands
    debt_ratio = rng.beta(2, 5, size=n)
    age = rng.integers(21, 75, size=n).astype(float)
    late = rng.poisson(0.6, size=n).astype(float)
    logit = -1.5 - 0.02 * income + 4.0 * debt_ratio - 0.02 * (age - 40) + 0.9 * late
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return np.column_stack([income, debt_ratio, age, late]), y


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import pandas as pd

    X, y = make_data(args.rows, args.seed)
    X = pd.DataFrame(X, columns=FEATURES)  # named features: requests name their columns
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=args.seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=500))
    model.fit(X_train, y_train)
    accuracy = float(model.score(X_test, y_test))
    print(f"accuracy={accuracy:.3f} on {len(y_test)} held-out rows")

    outputs = Path(os.environ.get("AMLPLATFORM_OUTPUTS_DIR", "outputs"))
    target = outputs / "model"
    import mlflow
    import mlflow.sklearn

    if os.environ.get("MLFLOW_RUN_ID") or os.environ.get("MLFLOW_TRACKING_URI"):
        with mlflow.start_run():
            mlflow.log_param("C", args.C)
            mlflow.log_metric("accuracy", accuracy)
    # cloudpickle: loadable with scikit-learn alone (the default 'skops' format needs the skops package).
    # A pickle runs code when loaded: serve only models you trained.
    mlflow.sklearn.save_model(model, str(target), serialization_format="cloudpickle")
    (outputs / "metrics.json").write_text(json.dumps({"accuracy": accuracy, "features": FEATURES}))


if __name__ == "__main__":
    main()
