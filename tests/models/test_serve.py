"""``serve``: a real scikit-learn model behind the local server, called with a real HTTP client."""

import http.client
import json
import os
import pickle
import textwrap
import threading

import pytest
import requests

from amlplatform.errors import UserError
from amlplatform.runs import models as m
from amlplatform.runs.serve import MlflowScorer, ScoringError, ScoringServer, load_scorer, to_jsonable

np = pytest.importorskip("numpy")
pytest.importorskip("sklearn")
pytest.importorskip("pandas")

X = [[0.0, 1.0, 3.0], [1.0, 0.0, 2.5], [1.0, 1.0, 0.5], [0.0, 0.0, 4.0], [0.2, 0.9, 1.0], [0.9, 0.1, 3.5]]
Y = [0, 1, 1, 0, 0, 1]

SCRIPT = textwrap.dedent('''
    import json, os, pickle, threading, time
    model = None
    calls = {"init": 0, "active": 0, "max_active": 0}
    lock = threading.Lock()

    def init():
        global model
        calls["init"] += 1
        with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "clf", "model.pkl"), "rb") as fh:
            model = pickle.load(fh)

    def run(raw_data):
        with lock:
            calls["active"] += 1
            calls["max_active"] = max(calls["max_active"], calls["active"])
        try:
            assert isinstance(raw_data, str)
            data = json.loads(raw_data)
            if data.get("boom"):
                raise RuntimeError("boom requested")
            time.sleep(0.002)
            return {"predictions": model.predict(data["data"]), "init_calls": calls["init"],
                    "max_active": calls["max_active"]}
        finally:
            with lock:
                calls["active"] -= 1
''')


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small scikit-learn model, saved as an MLflow folder and as a pickle + score.py."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("trained")
    model = LogisticRegression().fit(np.array(X), np.array(Y))
    mlflow.sklearn.save_model(model, str(root / "mlflow-model"), serialization_format="cloudpickle")
    (root / "clf").mkdir()
    with open(root / "clf" / "model.pkl", "wb") as fh:
        pickle.dump(model, fh)
    (root / "score.py").write_text(SCRIPT)
    return root, model


def _post(url, body, key=None, **kw):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return requests.post(url + "/score", data=body if isinstance(body, (str, bytes)) else json.dumps(body),
                         headers=headers, timeout=10, **kw)


def test_mlflow_model_scores_like_the_model_in_process(trained):
    root, model = trained
    resolved = m.resolve_local_path(root / "mlflow-model")
    assert resolved.model_type == m.MLFLOW_MODEL
    with ScoringServer(load_scorer(resolved), port=0, deployment="blue") as server:
        health = requests.get(server.url + "/", timeout=5)
        assert (health.status_code, health.text) == (200, "Healthy")
        split = {"input_data": {"columns": ["a", "b", "c"], "index": list(range(len(X))), "data": X}}
        r = _post(server.url, split)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["azureml-model-deployment"] == "blue"
        assert r.json() == model.predict(np.array(X)).tolist()
        arr = _post(server.url, {"input_data": X[:2]})
        assert arr.json() == model.predict(np.array(X[:2])).tolist()


@pytest.mark.parametrize("body,code", [
    ("not json", "InvalidJson"),
    ({"data": X}, "MissingInputData"),
    ({"input_data": {"columns": ["a"], "data": X, "extra": 1}}, "BadInputData"),
    ({"input_data": 5}, "BadInputData"),
])
def test_mlflow_bad_requests_are_400_with_a_json_error(trained, body, code):
    root, _ = trained
    with ScoringServer(load_scorer(m.resolve_local_path(root / "mlflow-model")), port=0) as server:
        r = _post(server.url, body)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == code


def test_named_arrays_become_a_dict_of_arrays():
    got = MlflowScorer.model_input(json.dumps({"input_data": {"x": [1, 2], "y": [[1], [2]]}}))
    assert set(got) == {"x", "y"} and got["y"].shape == (2, 1)


def test_scoring_script_gets_the_body_string_and_the_model_dir(trained):
    root, model = trained
    resolved = m.resolve_local_path(root / "clf")
    scorer = load_scorer(resolved, root / "score.py")
    assert os.environ["AZUREML_MODEL_DIR"] == str(root)  # the folder holding the model under its name
    with ScoringServer(scorer, port=0) as server:
        r = _post(server.url, {"data": X})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == model.predict(np.array(X)).tolist()
        assert r.json()["init_calls"] == 1
        boom = _post(server.url, {"boom": True})
        assert boom.status_code == 500
        assert boom.json()["error"] == {"code": "ScoringError",
                                        "message": boom.json()["error"]["message"]}
        assert "RuntimeError: boom requested" in boom.json()["error"]["message"]


def test_key_is_checked_on_score_and_swagger_but_not_on_the_probe(trained):
    root, model = trained
    scorer = load_scorer(m.resolve_local_path(root / "clf"), root / "score.py")
    with ScoringServer(scorer, port=0, key="s3cret") as server:
        assert requests.get(server.url + "/", timeout=5).status_code == 200
        none = _post(server.url, {"data": X})
        assert none.status_code == 401 and none.headers["WWW-Authenticate"] == "Bearer"
        assert none.json()["error"]["code"] == "Unauthorized"
        assert _post(server.url, {"data": X}, key="wrong").status_code == 401
        assert _post(server.url, {"data": X}, key="s3cret").status_code == 200
        assert requests.get(server.url + "/swagger.json", timeout=5).status_code == 401
        doc = requests.get(server.url + "/swagger.json", headers={"Authorization": "Bearer s3cret"}, timeout=5).json()
        assert doc["swagger"] == "2.0" and set(doc["paths"]) == {"/", "/score"} and "Bearer" in doc["securityDefinitions"]


