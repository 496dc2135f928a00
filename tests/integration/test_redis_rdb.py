"""Redis RDB backups over the replication protocol and their restore, against real redis-server 7
processes: every type, TTLs, several dbs, metadata, a ~50 MB dataset (and a ~1 GB one, slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import drkit
from rediskit import ENV, init_repo
from servers.redis import RedisFactory, RedisServer, assert_same_dataset, dataset, fill_bulk, fill_types, start_redis

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> str:
    return init_repo(tmp_path / "repo")


def backup(repo: str, server: RedisServer, *extra: str) -> dict:
    proc = drkit("backup", "redis", "--repo", repo, "--url", server.url, "--json", *extra, env={**ENV, **server.env()})
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def restore_and_compare(repo: str, source: RedisServer, tmp_path: Path, snapshot: str = "latest") -> None:
    """Restore into --target-dir and a fresh server on it, and via --to-url into another: both equal the source."""
    expected = dataset(source)
    target = tmp_path / "restored"
    proc = drkit("restore", "redis", snapshot, "--repo", repo, "--target-dir", str(target), env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    with start_redis(target) as loaded:  # redis-server loads target/dump.rdb
        assert_same_dataset(expected, dataset(loaded))
    with start_redis(tmp_path / "into") as into:
        proc = drkit("restore", "redis", snapshot, "--repo", repo, "--to-url", into.url, env=ENV)
        assert proc.returncode == 0, proc.stderr.decode()
        assert_same_dataset(expected, dataset(into))


def test_rdb_round_trip_all_types_ttls_dbs(repo: str, redis_server: RedisServer, tmp_path: Path) -> None:
    fill_types(redis_server)
    out = backup(repo, redis_server)
    restore_and_compare(repo, redis_server, tmp_path, out["snapshot"][:12])


def test_rdb_snapshot_metadata(repo: str, redis_server: RedisServer) -> None:
    fill_types(redis_server, dbs=(0, 3))
    info = redis_server.client().info("everything")
    meta = backup(repo, redis_server)["meta"]
    assert meta["mode"] == "rdb" and meta["redis_version"] == "7.0.15"
    assert meta["run_id"] == info["run_id"]
    assert isinstance(meta["master_repl_offset"], int) and meta["used_memory"] > 0
    assert meta["keys_per_db"] == {"db0": info["db0"]["keys"], "db3": info["db3"]["keys"]}
    assert meta["rdb_size"] > 10_000 and meta["rdb_transfer"] == "diskless"
    disk = backup(repo, redis_server, "--rdb-sync", "disk")["meta"]
    assert disk["rdb_transfer"] == "disk" and abs(disk["rdb_size"] - meta["rdb_size"]) < 100
    listing = json.loads(drkit("snapshots", "--source", "redis", "--json", "--repo", repo, env=ENV).stdout)
    assert [s["root"]["size"] for s in listing] == [meta["rdb_size"], disk["rdb_size"]]


def test_rdb_round_trip_50mb(repo: str, redis_server: RedisServer, tmp_path: Path) -> None:
    fill_bulk(redis_server, 50)
    fill_types(redis_server, dbs=(2,))
    first = backup(repo, redis_server)
    assert first["meta"]["rdb_size"] > 20_000_000  # LZF halves the padded values
    restore_and_compare(repo, redis_server, tmp_path)


def test_to_url_refuses_non_empty_target_unless_force(
    repo: str, redis_server: RedisServer, redis_factory: RedisFactory
) -> None:
    fill_types(redis_server, dbs=(0,))
    backup(repo, redis_server)
    with redis_factory() as other:
        other.client().set("s:1", "old")
        proc = drkit("restore", "redis", "--repo", repo, "--to-url", other.url, env=ENV)
        assert proc.returncode == 2 and "already holds 1 keys" in proc.stderr.decode()
        proc = drkit("restore", "redis", "--repo", repo, "--to-url", other.url, "--force", env=ENV)
        assert proc.returncode == 0, proc.stderr.decode()
        assert other.client().get("s:1") == b"string-0"


def test_restore_start_serves_the_data(repo: str, redis_server: RedisServer, tmp_path: Path) -> None:
    import os
    import signal

    import redis

    fill_types(redis_server, dbs=(0,))
    backup(repo, redis_server)
    proc = drkit("restore", "redis", "--repo", repo, "--target-dir", str(tmp_path / "t"), "--start", "--json", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    res = json.loads(proc.stdout)
    try:
        assert redis.Redis(port=res["port"]).get("s:1") == b"string-0"
    finally:
        os.kill(res["pid"], signal.SIGTERM)


@pytest.mark.slow
def test_rdb_round_trip_1gb(repo: str, redis_server: RedisServer, tmp_path: Path) -> None:
    fill_bulk(redis_server, 1000)
    fill_types(redis_server, dbs=(1,))
    assert backup(repo, redis_server)["meta"]["rdb_size"] > 400_000_000
    restore_and_compare(repo, redis_server, tmp_path)
