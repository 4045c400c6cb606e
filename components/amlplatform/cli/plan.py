"""``amlplatform plan`` and ``amlplatform schema``: what a stack declares, without a cloud.

``plan`` runs the project's real program under Pulumi's mock engine (see
:mod:`amlplatform.offline.engine`) and shows the resource tree, or writes the recorded graph
(``--format json``), an ARM template (``arm``), a picture (``svg``/``png``/``mermaid``), or the
difference to an earlier JSON plan (``--diff``). Pulumi is imported only when a command runs.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional

from amlplatform.errors import UserError
from amlplatform.review.text import render_text

FORMATS = ("text", "json", "arm", "svg", "png", "mermaid")
BINARY_FORMATS = ("png",)


def register(sub: "argparse._SubParsersAction") -> None:
    plan = sub.add_parser(
        "plan", help="show what a stack declares, offline (no cloud, no Pulumi CLI)",
        description="Evaluate the stack's program with Pulumi's mock engine and show what `pulumi up` "
                    "would create.")
    plan.add_argument("--stack", "-s", required=True, help="stack name (stacks/Pulumi.<stack>.yaml)")
    plan.add_argument("--project-dir", type=Path, default=None,
                      help="folder with Pulumi.yaml (default: the current folder or a parent)")
    plan.add_argument("--format", "-f", choices=FORMATS, default="text",
                      help="text tree (default), json graph, arm template, or a picture")
    plan.add_argument("--output", "-o", type=Path, default=None, help="write to this file instead of stdout")
    plan.add_argument("--diff", type=Path, default=None, metavar="EARLIER_JSON",
                      help="compare with an earlier `plan --format json` and list what changes")
    plan.add_argument("--fail-on-replace", action="store_true",
                      help="with --diff: exit 3 when a resource would be replaced")
    plan.set_defaults(func=run_plan)

    schema = sub.add_parser("schema", help="the JSON Schema of stack files, for editors")
    group = schema.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true",
                       help="rewrite the schema file shipped in the package and the README's configuration "
                            "reference (when run in the project)")
    group.add_argument("--check", action="store_true", help="exit 1 when the shipped schema is stale")
    schema.set_defaults(func=run_schema)


def run_schema(args: argparse.Namespace) -> int:
    from amlplatform.settings.stack import SCHEMA_PATH, schema_text

    text = schema_text()
    if args.write:
        from amlplatform.settings.reference import replace_block

        SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
        SCHEMA_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMA_PATH}")
        readme = Path.cwd() / "README.md"
        if readme.is_file():
            try:
                readme.write_text(replace_block(readme.read_text(encoding="utf-8")), encoding="utf-8")
                print(f"updated the configuration reference in {readme}")
            except ValueError as exc:
                print(f"left {readme} alone: {exc}", file=sys.stderr)
        return 0
    if args.check:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
        if current != text:
            print(f"{SCHEMA_PATH} is stale: run `amlplatform schema --write`", file=sys.stderr)
            return 1
        print(f"{SCHEMA_PATH} is up to date")
        return 0
    sys.stdout.write(text)
    return 0


def run_plan(args: argparse.Namespace) -> int:
    if args.fail_on_replace and args.diff is None:
        raise UserError("--fail-on-replace needs --diff EARLIER_JSON")
    earlier = _read_plan(args.diff) if args.diff is not None else None

    from amlplatform.offline.engine import evaluate_stack

    graph = evaluate_stack(args.stack, project_dir=args.project_dir)

    if earlier is not None:
        from amlplatform.review.diff import diff_plans

        result = diff_plans(earlier, graph)
        _emit(result.render(), args.output)
        return 3 if args.fail_on_replace and result.has_replacements else 0

    fmt = args.format
    if fmt == "text":
        from amlplatform.review.estimate import estimate

        _emit(render_text(graph) + "\n" + estimate(graph).summary() + "\n", args.output)
    elif fmt == "json":
        _emit(graph.to_json() + "\n", args.output)
    elif fmt == "arm":
        from amlplatform.review.arm import to_arm_template

        template = to_arm_template(graph, project_dir=args.project_dir)
        _emit(json.dumps(template, indent=2) + "\n", args.output)
    else:
        from amlplatform.review.diagram import render

        data = render(graph, fmt)
        output = args.output
        if output is None and fmt in BINARY_FORMATS:
            if sys.stdout.isatty():
                raise UserError(f"--format {fmt} writes binary data: pass --output FILE")
            sys.stdout.buffer.write(data)
            return 0
        _emit(data, output)
    return 0


def _read_plan(path: Path) -> Dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"--diff: no file {path}") from None
    except ValueError as exc:
        raise UserError(f"--diff: {path} is not JSON ({exc}); write it with `amlplatform plan --format json`") from None
    if not isinstance(data, dict) or not isinstance(data.get("resources"), list):
        raise UserError(f"--diff: {path} is not a plan: expected an object with a 'resources' list "
                        "(write it with `amlplatform plan --format json`)")
    return data


def _emit(data: Any, output: Optional[Path]) -> None:
    if output is None:
        sys.stdout.write(data.decode("utf-8") if isinstance(data, bytes) else data)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        output.write_bytes(data)
    else:
        output.write_text(data, encoding="utf-8")
    print(f"wrote {output}", file=sys.stderr)
