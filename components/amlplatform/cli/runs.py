"""``amlplatform submit`` and ``amlplatform runs list|show|logs|cancel``.

Handlers return exit codes and raise ``UserError`` for bad input (``amlplatform.cli.main``
prints it and exits 2). Heavy modules (yaml, pathspec, mlflow, azure) load inside handlers.

``submit`` exit codes: 0 Completed (or submitted with ``--no-wait`` / ``--dry-run``); the
command's own exit code when a local run fails (1 if it has none); 1 for a failed Azure job;
124 timed out; 130 canceled (Ctrl-C). Ctrl-C during a cluster submit (upload or job creation)
looks the chosen job name up and cancels the job if the service has it.

``runs logs`` / ``runs cancel`` and cluster jobs: ``--stack`` or ``--outputs-file`` means a job of
that workspace. Without them ``runs logs`` reads a local run of that name, and only when there is
none asks the workspace named by ``AMLPLATFORM_OUTPUTS_FILE`` / ``AMLPLATFORM_SUBSCRIPTION_ID``...
(``runs cancel`` always means a cluster job: a local run is stopped with Ctrl-C where it runs).
"""

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Optional

from amlplatform.cli import _Parser
from amlplatform.errors import UserError


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
    submit.add_argument("--environment", help="shorthand for --set environment=...")
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
    where = submit.add_mutually_exclusive_group()
    where.add_argument("--stack", help="Pulumi stack whose workspace to use (pulumi stack output)")
    where.add_argument("--outputs-file", type=Path, help="exported stack outputs JSON (when the Pulumi CLI is absent)")
    submit.add_argument("--api-version", help="ARM api-version for the workspace calls")
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
    lst = runs_sub.add_parser("list", help="list recorded runs, newest last")
    lst.add_argument("--experiment")
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
        description="A local run's combined output, or a cluster job's logs (user_logs/std_log.txt) when --stack "
        "or --outputs-file is given, or when no local run has that name and AMLPLATFORM_OUTPUTS_FILE / "
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


