"""The suite passes however it is started, and leaves nothing running."""

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def _pytest(args, cwd, timeout=240, background=False, env=None):
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    if background:
        # a non-interactive shell starts `cmd &` with SIGINT and SIGQUIT ignored (POSIX: no job control)
        line = " ".join(f"'{a}'" for a in command)
        command = ["bash", "-c", f"{line} & wait $!"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "components"), **(env or {})})


def test_a_background_shell_really_ignores_sigint():
    out = subprocess.run(["bash", "-c", f"'{sys.executable}' -c 'import signal; print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)' & wait"],
                         capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "True"


@pytest.mark.slow  # a nested pytest run of the tests that interrupt a submit
def test_interrupting_tests_pass_when_the_suite_runs_in_the_background():
    proc = _pytest(["tests/runs/test_records.py", "-k", "sigint_exit_code_in_the_record", "tests/runs/test_local.py",
                    "-k", "sigint_exit_code_in_the_record or sigint_to_a_real_submit"], ROOT, background=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout


def test_a_process_left_running_fails_the_session_and_is_killed(tmp_path):
    pidfile = tmp_path / "leaked.pid"
    (tmp_path / "test_leak.py").write_text(textwrap.dedent(f"""
        import subprocess, sys
        def test_leaks():
            # its own session and an environment of its own: neither a child of pytest's group nor marked
            p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
            open({str(pidfile)!r}, "w").write(str(p.pid))
        def test_leaks_an_orphan():
            # a grandchild whose parent exits: re-parented away from pytest, found by its environment
            subprocess.run([sys.executable, "-c",
                            "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],"
                            " start_new_session=True)"], check=True)
        """))
    proc = _pytest(["-p", "leftovers", str(tmp_path / "test_leak.py")], tmp_path,
                   env={"PYTHONPATH": f"{ROOT / 'components'}{os.pathsep}{TESTS}"})
    assert proc.returncode != 0, proc.stdout
    assert "were still running at the end of the session" in proc.stdout, proc.stdout
    leaked = int(pidfile.read_text())
    assert f"pid {leaked}:" in proc.stdout
    # the child and the orphan (each pid once: with CI set, pytest's short summary repeats the whole message)
    assert len(set(re.findall(r"pid (\d+): [^\n]*time\.sleep\(120\)", proc.stdout))) == 2, proc.stdout
    time.sleep(0.2)
    state = Path(f"/proc/{leaked}/stat")
    assert not state.exists() or state.read_text().split(") ")[1][0] == "Z"


def test_a_clean_session_passes(tmp_path):
    (tmp_path / "test_clean.py").write_text(
        "import subprocess, sys\n"
        "def test_clean():\n"
        "    subprocess.run([sys.executable, '-c', 'pass'], check=True)\n")
    proc = _pytest(["-p", "leftovers", str(tmp_path / "test_clean.py")], tmp_path,
                   env={"PYTHONPATH": f"{ROOT / 'components'}{os.pathsep}{TESTS}"})
    assert proc.returncode == 0, proc.stdout
