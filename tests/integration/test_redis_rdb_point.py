"""The point an RDB snapshot restores to. Redis forks for the RDB after drkit sent ``SYNC``; with a
disk-based sync the ``$<length>`` header (and so the start of the upload) comes only once the child
has written the whole file. A write made while the child runs is not in the RDB, so the snapshot's time
(the state every write before it is in) must be taken before ``SYNC``, not once the header arrived.

Oracle: ``DEBUG DIGEST`` of the restore against a reference server given only the writes made before
the ``point_reached`` the restore reports. ``rdb-key-save-delay`` slows the child down (microseconds per
key) so that a write lands while it runs; the test checks that it did, by polling, no sleep."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import DRKIT, drkit
from servers.redis import RedisFactory, RedisServer, digest, start_redis

ENV = {"DRKIT_PASSWORD": "pw-for-redis-rdb-point-tests"}
KEYS = 20
KEY_DELAY_US = 300_000  # the child takes about 6 s for 20 keys: margin for a loaded machine

pytestmark = pytest.mark.integration


def _seconds(reply: tuple[int, int]) -> float:
    return int(reply[0]) + int(reply[1]) / 1_000_000


def _bgsave_running(server: RedisServer) -> bool:
    with server.client() as c:
        return bool(c.info("persistence")["rdb_bgsave_in_progress"])


def _await_bgsave(server: RedisServer, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not _bgsave_running(server):
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "the replication BGSAVE did not start"
        time.sleep(0.02)


def _fill(server: RedisServer, keys: list[str]) -> None:
    with server.client() as c:
        for key in keys:
            c.set(key, key.encode() * 3)


def test_rdb_point_reached_is_before_the_fork(repo: str, redis_factory: RedisFactory, tmp_path: Path) -> None:
    """The defect: the snapshot's time was read once the RDB header arrived, after the fork; a point in
    time restored from it reported a point after a write the RDB does not hold."""
    before = [f"k:{i}" for i in range(KEYS)]
    with redis_factory() as server:
        _fill(server, before)
        with server.client() as c:
            c.config_set("rdb-key-save-delay", KEY_DELAY_US)
        argv = [*DRKIT, "backup", "redis", "--repo", repo, "--url", server.url, "--rdb-sync", "disk", "--name", "r"]
        proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _await_bgsave(server, proc)
            with server.client() as c:
                c.set("late", b"late")  # after the fork: not in the RDB
                late_at = _seconds(c.time())
            assert _bgsave_running(server), "the child ended before the late write: the test proves nothing"
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err.decode()
        with server.client() as c:
            when = _seconds(c.time()) + 1  # after the snapshot ended
    target = tmp_path / "t"
    out = drkit(
        "restore",
        "redis",
        "--repo",
        repo,
        "--name",
        "r",
        "--point-in-time",
        _iso(when),
        "--target-dir",
        str(target),
        "--accept-older",  # after the newest RDB: its instant is before the time asked for
        "--json",
        env=ENV,
    )
    assert out.returncode == 0, out.stderr.decode()
    result = json.loads(out.stdout)
    assert result["kind"] == "pitr-rdb"
    reached = datetime.fromisoformat(result["point_reached"].replace("Z", "+00:00")).timestamp()
    expected = before + (["late"] if late_at < reached else [])
    with start_redis(target) as loaded, redis_factory() as ref:
        _fill(ref, before)
        if "late" in expected:
            with ref.client() as c:
                c.set("late", b"late")
        assert digest(loaded) == digest(ref), f"point reached {result['point_reached']}, late write at {late_at}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _env() -> dict[str, str]:
    return {**os.environ, **ENV}


@pytest.fixture
def repo(tmp_path: Path) -> str:
    path = str(tmp_path / "repo")
    assert drkit("init", "--repo", path, env=ENV).returncode == 0
    return path
