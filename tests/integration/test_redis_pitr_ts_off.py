"""A point in time never replays writes after it when Redis stopped writing AOF timestamp annotations
(``CONFIG SET aof-timestamp-enabled no``) after earlier history was annotated: ``redis-check-aof
--truncate-to-timestamp`` keeps every unannotated command after the last annotation, however late.
drkit refuses (exit 2) when ``aof-archive --url`` recorded timestamps off for those bytes, or when a
capture after the point did not yet hold them; a cut whose commands are all dated still restores,
checked with ``DEBUG DIGEST`` against a reference server fed only the writes before the point."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from clirun import drkit, one_line_error
from rediskit import ENV, init_repo, iso, next_second
from servers.redis import RedisFactory, RedisServer, digest

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> str:
    return init_repo(tmp_path / "repo")


def archive(repo: str, server: RedisServer, *, url: bool) -> bytes:
    args = ["--url", server.url] if url else []
    proc = drkit("redis", "aof-archive", "--repo", repo, "--aof-dir", str(server.aof_dir), *args, "--once", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stderr


def wait_until(when: float) -> None:
    """Poll the clock until ``when`` has passed (the capture must be provably after it)."""
    while time.time() < when:
        time.sleep(0.05)


def annotated_then_off(server: RedisServer) -> tuple[float, float]:
    """``early`` in one second, ``a1`` in a later one (both annotated), then T, then timestamps off and a
    write after T. Returns (the second of a1, T)."""
    c = server.client()
    c.set("early", "0")
    next_second()
    c.set("a1", "1")
    a1_second = float(int(time.time()))
    next_second()
    target = float(int(time.time()))  # a whole second after a1: the state at T holds early and a1
    return a1_second, target


def write_late(server: RedisServer) -> None:
    c = server.client()
    assert c.config_set("aof-timestamp-enabled", "no")
    c.set("late", "written after T")  # no annotation: redis-check-aof keeps it for any cut after a1
    assert c.get("late") is not None


def refused(repo: str, when: float, target: Path) -> str:
    proc = drkit("restore", "redis", "--repo", repo, "--point-in-time", iso(when), "--target-dir", str(target), env=ENV)
    assert proc.returncode == 2, (proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    assert not any((target / "appendonlydir").glob("*")) if (target / "appendonlydir").exists() else True
    return one_line_error(proc)


def test_archived_with_timestamps_off_refuses_the_cut(repo: str, redis_aof_server: RedisServer, tmp_path: Path) -> None:
    archive(repo, redis_aof_server, url=True)  # base + empty INCR
    _, target = annotated_then_off(redis_aof_server)
    write_late(redis_aof_server)
    wait_until(target + 2.5)  # the capture covers T (its time is its start less 2 s of fsync slack)
    err = archive(repo, redis_aof_server, url=True)  # one capture holds a1 and late: only the flag can tell
    assert b"aof-timestamp-enabled is off" in err
    line = refused(repo, target, tmp_path / "t")
    assert "point-in-time restore refused" in line and "aof-timestamp-enabled was off" in line


def test_capture_after_the_point_proves_later_writes(repo: str, redis_aof_server: RedisServer, tmp_path: Path) -> None:
    _, target = annotated_then_off(redis_aof_server)
    wait_until(target + 2.5)  # a capture whose time (start less 2 s of fsync slack) is after T
    archive(repo, redis_aof_server, url=False)
    write_late(redis_aof_server)
    archive(repo, redis_aof_server, url=False)  # no --url: nothing records the setting
    line = refused(repo, target, tmp_path / "t")
    assert "written after the point" in line


def test_dated_cut_still_restores(
    repo: str, redis_aof_server: RedisServer, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    archive(repo, redis_aof_server, url=True)
    a1_second, target = annotated_then_off(redis_aof_server)
    archive(repo, redis_aof_server, url=True)  # early and a1, archived while timestamps were on
    write_late(redis_aof_server)
    wait_until(target + 2.5)
    assert b"aof-timestamp-enabled is off" in archive(repo, redis_aof_server, url=True)  # late, flagged
    assert "aof-timestamp-enabled was off" in refused(repo, target, tmp_path / "t")  # a1's tail reaches late
    # the cut before a1's second ends at a1's annotation, and early's bytes were archived with timestamps on
    with redis_factory() as restored, redis_factory() as reference:
        proc = drkit(
            "restore",
            "redis",
            "--repo",
            repo,
            "--point-in-time",
            iso(a1_second),
            "--to-url",
            restored.url,
            "--json",
            env=ENV,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        reference.client().set("early", "0")  # the writer's log before a1's second
        assert digest(restored) == digest(reference)
        assert redis.Redis(port=restored.port).keys() == [b"early"]
