"""Redis Cluster (3 masters, several thousand keys over every slot): `backup redis --url <one node>`
takes every master into one snapshot with the slot map; `restore redis --target-dir` writes one
directory per shard. Oracle: ``DEBUG DIGEST`` of each master at backup time equals that of a
server started on its restored directory (plus ``PEXPIRETIME`` of every key with a TTL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit, one_line_error
from servers.redis import digest, expiries, start_redis
from servers.redis_cluster import Cluster, fill_cluster

ENV = {"DRKIT_PASSWORD": "pw-for-redis-tests"}

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> str:
    path = str(tmp_path / "repo")
    assert drkit("init", "--repo", path, env=ENV).returncode == 0
    return path


def run(*args: str) -> dict[str, Any]:
    proc = drkit(*args, "--json", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def test_cluster_backup_takes_every_master(repo: str, redis_cluster: Cluster, tmp_path: Path) -> None:
    fill_cluster(redis_cluster, 4000)
    expected = redis_cluster.shard_digests()
    ttls = {node_id: expiries(node) for node_id, node in redis_cluster.node_ids().items()}
    keys = redis_cluster.shard_keys()
    meta = run("backup", "redis", "--repo", repo, "--url", redis_cluster.nodes[1].url)["meta"]
    assert meta["mode"] == "cluster"  # was: one node's RDB, a third of the keys, exit 0
    assert {s["id"]: s["keys"] for s in meta["shards"]} == keys and meta["keys"] == sum(keys.values()) > 4000
    ranges = sorted(tuple(r) for s in meta["shards"] for r in s["slots"])
    assert ranges[0][0] == 0 and ranges[-1][1] == 16383
    assert all(a[1] + 1 == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    fill_cluster(redis_cluster, 500, seed=2)  # after the backup: not in the restore

    out = run("restore", "redis", "--repo", repo, "--target-dir", str(tmp_path / "t"))
    assert out["kind"] == "cluster" and sorted(out["shards"]) == sorted(expected)
    layout = json.loads((tmp_path / "t" / "cluster-shards.json").read_text())
    assert {s["id"]: s["slots"] for s in layout["shards"]} == {s["id"]: s["slots"] for s in meta["shards"]}
    for node_id, want in expected.items():
        # DEBUG DIGEST depends on the data only: the shard loads in a plain (non-cluster) server
        with start_redis(tmp_path / "t" / node_id) as shard:
            assert digest(shard) == want, f"shard {node_id}"
            assert expiries(shard) == ttls[node_id]


def test_cluster_snapshot_restore_refusals(repo: str, redis_cluster: Cluster, tmp_path: Path, redis_factory) -> None:  # type: ignore[no-untyped-def]
    fill_cluster(redis_cluster, 300)
    run("backup", "redis", "--repo", repo, "--url", redis_cluster.url)
    with redis_factory() as into:
        proc = drkit("restore", "redis", "--repo", repo, "--to-url", into.url, env=ENV)
        assert proc.returncode == 2 and "Redis Cluster (3 masters)" in one_line_error(proc)
        assert into.client().dbsize() == 0
    proc = drkit("restore", "redis", "--repo", repo, "--target-dir", str(tmp_path / "s"), "--start", env=ENV)
    assert proc.returncode == 2 and "--start is not supported" in one_line_error(proc)
    assert not (tmp_path / "s" / "cluster-shards.json").exists()
    run("restore", "redis", "--repo", repo, "--target-dir", str(tmp_path / "t"))
    proc = drkit("restore", "redis", "--repo", repo, "--target-dir", str(tmp_path / "t"), env=ENV)
    assert proc.returncode == 2 and "refusing to overwrite" in one_line_error(proc)


def test_cluster_with_a_failed_master_is_refused(repo: str, redis_cluster: Cluster) -> None:
    fill_cluster(redis_cluster, 300)
    redis_cluster.nodes[2].kill()
    proc = drkit("backup", "redis", "--repo", repo, "--url", redis_cluster.url, env=ENV)
    assert proc.returncode != 0
    assert "no snapshot written" in one_line_error(proc) or "unreachable" in one_line_error(proc)
    listing = json.loads(drkit("snapshots", "--json", "--repo", repo, env=ENV).stdout)
    assert listing == []
