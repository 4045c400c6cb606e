"""Submit end to end: ``amlplatform submit --file job.yml`` vs azure-ai-ml's ``ml_client.jobs.create_or_update``.

Both submit the same command job YAML - a 2,000-file, ~50 MB code folder and one local data input
folder - to the same local fake workspace (tests/runs/fake_aml.py over TLS, lenient about
api-versions and bodies because azure-ai-ml sends its own) with Azurite as the blob store behind the
pending-upload SAS and the default datastore. Each tool runs in a fresh process, as a user runs it:

- ours: the amlplatform CLI (``--no-wait``), its client aimed at the fake by a 10-line wrapper;
- theirs: azure-ai-ml 1.35.2 in ``benchmarks/.venv-azureml`` (made on first use), ``MLClient``
  aimed at the fake with ``AZUREML_DEV_URL_MFE`` and ``REQUESTS_CA_BUNDLE``, its datastore URL
  template pointed at Azurite.

Each tool gets its own fresh workspace (fake + containers), so a first submit uploads everything.
Measured: wall time of the first submit (cold: everything uploaded) and of an unchanged resubmit
(warm: both should find the code by hash and the data by its confirmed upload), and the bytes each
PUT into blob storage on the resubmit (must be 0). The two tools take turns, --reps times (default 5),
each time on a fresh workspace; medians with min-max, and the ratio ours/theirs pair by pair.
Target (issue 18): first submit <= 0.4x.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

TESTS = c.ROOT / "tests" / "runs"
sys.path.insert(0, str(TESTS))

TARGET = 0.4
AZURE_AI_ML = "azure-ai-ml==1.35.2"
AZML_VENV = c.BENCH / ".venv-azureml"

JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
name: {name}
code: ./src
command: python train.py --data ${{{{inputs.rows}}}}
inputs:
  rows: {{type: uri_folder, path: ./data}}
environment: azureml:sklearn-env:3
compute: azureml:cpu-cluster
experiment_name: bench
"""

OURS = r"""
import json, sys
sys.path.insert(0, {tests!r})
from azure.core.credentials import AccessToken
class FakeCredential:
    def get_token(self, *scopes, **kw):
        import time
        return AccessToken({token!r}, int(time.time()) + 3600)
from azure.core.pipeline.transport import RequestsTransport
import amlplatform.runs.api as runs_api
from amlplatform.runs import azure as az
from amlplatform.cli import main
original = az.AzureMLClient
clients = []
def aimed(coords, **kw):
    kw.update(endpoint={endpoint!r}, transport=RequestsTransport(connection_verify={ca!r}),
              storage_url=lambda account, endpoint, protocol: {blob!r})
    clients.append(original(coords, **kw))
    return clients[-1]
az.AzureMLClient = aimed
runs_api.credential = lambda: FakeCredential()  # the credential the API makes for a submission
code = main(["submit", "--file", "job.yml", "--outputs-file", {outputs!r}, "--no-wait"])
print(json.dumps({{"rc": code, "bytes": sum(c.bytes_uploaded for c in clients)}}))
"""

THEIRS = r"""
import json, os, sys, logging, warnings
logging.disable(logging.CRITICAL); warnings.simplefilter("ignore")
from azure.core.credentials import AccessToken
import azure.ai.ml.constants._common as common
common.STORAGE_ACCOUNT_URLS["AzureBlob"] = {blob!r} + "{{0:.0}}{{1:.0}}"  # the default datastore is Azurite
from azure.ai.ml import MLClient, load_job
sent = [0]
from azure.storage.blob import ContainerClient
real_upload = ContainerClient.upload_blob
def counting_upload(self, name, data, *a, **kw):
    length = kw.get("length")
    if length is None:
        try:
            length = os.fstat(data.fileno()).st_size
        except Exception:
            length = len(data) if hasattr(data, "__len__") else 0
    sent[0] += length
    return real_upload(self, name, data, *a, **kw)
ContainerClient.upload_blob = counting_upload
class Cred:
    def get_token(self, *scopes, **kw):
        import time
        return AccessToken({token!r}, int(time.time()) + 3600)
ml = MLClient(Cred(), {sub!r}, {rg!r}, {ws!r}, show_progress=False, enable_telemetry=False)
job = load_job("job.yml")
ml.jobs.create_or_update(job)
print(json.dumps({{"rc": 0, "bytes": sent[0]}}))
"""


