"""`amlplatform plan` as a user runs it on bad serving settings: one readable error naming every bad
field, exit 2, no traceback, nothing declared (real subprocesses of the CLI)."""

import os
import subprocess
import sys
from pathlib import Path

# private by default: the workspace and its dependencies need an inbound path (a VNet for their
# private endpoints, and one for AKS nodes; tests/network), which is not what these tests are about
NETWORK = {"vnet": {"address_space": ["10.50.0.0/22"], "private_endpoints_subnet": "10.50.0.0/26",
                    "aks_subnet": "10.50.1.0/24"}}

ROOT = Path(__file__).resolve().parents[2]


def amlplatform(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "components"))
    return subprocess.run([sys.executable, "-m", "amlplatform.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_bad_serving_settings_give_one_readable_error(make_stack):
    project = make_stack({
        "amlplatform:location": "westeurope",
        "amlplatform:naming": {"workload": "fraud", "environment": "tst"}, "amlplatform:network": NETWORK,
        "amlplatform:clusters": [{"name": "cpu"}],
        "amlplatform:datastores": [{"name": "lake", "kind": "adls_gen2", "container": "curated"}],
        "amlplatform:online_endpoints": [{
            "name": "fraud-score", "traffic": {"blue": 80},
            "deployments": [{"name": "blue", "model": "azureml:credit-default:1", "instance_type": "Standard_DS3_v2"}]}],
        "amlplatform:batch_endpoints": [{"name": "fraud-batch", "deployments": [
            {"name": "nightly", "compute": "gpu", "model": "azureml:credit-default:1"}]}],
    }, name="serving")
    done = amlplatform("plan", "--stack", "serving", cwd=project)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    err = done.stderr
    assert err.startswith("error: invalid settings in ")
    for words in ("datastores[0]: storage_account_id: required with kind adls_gen2",
                  "online_endpoints[0]: traffic: percentages must sum to 100, they sum to 80",
                  "batch_endpoints[0].deployments[0].compute: 'gpu' is not one of the stack's clusters (cpu)"):
        assert words in err, (words, err)


def test_a_plain_datastore_secret_is_refused_before_anything_is_declared(make_stack):
    project = make_stack({
        "amlplatform:location": "westeurope",
        "amlplatform:naming": {"workload": "fraud", "environment": "tst"}, "amlplatform:network": NETWORK,
        "amlplatform:datastores": [{
            "name": "landing", "container": "landing", "auth": "sas", "secret_config_key": "datastores:sas",
            "storage_account_id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
                                  "Microsoft.Storage/storageAccounts/stlanding"}],
        "datastores:sas": "sv=2024-01-01&sig=plain-text",
    }, name="plainsecret")
    done = amlplatform("plan", "--stack", "plainsecret", cwd=project)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "datastores[0].secret_config_key: config key 'datastores:sas' is not a secret" in done.stderr
    assert "sig=plain-text" not in done.stderr  # the value itself is never echoed
