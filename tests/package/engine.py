"""A small stand-in for the Pulumi engine, on loopback, for talking to our provider as the engine
does: start the plugin as a subprocess (it prints its port), call it over gRPC, and serve the
engine and resource-monitor services it calls back.

The resource monitor is the offline engine's recording monitor (``amlplatform.offline.engine``,
Pulumi's mock monitor underneath) served over gRPC, so a component constructed by the provider is
recorded exactly like one declared in-process under ``evaluate``. A registration with ``remote``
set (a component declared by a program in another language) is forwarded to the provider's
``Construct``, as the engine does, so its children are recorded too.

Everything is bounded: the provider must print its port within ``START_TIMEOUT`` seconds, every
call has a deadline, and ``ProviderProcess`` always kills the process it started.
"""

import json
import os
import queue
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import (
    engine_pb2, engine_pb2_grpc, provider_pb2, provider_pb2_grpc, resource_pb2, resource_pb2_grpc,
)

from amlplatform.offline.engine import OfflineMocks, RecordedResource, RecordingMonitor

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
CALL_TIMEOUT = 120.0
PROJECT, STACK = "p", "s"
STACK_URN = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"


class _Monitor(RecordingMonitor):
    """The recording monitor with URNs of a fixed project and stack (the test process has no
    Pulumi settings of its own)."""

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        if parent:
            qualified = parent.split("::")[2]
            if qualified != "pulumi:pulumi:Stack":
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join([STACK, PROJECT, type_, name])


class MonitorServicer(resource_pb2_grpc.ResourceMonitorServicer):
    def __init__(self, engine: "Engine") -> None:
        self.engine = engine
        self.monitor = _Monitor(OfflineMocks())
        self.lock = threading.Lock()

    def SupportsFeature(self, request, context):  # noqa: N802
        # as Pulumi's mock monitor: everything but output values (plain values in the recorded inputs)
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id != "outputValues")

    def GetDeploymentInfo(self, request, context):  # noqa: N802
        return self.monitor.GetDeploymentInfo(request)

    def RegisterResource(self, request, context):  # noqa: N802
        if request.remote and request.type.startswith("amlplatform:"):
            return self.engine.construct_remote(request)
        with self.lock:
            return self.monitor.RegisterResource(request)

    def RegisterResourceOutputs(self, request, context):  # noqa: N802
        with self.lock:
            return self.monitor.RegisterResourceOutputs(request)

    def Invoke(self, request, context):  # noqa: N802
        with self.lock:
            return self.monitor.Invoke(request)

    def ReadResource(self, request, context):  # noqa: N802
        with self.lock:
            return self.monitor.ReadResource(request)

    def RegisterPackage(self, request, context):  # noqa: N802
        return self.monitor.RegisterPackage(request)

    def RegisterStackTransform(self, request, context):  # noqa: N802
        return empty_pb2.Empty()

    def RegisterStackInvokeTransform(self, request, context):  # noqa: N802
        return empty_pb2.Empty()

    def RegisterResourceHook(self, request, context):  # noqa: N802
        return empty_pb2.Empty()

    def RegisterErrorHook(self, request, context):  # noqa: N802
        return empty_pb2.Empty()

    def SignalAndWaitForShutdown(self, request, context):  # noqa: N802
        return empty_pb2.Empty()


class EngineServicer(engine_pb2_grpc.EngineServicer):
    def __init__(self) -> None:
        self.logs: List[str] = []
        self.root = ""

    def Log(self, request, context):  # noqa: N802
        self.logs.append(request.message)
        return empty_pb2.Empty()

    def GetRootResource(self, request, context):  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn=self.root)

    def SetRootResource(self, request, context):  # noqa: N802
        self.root = request.urn
        return engine_pb2.SetRootResourceResponse()


