"""Git properties come from the source folder's repository, under Azure ML's names, without credentials."""

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from amlplatform.runs.gitinfo import git_properties, strip_credentials

ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
       "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=ENV).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "src").mkdir()
    (root / "src" / "train.py").write_text("print()\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    git(root, "remote", "add", "origin", "https://user:s3cr3t-token@dev.azure.com/org/proj/_git/repo")
    return root


def test_properties_of_a_clean_repo_from_a_sub_folder(repo, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # not inside the repo: git must run in the source folder
    props = git_properties(repo / "src")
    head = git(repo, "rev-parse", "HEAD")
    assert props == {
        "mlflow.source.git.repoURL": "https://dev.azure.com/org/proj/_git/repo",
        "azureml.git.repository_uri": "https://dev.azure.com/org/proj/_git/repo",
        "mlflow.source.git.branch": "main",
        "azureml.git.branch": "main",
        "mlflow.source.git.commit": head,
        "azureml.git.commit": head,
        "azureml.git.dirty": "False",
    }
    assert "s3cr3t" not in repr(props)


def test_dirty_when_a_file_changes_or_appears(repo):
    (repo / "new.txt").write_text("x")
    assert git_properties(repo)["azureml.git.dirty"] == "True"


def test_detached_head_has_no_branch(repo):
    git(repo, "checkout", "-q", "--detach")
    props = git_properties(repo)
    assert "mlflow.source.git.branch" not in props and props["mlflow.source.git.commit"]


def test_outside_a_repo_or_without_git(tmp_path, monkeypatch, repo):
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert git_properties(plain) == {}
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert git_properties(repo) == {}


def test_repo_without_commits(tmp_path):
    git(tmp_path, "init", "-q", "-b", "dev")
    props = git_properties(tmp_path)
    assert props == {"mlflow.source.git.branch": "dev", "azureml.git.branch": "dev", "azureml.git.dirty": "False"}


@pytest.mark.parametrize(
    "url,clean",
    [
        ("https://x-access-token:ghp_abc@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://ghp_abc@github.com/o/r.git", "https://github.com/o/r.git"),
        ("http://u:p@host:8080/r", "http://host:8080/r"),
        ("ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git"),
        ("ssh://git:pw@github.com/o/r.git", "ssh://github.com/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("https://github.com/o/r.git", "https://github.com/o/r.git"),
    ],
)
def test_strip_credentials(url, clean):
    assert strip_credentials(url) == clean


@given(st.text(alphabet="abcXYZ019_-.~%!$", min_size=1, max_size=20), st.text(alphabet="abcXYZ019_-.~%!$", min_size=1, max_size=20))
def test_no_secret_survives_in_https_urls(user, secret):
    out = strip_credentials(f"https://{user}:{secret}@example.com/org/repo.git")
    assert out == "https://example.com/org/repo.git"
