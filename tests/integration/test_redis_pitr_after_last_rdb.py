"""`restore redis --point-in-time T` with T after the newest RDB snapshot and no AOF in the repository: the
restore used to load that RDB and exit 0, the state of an instant before T (the writes since lost) given for
T. Now it is refused (exit 2, one line naming the RDB's instant and how far before T it is) before the target
is touched, unless `--accept-older`; then the RDB is restored and the output names the instant it holds.
Oracle: ``DEBUG DIGEST`` of the restore against the source's, taken before the writes made after the
backup. A T between two RDBs still restores the older one (the repository holds nothing nearer)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from rediskit import ENV, init_repo, iso, next_second
from servers.redis import RedisFactory, RedisServer, digest, fill_types, start_redis

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> str:
    return init_repo(tmp_path / "repo")


def _backed_up_then_changed(repo: str, server: RedisServer) -> str:
    """The digest of what the RDB holds; the server then holds more."""
    fill_types(server, dbs=(0, 2))
    before = digest(server)
    backup = drkit("backup", "redis", "--repo", repo, "--url", server.url, "--name", "cache", env=ENV)
    assert backup.returncode == 0, backup.stderr.decode()
    with server.client() as c:
        c.set("written-after-the-rdb", "lost by a restore of it")
    assert digest(server) != before  # the oracle can tell the two states apart
    return before


def test_point_after_the_last_rdb_is_refused_unless_accepted(
    repo: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    before = _backed_up_then_changed(repo, redis_server)
    next_second()
    when = iso(time.time())
    target = tmp_path / "t"
    args = ("restore", "redis", "--repo", repo, "--name", "cache", "--point-in-time", when, "--target-dir", str(target))
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 2, proc.stderr.decode()
    line = one_line_error(proc)
    assert "after the newest RDB" in line and "before the time asked for" in line, line
    assert "--accept-older" in proc.stderr.decode()
    assert not target.exists() or not any(target.iterdir())  # nothing written
    proc = drkit(*args, "--accept-older", "--json", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads(proc.stdout)
    assert result["kind"] == "pitr-rdb" and result["point_reached"] < result["point_in_time"]
    assert "after the newest RDB" in result["note"]
    with start_redis(target) as loaded:
        assert digest(loaded) == before


def test_point_between_two_rdbs_restores_the_older(
    repo: str, redis_server: RedisServer, redis_factory: RedisFactory
) -> None:
    before = _backed_up_then_changed(repo, redis_server)
    next_second()
    when = iso(time.time())
    next_second()
    second = drkit("backup", "redis", "--repo", repo, "--url", redis_server.url, "--name", "cache", env=ENV)
    assert second.returncode == 0, second.stderr.decode()
    with redis_factory() as into:
        proc = drkit(
            "restore", "redis", "--repo", repo, "--name", "cache", "--point-in-time", when, "--to-url", into.url,
            env=ENV,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr.decode()
        assert "point in time " in proc.stderr.decode() and ": state at " in proc.stderr.decode()
        assert digest(into) == before


def test_point_in_time_among_two_sources_rdbs_is_refused(
    repo: str, redis_server: RedisServer, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    """Without --name the newest RDB of either server was taken: refused (exit 2) as `latest` is."""
    before = _backed_up_then_changed(repo, redis_server)
    with redis_factory() as other:
        proc = drkit("backup", "redis", "--repo", repo, "--url", other.url, "--name", "sessions", env=ENV)
        assert proc.returncode == 0, proc.stderr.decode()
    when = iso(time.time() + 1)
    args = ("restore", "redis", "--repo", repo, "--point-in-time", when, "--accept-older")
    proc = drkit(*args, "--target-dir", str(tmp_path / "t"), env=ENV)
    assert proc.returncode == 2 and "ambiguous" in one_line_error(proc), proc.stderr.decode()
    hint = proc.stderr.decode().splitlines()[-1]  # options `restore redis` has, not ls's --path/--host
    assert hint.startswith("hint: ") and "--name" in hint and "--path" not in hint and "--host" not in hint, hint
    assert not (tmp_path / "t").exists() or not any((tmp_path / "t").iterdir())
    proc = drkit(*args, "--name", "cache", "--target-dir", str(tmp_path / "c"), env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    with start_redis(tmp_path / "c") as loaded:
        assert digest(loaded) == before
