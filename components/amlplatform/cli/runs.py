"""``amlplatform submit`` and ``amlplatform runs list|show|logs|cancel``: argparse and printing over
the Python API (``amlplatform.runs.api``: ``submit``, ``get_run``, ``Run``), whose events
``cli.progress`` prints.

Handlers return exit codes (``amlplatform.exit_codes``) and raise ``UserError`` for bad input
(``amlplatform.cli.main`` prints it and exits 2). Heavy modules (yaml, pathspec, mlflow, azure)
load inside handlers.

``submit`` exit codes: 0 Completed (or submitted with ``--no-wait`` / ``--dry-run``); the
command's own exit code when a local run fails (1 if it has none); 1 for a failed Azure job;
124 timed out; 130 canceled (Ctrl-C). Ctrl-C during a cluster submit (upload or job creation)
looks the chosen job name up and cancels the job if the service has it (the API does; this
module prints what it found).

``runs logs`` / ``runs cancel`` and cluster jobs: ``--stack``, ``--outputs-file`` or ``-g``/``-w`` means a
job of that workspace. Without them ``runs logs`` reads a local run of that name, and only when there is
none asks the workspace named by ``AMLPLATFORM_OUTPUTS_FILE`` / ``AMLPLATFORM_SUBSCRIPTION_ID``...
(``runs cancel`` always means a cluster job: a local run is stopped with Ctrl-C where it runs).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

from amlplatform.cli import _Parser
from amlplatform.errors import UserError
from amlplatform.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TIMEOUT
from amlplatform.runs.run import ENDED as TERMINAL_STATES


def register(subparsers: Any) -> None:
    _add_submit(subparsers)
    _add_runs(subparsers)


# Shorthand flags -> the job YAML field they set (as --set FIELD=VALUE would).
SHORTHANDS = {
    "command": "command",
    "environment": "environment",
    "experiment_name": "experiment_name",
    "display_name": "display_name",
    "instance_count": "resources.instance_count",
    "timeout": "limits.timeout",
    "source": "code",
}


def _add_submit(subparsers: Any) -> argparse.ArgumentParser:
    submit = subparsers.add_parser(
        "submit",
        help="run an Azure ML job YAML locally or on the stack's Azure ML workspace",
        description="Run a CLI v2 job YAML (type: command or pipeline; the files `az ml job create --file` takes) "
        "on this machine (compute: local) or in the workspace a stack created. --set and the shorthand flags "
        "override fields of the file, as the az CLI's --set does.",
    )
    submit.add_argument("job_file", nargs="?", type=Path, metavar="JOB.yml", help="the job YAML (or give --file)")
    submit.add_argument("--file", "-f", type=Path, help="the job YAML")
    submit.add_argument("--set", action="append", default=[], metavar="FIELD.PATH=VALUE", dest="set",
                        help="override a field of the file, e.g. --set inputs.epochs=5 (repeatable)")
    submit.add_argument("--name", "-n", help="job name (default: the file's name:, else a fresh one)")
    submit.add_argument("--compute", help="'local' or a cluster name (sets compute; azureml: prefix optional)")
    submit.add_argument("--environment", help="shorthand for --set environment=...; 'current' runs a local job "
                                              "with this machine's Python and packages instead of building the "
                                              "job's own environment")
    submit.add_argument("--command", help="shorthand for --set command=...")
    submit.add_argument("--experiment-name", "--experiment", dest="experiment_name", help="shorthand for --set experiment_name=...")
    submit.add_argument("--display-name", help="shorthand for --set display_name=...")
    submit.add_argument("--instance-count", type=_int_arg("--instance-count"), help="shorthand for --set resources.instance_count=N")
    submit.add_argument("--timeout", type=_int_arg("--timeout"), metavar="SECONDS", help="shorthand for --set limits.timeout=N")
    submit.add_argument("--source", help="shorthand for --set code=FOLDER")
    submit.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="shorthand for --set environment_variables.KEY=VALUE (repeatable)")
    submit.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="shorthand for --set tags.KEY=VALUE")
    submit.add_argument("--pass-env", action="append", default=[], metavar="NAME", dest="pass_env",
                        help="local runs: hand this variable of your shell to the job (repeatable); a local job "
                             "otherwise gets only PATH, HOME, user, locale, TZ, TERM, TMPDIR and its own "
                             "environment_variables (docs/local-runs-security.md)")
    _add_workspace_flags(submit, stack_help="Pulumi stack whose workspace to use (pulumi stack output)",
                         outputs_help="exported stack outputs JSON (when the Pulumi CLI is absent)")
    submit.add_argument("--dry-run", action="store_true",
                        help="show what would run and the requests that would be sent; run and send nothing")
    submit.add_argument("--format", choices=("text", "json"), default="text",
                        help="--dry-run output: text, or json (the requests: method, url, body)")
    submit.add_argument("--no-wait", action="store_true", help="Azure: return once the job is created")
    submit.add_argument("--stream", action="store_true",
                        help="Azure: print the job's logs (user_logs/std_log.txt) while waiting, instead of a status line")
    submit.add_argument("--json", action="store_true", help="print the final run record / job as JSON on stdout")
    submit.add_argument("--runs-dir", type=Path, help="where local runs are recorded (default .amlplatform/runs)")
    submit.set_defaults(func=cmd_submit)
    return submit


def _add_runs(subparsers: Any) -> None:
    runs = subparsers.add_parser("runs", help="list and show local runs; read the logs of local runs and cluster jobs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="COMMAND", required=True)
    lst = runs_sub.add_parser("list", help="list recorded runs, newest last",
                              description="The project's recorded local runs (from any of its folders: the nearest "
                              ".amlplatform/ above, else the repository root's), newest last; reused pipeline steps "
                              "are marked.")
    lst.add_argument("--experiment", help="only the runs of this experiment")
    lst.add_argument("--status", action="append", metavar="STATUS",
                     help="only runs with this status, e.g. Failed (repeatable; case-insensitive)")
    lst.add_argument("--limit", type=_int_arg("--limit"), metavar="N", help="only the newest N runs")
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--runs-dir", type=Path)
    lst.set_defaults(func=cmd_list)
    show = runs_sub.add_parser("show", help="one run: status history, exit code, inputs, named outputs, git, hash, files, metrics, log tail; "
                              "a pipeline: its steps (reused or why they ran), inputs and named outputs")
    show.add_argument("run", help="run name, a unique prefix of it, or 'last'")
    show.add_argument("--json", action="store_true")
    show.add_argument("--tail", type=int, default=20, help="log lines to show (default 20)")
    show.add_argument("--runs-dir", type=Path)
    show.set_defaults(func=cmd_show)
    logs = runs_sub.add_parser(
        "logs", help="print a run's output (a local run, or a cluster job's logs)",
        description="A local run's combined output, or a cluster job's logs (user_logs/std_log.txt) when --stack, "
        "--outputs-file or -g/-w is given, or when no local run has that name and AMLPLATFORM_OUTPUTS_FILE / "
        "AMLPLATFORM_SUBSCRIPTION_ID... name a workspace. A local pipeline: each step's log, in step order, "
        "every line under [step].")
    logs.add_argument("run", help="run name, a unique prefix of it, or 'last'; or a cluster job's name")
    logs.add_argument("--follow", action="store_true", help="keep printing until the run ends")
    logs.add_argument("--runs-dir", type=Path)
    _add_workspace_flags(logs)
    logs.add_argument("--all-ranks", action="store_true",
                      help="cluster job: every process's user_logs/std_log*.txt, not only the first one's")
    logs.set_defaults(func=cmd_logs)
    cancel = runs_sub.add_parser("cancel", help="cancel a cluster job",
                                 description="Ask the workspace to cancel a job (a local run: Ctrl-C where it runs).")
    cancel.add_argument("job", help="the cluster job's name")
    _add_workspace_flags(cancel)
    cancel.add_argument("--wait", action="store_true", help="wait until the job is Canceled (or ended otherwise)")
    cancel.set_defaults(func=cmd_cancel)


def _add_workspace_flags(parser: argparse.ArgumentParser, *,
                         stack_help: str = "cluster job: Pulumi stack whose workspace to ask",
                         outputs_help: str = "cluster job: exported stack outputs JSON") -> None:
    """How a command names a workspace: a stack, its exported outputs, or ``-g/-w`` as ``az ml`` takes them."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack", help=stack_help)
    where.add_argument("--outputs-file", type=Path, help=outputs_help)
    parser.add_argument("--resource-group", "-g", metavar="RG",
                        help="the workspace's resource group, as az ml's -g (with -w; default $AMLPLATFORM_RESOURCE_GROUP)")
    parser.add_argument("--workspace-name", "-w", metavar="WORKSPACE",
                        help="the workspace's name, as az ml's -w (with -g; default $AMLPLATFORM_WORKSPACE)")
    parser.add_argument("--subscription", metavar="ID",
                        help="with -g/-w: the subscription id (default $AMLPLATFORM_SUBSCRIPTION_ID, $AZURE_SUBSCRIPTION_ID)")
    parser.add_argument("--api-version", help="ARM api-version for the workspace calls")


