"""Evaluate a Pulumi program offline and record what it declares.

The real program runs under Pulumi's mock engine (``pulumi.runtime.set_mocks``); only the cloud
control plane is mocked. A small monitor subclass records every registration as the engine
would receive it: type, logical name, URN, parent, inputs (wire names), dependencies, protect.
The mocks answer the way ARM would: ids in ARM's shape (built from the resource's path, with an
offline subscription), and invokes (the deployer's identity, kubeconfigs). The program runs as a
preview: outputs a create computes (login servers, principal ids, discovery URLs) are unknown, as
`pulumi preview` shows them, and the recorded graph shows them as ``(known after deploy)``
(docs/honest-plan.md).

Used by the tests and by ``amlplatform plan``.
"""

import asyncio
import atexit
import base64
import contextlib
import gc
import json
import weakref
import runpy
import sys
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc as pulumi_rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from amlplatform.errors import UserError
from amlplatform.offline import armtypes

# What the mock control plane answers for "who is deploying" (authorization.getClientConfig).
OFFLINE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
OFFLINE_TENANT = "00000000-0000-0000-0000-0000000000aa"
OFFLINE_CLIENT = "00000000-0000-0000-0000-0000000000cc"

# Sentinels of Pulumi's wire format (sdk/proto: rpc.py)
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET = "[secret]"
UNKNOWN = armtypes.UNKNOWN  # "(known after deploy)": see armtypes
unknown_part = armtypes.unknown_part


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: Optional[str]
    inputs: Dict[str, Any]
    dependencies: List[str]
    property_dependencies: Dict[str, List[str]]
    protect: bool
    ignore_changes: List[str]
    provider: Optional[str]
    id: Optional[str] = None
    retain_on_delete: bool = False
    replace_on_changes: List[str] = field(default_factory=list)  # what `pulumi preview` shows as a replacement

    @property
    def physical_name(self) -> Optional[str]:
        arm = armtypes.lookup(self.type)
        if arm is not None:
            value = self.inputs.get(arm.name_input)
            return value if isinstance(value, str) else None
        meta = self.inputs.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            return meta["name"]
        return None


@dataclass
class Graph:
    project: str
    stack: str
    resources: List[RecordedResource]
    outputs: Dict[str, Any] = field(default_factory=dict)
    # URNs that called register_outputs (not part of the JSON form)
    outputs_registered: List[str] = field(default_factory=list, compare=False, repr=False)
    # URN -> the earlier URNs its aliases (own and inherited from its parents) claim, as the engine
    # computes them (not part of the JSON form)
    aliases: Dict[str, List[str]] = field(default_factory=dict, compare=False, repr=False)

    def by_urn(self) -> Dict[str, RecordedResource]:
        return {r.urn: r for r in self.resources}

    def of_type(self, type_: str) -> List[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> RecordedResource:
        found = self.of_type(type_)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_}, found {len(found)}")
        return found[0]

    def named(self, name: str) -> RecordedResource:
        for r in self.resources:
            if r.name == name:
                return r
        raise KeyError(name)

    def custom_resources(self) -> List[RecordedResource]:
        return [r for r in self.resources if r.custom]

    def resource_dependencies(self, res: RecordedResource) -> List[str]:
        """URNs of the custom resources ``res`` waits for (component dependencies expanded)."""
        by_urn = self.by_urn()
        children: Dict[str, List[str]] = {}
        for r in self.resources:
            if r.parent:
                children.setdefault(r.parent, []).append(r.urn)

        out: List[str] = []

        def expand(urn: str) -> None:
            target = by_urn.get(urn)
            if target is None:
                return
            if target.custom:
                if urn not in out:
                    out.append(urn)
            else:
                for c in children.get(urn, []):
                    expand(c)

        for dep in res.dependencies:
            expand(dep)
        return out

    def to_dict(self) -> Dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "resources": [asdict(r) for r in self.resources],
            "outputs": self.outputs,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Graph":
        return cls(project=data["project"], stack=data["stack"],
                   resources=[RecordedResource(**r) for r in data["resources"]],
                   outputs=dict(data.get("outputs") or {}))


