"""Every Redis restore mode compared with the source by Redis itself, not by drkit: ``DEBUG DIGEST``
(every key and value of every db, and whether a key expires) plus ``PEXPIRETIME`` of every key with
a TTL (the digest does not say when). Modes: an RDB into a directory (a server started on it) and
into a running server (``--to-url``); a point in time into a directory and into a running server,
the source's oracle taken at the target instant while writes were stopped."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit, one_line_error
from rediskit import ENV, init_repo, iso, next_second
from servers.redis import RedisFactory, RedisServer, digest, expiries, fill_bulk, fill_types, start_redis

pytestmark = pytest.mark.integration

Oracle = tuple[str, dict[int, dict[bytes, int]]]


@pytest.fixture
def repo(tmp_path: Path) -> str:
    return init_repo(tmp_path / "repo")


def oracle(server: RedisServer) -> Oracle:
    return digest(server), expiries(server)


def run(*args: str) -> dict[str, Any]:
    proc = drkit(*args, "--json", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def change_everything(server: RedisServer) -> None:
    """Writes after the target instant: a restore to that instant must not show any of them."""
    for db in (0, 2):
        with server.client(db) as c:
            c.set("s:1", "changed")
            c.delete("h:big:1")
            c.rpush("l:1", "appended")
            c.persist("ttl:s:1")
            c.set("new-after-target", "x", ex=60)


def test_rdb_into_directory(repo: str, redis_server: RedisServer, tmp_path: Path) -> None:
    fill_types(redis_server)
    fill_bulk(redis_server, 5)
    expected = oracle(redis_server)
    run("backup", "redis", "--repo", repo, "--url", redis_server.url)
    change_everything(redis_server)
    run("restore", "redis", "--repo", repo, "--target-dir", str(tmp_path / "t"))
    with start_redis(tmp_path / "t") as loaded:
        assert oracle(loaded) == expected


def test_rdb_into_running_server(repo: str, redis_server: RedisServer, redis_factory: RedisFactory) -> None:
    fill_types(redis_server)
    fill_bulk(redis_server, 5)
    expected = oracle(redis_server)
    run("backup", "redis", "--repo", repo, "--url", redis_server.url)
    change_everything(redis_server)
    with redis_factory() as into:
        run("restore", "redis", "--repo", repo, "--to-url", into.url)
        assert oracle(into) == expected  # expiry times exact, not shifted by the copy's duration


def history(repo: str, server: RedisServer) -> tuple[float, Oracle]:
    """An AOF snapshot, writes, the oracle at T (writes stopped), more writes, the archive, and
    last an RDB snapshot holding the state *after* T (the newest snapshot is not the answer)."""
    fill_types(server, dbs=(0, 2))
    run("backup", "redis", "--repo", repo, "--aof-dir", str(server.aof_dir), "--url", server.url)
    next_second()
    fill_types(server, dbs=(0, 2, 4), seed=2)
    server.client(2).delete("l:1")
    expected = oracle(server)
    next_second()  # T a whole second after every write above: AOF times are whole seconds, a write in
    when = float(int(time.time()))  # T's own second would be after T and is not restored
    change_everything(server)
    proc = drkit("redis", "aof-archive", "--repo", repo, "--aof-dir", str(server.aof_dir), "--once", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    run("backup", "redis", "--repo", repo, "--url", server.url)
    assert oracle(server) != expected
    return when, expected


def test_point_in_time_into_directory(repo: str, redis_aof_server: RedisServer, tmp_path: Path) -> None:
    when, expected = history(repo, redis_aof_server)
    run("restore", "redis", "--repo", repo, "--point-in-time", iso(when), "--target-dir", str(tmp_path / "t"))
    with start_redis(tmp_path / "t", aof=True) as loaded:
        assert oracle(loaded) == expected


def test_point_in_time_into_running_server(
    repo: str, redis_aof_server: RedisServer, redis_factory: RedisFactory
) -> None:
    """The defect: the newest RDB was loaded and the AOF archive ignored (wrong state, exit 0)."""
    when, expected = history(repo, redis_aof_server)
    with redis_factory() as into:
        out = run("restore", "redis", "--repo", repo, "--point-in-time", iso(when), "--to-url", into.url)
        assert oracle(into) == expected
        assert out["kind"] == "pitr-aof"


def test_point_in_time_from_rdb_only_into_running_server(
    repo: str, redis_server: RedisServer, redis_factory: RedisFactory
) -> None:
    """No AOF in the repository: the newest RDB taken at or before T, not the newest RDB."""
    fill_types(redis_server, dbs=(0,))
    expected = oracle(redis_server)
    run("backup", "redis", "--repo", repo, "--url", redis_server.url)
    next_second()
    when = float(int(time.time()))
    next_second()
    change_everything(redis_server)
    run("backup", "redis", "--repo", repo, "--url", redis_server.url)
    with redis_factory() as into:
        out = run("restore", "redis", "--repo", repo, "--point-in-time", iso(when), "--to-url", into.url)
        assert oracle(into) == expected
        assert out["kind"] == "pitr-rdb"


def test_point_in_time_not_covered_into_running_server(
    repo: str, redis_aof_server: RedisServer, redis_factory: RedisFactory
) -> None:
    """An uncovered time is refused (exit 2) before the target is touched."""
    fill_types(redis_aof_server, dbs=(0,))
    run("backup", "redis", "--repo", repo, "--aof-dir", str(redis_aof_server.aof_dir), "--url", redis_aof_server.url)
    with redis_factory() as into:
        proc = drkit(
            "restore",
            "redis",
            "--repo",
            repo,
            "--point-in-time",
            iso(time.time() - 3600),
            "--to-url",
            into.url,
            env=ENV,
        )
        assert proc.returncode == 2 and "not covered" in one_line_error(proc)
        assert into.client().dbsize() == 0


def test_aof_snapshot_into_running_server(
    repo: str, redis_aof_server: RedisServer, redis_factory: RedisFactory
) -> None:
    """An AOF snapshot loads into a running server too (it was refused: RDB snapshots only)."""
    fill_types(redis_aof_server, dbs=(0, 3))
    expected = oracle(redis_aof_server)
    run("backup", "redis", "--repo", repo, "--aof-dir", str(redis_aof_server.aof_dir))
    change_everything(redis_aof_server)
    with redis_factory() as into:
        assert run("restore", "redis", "--repo", repo, "--to-url", into.url)["kind"] == "aof"
        assert oracle(into) == expected