def _add_workspace_flags(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack", help="cluster job: Pulumi stack whose workspace to ask")
    where.add_argument("--outputs-file", type=Path, help="cluster job: exported stack outputs JSON")
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
    env, bad_env = _pairs(args.env, "--env")
    tags, bad_tags = _pairs(args.tag, "--tag")
    if bad_env or bad_tags:
        raise UserError("bad command-line settings:", bad_env + bad_tags)
    items = list(args.set)
    for attr, field in SHORTHANDS.items():
        value = getattr(args, attr, None)
        if value is not None:
            items.append(f"{field}={value}")
    if args.compute is not None:
        compute = args.compute.strip()
        bare = compute[len("azureml:"):] if compute.startswith("azureml:") else compute
        if not bare or ("/" in bare and not COMPUTE_ARM_ID.match(bare)):
            raise UserError(f"--compute: must be 'local' or a cluster name (azureml: prefix optional), got {args.compute!r}")
        items.append(f"compute={compute if compute == 'local' or compute.startswith('azureml:') else 'azureml:' + compute}")
    if args.name is not None:
        items.append(f"name={args.name}")
    items += [f"environment_variables.{k}={v}" for k, v in env.items()]
    items += [f"tags.{k}={v}" for k, v in tags.items()]
    return items


# --compute takes what the job file's compute: takes (runs.job._compute): 'local', a name
# (azureml: prefix optional) or the compute's ARM id; an empty value or a path is the flag's fault.
COMPUTE_ARM_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/[^/]+/computes/[^/]+$", re.I)


def _job_file(args: argparse.Namespace) -> Path:
    if args.job_file is not None and args.file is not None and args.job_file != args.file:
        raise UserError(f"two job files given ({args.job_file} and --file {args.file}); give one")
    path = args.file or args.job_file
    if path is None:
        raise UserError("which job? give the job YAML: amlplatform submit --file job.yml "
                        "(the file `az ml job create --file` takes)")
    return path


def cmd_submit(args: argparse.Namespace) -> int:
    from amlplatform.runs.job import PipelineJob, load_job

    job = load_job(_job_file(args), _overrides(args))
    if not isinstance(job, PipelineJob):
        for warning in unused_input_warnings(job.command, job.inputs):
            print(f"warning: {warning}", file=sys.stderr)
    local = job.is_local or (not isinstance(job, PipelineJob) and job.compute is None
                             and not (args.stack or args.outputs_file))
    if not local and args.pass_env:
        raise UserError("--pass-env is for local runs (--compute local); on a cluster the job gets its "
                        "environment_variables only: give them with --env NAME=VALUE")
    if local and (args.stack or args.outputs_file or args.no_wait or args.stream or args.api_version is not None):
        flag = ("--stack" if args.stack else "--outputs-file" if args.outputs_file else
                "--no-wait" if args.no_wait else "--stream" if args.stream else "--api-version")
        raise UserError(f"{flag} is for a cluster; this job's compute is 'local' (give --compute CLUSTER)")
    if local and job.compute is None:
        from dataclasses import replace

        job = replace(job, compute="local")  # no compute and no workspace named: run here
    if args.dry_run:
        return _dry_run(args, job, local)
    if local:
        return _submit_local(args, job)
    return _submit_azure(args, job)


# ``${{inputs.NAME}}`` in a command (also inside an optional ``$[[ ... ]]`` part).
INPUT_REF = re.compile(r"\$\{\{\s*inputs\.([A-Za-z0-9_]+)\s*\}\}")


def unused_input_warnings(command: Optional[str], inputs: Any) -> list[str]:
    """Inputs a command job's command never names. Accepted, as ``az ml job create --set`` and
    azure-ai-ml accept them (a script can still read one from its environment on Azure ML), but
    most often a misspelt ``--set inputs.NAME=...``: say so."""
    used = set(INPUT_REF.findall(command or ""))
    unused = [n for n in inputs if n not in used]
    out = []
    for name in unused:
        near = [u for u in sorted(used) if u not in inputs]
        hint = f" (the command uses ${{{{inputs.{near[0]}}}}}, which has no value)" if len(near) == 1 else ""
        out.append(f"inputs.{name} is not used by the command (no ${{{{inputs.{name}}}}} in it); "
                   f"it is passed to the job anyway{hint}")
    return out


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


def _git_folder(job: Any) -> Path:
    from amlplatform.runs.job import PipelineJob

    jobs = [s.job for s in job.jobs.values()] if isinstance(job, PipelineJob) else [job]
    for j in jobs:
        if j.code is not None and j.code.local_path is not None:
            return j.code.local_path
    return job.base_dir


def _plan(args: argparse.Namespace, job: Any, coords: Any) -> Any:
    from amlplatform.runs import azure
    from amlplatform.runs.gitinfo import git_properties
    from amlplatform.runs.snapshot import take_data_snapshot, take_snapshot

    return azure.make_plan(job, snapshot=take_snapshot, data_snapshot=take_data_snapshot,
                           git=git_properties(_git_folder(job)), workspace_id=coords.workspace_id)


def _dry_run(args: argparse.Namespace, job: Any, local: bool) -> int:
    from amlplatform.runs.job import PipelineJob

    out = sys.stdout
    if local:
        from amlplatform.runs.snapshot import take_snapshot

        steps = [(n, s.job) for n, s in job.jobs.items()] if isinstance(job, PipelineJob) else [(None, job)]
        described = []
        for name, j in steps:
            snap = take_snapshot(j.code.local_path) if j.code is not None and j.code.local_path is not None else None
            described.append({"step": name, "command": j.command,
                              "code": str(snap.root) if snap else None,
                              "code_hash": snap.content_hash if snap else None,
                              "files": [f.relpath for f in snap.files] if snap else [],
                              "inputs": {k: (str(i.local_path) if i.local_path else i.path if i.path else i.value)
                                         for k, i in j.inputs.items()},
                              "outputs": sorted(j.outputs)})
        if args.format == "json":
            print(json.dumps({"compute": "local", "type": job.type, "steps": described}, indent=2), file=out)
            return 0
        for d in described:
            head = f"step {d['step']}: " if d["step"] else ""
            print(f"{head}command: {d['command']}", file=out)
            if d["code"]:
                print(f"{head}code:    {d['code']} ({len(d['files'])} files, hash {d['code_hash']})", file=out)
            for k, v in d["inputs"].items():
                print(f"{head}input:   {k} = {v}", file=out)
        print("compute:   local (this machine; nothing was run)", file=out)
        return 0
    from amlplatform.runs import azure
    from amlplatform.runs.coordinates import resolve_coordinates

    coords = resolve_coordinates(stack=args.stack, outputs_file=args.outputs_file, env=os.environ, cwd=Path.cwd())
    api_version = azure.api_version_from(args.api_version)
    plan = _plan(args, job, coords)
    described = azure.describe_submission(plan, coords, api_version=api_version)
    if args.format == "json":
        print(json.dumps(described, indent=2), file=out)
        return 0
    for snap in plan.codes.values():
        _print_snapshot(snap, plan.git, out)
    for key, d in plan.data.items():
        print(f"data:      {key} -> {plan.data_uri(Path(key))} ({len(d.files)} files, {d.total_bytes} bytes)", file=out)
    print(f"workspace: {coords.workspace_id} (from {coords.source or 'the stack outputs'})", file=out)
    print(f"job:       {plan.job_name}", file=out)
    for r in described["requests"]:
        print(f"request:   {r['method']} {r['url']}" + (f"  ({r['note']})" if r.get("note") else ""), file=out)
    print(json.dumps(described["requests"][-1]["body"], indent=2), file=out)
    print("(dry run: nothing was sent)", file=out)
    return 0


def _submit_local(args: argparse.Namespace, job: Any) -> int:
    from amlplatform.runs.job import PipelineJob
    from amlplatform.runs.local import EXIT_CANCELED, EXIT_TIMEOUT
    from amlplatform.runs.store import RunStore, runs_dir

    store = RunStore(runs_dir(args.runs_dir))
    out = sys.stdout.buffer if not args.json else sys.stderr.buffer
    if isinstance(job, PipelineJob):
        from amlplatform.runs.pipeline import run_pipeline_job

        record = run_pipeline_job(job, store=store, out=out, notes=sys.stderr, pass_env=args.pass_env)
    else:
        from amlplatform.runs.local import run_command_job

        record = run_command_job(job, store=store, out=out, notes=sys.stderr, pass_env=args.pass_env)
    status = record["status"]
    summary = f"run {record['name']}: {status}"
    if record.get("reason"):
        summary += f" ({record['reason']})"
    if record.get("duration_seconds") is not None:
        summary += f" in {record['duration_seconds']:.1f} s"
    print(summary, file=sys.stderr)
    for key, m in sorted((record.get("metrics") or {}).items()):
        print(f"  {key} = {_num(m['value'])} (step {m['step']})", file=sys.stderr)
    print(f"  details: amlplatform runs show {record['name']}" + _runs_dir_flag(args), file=sys.stderr)
    if args.json:
        print(json.dumps(record, indent=2))
    if status == "Completed":
        return 0
    if status == "Canceled":
        return EXIT_TIMEOUT if (record.get("reason") or "").startswith("timed out") else EXIT_CANCELED
    code = record.get("exit_code")
    return code if isinstance(code, int) and 0 < code < 256 else 1


def _runs_dir_flag(args: argparse.Namespace) -> str:
    return f" --runs-dir {args.runs_dir}" if getattr(args, "runs_dir", None) else ""


def _exit_for(status: Optional[str]) -> int:
    """Completed 0, Canceled 130, any other end (Failed, NotResponding, Paused) 1."""
    return 0 if status == "Completed" else 130 if status == "Canceled" else 1


def _submit_azure(args: argparse.Namespace, job: Any) -> int:
    from amlplatform.runs import azure
    from amlplatform.runs.coordinates import resolve_coordinates

    if args.stream and args.no_wait:
        raise UserError("--stream follows the job; it cannot go with --no-wait")
    coords = resolve_coordinates(stack=args.stack, outputs_file=args.outputs_file, env=os.environ, cwd=Path.cwd())
    api_version = azure.api_version_from(args.api_version)
    plan = _plan(args, job, coords)
    job_name = plan.job_name
    print(f"job {job_name}: submitting a {job.type} job to workspace {coords.workspace_name}", file=sys.stderr)
    credential = _credential()
    with azure.AzureMLClient(coords, api_version=api_version, credential=credential,
                             **_client_options()) as client:
        try:
            created = client.submit(plan, progress=azure.ByteProgress(sys.stderr))
        except KeyboardInterrupt:
            return _cancel_interrupted_submit(client, job_name, args)
        sent = client.bytes_uploaded
        reused = [u for u in client.uploads if u.reused]
        print(f"job {job_name}: uploaded {sent} bytes ({len(reused)} of {len(client.uploads)} uploads already "
              "in the workspace)", file=sys.stderr)
        props = created.get("properties") or {}
        studio = ((props.get("services") or {}).get("Studio") or {}).get("endpoint")
        print(f"job {job_name}: {props.get('status', 'created')}" + (f"  {studio}" if studio else ""), file=sys.stderr)
        if args.no_wait:
            if args.json:
                print(json.dumps(created, indent=2))
            return 0
        try:
            if args.stream:
                out = sys.stderr if args.json else sys.stdout
                _stream_cluster_logs(coords, client, created, job_name, out, follow=True, credential=credential)
                created = client.wait(job_name)  # the job's own status (run history may be ahead of ARM by a moment)
            else:
                created = client.wait(job_name, on_status=azure.StatusLine(job_name, sys.stderr))
        except KeyboardInterrupt:
            print(f"\ncanceling job {job_name} ...", file=sys.stderr)
            client.cancel(job_name)
            print(f"job {job_name}: cancel requested", file=sys.stderr)
            return 130
    if args.json:
        print(json.dumps(created, indent=2))
    return _exit_for((created.get("properties") or {}).get("status"))


def _client_options() -> dict[str, Any]:
    """Test and benchmark hooks, read from the environment: a CA bundle for a local fake service
    (``AMLPLATFORM_CA_BUNDLE``) and a blob endpoint for datastores (``AMLPLATFORM_BLOB_ENDPOINT``,
    e.g. Azurite's ``http://127.0.0.1:10000/devstoreaccount1``). The ARM endpoint itself is
    ``AMLPLATFORM_ARM_ENDPOINT``."""
    options: dict[str, Any] = {}
    ca = os.environ.get("AMLPLATFORM_CA_BUNDLE")
    if ca:
        from azure.core.pipeline.transport import RequestsTransport

        options["transport"] = RequestsTransport(connection_verify=ca)
    blob = os.environ.get("AMLPLATFORM_BLOB_ENDPOINT")
    if blob:
        options["storage_url"] = lambda account, endpoint, protocol: blob
    arm = os.environ.get("AMLPLATFORM_ARM_ENDPOINT")
    if arm:
        options["endpoint"] = arm
    return options


def _cancel_interrupted_submit(client: Any, job_name: str, args: argparse.Namespace) -> int:
    """Ctrl-C while uploading or creating the job: the job PUT may have reached the service, so
    look the job up and cancel it if it exists. A second Ctrl-C abandons the check."""
    from amlplatform.runs.azure import TERMINAL_STATES

    where = f" --stack {args.stack}" if args.stack else f" --outputs-file {args.outputs_file}" if args.outputs_file else ""
    manual = f"amlplatform runs cancel {job_name}{where}"
    print(f"\ninterrupted; checking whether job {job_name} was created ...", file=sys.stderr, flush=True)
    try:
        job = client.get_job(job_name)
    except UserError as exc:
        if str(exc).startswith("no job named"):
            print(f"job {job_name}: not created; nothing to cancel (should the interrupted request still reach "
                  f"the service: {manual})", file=sys.stderr)
        else:
            print(f"job {job_name}: could not check it ({exc}); if it was created, cancel it: {manual}", file=sys.stderr)
        return 130
    status = (job.get("properties") or {}).get("status")
    if status in TERMINAL_STATES:
        print(f"job {job_name}: already {status}; nothing to cancel", file=sys.stderr)
        return 130
    try:
        client.cancel(job_name)
    except UserError as exc:
        print(f"job {job_name}: was created, but the cancel failed ({exc}); cancel it: {manual}", file=sys.stderr)
        return 130
    print(f"job {job_name}: was created; cancel requested", file=sys.stderr)
    return 130


def _credential() -> Any:
    """One lazily created DefaultAzureCredential for the ARM and the run history calls of a command."""
    from amlplatform.runs.rest import _default_credential, _LazyCredential

    return _LazyCredential(_default_credential)


def _status_notes(job_name: str):
    def note(status: str, details: dict[str, Any]) -> None:
        print(f"job {job_name}: {status}", file=sys.stderr, flush=True)

    return note


def _stream_cluster_logs(coords: Any, client: Any, job: dict[str, Any], job_name: str, out: Any, *,
                         follow: bool, credential: Any, all_files: bool = False) -> dict[str, Any]:
    """Print a cluster job's logs (run history ``logFiles``), following until the job ends when ``follow``."""
    from amlplatform.runs import azure_logs

    endpoint = azure_logs.history_endpoint(coords, job)
    with azure_logs.RunHistoryClient(coords, endpoint=endpoint, credential=credential) as history:
        details = history.stream_logs(job_name, out, follow=follow, all_files=all_files,
                                      on_status=_status_notes(job_name) if follow else None)
    if follow:
        error = azure_logs.details_error(details)
        print(f"job {job_name}: {details['status']}" + (f": {error}" if error else ""), file=sys.stderr)
    return details


def _cluster_target(args: argparse.Namespace) -> Any:
    from amlplatform.runs.azure import JOB_NAME
    from amlplatform.runs.coordinates import resolve_coordinates

    name = getattr(args, "job", None) or args.run
    if not JOB_NAME.match(name):
        raise UserError(f"{name!r} is not an Azure ML job name (letters, digits, '-' and '_')")

    return resolve_coordinates(stack=args.stack, outputs_file=args.outputs_file, env=os.environ, cwd=Path.cwd())


def _env_names_a_workspace() -> bool:
    from amlplatform.runs import coordinates as c

    return bool(os.environ.get(c.ENV_OUTPUTS_FILE) or os.environ.get(c.ENV_SUBSCRIPTION))


def _cluster_logs(args: argparse.Namespace) -> int:
    from amlplatform.runs import azure

    coords = _cluster_target(args)
    credential = _credential()
    with azure.AzureMLClient(coords, api_version=azure.api_version_from(args.api_version), credential=credential) as client:
        job = client.get_job(args.run)
        try:
            details = _stream_cluster_logs(coords, client, job, args.run, sys.stdout, follow=args.follow,
                                           credential=credential, all_files=args.all_ranks)
        except KeyboardInterrupt:
            print(f"\nstopped following; job {args.run} goes on (amlplatform runs cancel {args.run} to stop it)",
                  file=sys.stderr)
            return 130
    if not args.follow:
        return 0
    return 0 if details["status"] == "Completed" else 130 if details["status"] == "Canceled" else 1


def cmd_cancel(args: argparse.Namespace) -> int:
    from amlplatform.runs import azure

    if not (args.stack or args.outputs_file or _env_names_a_workspace()):
        raise UserError(f"which workspace is {args.job!r} in? give --stack or --outputs-file "
                        "(a local run is stopped with Ctrl-C in the terminal that runs it)")
    coords = _cluster_target(args)
    with azure.AzureMLClient(coords, api_version=azure.api_version_from(args.api_version)) as client:
        status = (client.get_job(args.job).get("properties") or {}).get("status")
        if status in azure.TERMINAL_STATES:
            print(f"job {args.job}: already {status}; nothing to cancel", file=sys.stderr)
            return 0
        client.cancel(args.job)
        print(f"job {args.job}: cancel requested", file=sys.stderr)
        if args.wait:
            job = client.wait(args.job, on_status=azure.StatusLine(args.job, sys.stderr))
            return 0 if (job.get("properties") or {}).get("status") == "Canceled" else 1
    return 0


# ---------------------------------------------------------------- runs list|show|logs


def _store(args: argparse.Namespace):
    from amlplatform.runs.store import RunStore, runs_dir

    return RunStore(runs_dir(args.runs_dir))


def _num(value: float) -> str:
    return f"{value:.6g}"


def _age(record: dict[str, Any]) -> str:
    return (record.get("created_at") or "")[:19].replace("T", " ")


def cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    records = list(store.records(args.experiment))
    if args.json:
        print(json.dumps([{k: r.get(k) for k in ("name", "experiment", "status", "created_at", "duration_seconds",
                                                   "exit_code", "compute", "code_hash")} for r in records], indent=2))
        return 0
    if not records:
        if args.experiment is not None:
            known = sorted({str(r.get("experiment")) for r in store.records() if r.get("experiment")})
            print(f"no runs of experiment {args.experiment!r} under {store.root}"
                  + (f" (experiments there: {', '.join(known)})" if known else ""), file=sys.stderr)
        else:
            print(f"no runs under {store.root}", file=sys.stderr)
        return 0
    rows = [("NAME", "EXPERIMENT", "STATUS", "CREATED (UTC)", "DURATION", "EXIT")]
    for r in records:
        dur = r.get("duration_seconds")
        rows.append((r.get("name", "?"), r.get("experiment", ""), r.get("status", ""), _age(r),
                     f"{dur:.1f}s" if isinstance(dur, (int, float)) else "-",
                     "-" if r.get("exit_code") is None else str(r["exit_code"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


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
    pipeline = record.get("type") == "pipeline"
    p(f"run:         {record['name']}")
    if pipeline:
        p("type:        pipeline")
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
    if pipeline:
        from amlplatform.runs.pipeline import summary_lines

        p("steps:")
        for line in summary_lines(record):
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
        p(f"logs:        amlplatform runs logs {record['name']} (each step's output)")
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

    if args.stack or args.outputs_file:
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