def plain(value: Any) -> Any:
    """Wire values (protobuf Struct as JSON) as plain JSON: secrets masked, references as URNs,
    whole floats as integers."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            return SECRET
        if sig == _RESOURCE_SIG:
            return value.get("urn")
        if sig == _OUTPUT_SIG:
            if value.get("secret"):
                return SECRET
            return plain(value.get("value", UNKNOWN))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == _UNKNOWN:
        return UNKNOWN
    return value


# ------------------------------------------------------------------------- the mock control plane

# libyaml when PyYAML has it (10x faster than the pure-Python safe loader; same safe subset)
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

def _uuid_for(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "amlplatform-offline:" + "/".join(parts)))


def _kubeconfig(cluster: str) -> str:
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": cluster,
        "clusters": [{"name": cluster, "cluster": {"server": f"https://{cluster}.hcp.offline.azmk8s.io:443"}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": "offline"}}],
        "users": [{"name": "offline", "user": {"token": "offline"}}],
    }
    return yaml.dump(doc, Dumper=_YAML_DUMPER)


def _workspace_outputs(inputs: Dict[str, Any], rid: str) -> Dict[str, Any]:
    location = inputs.get("location", "westeurope")
    out = {
        "discoveryUrl": f"https://{location}.api.azureml.ms/discovery",
        "mlFlowTrackingUri": f"azureml://{location}.api.azureml.ms/mlflow/v1.0{rid}",
        "workspaceId": _uuid_for(rid),
    }
    identity = dict(inputs.get("identity") or {})
    if "SystemAssigned" in str(identity.get("type", "")):
        identity["principalId"] = _uuid_for(rid, "principal")
        identity["tenantId"] = OFFLINE_TENANT
    out["identity"] = identity
    return out


def _cluster_outputs(inputs: Dict[str, Any], rid: str) -> Dict[str, Any]:
    name = inputs.get("resourceName", "cluster")
    identity = dict(inputs.get("identity") or {})
    identity["principalId"] = _uuid_for(rid, "principal")
    identity["tenantId"] = OFFLINE_TENANT
    return {
        "identity": identity,
        "fqdn": f"{name}.hcp.offline.azmk8s.io",
        "identityProfile": {"kubeletidentity": {"objectId": _uuid_for(rid, "kubelet")}},
        "oidcIssuerProfile": {"issuerURL": f"https://offline.oic.prod-aks.azure.com/{_uuid_for(rid)}/"},
    }


def _compute_outputs(inputs: Dict[str, Any], rid: str) -> Dict[str, Any]:
    identity = dict(inputs.get("identity") or {})
    if not identity:
        return {}
    if "SystemAssigned" in str(identity.get("type", "")):
        identity["principalId"] = _uuid_for(rid, "principal")
        identity["tenantId"] = OFFLINE_TENANT
    return {"identity": identity}


# token -> extra outputs the service computes, given (inputs, resource id)
COMPUTED_OUTPUTS: Dict[str, Callable[[Dict[str, Any], str], Dict[str, Any]]] = {
    "azure-native:containerregistry:Registry":
        lambda i, rid: {"loginServer": f"{str(i.get('registryName', 'registry')).lower()}.azurecr.io"},
    "azure-native:machinelearningservices:Workspace": _workspace_outputs,
    "azure-native:containerservice:ManagedCluster": _cluster_outputs,
    "azure-native:applicationinsights:Component":
        lambda i, rid: {"instrumentationKey": _uuid_for(rid), "connectionString": SECRET},
    "azure-native:managedidentity:UserAssignedIdentity":
        lambda i, rid: {"principalId": _uuid_for(rid, "principal"), "clientId": _uuid_for(rid, "client"),
                        "tenantId": OFFLINE_TENANT},
    "azure-native:machinelearningservices:Compute": _compute_outputs,
    # an online endpoint's system-assigned identity (its telemetry role names the principal)
    "azure-native:machinelearningservices:OnlineEndpoint": _compute_outputs,
    "azure-native:keyvault:Key":
        lambda i, rid: {"keyUri": f"https://{i.get('vaultName')}.vault.azure.net/keys/{i.get('keyName')}",
                        "keyUriWithVersion": f"https://{i.get('vaultName')}.vault.azure.net/keys/{i.get('keyName')}/"
                                             + _uuid_for(rid, "version").replace("-", "")},
    "azure-native:kubernetesconfiguration:Extension":
        lambda i, rid: {"aksAssignedIdentity": {"principalId": _uuid_for(rid, "aks-identity"),
                                                "tenantId": OFFLINE_TENANT, "type": "SystemAssigned"},
                        "currentVersion": "1.1.0", "provisioningState": "Succeeded"},
}

# invoke token -> answer
INVOKES: Dict[str, Callable[[Dict[str, Any]], Dict[str, Any]]] = {
    "azure-native:authorization:getClientConfig": lambda args: {
        "clientId": OFFLINE_CLIENT, "objectId": OFFLINE_CLIENT,
        "subscriptionId": OFFLINE_SUBSCRIPTION, "tenantId": OFFLINE_TENANT},
    "azure-native:containerservice:listManagedClusterUserCredentials": lambda args: {
        "kubeconfigs": [{"name": "clusterUser",
                         "value": base64.b64encode(_kubeconfig(args.get("resourceName", "cluster")).encode()).decode()}]},
    "azure-native:containerservice:listManagedClusterAdminCredentials": lambda args: {
        "kubeconfigs": [{"name": "clusterAdmin",
                         "value": base64.b64encode(_kubeconfig(args.get("resourceName", "cluster")).encode()).decode()}]},
}


# Outputs of COMPUTED_OUTPUTS that are no value Azure computes: the resource's type as it answers it
_ECHOED_OUTPUTS = {"type"}


def _known_after_deploy(extra: Any, inputs: Any) -> Any:
    """``extra`` (outputs a create computes) with every value that is not an echo of ``inputs`` made
    Pulumi's unknown (the engine's preview answer for a create): what the program derives from them
    (a role assignment's GUID from a principal id) is then unknown too, as in `pulumi preview`."""
    if isinstance(extra, dict):
        given = inputs if isinstance(inputs, dict) else {}
        return {k: v if k in _ECHOED_OUTPUTS else _known_after_deploy(v, given.get(k)) for k, v in extra.items()}
    if extra == inputs:
        return extra
    return _UNKNOWN


class OfflineMocks(pulumi.runtime.Mocks):
    """The cloud control plane, answered offline.

    With ``known_after_deploy`` (the default; what ``evaluate`` runs as a preview), every output a
    create computes (COMPUTED_OUTPUTS: principal and client ids, workspace ids, endpoint URIs, login
    servers, key versions) is unknown, as `pulumi preview` shows it; without it the mocks answer
    made-up values in Azure's shape (for tests of code that needs a value there).
    """

    def __init__(self, subscription: str = OFFLINE_SUBSCRIPTION, known_after_deploy: bool = True) -> None:
        self.subscription = subscription
        self.known_after_deploy = known_after_deploy
        self.unanswered_invokes: List[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        arm = armtypes.lookup(args.typ)
        rid = arm.resource_id(inputs, self.subscription) if arm else None
        if rid is None and arm is not None and self.known_after_deploy:
            # a part of the id is known only after deploy (a role assignment's GUID from a principal id
            # Azure makes): the id says so, and stays unique by the logical name
            rid = arm.resource_id({**{k: unknown_part(args.name) for k in armtypes.placeholders(arm)},
                                   **{k: v for k, v in inputs.items() if isinstance(v, str)}}, self.subscription)
        if rid is None:
            if args.typ.startswith("kubernetes:"):
                meta = inputs.get("metadata") or {}
                rid = "/".join(p for p in (meta.get("namespace"), meta.get("name") or args.name) if p)
            else:
                rid = f"{args.name}-id"
        state = dict(inputs)
        if arm is not None and args.typ not in armtypes.DATA_PLANE:
            state.setdefault("name", inputs.get(arm.name_input, args.name))
            state["type"] = arm.arm_type
        elif arm is not None:
            # a data-plane resource's "type" is its own (a blob's Block/Append), not an ARM type
            state.setdefault("name", inputs.get(arm.name_input, args.name))
        extra = COMPUTED_OUTPUTS.get(args.typ)
        computed: Dict[str, Any] = dict(extra(inputs, rid)) if extra is not None else {}
        identity = computed.get("identity", state.get("identity"))
        if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
            # inputs list the identity ids; ARM answers a map id -> {principalId, clientId}
            computed["identity"] = {**identity, "userAssignedIdentities": {
                uid: {"principalId": _uuid_for(str(uid), "principal"), "clientId": _uuid_for(str(uid), "client")}
                for uid in identity["userAssignedIdentities"]}}
        if self.known_after_deploy:
            computed = _known_after_deploy(computed, inputs)
        state.update(computed)
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        answer = INVOKES.get(args.token)
        if answer is None:
            self.unanswered_invokes.append(args.token)
            return {}
        return answer(dict(args.args))


# Event loops that Pulumi's worker threads create for the mock monitor. Left to the garbage
# collector they are closed during interpreter shutdown, which prints "Exception ignored"
# tracebacks; closing them at exit is clean.
_THREAD_LOOPS: "weakref.WeakSet[asyncio.AbstractEventLoop]" = weakref.WeakSet()


@atexit.register
def _close_thread_loops() -> None:
    for loop in list(_THREAD_LOOPS):
        if not loop.is_closed() and not loop.is_running():
            loop.close()


def _remember_loop() -> None:
    try:
        _THREAD_LOOPS.add(asyncio.get_event_loop())
    except RuntimeError:
        pass


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps every registration, in order, as the engine would see it."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: List[RecordedResource] = []
        self.outputs_registered: List[str] = []
        self.alias_urns: Dict[str, List[str]] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """URNs as the real engine makes them: the parent's whole qualified type chain, without
        the root stack (Pulumi's mock monitor keeps only the parent's last type and includes the
        stack), so the URNs pinned in tests are the ones a deployment has."""
        if parent:
            qualified = parent.split("::")[2]
            if qualified != "pulumi:pulumi:Stack":
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        _remember_loop()
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = plain(json_format.MessageToDict(request.object, preserving_proto_field_name=True))
        aliases = self._alias_urns(request)
        if aliases:
            self.alias_urns[response.urn] = aliases
        self.recorded.append(RecordedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent or None,
            inputs=inputs,
            dependencies=sorted(set(request.dependencies)),
            property_dependencies={k: sorted(set(v.urns)) for k, v in sorted(request.propertyDependencies.items())},
            protect=bool(request.protect) if request.HasField("protect") else False,
            ignore_changes=list(request.ignoreChanges),
            provider=request.provider or None,
            id=response.id or None,
            retain_on_delete=bool(request.retainOnDelete) if request.HasField("retainOnDelete") else False,
            replace_on_changes=list(request.replaceOnChanges),
        ))
        return response

    def _alias_urns(self, request) -> List[str]:
        """The URNs ``request``'s aliases stand for, as the engine derives them: each alias spec
        (a missing name, type or parent is the resource's own; noParent is the stack root), and, for
        every alias of the parent, the URN the resource had under that parent."""
        out = set()
        for alias in request.aliases:
            if alias.urn:
                out.add(alias.urn)
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            urn = self.make_urn(parent, spec.type or request.type, spec.name or request.name)
            if spec.stack or spec.project:
                head, _, rest = urn.partition("::")  # urn:pulumi:<stack> :: <project>::<type>::<name>
                project, _, tail = rest.partition("::")
                urn = f"urn:pulumi:{spec.stack or head[len('urn:pulumi:'):]}::{spec.project or project}::{tail}"
            out.add(urn)
        for parent_alias in self.alias_urns.get(request.parent, ()):
            out.add(self.make_urn(parent_alias, request.type, request.name))
        return sorted(out)

    def RegisterResourceOutputs(self, request):  # noqa: N802 (gRPC method name)
        self.outputs_registered.append(request.urn)
        return super().RegisterResourceOutputs(request)


# ------------------------------------------------------------------------- running a program

# Offline speed. Both measures below act only inside evaluate(), i.e. under the mock engine; a
# real deployment (`pulumi up` runs infra/__main__.py directly) sends exactly what it did before.
#
# 1. Provider-generated aliases. azure-native gives every resource 10-40 type-only aliases (one per
#    older API version or module name, e.g. Alias(type_="azure-native:storage/v20210401:StorageAccount")),
#    pulumi-kubernetes a few more. The SDK turns each into several Outputs and tasks, in the
#    resource's constructor (Resource._aliases) and again before registering (alias specs): about
#    three quarters of the evaluation time, for values only a real engine uses (to find state saved
#    under an old type). The recorded graph has no aliases, so a root-stack transformation drops
#    them before the SDK sees them. Aliases a program writes itself (a name, parent, stack or
#    project, or a URN string, or an alias on a component) are kept.
# 2. The cyclic garbage collector. An evaluation allocates hundreds of thousands of short-lived,
#    cycle-free futures while every resource's outputs stay alive; with the default thresholds the
#    collector runs thousands of times, each time walking everything imported (azure-native is
#    large), which grows faster than linearly with the stack. During an evaluation only, objects
#    that existed before it are left out of collections (gc.freeze) and the first-generation
#    threshold is raised; both are restored afterwards.
# 3. Source positions. For every registration the SDK walks the Python stack and turns each frame
#    into a file URI (the CLI shows where a resource was declared); about a tenth of an
#    evaluation, more in deeply nested components. The recorded graph has no source positions, so
#    during an evaluation the SDK gets an empty stack trace (restored afterwards; skipped if the
#    SDK no longer has that function).


def _is_provider_alias(alias: Any, type_: str) -> bool:
    """A type-only alias within the resource's own package: what providers generate."""
    return (isinstance(alias, pulumi.Alias)
            and isinstance(alias.type_, str)
            and alias.type_.split(":", 1)[0] == type_.split(":", 1)[0]
            and alias.name is ... and alias.parent is ... and alias.stack is ... and alias.project is ...)


def _drop_provider_aliases(args: pulumi.ResourceTransformationArgs) -> Optional[pulumi.ResourceTransformationResult]:
    aliases = args.opts.aliases
    if not aliases or not isinstance(args.resource, pulumi.CustomResource):
        return None
    kept = [a for a in aliases if not _is_provider_alias(a, args.type_)]
    if len(kept) == len(aliases):
        return None
    opts = args.opts._copy()
    opts.aliases = kept or None
    return pulumi.ResourceTransformationResult(args.props, opts)


_GC_THRESHOLD0 = 50_000


@contextlib.contextmanager
def _offline_runtime():
    """Fewer, cheaper cyclic collections and no stack walks while a program is evaluated (see 2., 3.)."""
    from pulumi.runtime import resource as sdk_resource
    from pulumi.runtime.proto import source_pb2

    saved_threshold = gc.get_threshold()
    saved_trace = getattr(sdk_resource, "_get_stack_trace", None)
    gc.freeze()
    gc.set_threshold(max(saved_threshold[0], _GC_THRESHOLD0), *saved_threshold[1:])
    if saved_trace is not None:
        sdk_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        if saved_trace is not None:
            sdk_resource._get_stack_trace = saved_trace
        gc.set_threshold(*saved_threshold)
        gc.unfreeze()


def evaluate(program: Callable[[], None], *, project: str, stack: str,
             config: Optional[Mapping[str, str]] = None,
             secret_keys: Sequence[str] = (),
             mocks: Optional[OfflineMocks] = None) -> Graph:
    """Run ``program`` under the mock engine with ``config`` (Pulumi's string form) and record it."""
    mocks = mocks or OfflineMocks()
    monitor = RecordingMonitor(mocks)
    pulumi_settings.ROOT.set(None)  # a fresh root stack for every evaluation
    # a preview when the mocks answer unknowns: Pulumi then skips applies on them, as `pulumi preview` does
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=mocks.known_after_deploy, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys))
    root = pulumi_settings.get_root_resource()
    root._transformations.append(_drop_provider_aliases)  # offline only: see above
    outputs: Dict[str, Any] = {}

    async def body() -> None:
        program()
        # as the engine receives them: secrets and unknowns marked (plain() shows them as stand-ins)
        wire = await pulumi_rpc.serialize_property(dict(root.outputs), [], None)
        outputs.update(wire or {})

    try:
        with _offline_runtime():
            _sync_await(run_pulumi_func(body))
        _remember_loop()
    finally:
        pulumi_settings.ROOT.set(None)
    # registration order depends on asyncio scheduling; URN order is stable across runs
    return Graph(project=project, stack=stack, resources=sorted(monitor.recorded, key=lambda r: r.urn),
                 outputs=plain(json.loads(json.dumps(outputs, default=str))),
                 outputs_registered=monitor.outputs_registered, aliases=dict(monitor.alias_urns))


