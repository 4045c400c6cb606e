"""``amlplatform preflight``: the subscription registrations a stack needs, and (with a subscription)
whether Azure says they are registered. Parsing and printing only: the logic is
:mod:`amlplatform.review.preflight`."""

import argparse
import json
import os
import sys
from pathlib import Path

from amlplatform.exit_codes import EXIT_FAILED, EXIT_OK

SUBSCRIPTION_ENV = "AZURE_SUBSCRIPTION_ID"


def register(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser(
        "preflight", help="the resource provider and preview feature registrations a stack's first deploy needs, "
                          "with the command that registers each; --subscription checks them on Azure",
        description="List every resource provider namespace and preview feature the stack's offline plan needs "
                    "(its resource types, plus what its features need: a customer-managed key, the Azure ML "
                    "extension, a managed network, host encryption, ...) with the az command that registers "
                    "each. Offline nothing is known about the subscription. With --subscription (or --check) "
                    "it reads the registration states from Azure Resource Manager and exits 1 when one is not "
                    "Registered.")
    p.add_argument("--stack", "-s", required=True, help="stack name: its file is Pulumi.<stack>.yaml in the project's stack config folder (Pulumi.yaml stackConfigDir, else the project folder); a stack without one is empty config")
    p.add_argument("--project-dir", type=Path, default=None,
                   help="folder with Pulumi.yaml (default: the current folder or a parent)")
    p.add_argument("--subscription", default=None, metavar="ID",
                   help="check the registrations in this subscription (an id); signs in with azure-identity's "
                        "DefaultAzureCredential (az login, a service principal's environment, a managed identity)")
    p.add_argument("--check", action="store_true",
                   help=f"check in the stack's subscription: the stack file's azure-native:subscriptionId, else "
                        f"${SUBSCRIPTION_ENV}")
    p.add_argument("--format", choices=("text", "json"), default="text", help="report format")
    p.set_defaults(func=run_preflight)


def run_preflight(args: argparse.Namespace) -> int:
    from amlplatform.errors import UserError
    from amlplatform.offline.engine import project_dir_arg
    from amlplatform.review import preflight

    folder = project_dir_arg(args.project_dir)
    subscription = args.subscription
    if args.check and subscription is None:
        subscription = preflight.stack_subscription(args.stack, folder) or os.environ.get(SUBSCRIPTION_ENV) or None
        if subscription is None:
            raise UserError(f"--check: stack {args.stack} names no subscription (azure-native:subscriptionId in its "
                            f"stack file) and ${SUBSCRIPTION_ENV} is not set: pass --subscription ID")
    report = preflight.preflight_stack(args.stack, project_dir=folder, subscription=subscription)
    sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n" if args.format == "json" else report.render())
    return EXIT_OK if report.ok else EXIT_FAILED
