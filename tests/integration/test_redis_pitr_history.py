"""A Redis point-in-time restore is made from ONE server's AOF history (``drkit.sources.redis.history``),
checked with real Redis 7 servers and ``DEBUG DIGEST`` of the source at the target instant:

- the standard setup (snapshots under the job's name, the AOF archive under the source's ``name``: one
  server, two names) restores without ``--name``;
- two servers archived into one repository, their AOF files of one name and base second: without
  ``--name`` the restore is refused (exit 2, nothing written); with ``--name`` each restores its own;
- a restarted server (same AOF directory, a new ``run_id``) restores across the restart."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from rediskit import ENV, init_repo, iso, next_second
from servers.redis import RedisFactory, RedisServer, digest, start_redis

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> str:
    return init_repo(tmp_path / "repo")


def settle(second: float) -> None:
    """Until a capture (less drkit's fsync slack of 2 s) proves the AOF holds every write of ``second``."""
    time.sleep(max(0.0, second + 3.2 - time.time()))


def ok(*args: str) -> None:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()


def archive(repo: str, server: RedisServer, name: str = "redis") -> None:
    ok("redis", "aof-archive", "--repo", repo, "--aof-dir", str(server.aof_dir), "--name", name, "--once")


def backup_aof(repo: str, server: RedisServer, name: str) -> None:
    """An AOF snapshot of ``server`` under ``name``."""
    ok("backup", "redis", "--repo", repo, "--name", name, "--aof-dir", str(server.aof_dir), "--url", server.url)


def mark_point(repo: str, server: RedisServer, name: str = "redis") -> tuple[float, str]:
    """The next whole second, after every write so far, and ``server``'s digest then (the oracle of a
    restore to it); a write after it ("k3"), then the archive brought past that second."""
    next_second()
    when = float(int(time.time()))
    expected = digest(server)
    server.client().set("k3", "after the point")
    settle(when)
    archive(repo, server, name)
    return when, expected


def restore(repo: str, when: float, target: Path, *name: str) -> bytes:
    """The restore's stderr (exit 0 asserted)."""
    args = ["restore", "redis", "--repo", repo, "--point-in-time", iso(when), "--target-dir", str(target), *name]
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stderr


def restored_digest(target: Path) -> str:
    with start_redis(target, aof=True) as loaded:
        return digest(loaded)


def base_file(server: RedisServer) -> Path:
    (base,) = server.aof_dir.glob("*.base.*")
    return base


def test_the_standard_job_setup_restores_without_a_name(
    repo: str, redis_aof_server: RedisServer, tmp_path: Path
) -> None:
    """Snapshots under the job's name ("cache"), the archive under the source's ("redis"): one history."""
    c = redis_aof_server.client()
    c.set("k1", "one")
    backup_aof(repo, redis_aof_server, "cache")
    ok("backup", "redis", "--repo", repo, "--name", "cache", "--url", redis_aof_server.url)  # an RDB too
    next_second()
    c.hset("k2", mapping={"f": "two"})
    when, expected = mark_point(repo, redis_aof_server)
    restore(repo, when, tmp_path / "t")
    assert restored_digest(tmp_path / "t") == expected != digest(redis_aof_server)


def _write(servers: dict[str, RedisServer], key: str, who: list[str]) -> None:
    for name in who:  # one command each, keys and values of one length on every server
        servers[name].client().set(key, f"{name}-{key}")


def _two_servers(repo: str, servers: dict[str, RedisServer]) -> tuple[float, dict[str, str]]:
    """Both servers' base files in one second; per second one SET each (one length: an INCR file made of
    one server's first bytes and the other's next is a valid AOF). ``one`` archives more before ``two``'s
    next round, so a planner keying by file name and second would take one's first bytes, then two's."""
    second = min(int(base_file(s).stat().st_mtime) for s in servers.values())
    for s in servers.values():
        os.utime(base_file(s), (second, second))
    next_second()
    _write(servers, "k1", ["one", "two"])
    next_second()
    _write(servers, "k2", ["one"])
    archive(repo, servers["one"], "one")
    archive(repo, servers["two"], "two")
    _write(servers, "k2", ["two"])
    next_second()
    _write(servers, "k3", ["one", "two"])
    next_second()
    when = float(int(time.time()))
    expected = {name: digest(s) for name, s in servers.items()}
    _write(servers, "k4", ["one", "two"])
    _write(servers, "k5", ["two"])
    settle(when)
    archive(repo, servers["one"], "one")
    archive(repo, servers["two"], "two")
    return when, expected


def test_two_servers_in_one_repository_are_never_stitched(
    repo: str, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    """On the old code the restore without --name exited 0 with one's k1 and k2 and two's k3 (a digest of
    neither server at that instant)."""
    with redis_factory(aof=True) as one, redis_factory(aof=True) as two:
        servers = {"one": one, "two": two}
        when, expected = _two_servers(repo, servers)
    target = tmp_path / "t"
    args = ["restore", "redis", "--repo", repo, "--point-in-time", iso(when), "--target-dir", str(target)]
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 2, proc.stderr.decode()
    assert "2 different Redis servers" in one_line_error(proc)
    assert "hint: give --name with one of: one, two" in proc.stderr.decode()
    assert not target.exists() or not any(target.iterdir())  # nothing written
    for name in ("one", "two"):
        restore(repo, when, tmp_path / name, "--name", name)
        assert restored_digest(tmp_path / name) == expected[name]
    assert expected["one"] != expected["two"]
    windows = json.loads(drkit("redis", "windows", "--repo", repo, "--json", env=ENV).stdout)
    rows = [row for row in windows if row["kind"] == "aof+archive"]
    assert sorted(row["name"] for row in rows) == ["one", "two"] and len({row["history"] for row in rows}) == 2


def test_a_restarted_server_restores_across_the_restart(
    repo: str, redis_aof_server: RedisServer, tmp_path: Path
) -> None:
    """A restart changes the run_id, never the AOF directory's history: the archive before it and after
    it are one history (also under two names)."""
    c = redis_aof_server.client()
    c.set("k1", "before the restart")
    run_id = c.info("server")["run_id"]
    archive(repo, redis_aof_server)
    backup_aof(repo, redis_aof_server, "cache")
    c.close()
    redis_aof_server.proc.terminate()
    redis_aof_server.proc.wait(30)
    with start_redis(redis_aof_server.dir, aof=True) as again:
        c = again.client()
        assert c.get("k1") == b"before the restart" and c.info("server")["run_id"] != run_id
        next_second()
        c.set("k2", "after the restart")
        when, expected = mark_point(repo, again)
    restore(repo, when, tmp_path / "t")
    assert restored_digest(tmp_path / "t") == expected
