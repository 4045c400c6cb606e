"""Which workspace a run goes to: coordinates taken from the stack's outputs, never hand-copied ids.

Sources, first match wins:

0. a workspace named directly, as ``az ml`` takes it: ``-g/--resource-group`` and
   ``-w/--workspace-name`` (each may come from ``AMLPLATFORM_RESOURCE_GROUP`` / ``AMLPLATFORM_WORKSPACE``
   when the other is given), the subscription from ``--subscription``, ``AMLPLATFORM_SUBSCRIPTION_ID``
   or ``AZURE_SUBSCRIPTION_ID`` (computes are then addressed by name under that workspace);
1. an outputs file given explicitly (``--outputs-file``: JSON as ``pulumi stack output --json`` writes it);
2. ``--stack`` with the Pulumi CLI on PATH: ``pulumi stack output --json -s <stack>`` run in the
   Pulumi project folder (the current directory or the nearest parent holding ``Pulumi.yaml``);
3. ``AMLPLATFORM_OUTPUTS_FILE`` (an exported outputs file);
4. ``AMLPLATFORM_SUBSCRIPTION_ID`` + ``AMLPLATFORM_RESOURCE_GROUP`` + ``AMLPLATFORM_WORKSPACE``
   (optionally ``AMLPLATFORM_LOCATION``).

Outputs read (the names the stack program exports): ``workspace_id`` (required, the ARM id of the
workspace), ``workspace_name``, ``resource_group_name``, ``location``, ``mlflow_tracking_uri``,
``discovery_url``, ``compute_ids`` (cluster name -> ARM id).

This module imports only the standard library (it runs on every ``amlplatform submit``).
"""

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from amlplatform.errors import UserError

ENV_SUBSCRIPTION = "AMLPLATFORM_SUBSCRIPTION_ID"
ENV_RESOURCE_GROUP = "AMLPLATFORM_RESOURCE_GROUP"
ENV_WORKSPACE = "AMLPLATFORM_WORKSPACE"
ENV_LOCATION = "AMLPLATFORM_LOCATION"
ENV_OUTPUTS_FILE = "AMLPLATFORM_OUTPUTS_FILE"
ENV_AZURE_SUBSCRIPTION = "AZURE_SUBSCRIPTION_ID"  # the Azure SDKs' and azd's variable
PULUMI_TIMEOUT_SECONDS = 120

_PROVIDER = "Microsoft.MachineLearningServices"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Azure naming rules: resource group 1-90 of letters, digits, _ - . ( ) not ending in '.';
# workspace 3-33 letters, digits, _ and -, starting with a letter or digit.
_RESOURCE_GROUP = re.compile(r"^[-\w.()]{0,89}[-\w()]$")
_WORKSPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,32}$")
_COMPUTE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,31}$")
_WORKSPACE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)/?$",
    re.IGNORECASE,
)
_COMPUTE_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/[^/]+/computes/(?P<name>[^/]+)$",
    re.IGNORECASE,
)


@dataclass
class WorkspaceCoordinates:
    """Where the workspace is: enough to build every ARM URL of the REST sequence."""

    subscription_id: str
    resource_group: str
    workspace_name: str
    location: Optional[str] = None
    mlflow_tracking_uri: Optional[str] = None
    compute_ids: dict[str, str] = field(default_factory=dict)
    source: str = ""  # where the coordinates came from (shown to the user), e.g. "stack dev"

    def __post_init__(self) -> None:
        problems = check_names(self.subscription_id, self.resource_group, self.workspace_name)
        if problems:
            raise UserError("workspace coordinates are not valid:", problems)

    @property
    def workspace_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{_PROVIDER}/workspaces/{self.workspace_name}"
        )

    def compute_id(self, name: str) -> str:
        """ARM id of a compute: the stack's own output when it exports one, else built from the workspace id.

        A name the stack does not export (a compute made in the studio or by another stack) is addressed
        under the workspace, as azure-ai-ml does (``JobOperations._resolve_compute_id`` ->
        ``OperationOrchestrator.get_asset_arm_id``: a compute is a NAMED_TYPE, formatted as
        ``<workspace id>/computes/<name>`` without a look-up); the service answers
        a name that does not exist when the job is created. A full ARM id is used as given.
        ``serverless`` stays the literal azure-ai-ml sends (the service picks the machines)."""
        if name.lower() == "serverless":
            return "serverless"
        if name in self.compute_ids:
            return self.compute_ids[name]
        if name.lower().startswith("/subscriptions/") and "/computes/" in name.lower():
            return name
        if not _COMPUTE.match(name):
            raise UserError(f"compute name {name!r} is not a valid Azure ML compute name")
        return f"{self.workspace_id}/computes/{name}"


