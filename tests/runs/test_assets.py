"""The local asset store (``runs.assets``): ``amlplatform data|component|environment create|list|show`` from the
YAML files ``az ml ... create`` takes, versions as the service gives them, and job files naming registered assets
(``azureml:name:version``, ``@latest``, ``azureml://registries/...``) resolved from it locally - a nested
pipeline and a registered component run end to end; hostile names and self-including components are refused."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from amlplatform.errors import UserError
from amlplatform.runs import api
from amlplatform.runs import azure as az
from amlplatform.runs.assets import AssetStore, create_asset, list_assets, parse_ref, show_asset
from amlplatform.runs.coordinates import WorkspaceCoordinates
from amlplatform.runs.job import load_job, prepare_local
from amlplatform.runs.snapshot import take_data_snapshot, take_snapshot

from runs_helpers import REPO, VENV_BIN, run_cli

HERE = Path(__file__).resolve().parent
ASSET_CORPUS = HERE / "job_corpus" / "assets"
COORDS = WorkspaceCoordinates("00000000-1111-2222-3333-444444444444", "rg-aml-dev", "mlw-dev")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path, monkeypatch) -> AssetStore:
    root = tmp_path / "assets"
    monkeypatch.setenv("AMLPLATFORM_ASSETS_DIR", str(root))
    monkeypatch.setenv("AMLPLATFORM_MODELS_DIR", str(tmp_path / "models"))
    return AssetStore(root)


def data_file(tmp_path: Path, body: str = "name: rows\npath: ./rows\n", rows: str = "k\n1\n") -> Path:
    write(tmp_path / "rows" / "part.csv", rows)
    return write(tmp_path / "rows.yml", body)


# ---------------------------------------------------------------- versions, as the service gives them


def test_data_versions_increment_and_a_version_is_never_changed(tmp_path, store):
    f = data_file(tmp_path)
    first = create_asset("data", f)
    assert (first["name"], first["version"], first["created"], first["id"]) == ("rows", "1", True, "azureml:rows:1")
    folder = store.root / "data" / "rows" / "1"
    assert (folder / "files" / "rows" / "part.csv").read_text() == "k\n1\n"  # copied: later edits do not change it
    # without a version, data always gets the next number (azure-ai-ml _create_or_update_autoincrement)
    assert create_asset("data", f)["version"] == "2"
    # an explicit existing version: the same content is the same version, other content is refused
    assert create_asset("data", f, version="1")["created"] is False
    write(tmp_path / "rows" / "part.csv", "k\n2\n")
    with pytest.raises(UserError, match=r"data rows:1 already exists with other content"):
        create_asset("data", f, version="1")
    assert (folder / "files" / "rows" / "part.csv").read_text() == "k\n1\n"
    assert [r["version"] for r in list_assets("data", "rows")] == ["1", "2"]


def test_latest_is_the_most_recently_created_version(tmp_path, store):
    f = data_file(tmp_path)
    create_asset("data", f, version="10")
    time.sleep(0.01)  # created_at has millisecond resolution
    create_asset("data", f, version="9")
    assert show_asset("data", "rows@latest")["version"] == "9"  # "the most recently created" (_get_latest)
    assert show_asset("data", "rows")["version"] == "9"
    assert store.resolve("azureml:rows:10", "data").record["version"] == "10"


def test_environment_without_a_version_reuses_the_latest_when_equal(tmp_path, store):
    write(tmp_path / "conda.yml", "dependencies:\n  - python=3.11\n  - pip:\n    - six\n")
    f = write(tmp_path / "env.yml", "name: myenv\nimage: python:3.11\nconda_file: conda.yml\n")
    assert create_asset("environment", f)["version"] == "1"
    again = create_asset("environment", f)  # EnvironmentOperations._try_update_latest_version
    assert (again["version"], again["created"]) == ("1", False)
    write(tmp_path / "conda.yml", "dependencies:\n  - python=3.11\n  - pip:\n    - seven\n")
    assert create_asset("environment", f)["version"] == "2"
    stored = (store.root / "environment" / "myenv" / "2" / "environment.yml").read_text()
    assert "seven" in stored and "conda.yml" not in stored  # the conda file is inlined: nothing outside the store


def test_registry_assets_need_a_version_and_live_apart(tmp_path, store):
    f = data_file(tmp_path)
    with pytest.raises(UserError, match="a version is required for a registry"):
        create_asset("data", f, registry="shared")
    rec = create_asset("data", f, version="3", registry="shared")
    assert rec["id"] == "azureml://registries/shared/data/rows/versions/3"
    assert list_assets("data") == []  # the workspace's own assets are not the registry's
    assert store.resolve("azureml://registries/shared/data/rows/versions/3", "data").record["version"] == "3"


def test_component_code_is_stored_with_it(tmp_path, store):
    write(tmp_path / "src" / "main.py", "print('v1')\n")
    f = write(tmp_path / "comp.yml", "name: say\nversion: 1\ntype: command\ncode: ./src\ncommand: python main.py\n"
                                     "environment: azureml:e:1\n")
    create_asset("component", f)
    write(tmp_path / "src" / "main.py", "print('v2')\n")
    stored = store.root / "component" / "say" / "1"
    assert (stored / "files" / "code" / "main.py").read_text() == "print('v1')\n"
    with pytest.raises(UserError, match="already exists with other content"):
        create_asset("component", f)  # the version in the file, with other code


# ---------------------------------------------------------------- hostile and bad input


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "..", ".hidden", "", "x" * 256, "a\\b"])
def test_names_that_could_leave_the_store_are_refused(tmp_path, store, name):
    f = data_file(tmp_path, f"name: {json.dumps(name)}\npath: ./rows\n")
    with pytest.raises(UserError, match="name"):
        create_asset("data", f)
    with pytest.raises(UserError, match="name"):
        create_asset("environment", write(tmp_path / "e.yml", f"name: {json.dumps(name)}\nimage: python:3.11\n"))
    assert not store.root.exists() or not any(p.name == "x" for p in tmp_path.iterdir())
    with pytest.raises(UserError):
        store.resolve(f"azureml:{name}:1", "data")


@pytest.mark.parametrize("version", ["../1", "1/2", "", "-1", "v" * 51])
def test_bad_versions_are_refused(tmp_path, store, version):
    with pytest.raises(UserError, match="version"):
        create_asset("data", data_file(tmp_path), version=version)
    assert not (store.root / "data" / "rows").exists() or not list((store.root / "data" / "rows").iterdir())


def test_component_names_follow_azure_ai_ml(tmp_path, store):
    f = write(tmp_path / "c.yml", "name: My-Comp\ntype: command\ncommand: echo\nenvironment: azureml:e:1\n")
    with pytest.raises(UserError) as err:
        create_asset("component", f)
    assert "Component name should only contain lower letter, number, underscore" in str(err.value.problems)


def test_a_component_that_includes_itself_is_a_clear_error(tmp_path, store):
    write(tmp_path / "loop.yml", "type: pipeline\nname: loop\njobs:\n  again:\n    type: pipeline\n    component: ./loop.yml\n")
    write(tmp_path / "a.yml", "type: pipeline\nname: a\njobs:\n  b:\n    type: pipeline\n    component: ./b.yml\n")
    write(tmp_path / "b.yml", "type: pipeline\nname: b\njobs:\n  a:\n    type: pipeline\n    component: ./a.yml\n")
    for first, loop in (("loop.yml", "loop.yml -> .*loop.yml"), ("a.yml", "a.yml -> .*b.yml -> .*a.yml")):
        job = write(tmp_path / f"job-{first}", f"type: pipeline\ncompute: local\njobs:\n  s:\n    type: pipeline\n"
                                                f"    component: ./{first}\n")
        with pytest.raises(UserError) as err:
            load_job(job)
        assert any("includes itself" in p for p in err.value.problems), err.value.problems
        with pytest.raises(UserError) as err:
            create_asset("component", tmp_path / first)
        assert any("includes itself" in p for p in err.value.problems), err.value.problems


# ---------------------------------------------------------------- the contract: what az ml create accepts


def _oracle(items):
    from test_contract import azureml_python

    py = azureml_python()
    if not py.exists():
        pytest.skip(f"azure-ai-ml venv missing ({py})")
    done = subprocess.run([str(py), str(HERE / "azureml_oracle.py")], input=json.dumps(items), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


ASSET_FILES = sorted(ASSET_CORPUS.glob("*/*.yml"))


@pytest.fixture(scope="module")
def asset_oracle():
    items = [{"path": str(p), "asset": p.name.split("_", 1)[0]} for p in ASSET_FILES]
    return dict(zip(ASSET_FILES, _oracle(items)))


@pytest.mark.parametrize("path", ASSET_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_asset_files_are_accepted_and_refused_as_azure_ai_ml_does(asset_oracle, path, store):
    kind = path.name.split("_", 1)[0]
    theirs = asset_oracle[path]
    if path.parent.name == "good":
        assert theirs["ok"], theirs.get("error", "")[:1500]
        rec = create_asset(kind, path)
        assert rec["name"] == theirs["name"] and (theirs["version"] is None or rec["version"] == theirs["version"])
    elif path.parent.name == "stricter":  # what azure-ai-ml loads but we refuse earlier, saying why
        assert theirs["ok"], theirs
        with pytest.raises(UserError):
            create_asset(kind, path)
    else:
        lines = path.read_text().splitlines()
        field = next(line.split()[-1] for line in lines if line.startswith("# field:"))
        # the oracle's message names the field, or says what "# says:" quotes (a missing file names only the file)
        says = next((line.split(": ", 1)[1] for line in lines if line.startswith("# says:")), field)
        assert not theirs["ok"] and says in theirs["error"], theirs
        with pytest.raises(UserError) as err:
            create_asset(kind, path)
        assert any(p.startswith(field) for p in (err.value.problems or [str(err.value)])), err.value.problems


# ---------------------------------------------------------------- job files naming registered assets, locally


def test_references_parse_as_azure_ai_ml_writes_them():
    assert parse_ref("azureml:rows:2", "data").version == "2"
    assert parse_ref("azureml:rows@latest", "data").label == "latest"
    r = parse_ref("azureml://registries/shared/components/train/versions/4", "component")
    assert (r.registry, r.name, r.version) == ("shared", "train", "4")
    with pytest.raises(UserError, match="names components, not data"):
        parse_ref("azureml://registries/shared/components/train/versions/4", "data")
    with pytest.raises(UserError, match="only label known locally is @latest"):
        parse_ref("azureml:rows@prod", "data")


def pipeline_with_registered(tmp_path: Path, component: str) -> Path:
    return write(tmp_path / "job.yml", f"""type: pipeline