def find_project_dir(start: Optional[Path] = None) -> Path:
    """The folder holding ``Pulumi.yaml``: ``start`` or one of its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    raise UserError(f"no Pulumi.yaml in {here} or its parents: run this inside an amlplatform project "
                    "or pass --project-dir")


def project_dir_arg(project_dir: Optional[Path]) -> Path:
    """``--project-dir`` checked (it must be a folder with a Pulumi.yaml), or the found project."""
    if project_dir is None:
        return find_project_dir()
    if not project_dir.exists():
        raise UserError(f"--project-dir: {project_dir} does not exist")
    if not project_dir.is_dir():
        raise UserError(f"--project-dir: {project_dir} is not a folder")
    if not (project_dir / "Pulumi.yaml").is_file():
        raise UserError(f"--project-dir: no Pulumi.yaml in {project_dir} (a Pulumi project folder has one)")
    return project_dir


def _project_file(project_dir: Path) -> Dict[str, Any]:
    from amlplatform.settings.pulumi_yaml import parse

    path = project_dir / "Pulumi.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"no Pulumi.yaml in {project_dir}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it ({exc})") from None
    doc = parse(text, str(path)) or {}
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc.get("name"):
        raise UserError(f"{path}: needs a 'name' (text)")
    for key in ("main", "stackConfigDir"):
        if key in doc and not isinstance(doc[key], str):
            raise UserError(f"{path}: '{key}' must be a path (text), got {doc[key]!r}")
    return doc


def stack_file(project_dir: Path, stack: str) -> Path:
    """Where ``Pulumi.<stack>.yaml`` of ``project_dir`` lives: in Pulumi.yaml's ``stackConfigDir``, else
    the project folder. The file need not exist (see :func:`missing_stack_notice`)."""
    if not stack or "/" in stack or "\\" in stack or stack in (".", "..") or "\x00" in stack:
        raise UserError(f"--stack: {stack!r} is not a stack name")
    doc = _project_file(project_dir)
    config_dir = project_dir / doc.get("stackConfigDir", ".")
    return config_dir / f"Pulumi.{stack}.yaml"


def known_stacks(config_dir: Path) -> List[str]:
    """The stacks that have a file in ``config_dir``, sorted."""
    if not config_dir.is_dir():
        return []
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in config_dir.glob("Pulumi.*.yaml")
                  if p.name != "Pulumi.yaml")


def missing_stack_notice(stack: str, path: Path) -> str:
    """The one line said when ``stack`` has no file: the Pulumi CLI runs such a stack with empty config
    (offline there is no stack registry), so does the offline engine; the other stacks help spot a typo."""
    known = known_stacks(path.parent)
    return (f"notice: no stack file {path}: stack {stack!r} is read as empty config, as the Pulumi CLI reads a "
            f"stack without one (stacks here: {', '.join(known) or 'none'})")


# A secret read offline stands in as this text; where a setting needs a GUID, as the second.
SECRET_STAND_INS = ("[secret]", "00000000-0000-0000-0000-00005ec7e700")


def stack_program_config(stack: str, project_dir: Path,
                         config_overrides: Optional[Mapping[str, Any]] = None,
                         notice: bool = True) -> "tuple[Dict[str, str], List[str]]":
    """What the Pulumi CLI would hand the program of ``project_dir`` for ``stack``: ``PULUMI_CONFIG``
    (key -> text) and the secret keys, with every secret as an offline stand-in. The amlplatform
    settings (any ``amlplatform:`` key) are validated first: :class:`UserError` lists every bad field.
    A stack without a file is empty config, with a one-line notice on stderr when ``notice``.
    """
    from amlplatform.errors import field_path
    from amlplatform.settings.pulumi_yaml import StackConfig, apply_project_config, program_config, read_stack_config
    from amlplatform.settings.stack import (
        NAMESPACE, check_namespaces, policy_exceptions_from_strings, settings_from_strings, uses_stack_settings,
    )

    doc = _project_file(project_dir)
    path = stack_file(project_dir, stack)
    missing = not path.exists()
    if missing and notice:
        print(missing_stack_notice(stack, path), file=sys.stderr)
    last: Optional[UserError] = None
    project_file = str(project_dir / "Pulumi.yaml")
    for stand_in in SECRET_STAND_INS:
        read = StackConfig({}) if missing else read_stack_config(path, project=doc["name"], secret_stand_in=stand_in)
        read = apply_project_config(doc, read, stack=stack, source=project_file)
        config = dict(read.values)
        config.update(config_overrides or {})
        empty = [k for k in read.empty_keys if k.startswith(NAMESPACE + ":")]
        if empty:
            raise UserError(f"{path}: no value for {', '.join(empty)} (Pulumi reads an empty key as the text "
                            "\"\"): give it a value or remove the line")
        try:
            strings = program_config(config)
        except ValueError as exc:
            raise UserError(f"{path}: {exc}") from None
        if not uses_stack_settings(strings):
            # a program of its own: only misspelt namespaces and its policy exceptions are checked
            check_namespaces(strings, source=str(path))
            policy_exceptions_from_strings(strings, source=str(path))
            return strings, read.secret_keys
        secret_paths = [field_path((key.partition(":")[2], *p)) for key, p in read.secret_paths]
        try:
            settings_from_strings(strings, source=str(path), secret_paths=secret_paths, typed=config,
                                  secret_keys=read.secret_keys)
            return strings, read.secret_keys
        except UserError as exc:
            last = exc
            if not read.secret_paths:
                raise
    assert last is not None
    raise last


def stack_policy_exceptions(stack: str, project_dir: Path) -> List[Any]:
    """The ``amlplatform:policy_exceptions`` of ``stack`` (of the amlplatform program or one of its
    own); :class:`UserError` when the stack's settings are bad."""
    from amlplatform.settings.stack import policy_exceptions_from_strings

    strings, _ = stack_program_config(stack, project_dir, notice=False)
    return policy_exceptions_from_strings(strings, source=str(stack_file(project_dir, stack)))