def check_names(subscription_id: str, resource_group: str, workspace_name: str) -> list[str]:
    problems = []
    if not isinstance(subscription_id, str) or not _GUID.match(subscription_id):
        problems.append(f"subscription id: must be a GUID, got {subscription_id!r}")
    if not isinstance(resource_group, str) or not _RESOURCE_GROUP.match(resource_group):
        problems.append(
            f"resource group: must be 1-90 letters, digits, '_', '-', '.', '(' or ')' not ending in '.', got {resource_group!r}"
        )
    if not isinstance(workspace_name, str) or not _WORKSPACE.match(workspace_name):
        problems.append(
            f"workspace name: must be 3-33 letters, digits, '_' or '-' starting with a letter or digit, got {workspace_name!r}"
        )
    return problems


def parse_workspace_id(value: Any, *, what: str = "workspace_id") -> tuple[str, str, str]:
    """``/subscriptions/S/resourceGroups/RG/providers/Microsoft.MachineLearningServices/workspaces/W`` -> (S, RG, W)."""
    if not isinstance(value, str):
        raise UserError(f"{what}: must be the ARM id of an Azure ML workspace, got {value!r}")
    m = _WORKSPACE_ID.match(value.strip())
    if not m:
        raise UserError(
            f"{what}: must look like /subscriptions/<guid>/resourceGroups/<rg>/providers/"
            f"{_PROVIDER}/workspaces/<name>, got {value!r}"
        )
    return m.group("sub"), m.group("rg"), m.group("ws")


def coordinates_from_outputs(outputs: Any, *, source: str) -> WorkspaceCoordinates:
    """Turn stack outputs (a JSON object) into coordinates; a bad or missing key gives a UserError naming it."""
    if not isinstance(outputs, Mapping):
        raise UserError(f"{source}: expected a JSON object of stack outputs, got {type(outputs).__name__}")
    if "workspace_id" not in outputs:
        keys = ", ".join(sorted(map(str, outputs))) or "none"
        raise UserError(
            f"{source}: the stack outputs have no 'workspace_id' (keys found: {keys}); "
            "is this the output of an amlplatform stack?"
        )
    sub, rg, ws = parse_workspace_id(outputs["workspace_id"], what=f"{source}: workspace_id")
    problems = []
    for key, expected in (("workspace_name", ws), ("resource_group_name", rg)):
        got = outputs.get(key)
        if got is not None and (not isinstance(got, str) or got.lower() != expected.lower()):
            problems.append(f"{key}: {got!r} does not match workspace_id ({expected!r})")
    location = outputs.get("location")
    if location is not None and not isinstance(location, str):
        problems.append(f"location: must be text, got {location!r}")
    tracking = outputs.get("mlflow_tracking_uri")
    if tracking is not None and not isinstance(tracking, str):
        problems.append(f"mlflow_tracking_uri: must be text, got {tracking!r}")
    computes = outputs.get("compute_ids") or {}
    compute_ids: dict[str, str] = {}
    if not isinstance(computes, Mapping):
        problems.append(f"compute_ids: must map cluster names to ARM ids, got {computes!r}")
    else:
        for name, arm_id in computes.items():
            m = _COMPUTE_ID.match(arm_id) if isinstance(arm_id, str) else None
            if not m:
                problems.append(f"compute_ids.{name}: must be the ARM id of a workspace compute, got {arm_id!r}")
            else:
                compute_ids[str(name)] = arm_id
    if problems:
        raise UserError(f"{source}: the stack outputs are not valid:", problems)
    return WorkspaceCoordinates(
        subscription_id=sub,
        resource_group=rg,
        workspace_name=ws,
        location=location,
        mlflow_tracking_uri=tracking,
        compute_ids=compute_ids,
        source=source,
    )


def read_outputs_file(path: Path) -> WorkspaceCoordinates:
    path = Path(path).expanduser()
    source = f"outputs file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{source} does not exist (write it with: pulumi stack output --json > {path.name})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{source} cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    return coordinates_from_outputs(data, source=source)


