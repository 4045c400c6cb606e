"""``amlplatform model register|list|show|delete``: the model registry (local, or a workspace's).

Without ``--stack`` / ``--outputs-file`` the local registry is used (``.amlplatform/models``, or
``--models-dir`` / ``$AMLPLATFORM_MODELS_DIR``); with them, the workspace the stack created. Handlers
raise ``UserError`` for bad input; heavy modules load inside the handlers.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

from amlplatform.errors import UserError


def register(subparsers: Any) -> None:
    model = subparsers.add_parser("model", help="register, list, show and delete model versions (local or a workspace's)")
    sub = model.add_subparsers(dest="model_command", metavar="COMMAND", required=True)

    reg = sub.add_parser(
        "register", help="register a model version from a run's outputs or a local path",
        description="Register a folder or file as the next version of a model (MLflow folders, with an MLmodel "
        "file, become mlflow_model; anything else custom_model). From a local path, a local run's outputs "
        "(--run NAME --path outputs/model), a local pipeline's or step's named output (--run NAME --output model) or, "
        "in a workspace, an Azure job's outputs (--job NAME --path ... or --output ...).")
    reg.add_argument("path", nargs="?", type=Path, help="a local folder or file (instead of --run / --job)")
    reg.add_argument("--name", required=True, help="model name (letters, digits, '-', '_', '.')")
    reg.add_argument("--version", help="explicit version (default: the next whole number)")
    reg.add_argument("--description")
    reg.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="tag (repeatable)")
    reg.add_argument("--type", choices=("custom_model", "mlflow_model"), help="default: detected (MLmodel file -> mlflow_model)")
    origin = reg.add_mutually_exclusive_group()
    origin.add_argument("--run", help="a local run (name, unique prefix or 'last') whose outputs hold the model")
    origin.add_argument("--job", help="an Azure ML job of the workspace whose outputs hold the model (needs --stack/--outputs-file)")
    reg.add_argument("--output", dest="run_output", metavar="OUTPUT",
                     help="with --run/--job: the run's named output holding the model (a pipeline's, or a step's "
                          "or command job's own); --path is then inside it")
    reg.add_argument("--path", dest="run_path", metavar="RUN_PATH",
                     help="with --run/--job: the model inside the run (default: outputs; named-outputs/NAME/... "
                          "is --output NAME)")
    reg.add_argument("--runs-dir", type=Path, help="where local runs are recorded (default .amlplatform/runs)")
    _registry_flags(reg)
    reg.set_defaults(func=cmd_register)

    lst = sub.add_parser("list", help="list models, or the versions of one")
    lst.add_argument("name", nargs="?", help="a model name: list its versions")
    _registry_flags(lst)
    lst.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help="one model version")
    show.add_argument("ref", help="name:version or name@latest")
    _registry_flags(show)
    show.set_defaults(func=cmd_show)

    delete = sub.add_parser("delete", help="delete a local model version (refused while a deployment uses it)",
                            description="Delete one version of a local model. Refused while a local deployment "
                            "(amlplatform serve --deployment) or a stack file (Pulumi.*.yaml here or in stacks/, "
                            "an azureml:<name>:<version> reference) uses it.")
    delete.add_argument("ref", help="name:version")
    delete.add_argument("--models-dir", type=Path)
    delete.add_argument("--stacks-dir", type=Path, action="append", default=[],
                        help="a folder with Pulumi.<stack>.yaml files to check for references (repeatable; default: . and ./stacks)")
    delete.set_defaults(func=cmd_delete)


def _registry_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", type=Path, help="the local registry (default .amlplatform/models)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack", help="use the model registry of this Pulumi stack's workspace")
    where.add_argument("--outputs-file", type=Path, help="use the workspace named by an exported stack outputs JSON")
    parser.add_argument("--resource-group", "-g", metavar="RG",
                        help="use the model registry of the workspace in this resource group, as az ml's -g (with -w)")
    parser.add_argument("--workspace-name", "-w", metavar="WORKSPACE",
                        help="use the model registry of this workspace, as az ml's -w (with -g)")
    parser.add_argument("--subscription", metavar="ID",
                        help="with -g/-w: the subscription id (default $AMLPLATFORM_SUBSCRIPTION_ID, $AZURE_SUBSCRIPTION_ID)")
    parser.add_argument("--api-version", help="ARM api-version for the workspace calls")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")


def _local(args: argparse.Namespace) -> Any:
    from amlplatform.runs.models import LocalRegistry, models_dir

    return LocalRegistry(models_dir(args.models_dir))


def _workspace(args: argparse.Namespace) -> Optional[Any]:
    """A ``WorkspaceModels`` when --stack/--outputs-file/-g/-w names a workspace, else ``None``."""
    if not (args.stack or args.outputs_file or args.resource_group or args.workspace_name):
        return None
    from amlplatform.runs import azure
    from amlplatform.runs.coordinates import resolve_coordinates
    from amlplatform.runs.models import WorkspaceModels
    from amlplatform.runs.rest import _default_credential, _LazyCredential

    coords = resolve_coordinates(stack=args.stack, outputs_file=args.outputs_file, resource_group=args.resource_group,
                                 workspace_name=args.workspace_name, subscription_id=args.subscription,
                                 env=os.environ, cwd=Path.cwd())
    client = azure.AzureMLClient(coords, api_version=azure.api_version_from(args.api_version),
                                 credential=_LazyCredential(_default_credential))
    return WorkspaceModels(client)


def _source(args: argparse.Namespace) -> tuple[Optional[Path], dict[str, Any]]:
    """The local folder/file to register and where it came from (``None`` for an Azure job output)."""
    from amlplatform.runs.models import run_output_path

    given = [flag for flag, value in (("PATH", args.path), ("--run", args.run), ("--job", args.job)) if value]
    if len(given) != 1:
        raise UserError("give exactly one of: a local PATH, --run NAME or --job NAME" + (
            f" (got {', '.join(given)})" if given else ""))
    if (args.run_path or args.run_output) and not (args.run or args.job):
        flag = "--path" if args.run_path else "--output"
        raise UserError(f"{flag} names the model inside a run; it goes with --run or --job (a local folder is the PATH argument)")
    if args.path is not None:
        return args.path, {"path": str(Path(args.path).resolve())}
    output = args.run_output
    if args.job:
        origin = {"job": args.job, "path": args.run_path if output else args.run_path or "outputs"}
        return None, {**origin, **({"output": output} if output else {})}
    from amlplatform.runs.store import RunStore, runs_dir

    store = RunStore(runs_dir(args.runs_dir))
    record = store.resolve(args.run)
    rel = args.run_path if output else args.run_path or "outputs"
    origin = {"run": record["name"], "path": rel, **({"output": output} if output else {})}
    return run_output_path(record, store.run_dir(record["name"]), rel, output=output), origin


def cmd_register(args: argparse.Namespace) -> int:
    from amlplatform.runs import models as m

    tags = m.parse_tags(args.tag)
    m.check_name(args.name)
    if args.version is not None:
        m.check_version(args.version)
    source, origin = _source(args)
    ws = _workspace(args)
    if ws is None:
        if source is None:
            raise UserError("--job registers an Azure job's output in that workspace: add --stack or --outputs-file")
        record = _local(args).register(source, args.name, version=args.version, description=args.description,
                                       tags=tags, model_type=args.type, origin=origin)
        where = str(_local(args).root)
    else:
        with ws.client:
            if source is None:
                uri = m.job_output_uri(origin["job"], origin["path"], origin.get("output"))
                answer = ws.register(args.name, model_type=args.type or m.CUSTOM_MODEL, model_uri=uri,
                                     version=args.version, description=args.description, tags=tags,
                                     job_name=origin["job"])
            else:
                kind = m.check_type(source, args.type)
                snap = m.model_snapshot(source)
                props = {m.RUN_PROPERTY: origin["run"]} if "run" in origin else {}
                from amlplatform.cli.progress import ByteProgress

                answer = ws.register(args.name, model_type=kind, snapshot=snap, basename=source.name,
                                     version=args.version, description=args.description, tags=tags,
                                     properties=props, progress=ByteProgress(sys.stderr))
        record = m.summarize_version(answer)
        record["name"] = record["name"] or args.name
        where = f"workspace {ws.client.coords.workspace_name}"
    ref = f"{record['name']}:{record['version']}"
    print(f"registered model {ref} ({record['type']}) in {where}", file=sys.stderr)
    if record.get("files") is not None:
        print(f"  {record['files']} files, {record['bytes']} bytes, content hash {record['content_hash'][:12]}", file=sys.stderr)
    if ws is None:
        print(f"  serve it:           {_serve_command(args, ref)}", file=sys.stderr)
        # a local version exists only on this machine: a stack deployment's azureml:<name>:<version> resolves
        # in the workspace's registry, so the same version must be registered there first
        print(f"  in a stack deployment: register it in the stack's workspace with `--stack <stack> --version "
              f"{record['version']}` to use `model: azureml:{ref}`", file=sys.stderr)
    else:
        print(f"  model uri: {record.get('model_uri')}", file=sys.stderr)
        print(f"  in a stack deployment: model: azureml:{ref}", file=sys.stderr)
    if args.json:
        print(json.dumps(record, indent=2))
    return 0


def _serve_command(args: argparse.Namespace, ref: str) -> str:
    """The ``amlplatform serve`` command that works for a just-registered local version: with
    ``--models-dir`` when one was given, and ``--scoring-script`` when the model needs one (a custom model
    with no score.py inside, which ``serve`` otherwise refuses)."""
    import shlex

    from amlplatform.runs.serve import needs_scoring_script

    words = ["amlplatform", "serve", ref]
    if args.models_dir is not None:
        words += ["--models-dir", str(args.models_dir)]
    command = shlex.join(words)
    if needs_scoring_script(_local(args).resolve(ref)):
        command += " --scoring-script <path to score.py with init() and run(raw_data)>"
    return command


def cmd_list(args: argparse.Namespace) -> int:
    from amlplatform.runs import models as m

    ws = _workspace(args)
    if ws is not None:
        with ws.client:
            if args.name:
                rows = [m.summarize_version(b) for b in ws.version_bodies(args.name)]
                for r in rows:
                    r["name"] = args.name
            else:
                rows = [{"name": c.get("name"), "latest": (c.get("properties") or {}).get("latestVersion"),
                         "description": (c.get("properties") or {}).get("description")} for c in ws.containers()]
    else:
        reg = _local(args)
        if args.name:
            rows = reg.versions(m.check_name(args.name))
            if not rows:
                raise UserError(f"no model named {args.name!r} under {reg.root}")
        else:
            rows = []
            for name in reg.names():
                versions = reg.versions(name)
                rows.append({"name": name, "latest": versions[-1]["version"], "versions": len(versions),
                             "type": versions[-1]["type"], "description": versions[-1].get("description")})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no models", file=sys.stderr)
        return 0
    if args.name:
        print(f"{'VERSION':<10} {'TYPE':<13} {'CREATED':<25} TAGS")
        for r in rows:
            tags = ",".join(f"{k}={v}" for k, v in sorted((r.get("tags") or {}).items()))
            print(f"{r['version']:<10} {str(r.get('type')):<13} {str(r.get('created_at') or ''):<25} {tags}")
    else:
        print(f"{'NAME':<30} {'LATEST':<8} DESCRIPTION")
        for r in rows:
            print(f"{str(r['name']):<30} {str(r['latest']):<8} {r.get('description') or ''}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from amlplatform.runs import models as m

    name, version = m.parse_ref(args.ref)
    ws = _workspace(args)
    if ws is not None:
        with ws.client:
            record = m.summarize_version(ws.get(name, version))
    else:
        record = _local(args).get(name, version)
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    for key in ("name", "version", "type", "description", "path", "model_uri", "job_name", "content_hash",
                "files", "bytes", "flavors", "source", "created_at"):
        if record.get(key) not in (None, "", [], {}):
            value = record[key]
            print(f"{key + ':':<14}{json.dumps(value) if isinstance(value, (dict, list)) else value}")
    for k, v in sorted((record.get("tags") or {}).items()):
        print(f"{'tag:':<14}{k}={v}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from amlplatform.runs import models as m

    name, version = m.parse_ref(args.ref)
    if version is None:
        raise UserError("model delete takes name:version (one version; @latest is not accepted here)")
    roots = args.stacks_dir or [Path.cwd()]
    _local(args).delete(name, version, stack_roots=roots)
    print(f"deleted model {name}:{version}", file=sys.stderr)
    return 0