def test_protocol_errors(trained):
    root, _ = trained
    scorer = load_scorer(m.resolve_local_path(root / "clf"), root / "score.py")
    with ScoringServer(scorer, port=0, max_body=1000) as server:
        assert requests.get(server.url + "/nope", timeout=5).json()["error"]["code"] == "NotFound"
        get_score = requests.get(server.url + "/score", timeout=5)
        assert get_score.status_code == 405 and get_score.headers["Allow"] == "POST"
        big = _post(server.url, {"data": [[1.0, 2.0, 3.0]] * 200})
        assert big.status_code == 413
        assert _post(server.url, b"\xff\xfe{}").json()["error"]["code"] == "NotUtf8"
        host, port = server.url[len("http://"):].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.putrequest("POST", "/score")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
        assert resp.status == 411 and json.loads(resp.read())["error"]["code"] == "LengthRequired"
        conn.close()


def test_keep_alive_and_concurrent_clients_one_scoring_call_at_a_time(trained):
    root, model = trained
    scorer = load_scorer(m.resolve_local_path(root / "clf"), root / "score.py")
    expected = model.predict(np.array(X)).tolist()
    with ScoringServer(scorer, port=0) as server:
        results, errors = [], []

        def client():
            with requests.Session() as s:  # one connection, several requests (HTTP/1.1 keep-alive)
                for _ in range(5):
                    r = s.post(server.url + "/score", data=json.dumps({"data": X}),
                               headers={"Content-Type": "application/json"}, timeout=10)
                    (results if r.status_code == 200 else errors).append(r.json())

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == [] and len(results) == 40
    assert all(r["predictions"] == expected for r in results)
    assert max(r["max_active"] for r in results) == 1


def test_loading_problems_are_user_errors(tmp_path, trained):
    root, _ = trained
    custom = m.resolve_local_path(root / "clf")
    with pytest.raises(UserError, match="--scoring-script"):
        load_scorer(custom)
    bad = tmp_path / "bad.py"
    bad.write_text("import no_such_module_here\n")
    with pytest.raises(UserError, match="failed to import: ModuleNotFoundError"):
        load_scorer(custom, bad)
    norun = tmp_path / "norun.py"
    norun.write_text("def init():\n    pass\n")
    with pytest.raises(UserError, match=r"no run\(raw_data\)"):
        load_scorer(custom, norun)
    failing_init = tmp_path / "failinit.py"
    failing_init.write_text("def init():\n    raise ValueError('no model')\ndef run(x):\n    return x\n")
    with pytest.raises(UserError, match=r"init\(\) failed: ValueError: no model"):
        load_scorer(custom, failing_init)
    with pytest.raises(UserError, match="does not exist"):
        m.resolve_local_path(tmp_path / "missing")
    with pytest.raises(UserError, match="empty"):
        ScoringServer(object(), key="  ")


def test_score_py_inside_a_custom_model_folder_is_used(tmp_path, trained):
    root, model = trained
    folder = tmp_path / "clf"
    folder.mkdir()
    (folder / "model.pkl").write_bytes((root / "clf" / "model.pkl").read_bytes())
    (folder / "score.py").write_text(SCRIPT)
    scorer = load_scorer(m.resolve_local_path(folder))
    assert scorer.score(json.dumps({"data": X}))["predictions"].tolist() == model.predict(np.array(X)).tolist()


def test_to_jsonable():
    import pandas as pd

    assert to_jsonable({"a": np.int64(3), "b": np.array([[1.5]]), "c": (1, "x")}) == {"a": 3, "b": [[1.5]], "c": [1, "x"]}
    assert to_jsonable(pd.DataFrame({"p": [1, 2]})) == [{"p": 1}, {"p": 2}]
    with pytest.raises(TypeError):
        to_jsonable(object())
    with pytest.raises(ScoringError):
        MlflowScorer.model_input("[]")


def test_a_busy_port_is_a_user_error(trained):
    import socket

    root, _ = trained
    scorer = load_scorer(m.resolve_local_path(root / "clf"), root / "score.py")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(UserError, match="cannot listen on 127.0.0.1"):
            ScoringServer(scorer, port=s.getsockname()[1]).bind()


def test_a_bare_array_is_refused_with_the_accepted_shape(trained):
    """Azure ML's no-code MLflow scoring script (Azure/azureml-assets,
    assets/training/model_management/environments/mlflow-model-inference/context/mlflow_score_script.py)
    declares ``run`` with ``@input_schema("input_data", ...)`` (required; only ``params`` is optional), so
    the managed deployment takes a JSON object with an ``input_data`` key, not a bare array."""
    root, model = trained
    rows = [[52.0, 0.18, 45, 0]]
    with ScoringServer(load_scorer(m.resolve_local_path(root / "mlflow-model")), port=0) as server:
        r = _post(server.url, rows)
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["code"] == "MissingInputData"
        # the message shows the accepted shape with the rows that were sent
        assert '{"input_data": [[52.0, 0.18, 45, 0]]}' in error["message"]
        wrapped = _post(server.url, {"input_data": X[:1]})
        assert wrapped.status_code == 200 and wrapped.json() == model.predict(np.array(X[:1])).tolist()
