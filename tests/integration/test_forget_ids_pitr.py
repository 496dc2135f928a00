"""`drkit forget ID` on a real redis-server 7: forgetting the oldest Redis snapshot says that the
point-in-time window moves (and to when), removes the archived AOF group only it needed, and then a
restore inside the new window gives the written keys while one before it is refused (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from servers.redis import RedisServer
from test_redis_aof import ENV, backup_aof, iso, restore_pitr_and_read, three_writes
from test_redis_aof_retention import _archive, _rewrite

pytestmark = pytest.mark.integration


def test_forget_oldest_redis_snapshot_names_the_new_window(tmp_path: Path, redis_aof_server: RedisServer) -> None:
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    oldest = backup_aof(repo, redis_aof_server)["snapshot"]
    early = three_writes(redis_aof_server)
    _archive(repo, redis_aof_server)
    _rewrite(redis_aof_server)
    newer = backup_aof(repo, redis_aof_server)["snapshot"]
    redis_aof_server.client().delete("w1", "w2", "w3")
    late = three_writes(redis_aof_server)
    _archive(repo, redis_aof_server)

    dry = drkit("forget", oldest[:8], "--dry-run", "--repo", repo, env=ENV)
    assert dry.returncode == 0, dry.stderr.decode()
    assert "the point-in-time window now starts at" in dry.stdout.decode() and newer[:8] in dry.stdout.decode()
    proc = drkit("forget", oldest[:8], "--json", "--repo", repo, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout)
    assert doc["aof_archive"]["removed"] and len(doc["windows"]) == 1, doc
    assert drkit("prune", "--grace", "0", "--repo", repo, env=ENV).returncode == 0

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