compute: local
inputs:
  rows: {{type: uri_folder, path: azureml:rows@latest}}
outputs:
  counted: {{type: uri_folder}}
jobs:
  count:
    type: command
    component: {component}
    inputs: {{rows: "${{{{parent.inputs.rows}}}}"}}
    outputs: {{counted: "${{{{parent.outputs.counted}}}}"}}
""")


def count_component(tmp_path: Path) -> Path:
    write(tmp_path / "count" / "count.py", "import sys, pathlib\nrows = sorted(pathlib.Path(sys.argv[1]).glob('*.csv'))\n"
                                           "out = pathlib.Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)\n"
                                           "(out / 'n.txt').write_text(str(sum(len(p.read_text().splitlines()) for p in rows)))\n")
    return write(tmp_path / "count.component.yml", "type: command\nname: count_rows\nversion: 1\n"
                 "inputs: {rows: {type: uri_folder}}\noutputs: {counted: {type: uri_folder}}\ncode: ./count\n"
                 "command: python count.py ${{inputs.rows}} ${{outputs.counted}}\nenvironment: azureml:e:1\n")


def test_a_registered_component_and_registered_data_run_locally(tmp_path, store):
    create_asset("data", data_file(tmp_path, rows="k\n1\n2\n"))
    create_asset("component", count_component(tmp_path))
    (tmp_path / "count" / "count.py").write_text("raise SystemExit('the registered copy runs, not this one')\n")
    run = api.submit(pipeline_with_registered(tmp_path, "azureml:count_rows:1"), runs_dir=tmp_path / "runs", wait=True)
    assert run.status == "Completed", run.logs()
    assert (Path(run.outputs["counted"]) / "n.txt").read_text() == "3"


def test_a_missing_registered_component_names_the_step_and_the_asset(tmp_path, store):
    create_asset("data", data_file(tmp_path))
    with pytest.raises(UserError) as err:
        api.submit(pipeline_with_registered(tmp_path, "azureml:count_rows:7"), runs_dir=tmp_path / "runs", wait=True)
    assert "jobs.count.component: component azureml:count_rows:7 is not in the local asset store" in str(err.value.problems)
    registry = "azureml://registries/shared/components/count_rows/versions/1"
    with pytest.raises(UserError) as err:
        api.submit(pipeline_with_registered(tmp_path, registry), runs_dir=tmp_path / "runs", wait=True)
    assert "--registry <registry>, or run on Azure ML (--compute <cluster>)" in str(err.value.problems)
    # the same reference, registered under that registry locally, runs
    create_asset("component", count_component(tmp_path), registry="shared")
    run = api.submit(pipeline_with_registered(tmp_path, registry), runs_dir=tmp_path / "runs", wait=True)
    assert run.status == "Completed", run.logs()


def test_missing_data_and_models_name_the_input(tmp_path, store):
    job = write(tmp_path / "cmd.yml", "command: echo ${{inputs.m}}\nenvironment: azureml:e:1\ncompute: local\n"
                                      "inputs:\n  m: {type: mlflow_model, path: azureml:clf:1}\n")
    with pytest.raises(UserError, match=r"inputs.m: model azureml:clf:1: .*amlplatform model register"):
        api.submit(job, runs_dir=tmp_path / "runs", wait=True)
    job = write(tmp_path / "cmd2.yml", "command: echo ${{inputs.d}}\nenvironment: azureml:e:1\ncompute: local\n"
                                       "inputs:\n  d: {type: uri_folder, path: azureml://registries/shared/data/rows/versions/1}\n")
    with pytest.raises(UserError, match=r"inputs.d: data azureml://registries/shared/data/rows/versions/1 is not in "
                                        r"registry 'shared' of the local asset store .*--compute <cluster>"):
        api.submit(job, runs_dir=tmp_path / "runs", wait=True)


def test_a_model_input_comes_from_the_local_model_registry(tmp_path, store):
    from amlplatform.runs.models import LocalRegistry

    write(tmp_path / "clf" / "weights.txt", "w")
    LocalRegistry(tmp_path / "models").register(tmp_path / "clf", "clf")
    job = write(tmp_path / "cmd.yml", "command: cat ${{inputs.m}}/weights.txt\nenvironment: azureml:e:1\ncompute: local\n"
                                      "inputs:\n  m: {type: custom_model, path: azureml:clf@latest}\n")
    run = api.submit(job, runs_dir=tmp_path / "runs", wait=True)
    assert run.status == "Completed" and run.logs().strip().endswith("w")


def test_a_registered_environment_from_the_store_is_the_jobs_environment_locally(tmp_path, store):
    create_asset("environment", write(tmp_path / "env.yml", "name: myenv\nversion: 2\nimage: python:3.11\n"
                                      "conda_file:\n  dependencies:\n    - pip:\n      - six\n"))
    job = write(tmp_path / "cmd.yml", "command: 'true'\nenvironment: azureml:myenv@latest\ncompute: local\n")
    env = prepare_local(load_job(job)).environment
    assert env.kind == "inline" and env.conda == {"dependencies": [{"pip": ["six"]}]} and env.image == "python:3.11"
    # not in the store: unchanged (it runs with this machine's Python and a note, as before)
    other = write(tmp_path / "cmd2.yml", "command: 'true'\nenvironment: azureml:other:1\ncompute: local\n")
    assert prepare_local(load_job(other)).environment.kind == "asset"


# ---------------------------------------------------------------- nested pipelines, locally


def test_a_nested_pipeline_binds_parent_inputs_and_outputs_at_every_level(tmp_path, store):
    write(tmp_path / "inner.yml", """type: pipeline
