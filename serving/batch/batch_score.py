"""Batch scoring of the credit-default model (a batch deployment: init() once per process, run() per
mini-batch of files).

Azure ML sets AZUREML_MODEL_DIR to the folder holding the deployment's model under its own name
(the MLflow folder is ``$AZUREML_MODEL_DIR/model``); run() gets the paths of one mini-batch of CSV
files and returns one row per input row, which the deployment appends to its output (AppendRow).
https://learn.microsoft.com/azure/machine-learning/how-to-batch-scoring-script
"""

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


def run(mini_batch):
    frames = []
    for path in mini_batch:
        rows = pd.read_csv(path)
        scored = rows.assign(default_probability=model.predict_proba(rows[FEATURES])[:, 1].round(6),
                             file=os.path.basename(path))
        frames.append(scored)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
