"""Git properties recorded on a run, under the names Azure ML uses.

Git runs in the source folder (``git -C <source>``), never in the current directory, so a
script submitted from elsewhere records its own repository. Credentials in the remote URL
(``https://user:token@host/...``) are removed before anything is recorded.
"""

import os
import re
import subprocess
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit, urlunsplit

V2_REPO, V2_BRANCH, V2_COMMIT = "mlflow.source.git.repoURL", "mlflow.source.git.branch", "mlflow.source.git.commit"
DIRTY = "azureml.git.dirty"
V1_REPO, V1_BRANCH, V1_COMMIT = "azureml.git.repository_uri", "azureml.git.branch", "azureml.git.commit"

_SCP_LIKE = re.compile(r"^(?P<user>[^@/\s]+)@(?P<host>[^:/\s]+):(?P<path>.*)$")


def strip_credentials(url: str) -> str:
    """Drop ``user:password@`` / token user-info from URLs; keep a plain ssh user (``git@host:...``).

    >>> strip_credentials("https://x-access-token:ghp_abc@github.com/o/r.git")
    'https://github.com/o/r.git'
    >>> strip_credentials("git@github.com:o/r.git")
    'git@github.com:o/r.git'
    """
    url = url.strip()
    if "://" not in url:
        return url  # scp-like ssh syntax or a local path: no password can be in it
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    if parts.scheme in ("ssh", "git+ssh") and ":" not in userinfo:
        return url  # ssh://git@host/...: a user name, not a secret
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _git(root: Path, *args: str) -> Optional[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_OPTIONAL_LOCKS"] = "0"  # `git status` must not take the index lock of a busy tree
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip()


def git_properties(root: Path) -> dict[str, str]:
    """Azure ML git properties of the repository holding ``root``; ``{}`` outside a repo or without git."""
    root = Path(root)
    if not root.is_dir() or _git(root, "rev-parse", "--is-inside-work-tree") != "true":
        return {}
    props: dict[str, str] = {}
    commit = _git(root, "rev-parse", "HEAD")  # None in a repo without commits
    branch = _git(root, "symbolic-ref", "--short", "-q", "HEAD")  # None when detached
    remote = None
    if branch:
        name = _git(root, "config", "--get", f"branch.{branch}.remote")
        if name and name != ".":
            remote = _git(root, "remote", "get-url", name)
    if remote is None:
        remote = _git(root, "remote", "get-url", "origin")
    if remote is None:
        remotes = (_git(root, "remote") or "").split()
        if remotes:
            remote = _git(root, "remote", "get-url", remotes[0])
    status = _git(root, "status", "--porcelain")
    if remote:
        clean = strip_credentials(remote)
        if clean:
            props[V2_REPO] = props[V1_REPO] = clean
    if branch:
        props[V2_BRANCH] = props[V1_BRANCH] = branch
    if commit:
        props[V2_COMMIT] = props[V1_COMMIT] = commit
    if status is not None:
        props[DIRTY] = "True" if status else "False"
    return props