name: inner
inputs: {word: {type: string, default: unused}, times: {type: integer, default: 2}}
outputs: {said: {type: uri_folder}}
jobs:
  say:
    type: command
    command: mkdir -p ${{outputs.o}} && printf '%s:%s' ${{inputs.w}} ${{inputs.t}} > ${{outputs.o}}/said.txt
    environment: azureml:e:1
    inputs: {w: "${{parent.inputs.word}}", t: "${{parent.inputs.times}}"}
    outputs: {o: "${{parent.outputs.said}}"}
""")
    write(tmp_path / "middle.yml", """type: pipeline
name: middle
inputs: {word: {type: string}}
outputs: {result: {type: uri_folder}}
jobs:
  first:
    type: pipeline
    component: ./inner.yml
    inputs: {word: "${{parent.inputs.word}}"}
  second:
    type: command
    command: mkdir -p ${{outputs.r}} && cat ${{inputs.got}}/said.txt > ${{outputs.r}}/copy.txt
    environment: azureml:e:1
    inputs: {got: "${{parent.jobs.first.outputs.said}}"}
    outputs: {r: "${{parent.outputs.result}}"}
""")
    job = write(tmp_path / "job.yml", """type: pipeline
compute: local
inputs: {word: hello}
outputs: {final: {type: uri_folder}}
jobs:
  mid:
    type: pipeline
    component: ./middle.yml
    inputs: {word: "${{parent.inputs.word}}"}
    outputs: {result: "${{parent.outputs.final}}"}
  after:
    type: command
    command: cat ${{inputs.x}}/copy.txt
    environment: azureml:e:1
    inputs: {x: "${{parent.jobs.mid.outputs.result}}"}
