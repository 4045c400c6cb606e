"""Azurite (Azure Blob Storage emulator) for tests: one process per test session, started on demand.

``./dev test`` installs it into ``node_modules`` (package.json); the ``azurite`` fixture skips with
a clear reason only when node or Azurite is missing. The process is shared by every test module
that imports the fixture (a module-level singleton, stopped at the end of the session).
"""

import atexit
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
AZURITE_BLOB = REPO / "node_modules" / ".bin" / "azurite-blob"
# The well-known development account every Azurite instance serves (public, documented by Microsoft).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Azurite:
    port: int
    process: subprocess.Popen

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.service_url};"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_instance: Optional[Azurite] = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_reason() -> Optional[str]:
    if shutil.which("node") is None:
        return "node is not installed (Azurite needs it; ./dev test installs Azurite)"
    if not AZURITE_BLOB.exists():
        return f"Azurite is not installed ({AZURITE_BLOB} missing; run ./dev setup)"
    return None


def start_azurite(timeout: float = 30.0) -> Azurite:
    """Start ``azurite-blob`` in memory on a free port and wait until it accepts connections."""
    global _instance
    if _instance is not None and _instance.process.poll() is None:
        return _instance
    port = _free_port()
    process = subprocess.Popen(
        [str(AZURITE_BLOB), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
         "--skipApiVersionCheck", "--silent", "--loose"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"Azurite exited with {process.returncode}: {err[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"Azurite did not listen on port {port} within {timeout} s")
    _instance = Azurite(port, process)
    atexit.register(_instance.stop)
    return _instance


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    instance = start_azurite()
    yield instance
    # stopped with the session, not at interpreter exit: the leftover-process check
    # (tests/leftovers.py) runs after every other session fixture has ended
    instance.stop()