def azureml_python() -> Path:
    for py in (Path(os.environ.get("AMLPLATFORM_AZUREML_PYTHON", "/nonexistent")), c.ROOT / ".venv-azureml" / "bin" / "python",
               AZML_VENV / "bin" / "python"):
        if py.exists() and subprocess.run([str(py), "-c", "import azure.ai.ml"], capture_output=True).returncode == 0:
            return py
    print(f"creating {AZML_VENV} with {AZURE_AI_ML} (once; takes a minute)", file=sys.stderr, flush=True)
    subprocess.run([c.python(), "-m", "venv", str(AZML_VENV)], check=True)
    py = AZML_VENV / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", AZURE_AI_ML], check=True)
    return py


def make_project(root: Path, n_files: int, total_bytes: int) -> None:
    """``src/``: n_files files of mixed sizes summing to ~total_bytes; ``data/``: 20 CSV files (~2 MB)."""
    import random

    rng = random.Random(7)
    src = root / "src"
    per = total_bytes // n_files
    for i in range(n_files):
        d = src / f"pkg{i // 100:02d}"
        d.mkdir(parents=True, exist_ok=True)
        size = max(1, int(per * rng.uniform(0.2, 1.8)))
        (d / f"mod{i:04d}.py").write_bytes(rng.randbytes(size))
    (src / "pkg00" / "mod0000.py").unlink()
    (src / "train.py").write_text("print('train')\n")
    data = root / "data"
    data.mkdir()
    for i in range(20):
        (data / f"part-{i:02d}.csv").write_bytes(rng.randbytes(100_000))