""")
    run = api.submit(job, runs_dir=tmp_path / "runs", wait=True)
    assert run.status == "Completed", run.logs()
    assert set(run.details["steps"]) == {"mid-first-say", "mid-second", "after"}
    assert (Path(run.outputs["final"]) / "copy.txt").read_text() == "hello:2"
    assert "hello:2" in run.logs()


# ---------------------------------------------------------------- on Azure: bodies independent of the local store


def bodies(path: Path):
    plan = az.make_plan(load_job(path), job_name="p", snapshot=take_snapshot, data_snapshot=take_data_snapshot, git={},
                        workspace_id=COORDS.workspace_id)
    code_ids = {k: f"{COORDS.workspace_id}/codes/x/versions/1" for k in plan.codes}
    return az.job_bodies(plan, COORDS, code_ids=code_ids, submission_id=None, latest={"count_rows": "5"})


def test_azure_bodies_do_not_depend_on_the_local_store(tmp_path, store):
    job = pipeline_with_registered(tmp_path, "azureml:count_rows@latest")
    job.write_text(job.read_text().replace("compute: local", "compute: azureml:cpu"))
    before = bodies(job)
    create_asset("data", data_file(tmp_path))
    create_asset("component", count_component(tmp_path))
    assert bodies(job) == before
    components, body = before
    node = body["properties"]["jobs"]["count"]
    # @latest: the most recently created version's ARM id, as azure-ai-ml resolves it before sending
    assert node["componentId"] == f"{COORDS.workspace_id}/components/count_rows/versions/5"
    assert node["_source"] == "REMOTE.WORKSPACE.COMPONENT" and components == {}


def test_submit_looks_up_latest_before_sending(tmp_path, store):
    class Recorder(az.AzureMLClient):
        def __init__(self):
            self.calls = []
            self._w = COORDS.workspace_id

            class P:
                def call(inner, what, method, path, **kw):
                    self.calls.append((method, path, kw.get("params")))
                    from amlplatform.runs.rest import Answer

                    return Answer(200, {"value": [{"name": "12", "id": f"{path}/12"}]}, {})
            self.pipeline = P()

    client = Recorder()
    assert client.latest_component_version("count_rows") == "12"
    assert client.calls == [("GET", f"{COORDS.workspace_id}/components/count_rows/versions",
                             {"$orderBy": "createdtime desc", "$top": "1"})]


# ---------------------------------------------------------------- the command line and the example


def test_cli_create_list_show(tmp_path, store, capsys):
    f = data_file(tmp_path)
    assert run_cli("data", "create", "--file", str(f), "--version", "4") == 0
    assert "data rows:4 registered: azureml:rows:4" in capsys.readouterr().out
    assert run_cli("data", "list", "--json") == 0
    assert [r["version"] for r in json.loads(capsys.readouterr().out)] == ["4"]
    assert run_cli("data", "show", "rows@latest") == 0
    assert json.loads(capsys.readouterr().out)["id"] == "azureml:rows:4"
    assert run_cli("data", "create", "--file", str(f), "--name", "../evil") != 0
    assert "name must be" in capsys.readouterr().err


def test_the_nested_example_runs_from_a_fresh_copy(tmp_path):
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "examples/nested"], capture_output=True,
                           check=True).stdout.decode().split("\0")
    tracked = [f for f in files if f]
    if not tracked:
        pytest.skip("examples/nested is not tracked by git here")
    for rel in tracked:
        dest = tmp_path / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((REPO / rel).read_bytes())
    env = {**os.environ, "PYTHONPATH": str(REPO / "components"), "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    for var in ("AMLPLATFORM_RUNS_DIR", "AMLPLATFORM_ASSETS_DIR"):
        env.pop(var, None)

    def cli(*argv):
        proc = subprocess.run([sys.executable, "-m", "amlplatform.cli", *argv], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    cli("data", "create", "--file", "examples/nested/cities.data.yml")
    cli("component", "create", "--file", "examples/nested/count.component.yml")
    rec = json.loads(cli("submit", "--file", "examples/nested/pipeline.yml", "--json"))
    assert rec["status"] == "Completed"
    counted = Path(rec["named_outputs"]["counted"]["value"])
    assert json.loads((counted / "count.json").read_text()) == {"warmest.csv": 3}


def test_a_registered_pipeline_component_is_stored_self_contained_and_runs(tmp_path, store):
    corpus = HERE / "job_corpus"
    rec = create_asset("component", corpus / "components" / "pipeline" / "prep.yml")
    folder = store.root / "component" / "prep_pipe" / rec["version"]
    # its steps name ../../src and ../step.yml: copied and inlined, so nothing outside the store is read later
    assert (folder / "files" / "jobs" / "a" / "code" / "main.py").is_file()
    assert (folder / "files" / "jobs" / "b" / "component" / "code" / "main.py").is_file()
    assert "../" not in (folder / "component.yml").read_text()
    job = write(tmp_path / "job.yml", f"""type: pipeline
