"""Redis point-in-time restore to one instant written three ways (``…Z``, ``…+0000`` and with a space
and a ``+01:00`` offset), checked against an independent oracle: the source's ``DEBUG DIGEST`` at
the target instant equals the digest of a redis-server started on each restored directory.
(``restore redis`` used to read a zone-less time as UTC where `restore files` and `restore postgres`
refused it; now every command refuses it, see test_time_duration_cli.py.)"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clirun import drkit
from servers.redis import RedisFactory, start_redis

ENV = {"DRKIT_PASSWORD": "pw-for-redis-tests"}
DEBUG = ["--enable-debug-command", "yes"]

pytestmark = pytest.mark.integration


def _next_second() -> None:
    """Past the next whole second: AOF annotations have 1-second resolution."""
    now = time.time()
    time.sleep(int(now) + 1 - now + 0.1)


def _spellings(at: datetime) -> list[str]:
    local = at.astimezone(UTC) + timedelta(hours=1)
    return [f"{at:%Y-%m-%dT%H:%M:%S}Z", f"{at:%Y-%m-%dT%H:%M:%S}+0000", f"{local:%Y-%m-%d %H:%M:%S}+01:00"]


def test_redis_pitr_to_the_same_instant_however_it_is_spelled(redis_factory: RedisFactory, tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    with redis_factory(aof=True, extra=DEBUG) as server:
        c = server.client()
        c.mset({f"k{i}": f"v{i}" for i in range(200)})
        c.hset("h", mapping={"a": "1", "b": ""})
        _next_second()
        c.rpush("l", "x", "y")
        c.delete("k7")
        digest_at = c.execute_command("DEBUG", "DIGEST")  # the oracle: the state at the target instant
        _next_second()  # T a whole second after those writes (a write in T's own second is after T)
        at = datetime.fromtimestamp(int(time.time()), UTC)
        c.set("k1", "changed after the target")
        c.delete("h")
        assert c.execute_command("DEBUG", "DIGEST") != digest_at
        args = ["--repo", repo, "--aof-dir", str(server.aof_dir), "--url", server.url, "--json"]
        backup = drkit("backup", "redis", *args, env=ENV)
        assert backup.returncode == 0, backup.stderr.decode()
    for i, when in enumerate(_spellings(at)):
        target = tmp_path / f"restored-{i}"
        proc = drkit(
            "restore", "redis", "--repo", repo, "--point-in-time", when, "--target-dir", str(target), "--json", env=ENV
        )
        assert proc.returncode == 0, (when, proc.stderr.decode())
        assert json.loads(proc.stdout)["kind"] == "pitr-aof", proc.stdout  # the AOF cut at the instant
        with start_redis(target, aof=True, extra=DEBUG) as restored:
            assert restored.client().execute_command("DEBUG", "DIGEST") == digest_at, when


def test_the_time_redis_windows_prints_restores_that_rdb(redis_factory: RedisFactory, tmp_path: Path) -> None:
    """`redis windows` cut an RDB's time to whole seconds: pasted back into `--point-in-time`, it named
    an instant before the snapshot, so the restore took an older RDB (or none). It prints it whole now."""
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    with redis_factory(extra=DEBUG) as server:
        c = server.client()
        ids, digests = [], []
        for n in range(2):
            c.set("n", n)
            digests.append(c.execute_command("DEBUG", "DIGEST"))
            proc = drkit("backup", "redis", "--repo", repo, "--url", server.url, "--json", env=ENV)
            assert proc.returncode == 0, proc.stderr.decode()
            ids.append(json.loads(proc.stdout)["snapshot"][:8])
    rows = json.loads(drkit("redis", "windows", "--repo", repo, "--json", env=ENV).stdout)
    newest = next(r for r in rows if r["id"] == ids[1])
    proc = drkit(
        "restore",
        "redis",
        "--repo",
        repo,
        "--point-in-time",
        newest["to"],
        "--target-dir",
        str(tmp_path / "out"),
        "--json",
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["snapshot"][:8] == ids[1]
    with start_redis(tmp_path / "out", extra=DEBUG) as restored:
        assert restored.client().execute_command("DEBUG", "DIGEST") == digests[1]
