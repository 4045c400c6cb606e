"""Nothing the tests start outlives the test session.

Every process the session starts carries ``AMLPLATFORM_TEST_SESSION=<token>`` in its environment
(inherited from the session's own, set here), so a process that was orphaned and re-parented away
from pytest is still recognised; processes that were given an environment of their own are found as
descendants of pytest. At the end of the session (after every other fixture has stopped what it
started) whatever is still running is killed and the session fails, naming each process.

Linux (/proc) only; elsewhere this checks nothing and says so in the report header.
"""

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Dict, List

import pytest

SESSION_ENV = "AMLPLATFORM_TEST_SESSION"
PROC = Path("/proc")


def _stat(pid: int):
    """(state, ppid) of a live process, or None."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def _cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def session_processes(token: str, root: int) -> Dict[int, str]:
    """Live (not zombie) processes other than ``root`` that carry ``token`` or descend from ``root``."""
    mark = f"{SESSION_ENV}={token}".encode()
    parents: Dict[int, int] = {}
    marked = set()
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        info = _stat(pid)
        if info is None or info[0] == "Z" or pid == root:
            continue
        parents[pid] = info[1]
        try:
            if mark in (PROC / entry.name / "environ").read_bytes().split(b"\0"):
                marked.add(pid)
        except OSError:
            pass
    found = set(marked)
    for pid in parents:
        p, seen = pid, 0
        while p in parents and seen < 64:
            p, seen = parents[p], seen + 1
            if p == root:
                found.add(pid)
                break
    return {pid: _cmdline(pid) for pid in sorted(found)}


def kill_all(pids: List[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any((_stat(p) or ("Z",))[0] != "Z" for p in pids):
        time.sleep(0.05)


def pytest_report_header(config):
    if not PROC.is_dir():
        return "leftover-process check: off (no /proc)"
    return None


@pytest.fixture(scope="session", autouse=True)
def no_leftover_processes():
    """Fail the session, loudly, when a process it started is still running at the end."""
    if not PROC.is_dir():
        yield
        return
    token = uuid.uuid4().hex
    previous = os.environ.get(SESSION_ENV)
    os.environ[SESSION_ENV] = token
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(SESSION_ENV, None)
        else:
            os.environ[SESSION_ENV] = previous
    deadline = time.monotonic() + 3  # a process being ended right now gets a moment
    left = session_processes(token, os.getpid())
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = session_processes(token, os.getpid())
    if left:
        kill_all(list(left))
        pytest.fail("processes started by the tests were still running at the end of the session "
                    "(now killed):\n" + "\n".join(f"  pid {pid}: {cmd}" for pid, cmd in left.items()),
                    pytrace=False)