def find_project_dir(start: Path) -> Optional[Path]:
    """The current directory or the nearest parent holding a ``Pulumi.yaml``."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / "Pulumi.yaml").is_file() or (folder / "Pulumi.yml").is_file():
            return folder
    return None


def read_stack_outputs(stack: str, *, cwd: Path, pulumi: str) -> WorkspaceCoordinates:
    """Run ``pulumi stack output --json -s <stack>`` in the project folder and read the workspace from it."""
    project = find_project_dir(cwd)
    if project is None:
        raise UserError(
            f"--stack {stack}: no Pulumi.yaml in {Path(cwd).resolve()} or its parents; run from the "
            "platform project folder or pass --outputs-file"
        )
    argv = [pulumi, "stack", "output", "--json", "--non-interactive", "-s", stack]
    try:
        proc = subprocess.run(
            argv, cwd=project, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"'pulumi stack output' for stack {stack} did not answer within {PULUMI_TIMEOUT_SECONDS} s") from None
    except OSError as exc:
        raise UserError(f"could not run the Pulumi CLI ({pulumi}): {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:]
        raise UserError(
            f"'pulumi stack output --json -s {stack}' failed (exit {proc.returncode}) in {project}"
            + (":\n    " + "\n    ".join(tail) if tail else "")
        )
    try:
        data = json.loads(proc.stdout or "")
    except json.JSONDecodeError:
        raise UserError(f"'pulumi stack output --json -s {stack}' did not print JSON") from None
    return coordinates_from_outputs(data, source=f"stack {stack}")


def resolve_coordinates(
    *,
    stack: Optional[str],
    outputs_file: Optional[Path],
    env: Mapping[str, str],
    cwd: Path,
    resource_group: Optional[str] = None,
    workspace_name: Optional[str] = None,
    subscription_id: Optional[str] = None,
) -> WorkspaceCoordinates:
    """Find the workspace to submit to (see the module docstring for the order of sources)."""
    if resource_group or workspace_name:
        return named_workspace(resource_group=resource_group, workspace_name=workspace_name,
                               subscription_id=subscription_id, env=env, other=(
                                   "--stack" if stack else "--outputs-file" if outputs_file is not None else None))
    if subscription_id:
        raise UserError("--subscription goes with -g/--resource-group and -w/--workspace-name (the stack outputs "
                        "already name the subscription)")
    if outputs_file is not None:
        return read_outputs_file(Path(outputs_file) if Path(outputs_file).is_absolute() else Path(cwd) / outputs_file)

    pulumi = None
    if stack:
        pulumi = shutil.which("pulumi", path=env.get("PATH", os.defpath))
        if pulumi is not None:
            return read_stack_outputs(stack, cwd=Path(cwd), pulumi=pulumi)

    env_file = env.get(ENV_OUTPUTS_FILE)
    if env_file:
        path = Path(env_file).expanduser()
        return read_outputs_file(path if path.is_absolute() else Path(cwd) / path)

    trio = {k: (env.get(k) or "").strip() for k in (ENV_SUBSCRIPTION, ENV_RESOURCE_GROUP, ENV_WORKSPACE)}
    if all(trio.values()):
        return WorkspaceCoordinates(
            subscription_id=trio[ENV_SUBSCRIPTION],
            resource_group=trio[ENV_RESOURCE_GROUP],
            workspace_name=trio[ENV_WORKSPACE],
            location=(env.get(ENV_LOCATION) or None),
            source="environment variables",
        )

    missing = [k for k, v in trio.items() if not v]
    hints = []
    if stack and pulumi is None:
        hints.append(f"--stack {stack} needs the Pulumi CLI, which is not on PATH")
    if any(trio.values()):
        hints.append("set but incomplete: " + ", ".join(missing) + " missing")
    raise UserError(
        "no workspace coordinates: pass --outputs-file (from 'pulumi stack output --json'), or install the "
        f"Pulumi CLI and pass --stack, or set {ENV_OUTPUTS_FILE}, or set {ENV_SUBSCRIPTION}, "
        f"{ENV_RESOURCE_GROUP} and {ENV_WORKSPACE}",
        hints,
    )


def named_workspace(*, resource_group: Optional[str], workspace_name: Optional[str], subscription_id: Optional[str],
                    env: Mapping[str, str], other: Optional[str] = None) -> WorkspaceCoordinates:
    """The workspace ``-g RG -w WS`` names, as ``az ml ... -g -w`` does (see the module docstring, source 0)."""
    if other:
        raise UserError(f"-g/--resource-group and -w/--workspace-name name the workspace themselves; "
                        f"they do not go with {other}")
    rg = (resource_group or env.get(ENV_RESOURCE_GROUP) or "").strip()
    ws = (workspace_name or env.get(ENV_WORKSPACE) or "").strip()
    sub = (subscription_id or env.get(ENV_SUBSCRIPTION) or env.get(ENV_AZURE_SUBSCRIPTION) or "").strip()
    missing = []
    if not rg:
        missing.append(f"the resource group (-g/--resource-group or {ENV_RESOURCE_GROUP})")
    if not ws:
        missing.append(f"the workspace (-w/--workspace-name or {ENV_WORKSPACE})")
    if not sub:
        missing.append(f"the subscription (--subscription, {ENV_SUBSCRIPTION} or {ENV_AZURE_SUBSCRIPTION})")
    if missing:
        raise UserError("which workspace? missing " + "; ".join(missing))
    return WorkspaceCoordinates(subscription_id=sub, resource_group=rg, workspace_name=ws,
                                location=(env.get(ENV_LOCATION) or None),
                                source=f"-g {rg} -w {ws}")
