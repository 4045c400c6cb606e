"""``amlplatform data|component|environment create|list|show``: the local asset store (``runs.assets``).

``create --file X.yml`` takes the YAML file ``az ml data|component|environment create --file`` takes (with
its ``--name``, ``--version`` and, as ``--registry``, its ``--registry-name``); local runs resolve a job's
``azureml:<name>:<version>`` / ``@latest`` / ``azureml://registries/...`` references from what it registers.
Parsing and printing only: the work is ``runs.assets``'s.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

KINDS = {
    "data": "data assets (uri_file, uri_folder, mltable)",
    "component": "components (command and pipeline components)",
    "environment": "environments (image, conda_file, build)",
}


def register(subparsers: Any) -> None:
    for kind, what in KINDS.items():
        group = subparsers.add_parser(kind, help=f"create, list and show local {what}",
                                      description=f"The local asset store's {what}: what 'az ml {kind} create "
                                      f"--file' registers in a workspace, for local runs of jobs that name them "
                                      f"(azureml:<name>:<version>, azureml:<name>@latest, "
                                      f"azureml://registries/<registry>/...).")
        sub = group.add_subparsers(dest=f"{kind}_command", metavar="COMMAND", required=True)
        create = sub.add_parser("create", help=f"register a {kind} version from the YAML file az ml {kind} create takes",
                                description=f"Register a {kind} version from FILE, validated as azure-ai-ml validates "
                                "it. Without a version: " + (
                                    "the latest version again if its content is equal, else the next whole number"
                                    if kind == "environment" else "the next whole number")
                                + ". An existing version is never changed: equal content is the same version, other "
                                "content is refused.")
        create.add_argument("--file", "-f", required=True, type=Path, help=f"the {kind} YAML file")
        create.add_argument("--name", "-n", help="overrides the file's name")
        create.add_argument("--version", "-v", help="overrides the file's version")
        _flags(create)
        create.set_defaults(func=cmd_create, kind=kind)
        lst = sub.add_parser("list", help=f"list {kind} assets, or the versions of one")
        lst.add_argument("name", nargs="?", help="an asset name: list its versions (oldest first)")
        _flags(lst)
        lst.set_defaults(func=cmd_list, kind=kind)
        show = sub.add_parser("show", help=f"one {kind} version")
        show.add_argument("ref", help="name:version, name@latest, a name (its latest) or an azureml: reference")
        _flags(show)
        show.set_defaults(func=cmd_show, kind=kind)


def _flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", metavar="NAME",
                        help="the local copy of an Azure ML registry (azureml://registries/NAME/...); az ml's --registry-name")
    parser.add_argument("--assets-dir", type=Path, help="the local asset store (default .amlplatform/assets, "
                        "$AMLPLATFORM_ASSETS_DIR)")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")


def cmd_create(args: argparse.Namespace) -> int:
    from amlplatform.runs.assets import create_asset

    rec = create_asset(args.kind, args.file, name=args.name, version=args.version, registry=args.registry,
                       assets_dir=args.assets_dir)
    if args.json:
        print(json.dumps(rec, indent=2))
        return 0
    verb = "registered" if rec["created"] else "already registered (same content)"
    print(f"{args.kind} {rec['name']}:{rec['version']} {verb}: {rec['id']}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from amlplatform.runs.assets import list_assets

    rows = list_assets(args.kind, args.name, registry=args.registry, assets_dir=args.assets_dir)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no {args.kind} assets" + (f" named {args.name!r}" if args.name else ""), file=sys.stderr)
        return 0
    for r in rows:
        detail = r.get("data", {}).get("type") if args.kind == "data" else (r.get("summary") or {}).get("type", "")
        print(f"{r['name']}:{r['version']}\t{detail or ''}\t{r.get('created_at', '')}\t{r.get('description') or ''}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from amlplatform.runs.assets import show_asset

    rec = show_asset(args.kind, args.ref, registry=args.registry, assets_dir=args.assets_dir)
    print(json.dumps(rec, indent=2))
    return 0