compute: local
inputs: {{data: {{type: uri_folder, path: {corpus / 'data'}}}}}
jobs:
  nested:
    type: pipeline
    component: azureml:prep_pipe@latest
    inputs: {{raw: "${{{{parent.inputs.data}}}}"}}
""")
    run = api.submit(job, runs_dir=tmp_path / "runs", wait=True)
    assert run.status == "Completed", run.logs()
    assert set(run.details["steps"]) == {"nested-a", "nested-b"}
    assert "'a', '3'," in run.logs()  # the component's default n, through ${{parent.inputs.n}}


def test_the_corpus_bodies_are_the_same_with_the_registered_components_stored(tmp_path, store):
    corpus = HERE / "job_corpus"
    path = corpus / "good" / "pipeline_registered_components.yml"
    before = bodies(path)
    create_asset("component", corpus / "components" / "pipeline" / "prep.yml")
    train = write(tmp_path / "train.yml", "type: command\nname: train\ninputs:\n  x: {type: uri_folder}\n"
                  "  lr: {type: number, default: 0.01}\noutputs:\n  model: {type: mlflow_model}\n"
                  "command: echo ${{inputs.x}} ${{inputs.lr}} ${{outputs.model}}\nenvironment: azureml:env:1\n")
    create_asset("component", train, version="3")
    assert load_job(path).jobs["nested"].pipeline is not None  # now read from the store
    assert bodies(path) == before


@pytest.mark.parametrize("ref", ["azureml:..:1", "azureml://registries/../components/x/versions/1",
                                 "azureml://registries/r/components/Bad-Name/versions/1",
                                 "azureml://registries/r/components/x/versions/..", "azureml://registries/r/data/x/versions/1"])
def test_hostile_component_references_in_a_job_name_the_step(tmp_path, store, ref):
    job = write(tmp_path / "job.yml", f"type: pipeline\ncompute: local\njobs:\n  s:\n    type: command\n    component: {ref}\n")
    with pytest.raises(UserError) as err:
        load_job(job)
    assert any(p.startswith("jobs.s.component") for p in err.value.problems), err.value.problems
    assert not store.root.exists()


def test_registered_component_ids_as_azure_ai_ml_resolves_them():
    w = COORDS.workspace_id
    assert az.registered_component_id("azureml:train:3", COORDS, {}) == f"{w}/components/train/versions/3"
    assert az.registered_component_id("azureml:train@latest", COORDS, {"train": "8"}) == f"{w}/components/train/versions/8"
    # another label: LABELLED_RESOURCE_ID_FORMAT (azure-ai-ml sends @default that way)
    assert az.registered_component_id("azureml:train@default", COORDS, {}) == f"{w}/components/train/labels/default"
    reg = "azureml://registries/shared/components/train/versions/2"
    assert az.registered_component_id(reg, COORDS, {}) == reg
