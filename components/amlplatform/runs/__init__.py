"""The runtime shim: submit a training script to the stack's Azure ML cluster, or run it locally.

    from amlplatform.runs import submit
    run = submit("job.yml", compute="local", set={"inputs.epochs": 5})
    run.wait(); run.status; run.metrics; run.outputs; run.logs()

- ``api``: the Python API (``submit``, ``get_run``, ``list_runs``); ``assets``: the local asset store
  (``create_data`` / ``create_component`` / ``create_environment``, ``list_assets``, ``show_asset``: what
  ``az ml data|component|environment create --file`` registers, for local runs); ``run``: the ``Run`` both
  backends return; ``events``: what the API reports instead of printing.

Nothing here imports Pulumi, and module imports stay light (``amlplatform submit`` starts fast):
azure, mlflow and yaml are imported inside the functions that need them.

- ``job``: Azure ML CLI v2 job YAML (command and pipeline jobs) + ``--set`` overrides, validated like
  azure-ai-ml validates it, with one error listing every bad field.
- ``snapshot``: which files of the code folder are sent, and the azure-ai-ml compatible content hashes
  (code: hash version 202208; local data inputs: azure-ai-ml's object hash).
- ``gitinfo``: git properties recorded on the run.
- ``local``: the local backend; ``store``: run records under ``.amlplatform/runs``.
- ``coordinates`` / ``azure`` / ``jobbody`` / ``blobput``: the Azure ML backend (workspace from the
  stack's outputs, the request bodies azure-ai-ml would send, the REST and blob calls).
The command line for these lives in ``amlplatform.cli.runs`` (argparse and printing over ``api``).
"""

from amlplatform.runs.api import get_run, list_runs, submit
from amlplatform.runs.assets import (create_asset, create_component, create_data, create_environment, list_assets,
                                     show_asset)
from amlplatform.runs.run import Run

__all__ = ["submit", "get_run", "list_runs", "Run", "create_asset", "create_data", "create_component",
           "create_environment", "list_assets", "show_asset"]
