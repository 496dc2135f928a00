"""An AOF directory copied to build a second server starts a new history there
(``drkit.sources.redis.history_dir``), checked with two real Redis 7 servers and ``DEBUG DIGEST`` of
each at the target instant as the oracle.

Server B is built from a copy of server A's data directory (id file included), both write different
keys, and both are archived under ONE name, their archivers run at the same time. Before, both archived
under A's history: B's archiver went on from A's archived ends, and a point-in-time restore exited 0 with
A's writes followed by B's (a state neither server had). Now the copy's first reader sees its id file is
not the one written there and starts a new history: the point is refused without ``--history`` (exit 2,
the hint names both), and each history restores its own server's state."""

from __future__ import annotations

import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from rediskit import ENV, init_repo, iso, next_second
from servers.redis import RedisFactory, RedisServer, digest, start_redis
from test_redis_pitr_history import archive, restored_digest, settle

from drkit.sources.redis import history

pytestmark = pytest.mark.integration


def _id(server: RedisServer) -> str:
    return (server.aof_dir / history.HISTORY_FILE).read_text().split()[0]


def _both(repo: str, servers: list[RedisServer]) -> None:
    """Both archivers at once, under one name (each asserts its own exit 0)."""
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda s: archive(repo, s), servers))


def _restore(repo: str, when: float, target: Path, *more: str) -> subprocess.CompletedProcess[bytes]:
    args = ["restore", "redis", "--repo", repo, "--point-in-time", iso(when), "--target-dir", str(target), *more]
    return drkit(*args, env=ENV)


def test_a_copied_aof_directory_is_a_new_history_and_never_stitched_to_the_original(
    tmp_path: Path,
) -> None:
    repo = init_repo(tmp_path / "repo")
    with start_redis(tmp_path / "a", aof=True) as a:
        a.client().set("k1", "one")
        archive(repo, a)  # A's id written
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # B's data directory: a copy of A's, id file included
    with start_redis(tmp_path / "a", aof=True) as a:
        with start_redis(tmp_path / "b", aof=True) as b:
            next_second()  # both files annotate the same second: their writes are alike in length
            a.client().set("k2", "aaaa")
            b.client().set("k2", "bbbb")
            next_second()  # B's next write is annotated: before, A's bytes followed by it restored cleanly
            b.client().set("k3", "bbbb")
            _both(repo, [a, b])
            next_second()
            when = float(int(time.time()))
            expected = {"a": digest(a), "b": digest(b)}
            for s in (a, b):
                s.client().set("k9", "after the point")
            settle(when)
            _both(repo, [a, b])
            ids = {"a": _id(a), "b": _id(b)}
    assert ids["a"] != ids["b"]
    assert len(set(expected.values())) == 2
    proc = _restore(repo, when, tmp_path / "refused", "--name", "redis")
    assert proc.returncode == 2 and "2 different Redis servers" in one_line_error(proc), proc.stderr.decode()
    assert f"give --history with one of: {', '.join(sorted(ids.values()))}" in proc.stderr.decode()
    assert not (tmp_path / "refused" / "appendonlydir" / "appendonly.aof.manifest").exists()
    for who in ("a", "b"):
        proc = _restore(repo, when, tmp_path / f"r-{who}", "--name", "redis", "--history", ids[who])
        assert proc.returncode == 0, proc.stderr.decode()
        assert restored_digest(tmp_path / f"r-{who}") == expected[who]


def test_history_needs_a_point_in_time_and_names_a_known_history(tmp_path: Path, redis_factory: RedisFactory) -> None:
    repo = init_repo(tmp_path / "repo")
    with redis_factory(aof=True) as a:
        a.client().set("k1", "one")
        archive(repo, a)
    for extra, says in (
        (["--history", "0123456789ab"], "--history 0123456789ab: give a 12-hex-digit history id, with --point-in-time"),
        (["--history", "nope", "--point-in-time", iso(time.time())], "--history nope"),
        (["--history", "0123456789ab", "--point-in-time", iso(time.time())], "no archived AOF of history 0123456789ab"),
    ):
        proc = drkit("restore", "redis", "--repo", repo, "--target-dir", str(tmp_path / "t"), *extra, env=ENV)
        assert proc.returncode == 2 and says in one_line_error(proc), proc.stderr.decode()
