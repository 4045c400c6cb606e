"""Shared fixtures: each shipped stack is evaluated once per test session (azure-native attaches
many aliases per resource, so evaluations are the slow part of the suite)."""

import functools
from pathlib import Path

import pytest

from leftovers import no_leftover_processes  # noqa: F401  (autouse: nothing outlives the session)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_STACKS = ("dev", "staging", "prod")


@functools.lru_cache(maxsize=None)
def _evaluated(stack: str):
    from amlplatform.offline.engine import evaluate_stack

    return evaluate_stack(stack, project_dir=ROOT)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def stack_graph():
    """``stack_graph("prod")`` -> the recorded Graph of a shipped stack (cached; do not mutate)."""
    return _evaluated


@pytest.fixture(scope="session", params=SHIPPED_STACKS)
def shipped_graph(request):
    """Each shipped stack's Graph in turn."""
    return _evaluated(request.param)


@pytest.fixture
def make_stack(tmp_path):
    """Write a stack file into a copy of the project layout and return (project_dir, stack name).

    ``make_stack({"amlplatform:naming": {...}, ...}, name="x")``
    """
    import shutil

    import yaml

    def make(config: dict, name: str = "fixture") -> Path:
        project = tmp_path / "project"
        if not project.exists():
            (project / "stacks").mkdir(parents=True)
            shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
            shutil.copytree(ROOT / "infra", project / "infra")
            # the files the shipped stacks upload as assets (amlplatform:assets, data_assets), for stacks
            # derived from them
            shutil.copytree(ROOT / "serving", project / "serving")
            shutil.copytree(ROOT / "examples", project / "examples", ignore=shutil.ignore_patterns("__pycache__"))
        (project / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
        return project

    return make


@pytest.fixture(scope="session", autouse=True)
def _job_environment_cache(tmp_path_factory):
    """Local runs build each job's own environment into a cache (runs.envbuild): one per test session,
    never the user's ~/.cache; pip (not a uv that may be on PATH) so the runs are alike everywhere."""
    import os

    saved = {k: os.environ.get(k) for k in ("AMLPLATFORM_ENV_CACHE", "AMLPLATFORM_ENV_INSTALLER")}
    os.environ["AMLPLATFORM_ENV_CACHE"] = str(tmp_path_factory.mktemp("job-envs"))
    os.environ.setdefault("AMLPLATFORM_ENV_INSTALLER", "pip")
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