def run(argv, cwd: Path, env: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed:\n{done.stderr[-3000:]}\n{done.stdout[-2000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    p = c.parser(__doc__.splitlines()[0], reps=5)
    p.add_argument("--files", type=int, default=2000)
    p.add_argument("--mb", type=float, default=50)
    args = p.parse_args()
    reps = reps_of_submit(args)

    from azurite import ACCOUNT_KEY, ACCOUNT_NAME, start_azurite
    from fake_aml import RESOURCE_GROUP, SUBSCRIPTION, TOKEN, WORKSPACE, BlobStore, FakeAML

    theirs_py = azureml_python()
    azurite = start_azurite()
    # per tool: the cold and warm wall times and bytes of each repetition; the tools take turns
    # (ours, theirs, ours, theirs, ...) so a drift in the machine's speed touches both alike
    results: dict = {"ours": [], "theirs": []}
    with tempfile.TemporaryDirectory(prefix="amlp-submit-e2e-") as tmp:
        tmp = Path(tmp)
        make_project(tmp / "proj", args.files, int(args.mb * 1024 * 1024))
        for rep in range(reps):
            for tool in ("ours", "theirs"):
                results[tool].append(one_round(tool, rep, tmp, azurite, theirs_py, BlobStore, FakeAML,
                                               ACCOUNT_NAME, ACCOUNT_KEY, TOKEN, SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE))
    azurite.stop()
    print(f"# submit end to end ({args.files} files, {args.mb:.0f} MB code + 20-file data input)")
    print(f"# {c.machine()}")
    print(f"# {reps} repetitions, the two tools interleaved, each on a fresh workspace; medians (min-max)")
    rows = []
    for name, tool in (("amlplatform", "ours"), ("azure-ai-ml", "theirs")):
        r = results[tool]
        cold, warm = [x["cold"] for x in r], [x["warm"] for x in r]
        rows.append((name, f"{c.fmt_s(c.median(cold))} ({c.spread(cold)})", f"{c.fmt_s(c.median(warm))} ({c.spread(warm)})",
                     f"{r[0]['bytes_cold'] / 1e6:.1f} MB", str(max(x["bytes_warm"] for x in r)), str(r[0]["calls"])))
    c.table(("tool", "first submit", "unchanged resubmit", "uploaded first", "uploaded again (max)", "REST calls"), rows)
    ratios_cold = [o["cold"] / t["cold"] for o, t in zip(results["ours"], results["theirs"])]
    ratios_warm = [o["warm"] / t["warm"] for o, t in zip(results["ours"], results["theirs"])]
    print()
    print(f"ratio ours/azure-ai-ml, pair by pair: first submit {c.median(ratios_cold):.2f}x "
          f"({min(ratios_cold):.2f}-{max(ratios_cold):.2f}), unchanged resubmit {c.median(ratios_warm):.2f}x "
          f"({min(ratios_warm):.2f}-{max(ratios_warm):.2f}); {c.verdict(c.median(ratios_cold), TARGET)}")
    zero = all(x["bytes_warm"] == 0 for x in results["ours"])
    print(f"bytes uploaded on an unchanged resubmit by amlplatform: {'0 every time' if zero else 'NOT 0'}")
    return 0 if zero else 1


def reps_of_submit(args) -> int:
    return 2 if args.quick else max(1, args.reps)


def one_round(tool, rep, tmp, azurite, theirs_py, BlobStore, FakeAML, ACCOUNT_NAME, ACCOUNT_KEY, TOKEN,  # noqa: N803
              SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE) -> dict:
    """A fresh workspace for ``tool``: its first submit (everything uploaded) and an unchanged resubmit."""
    fake = FakeAML(BlobStore(azurite.service_url, ACCOUNT_NAME, ACCOUNT_KEY, container=f"b-{tool}-{rep}"),
                   tmp / f"tls-{tool}-{rep}", strict=False).start()
    env_id = f"{fake.workspace_id}/environments/sklearn-env/versions/3"  # a registered environment
    fake.environments[("sklearn-env", "3")] = fake._envelope(
        "Workspace/EnvironmentVersion/createOrUpdate.json", "201", env_id, "3", "environments/versions",
        {"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest", "environmentType": "UserCreated"})
    try:
        outputs = tmp / f"outputs-{tool}-{rep}.json"
        outputs.write_text(json.dumps({"workspace_id": fake.workspace_id, "location": "westeurope"}))
        env = {**os.environ, "PYTHONPATH": str(c.ROOT / "components"), "REQUESTS_CA_BUNDLE": str(fake.ca_file),
               "AZUREML_DEV_URL_MFE": fake.endpoint, "AZURE_CORE_COLLECT_TELEMETRY": "false"}
        times, sent = [], []
        for attempt in ("cold", "warm"):
            (tmp / "proj" / "job.yml").write_text(JOB.format(name=f"{tool}-{attempt}-{rep}"))
            if tool == "ours":
                script = OURS.format(tests=str(TESTS), endpoint=fake.endpoint, ca=str(fake.ca_file),
                                     blob=azurite.service_url, outputs=str(outputs), token=TOKEN)
                wall, out = run([c.python(), "-c", script], tmp / "proj", env)
            else:
                script = THEIRS.format(blob=azurite.service_url, token=TOKEN, sub=SUBSCRIPTION,
                                       rg=RESOURCE_GROUP, ws=WORKSPACE)
                wall, out = run([str(theirs_py), "-c", script], tmp / "proj", env)
            times.append(wall)
            sent.append(out["bytes"])
        assert len(fake.jobs) == 2, f"{tool}: {sorted(fake.jobs)} {fake.ops()}"
        return {"cold": times[0], "warm": times[1], "bytes_cold": sent[0], "bytes_warm": sent[1], "calls": len(fake.calls)}
    finally:
        fake.stop()


if __name__ == "__main__":
    sys.exit(main())