def _int_arg(flag: str):
    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes a whole number, got {text!r}") from None

    return parse


def _pairs(values: list[str], flag: str) -> tuple[dict[str, str], list[str]]:
    out, bad = {}, []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            bad.append(f"{flag}: expected KEY=VALUE, got {item!r}")
        else:
            out[key] = value
    return out, bad


def _overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` items, then the shorthand flags as ``--set`` items (later ones win, as in the az CLI)."""
    from amlplatform.runs.api import compute_override

    env, bad_env = _pairs(args.env, "--env")
    tags, bad_tags = _pairs(args.tag, "--tag")
    if bad_env or bad_tags:
        raise UserError("bad command-line settings:", bad_env + bad_tags)
    items = list(args.set)
    for attr, field in SHORTHANDS.items():
        value = getattr(args, attr, None)
        if attr == "environment" and value == "current":
            continue  # not an environment: the local run uses the caller's (see cmd_submit)
        if value is not None:
            items.append(f"{field}={value}")
    if args.compute is not None:
        items.append(f"compute={compute_override(args.compute, label='--compute')}")
    if args.name is not None:
        items.append(f"name={args.name}")
    items += [f"environment_variables.{k}={v}" for k, v in env.items()]
    items += [f"tags.{k}={v}" for k, v in tags.items()]
    return items


def _job_file(args: argparse.Namespace) -> Path:
    if args.job_file is not None and args.file is not None and args.job_file != args.file:
        raise UserError(f"two job files given ({args.job_file} and --file {args.file}); give one")
    path = args.file or args.job_file
    if path is None:
        raise UserError("which job? give the job YAML: amlplatform submit --file job.yml "
                        "(the file `az ml job create --file` takes)")
    return path


def _where(args: argparse.Namespace) -> dict[str, Any]:
    """The workspace flags as the API's keyword arguments."""
    return {"stack": args.stack, "outputs_file": args.outputs_file, "resource_group": args.resource_group,
            "workspace_name": args.workspace_name, "subscription_id": args.subscription}


def _where_flag(args: argparse.Namespace) -> Optional[str]:
    for flag, attr in (("--stack", "stack"), ("--outputs-file", "outputs_file"), ("-g/--resource-group", "resource_group"),
                       ("-w/--workspace-name", "workspace_name")):
        if getattr(args, attr, None):
            return flag
    return None


def _where_words(args: argparse.Namespace) -> str:
    """The workspace flags again, for a command the user may run next."""
    if args.stack:
        return f" --stack {args.stack}"
    if args.outputs_file:
        return f" --outputs-file {args.outputs_file}"
    words = "".join(f" {flag} {value}" for flag, value in (("-g", args.resource_group), ("-w", args.workspace_name),
                                                            ("--subscription", args.subscription)) if value)
    return words


def cmd_submit(args: argparse.Namespace) -> int:
    from amlplatform.cli.progress import EventPrinter
    from amlplatform.runs import api

    job = api.load(_job_file(args), set=_overrides(args))
    for warning in api.unused_input_warnings(job):
        print(f"warning: {warning}", file=sys.stderr)
    local = api.runs_locally(job, workspace=bool(_where_flag(args)))
    if not local and args.pass_env:
        raise UserError("--pass-env is for local runs (--compute local); on a cluster the job gets its "
                        "environment_variables only: give them with --env NAME=VALUE")
    if not local and args.environment == "current":
        raise UserError("--environment current is for local runs; on a cluster the job's environment is built "
                        "by Azure ML")
    if local and (_where_flag(args) or args.no_wait or args.stream or args.api_version is not None):
        flag = _where_flag(args) or ("--no-wait" if args.no_wait else "--stream" if args.stream else "--api-version")
        raise UserError(f"{flag} is for a cluster; this job's compute is 'local' (give --compute CLUSTER)")
    if args.stream and args.no_wait:
        raise UserError("--stream follows the job; it cannot go with --no-wait")
    printer = EventPrinter(sys.stderr, cancel_hint=lambda job_name: f"amlplatform runs cancel {job_name}{_where_words(args)}")
    if args.dry_run:
        run = api.submit(job, dry_run=True, api_version=args.api_version, **(_where(args) if not local else {}))
        return _print_dry_run(args, run)
    if local:
        out = sys.stdout.buffer if not args.json else sys.stderr.buffer
        run = api.submit(job, wait=True, runs_dir=args.runs_dir, on_event=printer, output=out,
                         pass_env=args.pass_env,
                         local_environment="current" if args.environment == "current" else "job")
        return _report_local(args, run)
    return _submit_workspace(args, job, printer)


def _print_snapshot(snapshot: Any, git: dict[str, str], out: Any) -> None:
    from amlplatform.runs.snapshot import format_bytes

    print(f"source:    {snapshot.root}", file=out)
    print(f"ignore:    {snapshot.ignore_file or '(no .amlignore or .gitignore)'} + built-in deny-list", file=out)
    print(f"snapshot:  {len(snapshot.files)} files, {format_bytes(snapshot.total_bytes)}", file=out)
    print(f"code hash: {snapshot.content_hash} (sha256, version 202208)", file=out)
    if snapshot.excluded:
        print(f"excluded:  {len(snapshot.excluded)}", file=out)
        for e in snapshot.excluded:
            print(f"  - {e.relpath}  ({e.reason})", file=out)
    if git:
        for k in sorted(git):
            print(f"git:       {k} = {git[k]}", file=out)
    else:
        print("git:       (not a git repository)", file=out)


def _print_dry_run(args: argparse.Namespace, run: Any) -> int:
    out = sys.stdout
    described = run.dry_run
    if args.format == "json":
        print(json.dumps(described, indent=2), file=out)
        return EXIT_OK
    if run.backend == "local":
        for d in described["steps"]:
            head = f"step {d['step']}: " if d["step"] else ""
            print(f"{head}command: {d['command']}", file=out)
            if d["code"]:
                print(f"{head}code:    {d['code']} ({len(d['files'])} files, hash {d['code_hash']})", file=out)
            for k, v in d["inputs"].items():
                print(f"{head}input:   {k} = {v}", file=out)
        print("compute:   local (this machine; nothing was run)", file=out)
        return EXIT_OK
    plan, coords = run.plan, run.coords
    for snap in plan.codes.values():
        _print_snapshot(snap, plan.git, out)
    for key, d in plan.data.items():
        print(f"data:      {key} -> {plan.data_uri(Path(key))} ({len(d.files)} files, {d.total_bytes} bytes)", file=out)
    print(f"workspace: {coords.workspace_id} (from {coords.source or 'the stack outputs'})", file=out)
    print(f"job:       {run.name}", file=out)
    for r in run.requests:
        print(f"request:   {r['method']} {r['url']}" + (f"  ({r['note']})" if r.get("note") else ""), file=out)
    print(json.dumps(run.requests[-1]["body"], indent=2), file=out)
    print("(dry run: nothing was sent)", file=out)
    return EXIT_OK


def _report_local(args: argparse.Namespace, run: Any) -> int:
    record = run.details
    status = record["status"]
    summary = f"run {record['name']}: {status}"
    if record.get("reason"):
        summary += f" ({record['reason']})"
    if record.get("duration_seconds") is not None:
        summary += f" in {record['duration_seconds']:.1f} s"
    print(summary, file=sys.stderr)
    if record.get("type") == "sweep":
        from amlplatform.runs.sweep import summary_lines

        for line in summary_lines(record)[1:]:
            print(f"  {line}", file=sys.stderr)
    for key, m in sorted((record.get("metrics") or {}).items()):
        print(f"  {key} = {_num(m['value'])} (step {m['step']})", file=sys.stderr)
    print(f"  details: amlplatform runs show {record['name']}" + _runs_dir_flag(args), file=sys.stderr)
    if args.json:
        print(json.dumps(record, indent=2))
    return _exit_for(status, record.get("exit_code"), record.get("reason"))


def _exit_for(status: Optional[str], exit_code: Any = None, reason: Optional[str] = None) -> int:
    """The exit code for a run that ended with ``status``: Completed 0; Canceled 130, or 124 when it
    timed out; any other end (Failed, NotResponding, Paused) the local command's own code when it
    is 1-255, else 1."""
    if status == "Completed":
        return EXIT_OK
    if status == "Canceled":
        return EXIT_TIMEOUT if str(reason or "").startswith("timed out") else EXIT_INTERRUPTED
    if isinstance(exit_code, int) and not isinstance(exit_code, bool) and 0 < exit_code < 256:
        return exit_code
    return EXIT_FAILED


def _runs_dir_flag(args: argparse.Namespace) -> str:
    return f" --runs-dir {args.runs_dir}" if getattr(args, "runs_dir", None) else ""


def _submit_workspace(args: argparse.Namespace, job: Any, printer: Any) -> int:
    from amlplatform.runs import api

    try:
        run = api.submit(job, api_version=args.api_version, on_event=printer, **_where(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED  # the API looked the job up and canceled it if it existed (printed)
    if args.no_wait:
        if args.json:
            print(json.dumps(run.details, indent=2))
        return EXIT_OK
    try:
        if args.stream:
            out = sys.stderr if args.json else sys.stdout
            _stream_cluster_logs(run, out, follow=True)
            run.wait()  # the job's own status (run history may be ahead of ARM by a moment)
        else:
            run.wait(on_event=printer)
    except KeyboardInterrupt:
        print(f"\ncanceling job {run.name} ...", file=sys.stderr)
        run.cancel()
        print(f"job {run.name}: cancel requested", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json:
        print(json.dumps(run.details, indent=2))
    return _exit_for(run.status)


def _status_notes(job_name: str):
    def note(status: str, details: dict[str, Any]) -> None:
        print(f"job {job_name}: {status}", file=sys.stderr, flush=True)

    return note


def _stream_cluster_logs(run: Any, out: Any, *, follow: bool, all_files: bool = False) -> dict[str, Any]:
    """Print a cluster job's logs (run history ``logFiles``), following until the job ends when ``follow``."""
    from amlplatform.runs import azure_logs

    details = run.stream_logs(out, follow=follow, all_ranks=all_files,
                              on_status=_status_notes(run.name) if follow else None)
    if follow:
        error = azure_logs.details_error(details)
        print(f"job {run.name}: {details['status']}" + (f": {error}" if error else ""), file=sys.stderr)
    return details


def _cluster_run(args: argparse.Namespace) -> Any:
    """The cluster job the command names: in the workspace of the flags, else of the environment
    (``AMLPLATFORM_OUTPUTS_FILE`` / ``AMLPLATFORM_SUBSCRIPTION_ID``...)."""
    from amlplatform.runs import api

    name = getattr(args, "job", None) or args.run
    if _where_flag(args):
        return api.get_run(name, api_version=args.api_version, **_where(args))
    return api.get_run(name, api_version=args.api_version, workspace=True)


def _env_names_a_workspace() -> bool:
    from amlplatform.runs import coordinates as c

    return bool(os.environ.get(c.ENV_OUTPUTS_FILE) or os.environ.get(c.ENV_SUBSCRIPTION))


def _cluster_logs(args: argparse.Namespace) -> int:
    run = _cluster_run(args)
    try:
        details = _stream_cluster_logs(run, sys.stdout, follow=args.follow, all_files=args.all_ranks)
    except KeyboardInterrupt:
        print(f"\nstopped following; job {run.name} goes on (amlplatform runs cancel {run.name} to stop it)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.follow:
        return EXIT_OK
    return _exit_for(details["status"])


def cmd_cancel(args: argparse.Namespace) -> int:
    if not (_where_flag(args) or _env_names_a_workspace()):
        raise UserError(f"which workspace is {args.job!r} in? give --stack or --outputs-file, or -g RG -w WORKSPACE "
                        "(a local run is stopped with Ctrl-C in the terminal that runs it)")
    run = _cluster_run(args)
    status = run.status
    if status in TERMINAL_STATES:
        print(f"job {args.job}: already {status}; nothing to cancel", file=sys.stderr)
        return EXIT_OK
    run.cancel()
    print(f"job {args.job}: cancel requested", file=sys.stderr)
    if args.wait:
        from amlplatform.cli.progress import EventPrinter

        run.wait(on_event=EventPrinter(sys.stderr))
        return EXIT_OK if run.status == "Canceled" else EXIT_FAILED
    return EXIT_OK


# ---------------------------------------------------------------- runs list|show|logs


def _store(args: argparse.Namespace):
    from amlplatform.runs.store import RunStore, runs_dir

    return RunStore(runs_dir(args.runs_dir))


def _num(value: float) -> str:
    return f"{value:.6g}"


def _age(record: dict[str, Any]) -> str:
    return (record.get("created_at") or "")[:19].replace("T", " ")


def _reuse_note(record: dict[str, Any]) -> str:
    """``reused <run>`` for a step that did not run; ``N of M steps reused`` for a pipeline."""
    if record.get("reused_from"):
        return f"reused {record['reused_from']}"
    if record.get("type") == "pipeline" and record.get("reused_steps"):
        return f"{len(record['reused_steps'])} of {len(record.get('steps') or {})} steps reused"
    return ""


def cmd_list(args: argparse.Namespace) -> int:
    from amlplatform.runs.api import select_records

    store = _store(args)
    every = list(store.records())
    records = select_records(every, limit=args.limit, status=args.status, experiment=args.experiment)
    if args.json:
        print(json.dumps([{**{k: r.get(k) for k in ("name", "experiment", "status", "created_at", "duration_seconds",
                                                     "exit_code", "compute", "code_hash")},
                           "type": r.get("type", "command"), "pipeline": r.get("pipeline"), "step": r.get("step"),
                           "reused_from": r.get("reused_from")} for r in records], indent=2))
        return EXIT_OK
    if not records:
        if not every:
            print(f"no runs under {store.root}", file=sys.stderr)
            return EXIT_OK
        wanted = []
        if args.experiment is not None:
            wanted.append(f"of experiment {args.experiment!r}")
        if args.status:
            wanted.append(f"with status {', '.join(args.status)}")
        known = sorted({str(r.get("experiment")) for r in every if r.get("experiment")})
        hint = f" (experiments there: {', '.join(known)})" if args.experiment is not None and known else ""
        print(f"no runs {' '.join(wanted)} under {store.root}{hint}", file=sys.stderr)
        return EXIT_OK
    rows = [("NAME", "EXPERIMENT", "STATUS", "CREATED (UTC)", "DURATION", "EXIT", "")]
    for r in records:
        dur = r.get("duration_seconds")
        rows.append((r.get("name", "?"), r.get("experiment", ""), r.get("status", ""), _age(r),
                     f"{dur:.1f}s" if isinstance(dur, (int, float)) else "-",
                     "-" if r.get("exit_code") is None else str(r["exit_code"]), _reuse_note(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return EXIT_OK


def _log_tail(path: Path, lines: int) -> list[str]:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            data = fh.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return text.splitlines()[-lines:] if lines > 0 else []


def cmd_show(args: argparse.Namespace) -> int:
    from amlplatform.runs.local import collect_metrics
    from amlplatform.runs.snapshot import format_bytes
    from amlplatform.runs.store import LOG

    store = _store(args)
    record = store.resolve(args.run)
    if not record.get("metrics") and record.get("status") not in ("Completed", "Failed", "Canceled"):
        record["metrics"] = collect_metrics(record)  # a run still going: read what it has logged so far
    log_path = store.run_dir(record["name"]) / LOG
    if args.json:
        record = dict(record)
        if record.get("type") != "pipeline":  # a pipeline has no log of its own: runs logs shows its steps'
            record["log_tail"] = _log_tail(log_path, args.tail)
        print(json.dumps(record, indent=2))
        return 0
    p = print
    pipeline = record.get("type") in ("pipeline", "sweep")  # a parent: its steps or trials hold the logs
    p(f"run:         {record['name']}")
    if pipeline:
        p(f"type:        {record['type']}")
    elif record.get("sweep"):
        p(f"sweep:       {record['sweep']} (trial {record.get('trial')}: "
          + ", ".join(f"{k}={v}" for k, v in (record.get("parameters") or {}).items()) + ")")
    elif record.get("pipeline"):
        p(f"pipeline:    {record['pipeline']} (step {record.get('step')})")
    p(f"experiment:  {record.get('experiment')}")
    if record.get("display_name"):
        p(f"display:     {record['display_name']}")
    p(f"status:      {record.get('status')}" + (f" ({record['reason']})" if record.get("reason") else ""))
    if not pipeline:
        p(f"command:     {record.get('command')}")
    p(f"compute:     {record.get('compute', 'local')}")
    p(f"exit code:   {'-' if record.get('exit_code') is None else record['exit_code']}")
    if record.get("duration_seconds") is not None:
        p(f"duration:    {record['duration_seconds']:.1f} s")
    if not pipeline:
        p(f"code hash:   {record.get('code_hash')} ({record.get('files_count')} files, "
          f"{format_bytes(record.get('total_bytes') or 0)}; ignore file: {record.get('ignore_file') or 'none'})")
        p(f"source:      {record.get('source')}")
    if record.get("type") == "pipeline":
        from amlplatform.runs.pipeline import summary_lines

        p("steps:")
        for line in summary_lines(record):
            p(f"  {line}")
    elif record.get("type") == "sweep":
        from amlplatform.runs.sweep import summary_lines as sweep_lines

        p("trials:")
        for line in sweep_lines(record)[1:]:
            p(f"  {line}")
    for line in _io_lines(record):
        p(line)
    p("history:")
    for h in record.get("status_history", []):
        p(f"  {h['time']}  {h['status']}" + (f"  ({h['reason']})" if h.get("reason") else ""))
    git = record.get("git") or {}
    if git:
        p("git:")
        for k in sorted(git):
            p(f"  {k}: {git[k]}")
    metrics = record.get("metrics") or {}
    if metrics or not pipeline:
        p("metrics:" + ("" if metrics else "     (none)"))
    for key, m in sorted(metrics.items()):
        p(f"  {key} = {_num(m['value'])}  (step {m['step']}, {m.get('count', 1)} values)")
    params = record.get("params") or {}
    if params:
        p("params:")
        for k, v in sorted(params.items()):
            p(f"  {k} = {v}")
    if not pipeline:
        outputs = Path(record.get("outputs") or store.run_dir(record["name"]) / "outputs")
        if outputs.is_dir():
            names = sorted(x.relative_to(outputs).as_posix() for x in outputs.rglob("*") if x.is_file())
            p(f"outputs:     {outputs} ({len(names)} files)")
            for n in names[:20]:
                p(f"  {n}")
    mlf = record.get("mlflow") or {}
    if mlf.get("run_id"):
        p(f"mlflow:      run {mlf['run_id']} in {mlf['tracking_uri']}")
    for w in record.get("warnings") or []:
        p(f"warning:     {w}")
    if pipeline:
        p(f"logs:        amlplatform runs logs {record['name']} (each step's output)" if record["type"] == "pipeline"
          else "logs:        amlplatform runs logs <trial run> (the trials above)")
        return 0
    tail = _log_tail(log_path, args.tail)
    p(f"log ({log_path}, last {len(tail)} lines):")
    for line in tail:
        p(f"  | {line}")
    return 0


def _io_lines(record: dict[str, Any]) -> list[str]:
    """``inputs:`` and ``named outputs:`` of a run record: name, type, what it resolved to."""
    lines = []
    for title, key in (("inputs:", "inputs"), ("named outputs:", "named_outputs")):
        items = record.get(key) or {}
        if not isinstance(items, dict) or not items:
            continue
        lines.append(title)
        width = max(len(n) for n in items)
        for name, item in items.items():
            if not isinstance(item, dict):
                lines.append(f"  {name.ljust(width)}  {item}")
                continue
            where = item.get("value")
            if item.get("path") and str(item.get("path")) != str(where):
                where = f"{where}  (from {item['path']})"
            if item.get("step"):
                where = f"{where}  (step {item['step']}: {item.get('step_output')})"
            lines.append(f"  {name.ljust(width)}  {item.get('type', '?'):<12} {where}")
    return lines


def cmd_logs(args: argparse.Namespace) -> int:
    from amlplatform.runs.store import LOG, TERMINAL

    if _where_flag(args):
        return _cluster_logs(args)
    store = _store(args)
    try:
        record = store.resolve(args.run)
    except UserError as exc:
        if not str(exc).startswith(("no run named", "no runs under")) or args.run == "last":
            raise
        if _env_names_a_workspace():
            return _cluster_logs(args)
        raise UserError(f"{exc}\n  a cluster job? add --stack STACK or --outputs-file FILE") from None
    if record.get("type") == "pipeline":
        return _pipeline_logs(store, record, follow=args.follow)
    path = store.run_dir(record["name"]) / LOG
    out = sys.stdout.buffer
    pos = 0
    while True:
        try:
            with open(path, "rb") as fh:
                fh.seek(pos)
                while True:
                    chunk = fh.read(65536)
                    if not chunk:
                        break
                    out.write(chunk)
                    pos += len(chunk)
            out.flush()
        except FileNotFoundError:
            pass
        if not args.follow:
            return 0
        if store.load(record["name"]).get("status") in TERMINAL:
            # one last read: the run may have written its final lines just before ending
            try:
                with open(path, "rb") as fh:
                    fh.seek(pos)
                    out.write(fh.read())
                    out.flush()
            except FileNotFoundError:
                pass
            return 0
        time.sleep(0.5)


class _Prefixed:
    """Reads a log file from where it left off and writes its whole lines with a ``[step] `` prefix."""

    def __init__(self, path: Path, prefix: bytes, out: Any) -> None:
        self.path, self.prefix, self.out = path, prefix, out
        self.pos = 0
        self.partial = b""

    def pump(self, final: bool = False) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.pos)
                data = fh.read()
        except FileNotFoundError:
            data = b""
        self.pos += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        if final and self.partial:
            lines.append(self.partial)
            self.partial = b""
        for line in lines:
            self.out.write(self.prefix + line.rstrip(b"\r") + b"\n")
        self.out.flush()


def _pipeline_logs(store: Any, record: dict[str, Any], *, follow: bool) -> int:
    """Each step's log in the pipeline's step order, every line under ``[step] ``; with ``follow``,
    a step's log is followed until the step ends, then the next step's, until the pipeline ends."""
    from amlplatform.runs.store import LOG, TERMINAL

    out = sys.stdout.buffer
    name = record["name"]
    order = list((record.get("steps") or {}).keys())
    width = max((len(s) for s in order), default=0)
    for sname in order:
        prefix = f"[{sname}]".ljust(width + 2).encode() + b" "
        reader: Optional[_Prefixed] = None
        while True:
            step = (record.get("steps") or {}).get(sname) or {}
            run = step.get("run")
            if run and reader is None:
                reader = _Prefixed(store.run_dir(run) / LOG, prefix, out)
            pipeline_over = record.get("status") in TERMINAL
            step_over = step.get("status") in TERMINAL or step.get("status") == "Skipped"
            if reader is not None:
                run_over = step_over or store.load(run).get("status") in TERMINAL
                reader.pump(final=run_over or not follow)
                if run_over or not follow:
                    break
            elif step_over or pipeline_over or not follow:
                break  # a step that never ran (skipped, or the pipeline ended first) has no log
            time.sleep(0.5)
            record = store.load(name)
    return 0
