"""The runtime shim: submit a training script to the stack's Azure ML cluster, or run it locally.

Nothing here imports Pulumi, and module imports stay light (``amlplatform submit`` starts fast):
azure, mlflow and yaml are imported inside the functions that need them.

- ``spec``: the run spec (YAML file + CLI flags), validated with one error listing every bad field.
- ``snapshot``: which files of the source folder are sent, and the azure-ai-ml compatible content hash.
- ``gitinfo``: git properties recorded on the run.
- ``local``: the local backend; ``store``: run records under ``.amlplatform/runs``.
- ``coordinates`` / ``azure``: the Azure ML backend (workspace from the stack's outputs, REST calls).
The command line for these lives in ``amlplatform.cli.runs``.
"""
