"""``amlplatform plan`` and ``amlplatform schema``: what a stack declares, without a cloud.

``plan`` runs the project's real program under Pulumi's mock engine (see
:mod:`amlplatform.offline.engine`) and shows the resource tree, or writes the recorded graph
(``--format json``), an ARM template (``arm``), a picture (``svg``/``png``/``mermaid``), or the
difference to an earlier JSON plan (``--diff``). Pulumi is imported only when a command runs.
"""

import argparse
import json
import os
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
    plan.add_argument("--stack", "-s", required=True, help="stack name: its file is Pulumi.<stack>.yaml in the project's stack config folder (Pulumi.yaml stackConfigDir, else the project folder); a stack without one is empty config")
    plan.add_argument("--project-dir", type=Path, default=None,
                      help="folder with Pulumi.yaml (default: the current folder or a parent)")
    plan.add_argument("--format", choices=FORMATS, default="text",
                      help="text tree (default), json graph, arm template, or a picture")
    plan.add_argument("--output", "-o", type=Path, default=None,
                      help="write to this file instead of stdout (a new file in an existing folder; never a "
                           "stack file or the program)")
    plan.add_argument("--force", action="store_true", help="with --output: replace an existing file")
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
    if args.force and args.output is None:
        raise UserError("--force needs --output FILE")
    if args.diff is not None and args.format != "text":
        raise UserError(f"--diff writes a list of changes: it cannot be combined with --format {args.format}")
    from amlplatform.offline.engine import evaluate_stack, project_dir_arg

    project_dir = project_dir_arg(args.project_dir)
    if args.output is not None:
        if args.diff is not None and args.output.resolve() == args.diff.resolve():
            raise UserError(f"--output: {args.output} is the --diff input: an output never replaces an input")
        check_output(args.output, project_dir=project_dir, force=args.force)
    earlier = _read_plan(args.diff) if args.diff is not None else None
    args.project_dir = project_dir

    graph = evaluate_stack(args.stack, project_dir=project_dir)

    if earlier is not None:
        from amlplatform.review.diff import diff_plans

        result = diff_plans(earlier, graph)
        _emit(result.render(), args.output)
        from amlplatform.cli import EXIT_REPLACEMENT

        return EXIT_REPLACEMENT if args.fail_on_replace and result.has_replacements else 0

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


_PLAN_HINT = "(write it with `amlplatform plan --format json`)"
# what review.diff reads of each earlier resource, and the type it must have
_RESOURCE_FIELDS = {"urn": str, "name": str, "type": str}
_OPTIONAL_FIELDS = {"inputs": dict, "custom": bool, "protect": bool, "ignore_changes": list}


def _read_plan(path: Path) -> Dict[str, Any]:
    """An earlier ``plan --format json``, its shape checked: :class:`UserError` naming the first bad field."""
    try:
        if path.is_dir():
            raise UserError(f"--diff: {path} is a folder, not a plan file")
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except FileNotFoundError:
        raise UserError(f"--diff: no file {path}") from None
    except PermissionError:
        raise UserError(f"--diff: {path}: permission denied") from None
    except UnicodeDecodeError:
        raise UserError(f"--diff: {path} is not UTF-8 text {_PLAN_HINT}") from None
    except ValueError as exc:
        raise UserError(f"--diff: {path} is not JSON ({exc}) {_PLAN_HINT}") from None
    if not isinstance(data, dict) or not isinstance(data.get("resources"), list):
        raise UserError(f"--diff: {path} is not a plan: expected an object with a 'resources' list {_PLAN_HINT}")
    for key in ("stack", "project"):
        if key in data and not isinstance(data[key], str):
            raise UserError(f"--diff: {path}: '{key}' must be text {_PLAN_HINT}")
    for i, res in enumerate(data["resources"]):
        where = f"--diff: {path}: resources[{i}]"
        if not isinstance(res, dict):
            raise UserError(f"{where} must be an object {_PLAN_HINT}")
        for key, kind in _RESOURCE_FIELDS.items():
            if not isinstance(res.get(key), kind):
                raise UserError(f"{where}.{key} must be {kind.__name__}, got {type(res.get(key)).__name__} "
                                f"{_PLAN_HINT}")
        for key, kind in _OPTIONAL_FIELDS.items():
            if res.get(key) is not None and not isinstance(res[key], kind):
                raise UserError(f"{where}.{key} must be {kind.__name__}, got {type(res[key]).__name__} "
                                f"{_PLAN_HINT}")
        if not all(isinstance(x, str) for x in res.get("ignore_changes") or []):
            raise UserError(f"{where}.ignore_changes must be a list of text {_PLAN_HINT}")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _inputs_of(project_dir: Optional[Path]) -> Dict[Path, str]:
    """Files an output must never replace: Pulumi.yaml, every stack file, the program's folder."""
    from amlplatform.offline.engine import _project_file

    out: Dict[Path, str] = {}
    if project_dir is None:
        return out
    root = project_dir.resolve()
    out[root / "Pulumi.yaml"] = "the project file"
    try:
        doc = _project_file(project_dir)
    except UserError:
        return out
    config_dir = (root / doc.get("stackConfigDir", ".")).resolve()
    for path in config_dir.glob("Pulumi.*.yaml"):
        out[path.resolve()] = "a stack file"
    main = (root / doc.get("main", ".")).resolve()
    if main.is_dir():
        if main != root:
            out[main] = "the program's folder"
        for path in main.glob("*.py"):
            out[path.resolve()] = "the program"
    else:
        out[main] = "the program"
    return out


def check_output(output: Path, *, project_dir: Optional[Path], force: bool, flag: str = "--output") -> None:
    """Refuse an output that would replace an input (the project file, a stack file, the program),
    an existing file without ``--force``, a folder, or a file in a folder that does not exist."""
    resolved = output.resolve()
    what = _inputs_of(project_dir).get(resolved)
    if what is None and resolved.name.startswith("Pulumi.") and resolved.suffix in (".yaml", ".yml"):
        what = "a Pulumi project or stack file"
    if what:
        raise UserError(f"{flag}: {output} is {what}: an output never replaces an input; choose another file")
    if output.is_dir():
        raise UserError(f"{flag}: {output} is a folder; name a file in it")
    if output.exists() and not force:
        raise UserError(f"{flag}: {output} exists; pass --force to replace it")
    if output.exists() and not output.is_file():
        raise UserError(f"{flag}: {output} is not a regular file")
    parent = resolved.parent
    if not parent.is_dir():
        raise UserError(f"{flag}: the folder {output.parent} does not exist (it is not created for you)")
    if not os.access(parent, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise UserError(f"{flag}: cannot write {output}: permission denied")


def write_output(data: Any, output: Path, flag: str = "--output") -> None:
    """Write ``data`` to ``output`` whole or not at all (a temporary file renamed into place)."""
    payload = data if isinstance(data, bytes) else data.encode("utf-8")
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(payload)
        os.replace(tmp, output)
    except OSError as exc:
        raise UserError(f"{flag}: cannot write {output}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _emit(data: Any, output: Optional[Path]) -> None:
    if output is None:
        sys.stdout.write(data.decode("utf-8") if isinstance(data, bytes) else data)
        return
    write_output(data, output)
    print(f"wrote {output}", file=sys.stderr)
