"""Redis drill end to end against a real redis-server: RDB backup by job, drill into a local
sandbox server, key counts and sampled values/TTLs compared with the backup-time facts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from drillkit import drill, init_repo, ok, write_config
from servers.redis import RedisServer, fill_types

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_redis_drill_passes_and_counts_match(tmp_path: Path, redis_server: RedisServer) -> None:
    fill_types(redis_server)
    redis_server.client().set("config:version", "42")
    repo = init_repo(tmp_path / "repo")
    job = {"source": {"kind": "redis", "url": redis_server.url},
           "checks": [{"redis": "GET config:version", "expect": "42"}], "targets": {"rpo": "10min", "rto": "5min"}}
    cfg = write_config(tmp_path / "drkit.yaml", repo, {"cache": job})
    before = time.time()
    ok(cfg, "job", "run", "cache")
    code, report, junit, _ = drill(cfg, tmp_path, "cache")
    (result,) = report["drills"]
    assert code == 0, result
    checks = {c["name"]: c for c in result["checks"]}
    assert {"redis.key_counts", "redis.sample", "user.redis[0]", "canary"} <= set(checks)
    assert "sampled keys match" in checks["redis.sample"]["detail"]
    assert {"restore", "start", "verify"} <= set(result["phases"])
    assert 0 <= result["rpo_catalog_seconds"] <= result["rpo_verified_seconds"] <= time.time() - before + 1
    assert "<failure" not in junit


def test_redis_drill_of_an_older_snapshot_uses_its_own_facts(tmp_path: Path, redis_server: RedisServer) -> None:
    """Each snapshot carries its own facts: the first backup still verifies after the source changed,
    and its verified RPO is older than the latest one's."""
    fill_types(redis_server, dbs=(0,))
    repo = init_repo(tmp_path / "repo")
    cfg = write_config(tmp_path / "drkit.yaml", repo, {"cache": {"source": {"kind": "redis", "url": redis_server.url}}})
    ok(cfg, "job", "run", "cache")
    first = json.loads(ok(cfg, "snapshots", "--repo", repo, "--json"))[0]["id"]
    time.sleep(1.1)
    redis_server.client().delete("s:1", "l:1")
    ok(cfg, "job", "run", "cache")
    code, old, _, _ = drill(cfg, tmp_path, "cache", "--snapshot", first)
    assert code == 0, old
    code, new, _, _ = drill(cfg, tmp_path, "cache")
    assert code == 0, new
    (o,), (n,) = old["drills"], new["drills"]
    assert o["snapshot_id"] == first != n["snapshot_id"]
    assert o["rpo_verified_seconds"] > n["rpo_verified_seconds"] + 1
