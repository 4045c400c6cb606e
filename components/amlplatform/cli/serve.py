"""``amlplatform serve MODEL`` (local scoring, the managed online endpoint contract) and
``amlplatform deployments list|delete`` (the local deployment records ``serve --deployment`` writes).

``serve`` runs until SIGTERM or Ctrl-C, then stops listening, lets the requests in flight finish for half
a second, cuts the rest and exits 0 (stopping is how a server ends); bad input, a model that does not
load or a busy port exit 2 before it listens. docs/serve.md describes the flags and why they default
as they do.
"""

import argparse
import atexit
import json
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

from amlplatform.errors import UserError


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve", help="score a registered or local model on localhost, like an online endpoint",
        description="Load a model (name:version or name@latest from the local registry, or a folder/file) and "
        "answer POST /score, GET / (liveness/readiness) and GET /swagger.json as an Azure ML online "
        "deployment does. MLflow folders need no scoring script; custom models take one with init()/run().")
    serve.add_argument("model", help="name:version, name@latest, or a path to a model folder or file")
    serve.add_argument("--scoring-script", type=Path, help="Azure ML scoring script with init() and run(raw_data)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only, answering to Host localhost, "
                       "127.0.0.1 or [::1]); any other address needs a key, generated and printed when none is given")
    serve.add_argument("--port", type=int, default=5001, help="port (default 5001, as the Azure ML inference server; 0 picks a free one)")
    key = serve.add_mutually_exclusive_group()
    key.add_argument("--key", help="require 'Authorization: Bearer <key>' on /score (visible in the process list: prefer --key-env)")
    key.add_argument("--key-env", metavar="VAR", help="require the key held by this environment variable")
    serve.add_argument("--deployment", help="record a local deployment of this name using the model (a used model cannot be deleted)")
    serve.add_argument("--max-body", type=int, default=4 * 1024 * 1024, help="largest request body in bytes (default 4 MiB)")
    serve.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                       help="seconds a client has to send each whole request; a slow or silent connection is closed (default 10)")
    serve.add_argument("--max-connections", type=int, default=64, metavar="N",
                       help="connections served at once; more are answered 503 and closed (default 64)")
    serve.add_argument("--models-dir", type=Path, help="the local registry (default .amlplatform/models)")
    serve.add_argument("--quiet", action="store_true", help="no line per request on stderr")
    serve.set_defaults(func=cmd_serve)

    dep = subparsers.add_parser("deployments", help="list or delete local deployment records (serve --deployment)")
    dep_sub = dep.add_subparsers(dest="deployments_command", metavar="COMMAND", required=True)
    lst = dep_sub.add_parser("list", help="local deployments and the model version each uses")
    lst.add_argument("--models-dir", type=Path)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_deployments_list)
    rm = dep_sub.add_parser("delete", help="delete a local deployment record (its model can then be deleted)")
    rm.add_argument("name")
    rm.add_argument("--models-dir", type=Path)
    rm.set_defaults(func=cmd_deployments_delete)


def _registry(args: argparse.Namespace) -> Any:
    from amlplatform.runs.models import LocalRegistry, models_dir

    return LocalRegistry(models_dir(args.models_dir))


def _key(args: argparse.Namespace) -> Any:
    if args.key_env:
        value = os.environ.get(args.key_env)
        if not value:
            raise UserError(f"--key-env {args.key_env}: that environment variable is not set or empty")
        return value
    return args.key


def cmd_serve(args: argparse.Namespace) -> int:
    from amlplatform.runs.models import resolve_local_path
    from amlplatform.runs.serve import ScoringServer, is_loopback, load_scorer

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be 0-65535, got {args.port}")
    if args.max_body <= 0:
        raise UserError(f"--max-body must be a positive number of bytes, got {args.max_body}")
    if not args.timeout > 0:
        raise UserError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    if args.max_connections < 1:
        raise UserError(f"--max-connections must be at least 1, got {args.max_connections}")
    key = _key(args)
    generated = False
    if key is None and not is_loopback(args.host):
        key, generated = secrets.token_urlsafe(32), True  # 256 bits
    registry = _registry(args)
    looks_like_path = os.sep in args.model or args.model.startswith(".") or Path(args.model).exists()
    resolved = resolve_local_path(Path(args.model)) if looks_like_path else registry.resolve(args.model)
    if args.deployment and resolved.name is None:
        raise UserError("--deployment records which registered model a deployment uses: serve name:version, not a path")
    label = f"{resolved.name}:{resolved.version}" if resolved.name else str(resolved.model_path)
    print(f"loading {label} ({resolved.model_type}) ...", file=sys.stderr, flush=True)
    scorer = load_scorer(resolved, args.scoring_script)
    server = ScoringServer(scorer, host=args.host, port=args.port, key=key, max_body=args.max_body,
                           timeout=args.timeout, max_connections=args.max_connections,
                           deployment=args.deployment, log=sys.stderr, access_log=not args.quiet).bind()
    if args.deployment:
        registry.deployments.record(args.deployment, resolved.name, resolved.version, url=server.url, pid=os.getpid())
    auth = "key required (Authorization: Bearer <key>)" if key else "no key"
    if not server.loopback:
        print(f"warning: --host {args.host or '(every interface)'} is reachable from other machines over plain HTTP "
              "(the key and the data cross the network unencrypted)", file=sys.stderr)
    if generated:
        print(f"generated key (shown once; pass --key-env VAR to choose one): {key}", file=sys.stderr)
    print(f"serving {label} at {server.url}  (POST /score, GET / health, GET /swagger.json; {auth})",
          file=sys.stderr, flush=True)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    print("stopped", file=sys.stderr, flush=True)
    # Nothing is left to write (the deployment record is written at start, the log is flushed), but the
    # interpreter's own teardown takes seconds once MLflow, pandas and scikit-learn are loaded (measured
    # 2-4 s here, most of the "slow to stop on SIGTERM" of issue 19): run the exit hooks and end the process.
    sys.stdout.flush()
    run_exit_hooks = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_hooks is not None:
        run_exit_hooks()
    os._exit(0)


def cmd_deployments_list(args: argparse.Namespace) -> int:
    rows = _registry(args).deployments.all()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no local deployments", file=sys.stderr)
        return 0
    print(f"{'DEPLOYMENT':<24} {'MODEL':<30} UPDATED")
    for r in rows:
        print(f"{r['name']:<24} {r['model']:<30} {r.get('updated_at', '')}")
    return 0


def cmd_deployments_delete(args: argparse.Namespace) -> int:
    _registry(args).deployments.delete(args.name)
    print(f"deleted local deployment {args.name}", file=sys.stderr)
    return 0
