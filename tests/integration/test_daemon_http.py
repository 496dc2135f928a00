"""The daemon's unauthenticated HTTP endpoints stay up under half-open connections: each connection
has a timeout and at most MAX_CONNECTIONS are served at once (before: 300 idle connections held 300
threads until the clients went away)."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from drkit.scheduler import health
from drkit.scheduler.health import HealthServer, Readiness


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HealthServer]:
    monkeypatch.setattr(health._Handler, "timeout", 1.0)
    srv = HealthServer("127.0.0.1", 0, CollectorRegistry(), Readiness({}))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_half_open_connections_neither_pile_up_threads_nor_block_the_probes(server: HealthServer) -> None:
    host, port = server.address
    before = threading.active_count()
    idle = []
    try:
        for _ in range(300):
            idle.append(socket.create_connection((host, port), timeout=5))  # connect, send nothing
        threads = threading.active_count() - before
        assert threads <= health.MAX_CONNECTIONS + 2, threads
        deadline = time.monotonic() + 10
        while True:  # the capped slots free up as the idle connections time out
            try:
                with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2) as resp:
                    assert resp.read() == b"ok\n"
                break
            except OSError:
                assert time.monotonic() < deadline, "healthz never answered"
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before
