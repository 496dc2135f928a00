"""Archived AOF segments follow the Redis snapshots kept, against a real redis-server 7: prune keeps the
data of archived segments; forgetting an older AOF snapshot removes the archived group wholly before
the oldest snapshot kept, and point-in-time restore then refuses a time only that group covered."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from servers.redis import RedisServer
from test_redis_aof import ENV, backup_aof, iso, restore_pitr_and_read, three_writes

pytestmark = pytest.mark.integration


def _archive(repo: str, server: RedisServer) -> None:
    proc = drkit(
        "redis", "aof-archive", "--repo", repo, "--aof-dir", str(server.aof_dir), "--url", server.url, "--once", env=ENV
    )
    assert proc.returncode == 0, proc.stderr.decode()


def _rewrite(server: RedisServer) -> None:
    c = server.client()
    c.bgrewriteaof()
    deadline = time.monotonic() + 30
    while c.info("persistence")["aof_rewrite_in_progress"] and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.1)  # a new base has a new mtime second


def test_archive_follows_the_snapshots_kept(tmp_path: Path, redis_aof_server: RedisServer) -> None:
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    backup_aof(repo, redis_aof_server)
    early = three_writes(redis_aof_server)
    _archive(repo, redis_aof_server)
    prune = drkit("prune", "--json", "--repo", repo, env=ENV)
    assert prune.returncode == 0, prune.stderr.decode()
    assert restore_pitr_and_read(repo, early, tmp_path / "early") == {b"w1": b"string", b"w2": b"hash"}

    _rewrite(redis_aof_server)
    backup_aof(repo, redis_aof_server)
    redis_aof_server.client().delete("w1", "w2", "w3")
    late = three_writes(redis_aof_server)
    _archive(repo, redis_aof_server)

    proc = drkit("forget", "--keep-last", "1", "--source", "redis", "--json", "--repo", repo, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    archive = json.loads(proc.stdout)["aof_archive"]
    assert archive["removed"] and archive["kept"]
    assert drkit("prune", "--repo", repo, env=ENV).returncode == 0

    assert restore_pitr_and_read(repo, late, tmp_path / "late") == {b"w1": b"string", b"w2": b"hash"}
    refused = drkit(
        "restore",
        "redis",
        "--repo",
        repo,
        "--point-in-time",
        iso(early),
        "--target-dir",
        str(tmp_path / "gone"),
        env=ENV,
    )
    assert refused.returncode == 2 and "not covered" in one_line_error(refused)
    assert drkit("check", "--read-data", "--repo", repo, env=ENV).returncode == 0
