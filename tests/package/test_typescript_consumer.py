"""TypeScript programs (@pulumi/pulumi from npm) declare MLWorkspace, and the whole platform
(MLPlatform), as remote components and get the resources the Python consumer gets.

The program is compiled with tsc and run by the Node SDK's own runner (``cmd/run``, what
pulumi-language-nodejs starts) against the mock engine of tests/package/engine.py: the remote
registration goes to our provider's ``Construct`` (a real subprocess), whose registrations are
recorded and compared with the Python call of test_grpc.ARGS. Offline, and bounded in time.
"""

import json
import os
import shutil
import subprocess

import pytest

from amlplatform import MLPlatform, MLWorkspace
from amlplatform.offline.engine import evaluate

from .engine import PROJECT, ROOT, STACK, STACK_URN, Engine, ProviderProcess, recorded_view
from .test_grpc import ARGS, PLATFORM

pytestmark = pytest.mark.slow

NODE_MODULES = ROOT / "node_modules"
PROGRAM = ROOT / "tests" / "package" / "ts_consumer"
PLATFORM_PROGRAM = ROOT / "tests" / "package" / "ts_platform"
RUNNER = NODE_MODULES / "@pulumi" / "pulumi" / "cmd" / "run"
TIMEOUT = 240

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_MODULES / ".bin" / "tsc").exists() or not RUNNER.exists(),
    reason="node and the npm devDependencies (npm ci) are needed")


def compile_program(program, out):
    done = subprocess.run([str(NODE_MODULES / ".bin" / "tsc"), "-p", str(program / "tsconfig.json"),
                           "--outDir", str(out)], capture_output=True, text=True, timeout=TIMEOUT, cwd=str(ROOT))
    assert done.returncode == 0, done.stdout + done.stderr
    (out / "package.json").write_text(json.dumps({"name": "amlplatform-ts-consumer", "main": "index.js"}))
    return out


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return compile_program(PROGRAM, tmp_path_factory.mktemp("ts-consumer"))


def run_program(compiled):
    """The compiled program under the Node SDK's runner, its remote components constructed by our provider:
    (what it printed, the resources the mock engine recorded)."""
    engine = Engine()
    provider = None
    try:
        provider = ProviderProcess(engine.address)
        engine.provider = provider.stub
        done = subprocess.run(
            ["node", str(RUNNER), f"--monitor={engine.address}", f"--engine={engine.address}",
             f"--project={PROJECT}", f"--stack={STACK}", "--organization=organization", "--parallel=4",
             str(compiled)],
            cwd=str(compiled), capture_output=True, text=True, timeout=TIMEOUT,
            env={**os.environ, "NODE_PATH": str(NODE_MODULES), "PULUMI_CONFIG": "{}"})
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\nprovider:\n{provider.errors()}"
        recorded = recorded_view(engine.recorded)
    finally:
        if provider is not None:
            provider.kill()
        engine.stop()
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line), recorded


@needs_node
def test_typescript_program_gets_the_resources_of_the_python_consumer(compiled):
    lines, recorded = run_program(compiled)
    assert lines["urn"] == f"urn:pulumi:{STACK}::{PROJECT}::amlplatform:index:MLWorkspace::ml"
    assert lines["workspaceName"] == "mlw-x01"
    assert lines["storageAccountId"].endswith("/storageAccounts/stmlx01")

    in_python = recorded_view(evaluate(lambda: MLWorkspace("ml", ARGS), project=PROJECT, stack=STACK).resources)
    assert recorded == in_python
    # the component hangs under the TypeScript program's stack, its children under it
    assert [r["name"] for r in recorded if r["parent"] == STACK_URN] == ["ml"]
    assert len(recorded) > 10


@needs_node
def test_typescript_program_declaring_the_whole_platform_gets_the_python_consumers_resources(tmp_path):
    lines, recorded = run_program(compile_program(PLATFORM_PROGRAM, tmp_path))
    assert lines["urn"] == f"urn:pulumi:{STACK}::{PROJECT}::amlplatform:index:MLPlatform::ml"
    in_python = recorded_view(evaluate(lambda: MLPlatform("ml", PLATFORM), project=PROJECT, stack=STACK).resources)
    assert recorded == in_python
    assert [r["name"] for r in recorded if r["parent"] == STACK_URN] == ["ml"]
    assert {"amlplatform:index:MLWorkspace", "azure-native:machinelearningservices:Compute"} <= {r["type"] for r in recorded}