def evaluate_stack(stack: str, *, project_dir: Optional[Path] = None,
                   config_overrides: Optional[Mapping[str, Any]] = None) -> Graph:
    """Run the project's real program (``main`` of Pulumi.yaml) for ``stack``, offline.

    Any Pulumi Python program works: the amlplatform program, or a team's own that imports the
    components. Settings are validated first: bad settings raise :class:`UserError` before the
    program runs.
    """
    project_dir = project_dir_arg(project_dir)
    doc = _project_file(project_dir)
    strings, secret_keys = stack_program_config(stack, project_dir, config_overrides)
    main = project_dir / doc.get("main", ".")
    entry = main / "__main__.py" if main.is_dir() else main
    if not entry.is_file():
        raise UserError(f"the program {entry} does not exist (Pulumi.yaml 'main')")

    def program() -> None:
        sys_path = list(sys.path)
        sys.path.insert(0, str(entry.parent))
        try:
            runpy.run_path(str(entry), run_name="__main__")
        finally:
            sys.path[:] = sys_path

    try:
        return evaluate(program, project=doc["name"], stack=stack, config=strings, secret_keys=secret_keys)
    except pulumi.RunError as exc:
        raise UserError(str(exc)) from None
    except UserError:
        raise
    except Exception as exc:  # the program's own failure: where in the program, not our traceback
        import traceback

        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve().is_relative_to(
            project_dir.resolve())]
        where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        raise UserError(f"the program {entry} failed{where}: {type(exc).__name__}: {exc}") from None
