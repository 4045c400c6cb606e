"""Every upload and download honours HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as azure-core (requests) and
curl do: proven through a real loopback proxy (CONNECT tunnels and forwarding) in front of the fake
workspace (https) and Azurite (http), and bypassed for hosts in NO_PROXY."""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from azurite import ACCOUNT_KEY, ACCOUNT_NAME, azurite  # noqa: E402,F401 - session fixture
from fake_aml import client_for, fake_aml  # noqa: E402,F401
from loopback_proxy import LoopbackProxy  # noqa: E402

from amlplatform.errors import UserError  # noqa: E402
from amlplatform.runs import azure as az  # noqa: E402
from amlplatform.runs import proxies  # noqa: E402
from amlplatform.runs.blobput import SasBlobPutter, blob_metadata_shared_key  # noqa: E402
from amlplatform.runs.job import parse_job  # noqa: E402
from amlplatform.runs.materialize import materialize_input  # noqa: E402
from amlplatform.runs.snapshot import take_data_snapshot, take_snapshot  # noqa: E402

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
              "NO_PROXY", "REQUEST_METHOD")
GIT = {"mlflow.source.git.repoURL": "https://github.com/contoso/churn.git", "mlflow.source.git.branch": "main",
       "mlflow.source.git.commit": "a" * 40, "azureml.git.dirty": "False"}


