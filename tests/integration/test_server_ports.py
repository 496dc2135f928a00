"""The tests' own servers start even when a port picked free was taken before the server bound it (a
concurrent test session's server took it): the server exits "address already in use" and the start is tried
again on other ports, instead of failing the whole session. Here the first port offered is held by a listener.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import fakegcs, mariadb, postgres, seaweedfs
from servers import redis as redis_servers

pytestmark = pytest.mark.integration


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port a listener holds."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield int(held.getsockname()[1])


def test_mariadb_start_tries_another_port_when_its_port_was_taken(taken: int, monkeypatch: pytest.MonkeyPatch) -> None:
    offered = iter([taken])
    free_port = mariadb.free_port
    monkeypatch.setattr(mariadb, "free_port", lambda: next(offered, None) or free_port())
    with mariadb.start_mariadb() as server:
        assert server.port != taken
        assert server.sql("SELECT 6 * 7").split() == ["42"]


def test_seaweedfs_start_tries_other_ports_when_one_was_taken(
    taken: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tries = []
    free_ports = seaweedfs.free_ports

    def first_taken(count: int) -> list[int]:  # the first try's master port is the held one
        tries.append(ports := free_ports(count))
        return [taken, *ports[1:]] if len(tries) == 1 else ports

    monkeypatch.setattr(seaweedfs, "free_ports", first_taken)
    with seaweedfs.start_seaweedfs(tmp_path / "weed") as server:
        assert len(tries) == 2  # the first try's weed exited: its master port was taken
        bucket = server.make_bucket("ports")
        server.client().put_object(Bucket=bucket, Key="k", Body=b"v")
        assert server.client().get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_redis_start_tries_another_port_when_its_port_was_taken(
    taken: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offered = iter([taken])
    free_port = redis_servers.free_port
    monkeypatch.setattr(redis_servers, "free_port", lambda: next(offered, None) or free_port())
    with redis_servers.start_redis(tmp_path / "redis") as server:
        assert server.port != taken
        with server.client() as client:
            assert client.set("k", "v") and client.get("k") == b"v"
            assert int(client.info("server")["process_id"]) == server.proc.pid


def test_postgres_start_tries_another_port_when_its_port_was_taken(taken: int, monkeypatch: pytest.MonkeyPatch) -> None:
    offered = iter([taken])
    free_port = postgres.free_port
    monkeypatch.setattr(postgres, "free_port", lambda: next(offered, None) or free_port())
    with postgres.start_postgres("drkit-pg-ports-") as server:
        assert server.port != taken
        assert server.psql("SELECT 6 * 7").strip() == "42"  # over TCP, on the port it reports


def test_fakegcs_start_tries_another_port_when_its_port_was_taken(taken: int, monkeypatch: pytest.MonkeyPatch) -> None:
    offered = iter([taken])
    free_port = fakegcs.free_port
    monkeypatch.setattr(fakegcs, "free_port", lambda: next(offered, None) or free_port())
    with fakegcs.fake_gcs_server() as server:
        assert not server.endpoint.endswith(f":{taken}")
        with urllib.request.urlopen(f"{server.endpoint}/storage/v1/b", timeout=30) as resp:
            assert resp.status == 200
