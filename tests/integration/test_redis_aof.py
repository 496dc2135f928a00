"""AOF directory backups, continuous AOF archiving and point-in-time restore by AOF timestamp
annotations, against a real redis-server 7 with ``appendonly yes`` and ``aof-timestamp-enabled yes``."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis
from clirun import drkit, one_line_error
from rediskit import ENV, init_repo, iso, next_second
from servers.redis import RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> str:
    return init_repo(tmp_path / "repo")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def three_writes(server: RedisServer, between: callable = lambda: None) -> float:  # type: ignore[valid-type]
    """W1 < W2 < W3 in distinct seconds; returns a time T with W2 <= T < W3."""
    c = server.client()
    c.set("w1", "one")
    next_second()
    c.hset("w2", mapping={"f": "two"})
    between()
    next_second()  # T a whole second after W2: AOF times are whole seconds, a write in T's own second is after T
    target = float(int(time.time()))
    c.rpush("w3", "three")  # in T's second, after T
    return target


def settle(second: float) -> None:
    """Sleep until a capture (less drkit's fsync slack of 2 s) proves the AOF holds every write of ``second``."""
    time.sleep(max(0.0, second + 3.2 - time.time()))


def backup_aof(repo: str, server: RedisServer) -> dict:
    proc = drkit(
        "backup", "redis", "--repo", repo, "--aof-dir", str(server.aof_dir), "--url", server.url, "--json", env=ENV
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def restore_pitr_and_read(repo: str, when: float, target: Path) -> dict[bytes, bytes]:
    proc = drkit(
        "restore",
        "redis",
        "--repo",
        repo,
        "--point-in-time",
        iso(when),
        "--target-dir",
        str(target),
        "--start",
        "--json",
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    res = json.loads(proc.stdout)
    try:
        c = redis.Redis(port=res["port"])
        return {k: c.type(k) for k in c.keys()}
    finally:
        os.kill(res["pid"], signal.SIGTERM)


def test_pitr_from_aof_snapshot(repo: str, redis_aof_server: RedisServer, tmp_path: Path) -> None:
    target = three_writes(redis_aof_server)
    settle(target)
    meta = backup_aof(repo, redis_aof_server)["meta"]
    assert meta["mode"] == "aof" and meta["last_ts"] == target  # W3 ran in T's second, after T
    assert restore_pitr_and_read(repo, target, tmp_path / "t") == {b"w1": b"string", b"w2": b"hash"}
    # the writes of second S are restored from S + 1 on (the state at S + 1)
    assert set(restore_pitr_and_read(repo, meta["last_ts"] + 1, tmp_path / "w3")) == {b"w1", b"w2", b"w3"}


def test_pitr_from_snapshot_plus_archived_growth(repo: str, redis_aof_server: RedisServer, tmp_path: Path) -> None:
    backup_aof(repo, redis_aof_server)  # base + empty INCR: the archive supplies every write
    target = three_writes(redis_aof_server)
    proc = drkit(
        "redis",
        "aof-archive",
        "--repo",
        repo,
        "--aof-dir",
        str(redis_aof_server.aof_dir),
        "--url",
        redis_aof_server.url,
        "--once",
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"archived appendonly.aof.1.incr.aof" in proc.stdout
    assert restore_pitr_and_read(repo, target, tmp_path / "t") == {b"w1": b"string", b"w2": b"hash"}


def rewritten(server: RedisServer) -> None:
    """BGREWRITEAOF, then wait until the new base is in place (a rewrite still running or scheduled would
    change the base between two backups: polled, not slept on)."""
    c = server.client()
    c.bgrewriteaof()
    deadline = time.monotonic() + 120
    while (info := c.info("persistence"))["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"]:
        assert time.monotonic() < deadline, f"BGREWRITEAOF still running after 120 s: {info}"
        time.sleep(0.05)


def test_unchanged_base_deduplicates(repo: str, redis_aof_server: RedisServer) -> None:
    redis_aof_server.client().set("a", os.urandom(300_000))
    rewritten(redis_aof_server)
    first = backup_aof(repo, redis_aof_server)
    redis_aof_server.client().set("c", "d")
    second = backup_aof(repo, redis_aof_server)
    assert first["stats"]["new_bytes"] > 50_000 and second["stats"]["new_bytes"] < 2_000


def test_uncovered_time_is_an_error_before_writing(repo: str, redis_aof_server: RedisServer, tmp_path: Path) -> None:
    three_writes(redis_aof_server)
    backup_aof(repo, redis_aof_server)
    for when in (time.time() - 3600, time.time() + 3600):
        target = tmp_path / f"t{int(when)}"
        proc = drkit(
            "restore", "redis", "--repo", repo, "--point-in-time", iso(when), "--target-dir", str(target), env=ENV
        )
        assert proc.returncode == 2 and "not covered" in one_line_error(proc)
        assert not (target / "appendonlydir").exists()


def test_windows_listing(repo: str, redis_aof_server: RedisServer) -> None:
    three_writes(redis_aof_server)
    backup_aof(repo, redis_aof_server)
    proc = drkit("redis", "windows", "--repo", repo, env=ENV)
    assert proc.returncode == 0 and b"aof " in proc.stdout, proc.stderr.decode()


def test_archive_refuses_server_without_timestamps(repo: str, redis_server: RedisServer, tmp_path: Path) -> None:
    (tmp_path / "aof").mkdir()
    proc = drkit(
        "redis",
        "aof-archive",
        "--repo",
        repo,
        "--aof-dir",
        str(tmp_path / "aof"),
        "--url",
        redis_server.url,
        "--once",
        env=ENV,
    )
    assert proc.returncode == 2 and "appendonly" in one_line_error(proc)


def test_pitr_without_aof_uses_newest_rdb_before(repo: str, redis_server: RedisServer, tmp_path: Path) -> None:
    redis_server.client().set("v", "1")
    assert drkit("backup", "redis", "--repo", repo, "--url", redis_server.url, env=ENV).returncode == 0
    between = float(int(time.time()) + 1)  # a whole second after the first snapshot began
    time.sleep(between + 0.2 - time.time())
    redis_server.client().set("v", "2")
    assert drkit("backup", "redis", "--repo", repo, "--url", redis_server.url, env=ENV).returncode == 0
    proc = drkit(
        "restore",
        "redis",
        "--repo",
        repo,
        "--point-in-time",
        iso(between),
        "--target-dir",
        str(tmp_path / "t"),
        "--start",
        "--json",
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    res = json.loads(proc.stdout)
    try:
        assert redis.Redis(port=res["port"]).get("v") == b"1"
    finally:
        os.kill(res["pid"], signal.SIGTERM)


def archive(repo: str, server: RedisServer) -> bytes:
    proc = drkit("redis", "aof-archive", "--repo", repo, "--aof-dir", str(server.aof_dir), "--once", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def test_archive_alone_across_a_rewrite(repo: str, redis_aof_server: RedisServer, tmp_path: Path) -> None:
    """No snapshot at all: archived bases and INCR growth give a window on each side of BGREWRITEAOF."""
    c = redis_aof_server.client()
    c.set("before", "1")
    t_before = float(int(time.time()) + 1)  # the state at the next whole second: "before" is in it
    settle(t_before - 1)  # the archive proves the first INCR file holds every write before t_before
    archive(repo, redis_aof_server)
    rewritten(redis_aof_server)
    next_second()
    c.set("after", "2")
    settle(time.time())  # the archive proves the second INCR file holds "after" (the window ends after it)
    out = archive(repo, redis_aof_server)
    assert b"appendonly.aof.2.base.rdb" in out
    assert set(restore_pitr_and_read(repo, t_before, tmp_path / "a")) == {b"before"}
    windows = json.loads(drkit("redis", "windows", "--json", "--repo", repo, env=ENV).stdout)
    assert [w["kind"] for w in windows] == ["aof+archive", "aof+archive"]
    latest = parse_iso(windows[-1]["to"])
    assert set(restore_pitr_and_read(repo, latest, tmp_path / "b")) == {b"before", b"after"}