class Engine:
    """Engine and monitor services on one loopback port (``address``)."""

    def __init__(self) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
        self.engine = EngineServicer()
        self.monitor = MonitorServicer(self)
        engine_pb2_grpc.add_EngineServicer_to_server(self.engine, self.server)
        resource_pb2_grpc.add_ResourceMonitorServicer_to_server(self.monitor, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"
        self.provider: Optional[provider_pb2_grpc.ResourceProviderStub] = None
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None)

    @property
    def recorded(self) -> List[RecordedResource]:
        return sorted(self.monitor.monitor.recorded, key=lambda r: r.urn)

    def construct(self, type_: str, name: str, inputs: Mapping[str, Any], *,
                  parent: str = STACK_URN, dependencies: Optional[Mapping[str, List[str]]] = None,
                  struct: Optional[struct_pb2.Struct] = None) -> provider_pb2.ConstructResponse:
        """``Construct`` as the engine sends it for a remote component of a program."""
        assert self.provider is not None, "start the provider first"
        if struct is None:
            struct = struct_pb2.Struct()
            struct.update(dict(inputs))
        request = provider_pb2.ConstructRequest(
            project=PROJECT, stack=STACK, organization="organization", type=type_, name=name, parent=parent,
            inputs=struct, monitorEndpoint=self.address, dryRun=False, parallel=4,
            inputDependencies={k: provider_pb2.ConstructRequest.PropertyDependencies(urns=v)
                               for k, v in (dependencies or {}).items()},
            accepts_output_values=False)
        return self.provider.Construct(request, timeout=CALL_TIMEOUT)

    def construct_remote(self, request: resource_pb2.RegisterResourceRequest) -> resource_pb2.RegisterResourceResponse:
        """A program's remote component registration, forwarded to the provider's ``Construct``."""
        response = self.construct(
            request.type, request.name, {}, parent=request.parent or STACK_URN, struct=request.object,
            dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()})
        return resource_pb2.RegisterResourceResponse(
            urn=response.urn, object=response.state,
            propertyDependencies={k: resource_pb2.RegisterResourceResponse.PropertyDependencies(urns=list(v.urns))
                                  for k, v in response.stateDependencies.items()})


class ProviderProcess:
    """Our plugin as the Python language host starts it: ``python <repository root> <engine address>``
    (PulumiPlugin.yaml, ``__main__.py``). It prints the port it serves on its first line."""

    def __init__(self, engine_address: str, *, python: str = sys.executable) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [python, str(ROOT), engine_address], cwd=str(ROOT), env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr: List[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.process.stdout.readline()), daemon=True).start()
        try:
            first = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            self.kill()
            raise RuntimeError(f"the provider printed no port within {START_TIMEOUT:.0f}s:\n{self.errors()}")
        if not first.strip().isdigit():
            self.kill()
            raise RuntimeError(f"the provider did not start (first line {first!r}):\n{self.errors()}")
        self.port = int(first)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        grpc.channel_ready_future(self.channel).result(timeout=START_TIMEOUT)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def _drain_stderr(self) -> None:
        for line in self.process.stderr:
            self.stderr.append(line)

    def errors(self) -> str:
        return "".join(self.stderr[-60:])

    def kill(self) -> None:
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def state_of(response: provider_pb2.ConstructResponse) -> Dict[str, Any]:
    return json.loads(json_format.MessageToJson(response.state))


def recorded_view(resources: List[RecordedResource]) -> List[Dict[str, Any]]:
    """What must be equal between two ways of building the same component: type, name, parent,
    inputs, dependencies and options of every resource."""
    return [{"urn": r.urn, "type": r.type, "name": r.name, "custom": r.custom, "parent": r.parent,
             "inputs": r.inputs, "dependencies": r.dependencies, "property_dependencies": r.property_dependencies,
             "protect": r.protect, "ignore_changes": r.ignore_changes, "retain_on_delete": r.retain_on_delete,
             "replace_on_changes": r.replace_on_changes} for r in resources]


def schema_names(value: Mapping[str, Any], properties: Mapping[str, Any], types: Mapping[str, Any]) -> Dict[str, Any]:
    """Python args (snake_case) as a program in another language sends them: the schema's
    camelCase property names, nested types included; map keys (tags, zone names) unchanged."""
    from pulumi.provider.experimental.util import camel_case

    out: Dict[str, Any] = {}
    for key, item in value.items():
        name = camel_case(key)
        prop = properties[name]
        out[name] = _schema_value(item, prop, types)
    return out


def _schema_value(item: Any, prop: Mapping[str, Any], types: Mapping[str, Any]) -> Any:
    ref = prop.get("$ref", "")
    if ref.startswith("#/types/") and isinstance(item, Mapping):
        return schema_names(item, types[ref[len("#/types/"):]]["properties"], types)
    if "items" in prop and isinstance(item, list):
        return [_schema_value(i, prop["items"], types) for i in item]
    if "additionalProperties" in prop and isinstance(item, Mapping):
        return {k: _schema_value(v, prop["additionalProperties"], types) for k, v in item.items()}
    return item


def input_errors(error: grpc.RpcError) -> List[str]:
    """The property errors of an INVALID_ARGUMENT status, as the engine shows them
    (``grpc-status-details-bin``: a google.rpc.Status holding an InputPropertiesError)."""
    from pulumi.runtime.proto import errors_pb2, status_pb2

    out: List[str] = []
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                errors = errors_pb2.InputPropertiesError()
                detail.Unpack(errors)
                out += [f"{e.property_path}: {e.reason}" for e in errors.errors]
    return out
