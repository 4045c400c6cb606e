"""``amlplatform scan``: the security review of a stack, offline ."""

import argparse
import json
import sys
from pathlib import Path


def register(sub: "argparse._SubParsersAction") -> None:
    scan = sub.add_parser(
        "scan", help="security and deployability scan of a stack, offline: checkov on its ARM export, the policy "
             "pack, and the deployability rules (AMLD-...)",
        description="Evaluate the stack offline, export it as an ARM template, scan it with checkov "
                    "(from its own virtualenv), run the amlplatform policy pack over the recorded "
                    "resources and the deployability rules (would the stack work on Azure?) over the graph. Exits 1 on a failure, 0 when everything passes or is a reasoned exception.")
    scan.add_argument("--stack", "-s", required=True, help="stack name (stacks/Pulumi.<stack>.yaml)")
    scan.add_argument("--project-dir", type=Path, default=None,
                      help="folder with Pulumi.yaml (default: the current folder or a parent)")
    scan.add_argument("--format", "-f", choices=("text", "json"), default="text", help="report format")
    scan.add_argument("--checkov", default=None, metavar="PATH",
                      help="checkov executable (default: $AMLPLATFORM_CHECKOV, <project>/.venv-scan/bin/checkov, "
                           "then checkov on PATH)")
    scan.add_argument("--output", "-o", type=Path, default=None, help="also write the report to this file")
    scan.add_argument("--policy-pack-config", type=Path, default=None, metavar="FILE",
                      help="write the stack's exceptions as a `pulumi preview --policy-pack-config` file")
    scan.set_defaults(func=run_scan)


def run_scan(args: argparse.Namespace) -> int:
    from amlplatform.review.scan import scan_stack

    report = scan_stack(args.stack, project_dir=args.project_dir, checkov=args.checkov)
    text = json.dumps(report.to_dict(), indent=2) + "\n" if args.format == "json" else report.render()
    sys.stdout.write(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    if args.policy_pack_config is not None:
        from amlplatform.offline.engine import find_project_dir
        from amlplatform.review.arm import stack_exceptions
        from amlplatform.review.policies import policy_pack_config

        folder = args.project_dir or find_project_dir()
        config = policy_pack_config(stack_exceptions(args.stack, folder))
        args.policy_pack_config.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return 0 if report.ok else 1
