"""The contract oracle: what azure-ai-ml makes of job YAML files (run with the azure-ai-ml venv's python).

Reads a JSON list of ``{"path": ..., "overrides": ["key.path=value", ...]}`` on stdin and prints a
JSON list with, for each file, either ``{"ok": false, "error": "<azure-ai-ml's message>"}`` or
``{"ok": true, "type": "command"|"pipeline", "body": <the job's REST body>, "components": {step:
<anonymous component REST body>}}``. The body is ``azure.ai.ml.load_job(...)._to_rest_object()``
(for a command YAML: ``_to_job()`` first, the job ``ml_client.jobs.create_or_update`` sends) in
wire form, before workspace references are resolved (code, environment, compute, local data), as
``design/runs.md`` describes. No network: ``load_job`` only parses and validates.

``--set`` overrides go through ``params_override`` exactly as the az CLI ml extension passes them
(``[{"key.path": "value"}]``).
"""

import json
import logging
import sys
import warnings


def _serial(obj):
    if hasattr(obj, "serialize"):
        return obj.serialize()
    if hasattr(obj, "as_dict"):
        return obj.as_dict()
    return obj


def _plain(obj):
    """Nested REST models (pipeline nodes hold a component entity) -> JSON-able values."""
    return json.loads(json.dumps(obj, default=lambda o: _serial(o) if hasattr(o, "serialize") or hasattr(o, "as_dict") else str(o)))


def asset(item):
    """``{"path", "asset": "data"|"component"|"environment"}``: what ``az ml <asset> create --file`` loads."""
    from azure.ai.ml import load_component, load_data, load_environment

    loader = {"data": load_data, "component": load_component, "environment": load_environment}[item["asset"]]
    try:
        entity = loader(item["path"])
        if hasattr(entity, "_validate"):
            result = entity._validate()
            if hasattr(result, "passed") and not result.passed:
                return {"ok": False, "error": str(result.error_messages)}
    except Exception as exc:  # the oracle's verdict: any exception is a rejection
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:4000]}
    out = {"ok": True, "type": getattr(entity, "type", None), "name": entity.name,
           "version": entity.version}
    if item["asset"] == "component":
        out["spec"] = _plain(entity._to_dict())
    return out


def one(item):
    from azure.ai.ml import load_job

    if item.get("asset"):
        return asset(item)

    overrides = [{k: v} for k, _, v in (o.partition("=") for o in item.get("overrides", []))]
    try:
        job = load_job(item["path"], params_override=overrides)
        if hasattr(job, "_to_job"):
            job = job._to_job()
        if hasattr(job, "_validate"):
            result = job._validate()
            if hasattr(result, "passed") and not result.passed:
                return {"ok": False, "error": str(result.error_messages)}
        rest = job._to_rest_object()
    except Exception as exc:  # the oracle's verdict: any exception is a rejection
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:4000]}
    out = {"ok": True, "type": job.type, "body": _plain(_serial(rest)), "components": {}, "object_hashes": {}}
    # where azure-ai-ml would upload each local input: LocalUpload/<get_object_hash(path)>/<name>
    import os
    from pathlib import Path

    from azure.ai.ml._utils._asset_utils import get_object_hash

    base = Path(item["path"]).resolve().parent
    nodes = [job] + (list(job.jobs.values()) if job.type == "pipeline" else [])
    for node in nodes:
        for inp in (getattr(node, "inputs", None) or {}).values():
            path = getattr(getattr(inp, "_data", inp), "path", None)
            if isinstance(path, str) and "://" not in path and not path.startswith(("azureml:", "${{")):
                local = (base / path).resolve() if not os.path.isabs(path) else Path(path)
                if local.exists():
                    out["object_hashes"][str(local)] = get_object_hash(local)
    if job.type == "pipeline":
        for name, node in job.jobs.items():
            comp = node.component
            if hasattr(comp, "_to_rest_object"):
                out["components"][name] = _plain(_serial(comp._to_rest_object()))
            else:
                out["components"][name] = str(comp)
    return out


def main() -> int:
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    items = json.load(sys.stdin)
    import io
    import contextlib

    results = []
    for item in items:
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            results.append(one(item))
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
