"""An Azure ML scoring script for the example model (custom deployment: init() + run()).

Azure ML (and ``amlplatform serve --scoring-script score.py``) sets AZUREML_MODEL_DIR to the folder
holding the registered model under its own name: the MLflow folder is ``$AZUREML_MODEL_DIR/model``.
"""

import json
import os
import pickle

import pandas as pd

FEATURES = ["income", "debt_ratio", "age", "late_payments"]
model = None


def init():
    global model
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "model.pkl")
    with open(path, "rb") as fh:  # a pickle runs code when loaded: only models you trained
        model = pickle.load(fh)


def run(raw_data):
    rows = pd.DataFrame(json.loads(raw_data)["data"], columns=FEATURES)
    return {"predictions": model.predict(rows).tolist(),
            "probabilities": [round(p, 6) for p in model.predict_proba(rows)[:, 1].tolist()]}
