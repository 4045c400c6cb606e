"""``amlplatform scan``: the security review of a stack, offline ."""

import argparse
import json
import sys
from pathlib import Path

from amlplatform.exit_codes import EXIT_FAILED, EXIT_OK


def register(sub: "argparse._SubParsersAction") -> None:
    scan = sub.add_parser(
        "scan", help="security and deployability scan of a stack, offline: checkov on its ARM export, the policy "
             "pack, and the deployability rules (AMLD-...)",
        description="Evaluate the stack offline, export it as an ARM template, scan it with checkov "
                    "(from its own virtualenv), run the amlplatform policy pack over the recorded "
                    "resources and the deployability rules (would the stack work on Azure?) over the graph. Exits 1 on a failure, 0 when everything passes or is a reasoned exception.")
    scan.add_argument("--stack", "-s", required=True, help="stack name: its file is Pulumi.<stack>.yaml in the project's stack config folder (Pulumi.yaml stackConfigDir, else the project folder); a stack without one is empty config")
    scan.add_argument("--project-dir", type=Path, default=None,
                      help="folder with Pulumi.yaml (default: the current folder or a parent)")
    scan.add_argument("--format", choices=("text", "json"), default="text", help="report format")
    scan.add_argument("--checkov", default=None, metavar="PATH",
                      help="checkov executable, absolute or relative to the current folder (default: "
                           "$AMLPLATFORM_CHECKOV, else the first of <project>/.venv-scan/bin/checkov, the scripts "
                           "folder of amlplatform's own environment, checkov on PATH, the user cache venv "
                           "($XDG_CACHE_HOME or ~/.cache)/amlplatform/checkov-VERSION; when none has it, that "
                           "venv is made once from the package's hash-locked checkov lock)")
    scan.add_argument("--no-provision", action="store_true",
                      help="never install checkov into the user cache: fail, naming every place looked in")
    scan.add_argument("--output", "-o", type=Path, default=None,
                      help="also write the report to this file (a new file in an existing folder)")
    scan.add_argument("--policy-pack-config", type=Path, default=None, metavar="FILE",
                      help="write the stack's exceptions as a `pulumi preview --policy-pack-config` file")
    scan.add_argument("--force", action="store_true", help="replace existing --output/--policy-pack-config files")
    scan.add_argument("--diff", type=Path, default=None, metavar="EARLIER_JSON",
                      help="also review the change from an earlier `plan --format json`: each replace or remove "
                           "that a management lock refuses is a FAILED finding (LOCKED), with the commands")
    scan.set_defaults(func=run_scan)


def run_scan(args: argparse.Namespace) -> int:
    from amlplatform.cli.plan import check_output, write_output
    from amlplatform.errors import UserError
    from amlplatform.offline.engine import project_dir_arg
    from amlplatform.review.scan import scan_stack

    folder = project_dir_arg(args.project_dir)
    if args.force and args.output is None and args.policy_pack_config is None:
        raise UserError("--force needs --output or --policy-pack-config")
    for flag, path in (("--output", args.output), ("--policy-pack-config", args.policy_pack_config)):
        if path is not None:
            check_output(path, project_dir=folder, force=args.force, flag=flag)
    if args.output is not None and args.policy_pack_config is not None and \
            args.output.resolve() == args.policy_pack_config.resolve():
        raise UserError("--output and --policy-pack-config name the same file")
    earlier = None
    if args.diff is not None:
        from amlplatform.cli.plan import _read_plan

        earlier = _read_plan(args.diff)
    report = scan_stack(args.stack, project_dir=folder, checkov=args.checkov, provision=not args.no_provision,
                        earlier=earlier)
    text = json.dumps(report.to_dict(), indent=2) + "\n" if args.format == "json" else report.render()
    sys.stdout.write(text)
    if args.output is not None:
        write_output(text, args.output)
    if args.policy_pack_config is not None:
        from amlplatform.offline.engine import stack_policy_exceptions
        from amlplatform.review.arm import _as_exceptions
        from amlplatform.review.policies import policy_pack_config

        config = policy_pack_config(_as_exceptions(stack_policy_exceptions(args.stack, folder)))
        write_output(json.dumps(config, indent=2) + "\n", args.policy_pack_config, "--policy-pack-config")
    return EXIT_OK if report.ok else EXIT_FAILED