@pytest.fixture
def clean_env(monkeypatch):
    """No proxy setting inherited from the machine (loopback is often in its NO_PROXY)."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def proxy():
    with LoopbackProxy() as p:
        yield p


def use_proxy(env, proxy_url, no_proxy=None):
    env.setenv("HTTPS_PROXY", proxy_url)
    env.setenv("HTTP_PROXY", proxy_url)
    if no_proxy is not None:
        env.setenv("NO_PROXY", no_proxy)


def project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "train.py").write_text("print('training')\n")
    (root / "src" / "util.py").write_text("X = 1\n")
    return root


def submit(client, root: Path, name: str):
    job = parse_job({"code": str(root), "compute": "azureml:cpu-cluster", "command": "python train.py",
                     "environment": "azureml:sklearn-env:3", "experiment_name": "churn"}, base_dir=root)
    snap = take_snapshot(root)
    plan = az.make_plan(job, job_name=name, snapshot=lambda p: snap, data_snapshot=take_data_snapshot, git=GIT,
                        workspace_id=client.coords.workspace_id)
    return client.submit(plan), snap


# ---------------------------------------------------------------- which proxy, as requests picks it


def test_proxy_for_follows_the_environment_as_requests_does(clean_env):
    assert proxies.proxy_for("https://acct.blob.core.windows.net/c") is None
    clean_env.setenv("HTTPS_PROXY", "proxy.corp:3128")  # no scheme: http:// is assumed, as requests and curl do
    clean_env.setenv("HTTP_PROXY", "http://plain.corp:8080")
    assert proxies.proxy_for("https://acct.blob.core.windows.net/c") == "http://proxy.corp:3128"
    assert proxies.proxy_for("http://127.0.0.1:10000/devstoreaccount1/c") == "http://plain.corp:8080"
    clean_env.setenv("https_proxy", "http://lower.corp:1")  # the lower-case name wins, as in curl and urllib
    assert proxies.proxy_for("https://acct.blob.core.windows.net/c") == "http://lower.corp:1"
    for no_proxy, url in [(".core.windows.net", "https://acct.blob.core.windows.net/c"),
                          ("blob.core.windows.net", "https://acct.blob.core.windows.net/c"),
                          ("127.0.0.0/8", "http://127.0.0.1:10000/x"),
                          ("localhost,127.0.0.1", "http://127.0.0.1:10000/x"),
                          ("*", "https://anything.example/x")]:
        clean_env.setenv("NO_PROXY", no_proxy)
        assert proxies.proxy_for(url) is None, (no_proxy, url)
    clean_env.setenv("NO_PROXY", "other.example,10.0.0.0/8")
    assert proxies.proxy_for("http://127.0.0.1:10000/x") == "http://plain.corp:8080"
    assert proxies.describe("http://127.0.0.1:10000/x") == " via proxy plain.corp:8080"


# ---------------------------------------------------------------- through a real proxy


def test_submit_goes_through_the_proxy_for_arm_and_the_blob_uploads(fake_aml, tmp_path, clean_env, proxy):
    root = project(tmp_path / "proj")
    use_proxy(clean_env, proxy.url)
    with client_for(fake_aml) as client:
        job, snap = submit(client, root, "via-proxy-1")
    assert job["name"] == "via-proxy-1"
    arm = fake_aml.endpoint.split("://", 1)[1]
    assert arm in proxy.targets("CONNECT")  # the ARM calls (azure-core) are tunnelled
    (container,) = set(fake_aml.pending.values())
    puts = [t for t in proxy.targets("PUT") if f"/{container}/proj/" in t and "comp=metadata" not in t]
    # every Put Blob of the lean uploader (urllib3) was forwarded by the proxy, and azure-storage-blob's
    # confirmation metadata too
    assert any("comp=metadata" in t for t in proxy.targets("PUT"))
    assert sorted(t.split(f"/{container}/", 1)[1].split("?", 1)[0] for t in puts) == sorted(
        f"proj/{f.relpath}" for f in snap.files)
    assert fake_aml.blob_names(container=container) == sorted(f"proj/{f.relpath}" for f in snap.files)


def test_no_proxy_bypasses_the_proxy(fake_aml, tmp_path, clean_env, proxy):
    root = project(tmp_path / "proj")
    use_proxy(clean_env, proxy.url, no_proxy="localhost,127.0.0.1")
    with client_for(fake_aml) as client:
        job, _snap = submit(client, root, "direct-1")
    assert job["name"] == "direct-1"
    assert proxy.seen == []


def test_data_input_check_and_upload_go_through_the_proxy(fake_aml, tmp_path, clean_env, proxy):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("x\n1\n")
    use_proxy(clean_env, proxy.url)
    with client_for(fake_aml, blob_options={}) as client:  # the lean signed HEAD, then azure-storage-blob
        first = client.upload_data(take_data_snapshot(data))
        second = client.upload_data(take_data_snapshot(data))
    assert not first.reused and second.reused
    heads = [t for t in proxy.targets("HEAD") if f"/{fake_aml.datastore_container}/LocalUpload/" in t]
    # the lean HEAD (urllib3) of the first submission, azure-storage-blob's indicator check before it uploads,
    # and the lean HEAD of the second submission that finds the data there
    assert len(heads) == 3
    assert any(f"/{fake_aml.datastore_container}/LocalUpload/" in t for t in proxy.targets("PUT"))


def test_proxy_credentials_are_sent_as_proxy_authorization(azurite, clean_env, proxy):
    import base64

    use_proxy(clean_env, proxy.url.replace("http://", "http://alice:s%40cret@"))
    assert blob_metadata_shared_key(azurite.service_url, "no-such-container", "x", ACCOUNT_NAME, ACCOUNT_KEY) is None
    (seen,) = [s for s in proxy.seen if s.method == "HEAD"]
    assert seen.proxy_authorization == "Basic " + base64.b64encode(b"alice:s@cret").decode()


def test_unreachable_proxy_is_a_clear_error_that_names_it(azurite, clean_env):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    use_proxy(clean_env, f"http://127.0.0.1:{dead}")
    with pytest.raises(UserError, match=rf"via proxy 127.0.0.1:{dead}"):
        blob_metadata_shared_key(azurite.service_url, "c", "x", ACCOUNT_NAME, ACCOUNT_KEY, timeout=2)
    with SasBlobPutter(f"{azurite.service_url}/c?sv=x", retries=0) as putter:
        with pytest.raises(UserError, match=rf"via proxy 127.0.0.1:{dead}"):
            putter.put("b", b"x", overwrite=False)


def test_local_run_downloads_go_through_the_proxy(azurite, tmp_path, clean_env, proxy):
    from azure.storage.blob import BlobServiceClient

    svc = BlobServiceClient(account_url=azurite.service_url,
                            credential={"account_name": ACCOUNT_NAME, "account_key": ACCOUNT_KEY})
    c = svc.get_container_client("proxied1")
    c.create_container()
    c.upload_blob("raw/rows.csv", b"a\nb\n")
    c.upload_blob("raw/sub/more.csv", b"c\n")
    use_proxy(clean_env, proxy.url)
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
           "AMLPLATFORM_DATASTORES": json.dumps({"workspaceblobstore": f"{azurite.service_url}/proxied1"})}
    got = materialize_input({"type": "uri_folder", "path": "azureml://datastores/workspaceblobstore/paths/raw"},
                            "raw", tmp_path / "run", where="inputs.raw", env=env)
    assert Path(got.value, "rows.csv").read_bytes() == b"a\nb\n" and Path(got.value, "sub", "more.csv").is_file()
    gets = [t for t in proxy.targets("GET") if "/proxied1/raw/" in t]
    assert len(gets) == 2  # both blob downloads (azure-storage-blob over requests) were forwarded


def test_plain_web_file_input_goes_through_the_proxy(tmp_path, clean_env, proxy):
    class Files(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"id\n1\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # a name only the proxy resolves: the download can only succeed through it
        proxy.hosts["files.example.test"] = ("127.0.0.1", server.server_address[1])
        use_proxy(clean_env, proxy.url)
        got = materialize_input({"type": "uri_file", "path": "http://files.example.test/data/rows.csv"}, "rows",
                                tmp_path / "run", where="inputs.rows", env={})
        assert Path(got.value).read_bytes() == b"id\n1\n"
        assert proxy.targets("GET") == ["http://files.example.test/data/rows.csv"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_run_history_and_log_downloads_go_through_the_proxy(fake_aml, tmp_path, clean_env, proxy):
    import io

    from fake_aml import history_client_for

    root = project(tmp_path / "proj")
    with client_for(fake_aml) as client:  # submitted directly: only the history half is under test
        submit(client, root, "logs-via-proxy")
    fake_aml.status_script = ("Running",) * 10
    fake_aml.append_log("logs-via-proxy", "user_logs/std_log.txt", b"epoch 1\n")
    use_proxy(clean_env, proxy.url)
    out = io.StringIO()
    with history_client_for(fake_aml) as history:
        history.stream_logs("logs-via-proxy", out, follow=False, sleep=lambda s: pytest.fail("slept"))
    assert out.getvalue().endswith("epoch 1\n")
    assert fake_aml.endpoint.split("://", 1)[1] in proxy.targets("CONNECT")  # run history (azure-core)
    assert any("user_logs/std_log.txt" in t for t in proxy.targets("GET"))  # the SAS download of the log blob
