"""Redis Cluster (3 masters, several thousand keys over every slot): `backup redis --url <one node>`
takes every master into one snapshot with the slot map; `restore redis --target-dir` writes one
directory per shard, `--to-url` loads a running cluster (each key to the master owning its slot)
or one plain server. Oracle: ``DEBUG DIGEST`` of each master at backup time equals that of a
server started on its restored directory (plus ``PEXPIRETIME`` of every key with a TTL), of the
master owning the same slots in the other cluster, and (xored) that of the plain server."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clirun import DRKIT, drkit, one_line_error
from rediskit import ENV, init_repo
from servers.redis import RedisServer, digest, expiries, start_redis
from servers.redis_cluster import Cluster, fill_cluster, start_cluster

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> str:
    return init_repo(tmp_path / "repo")


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
    check = drkit("check", "--repo", repo, "--read-data", env=ENV)
    assert check.returncode == 0, check.stderr.decode()

    out = run("restore", "redis", "--repo", repo, "--target-dir", str(tmp_path / "t"))
    assert out["kind"] == "cluster" and sorted(out["shards"]) == sorted(expected)
    layout = json.loads((tmp_path / "t" / "cluster-shards.json").read_text())
    assert {s["id"]: s["slots"] for s in layout["shards"]} == {s["id"]: s["slots"] for s in meta["shards"]}
    for node_id, want in expected.items():
        # DEBUG DIGEST depends on the data only: the shard loads in a plain (non-cluster) server
        with start_redis(tmp_path / "t" / node_id) as shard:
            assert digest(shard) == want, f"shard {node_id}"
            assert expiries(shard) == ttls[node_id]


def by_slots(cluster: Cluster) -> dict[int, str]:
    """First slot of each master → its DEBUG DIGEST (masters of two clusters compared by slots)."""
    with cluster.nodes[0].client() as c:
        text = c.execute_command("CLUSTER", "NODES")
    first = {}
    for line in (text.decode() if isinstance(text, bytes) else text).splitlines():
        words = line.split()
        if "master" in words[2] and len(words) > 8:
            first[words[0]] = int(words[8].split("-")[0])
    return {first[node_id]: d for node_id, d in cluster.shard_digests().items()}


def xor_hex(digests: list[str]) -> str:
    """DEBUG DIGEST xors one hash per key: the union of disjoint shards (an odd number of them)
    has the xor of the shards' digests."""
    value = 0
    for d in digests:
        value ^= int(d, 16)
    return f"{value:040x}"


def test_cluster_snapshot_into_running_cluster_and_server(
    repo: str, redis_cluster: Cluster, tmp_path: Path, redis_factory: Any
) -> None:
    fill_cluster(redis_cluster, 3000)
    expected = by_slots(redis_cluster)
    run("backup", "redis", "--repo", repo, "--url", redis_cluster.url)
    fill_cluster(redis_cluster, 200, seed=2)
    with start_cluster(tmp_path / "other") as other:
        out = run("restore", "redis", "--repo", repo, "--to-url", other.nodes[2].url)
        assert out["kind"] == "cluster" and out["keys"] == {"0": sum(other.shard_keys().values())}
        assert by_slots(other) == expected  # each key landed on the master owning its slot
        proc = drkit("restore", "redis", "--repo", repo, "--to-url", other.url, env=ENV)
        assert proc.returncode == 2 and "already holds" in one_line_error(proc)
    with redis_factory() as single:  # a cluster's data merged into one plain server
        run("restore", "redis", "--repo", repo, "--to-url", single.url)
        assert digest(single) == xor_hex(list(expected.values()))


def test_cluster_snapshot_restore_refusals(repo: str, redis_cluster: Cluster, tmp_path: Path) -> None:
    fill_cluster(redis_cluster, 300)
    run("backup", "redis", "--repo", repo, "--url", redis_cluster.url)
    proc = drkit("restore", "redis", "--repo", repo, "--target-dir", str(tmp_path / "s"), "--start", env=ENV)
    assert proc.returncode == 2 and "--start is not supported" in one_line_error(proc)
    assert not (tmp_path / "s" / "cluster-shards.json").exists()
    run("restore", "redis", "--repo", repo, "--target-dir", str(tmp_path / "t"))
    proc = drkit("restore", "redis", "--repo", repo, "--target-dir", str(tmp_path / "t"), env=ENV)
    assert proc.returncode == 2 and "refusing to overwrite" in one_line_error(proc)


def test_keys_outside_db0_are_refused_by_a_cluster(
    repo: str, redis_cluster: Cluster, redis_server: RedisServer
) -> None:
    redis_server.client(3).set("k", "v")
    run("backup", "redis", "--repo", repo, "--url", redis_server.url)
    proc = drkit("restore", "redis", "--repo", repo, "--to-url", redis_cluster.url, env=ENV)
    assert proc.returncode == 2 and "db 3: a Redis Cluster has db 0 only" in one_line_error(proc)
    assert sum(redis_cluster.shard_keys().values()) == 0


def test_cluster_with_a_failed_master_is_refused(repo: str, redis_cluster: Cluster) -> None:
    fill_cluster(redis_cluster, 300)
    redis_cluster.nodes[2].kill()
    proc = drkit("backup", "redis", "--repo", repo, "--url", redis_cluster.url, env=ENV)
    assert proc.returncode != 0
    assert "no snapshot written" in one_line_error(proc) or "unreachable" in one_line_error(proc)
    listing = json.loads(drkit("snapshots", "--json", "--repo", repo, env=ENV).stdout)
    assert listing == []


def test_aof_of_one_cluster_node_warns(repo: str, tmp_path: Path) -> None:
    """An AOF directory is one node's: the backup says it holds that node's slots only."""
    with start_cluster(tmp_path / "aofc", aof=True) as cluster:
        fill_cluster(cluster, 300)
        node = cluster.nodes[0]
        args = ("--repo", repo, "--aof-dir", str(node.aof_dir), "--url", node.url)
        proc = drkit("backup", "redis", *args, "--json", env=ENV)
        assert proc.returncode == 0, proc.stderr.decode()
        assert "holds only its own 5461 of 16384 slots" in proc.stderr.decode()
        assert json.loads(proc.stdout)["meta"]["cluster_node"]["slot_count"] == 5461
        proc = drkit("redis", "aof-archive", *args, "--once", env=ENV)
        assert proc.returncode == 0 and "one node of a Redis Cluster" in proc.stderr.decode()


def _calls(node: RedisServer, command: str) -> int:
    with node.client() as c:
        return int(c.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def _wait_for(event: Callable[[], bool], backup: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not event():
        assert backup.poll() is None and time.monotonic() < deadline, "the backup ended first"
        time.sleep(0.01)


def test_slot_map_change_during_backup_writes_no_snapshot(repo: str, redis_cluster: Cluster) -> None:
    """A slot moving between two masters' RDBs vetoes the snapshot (its slot map would be wrong)."""
    fill_cluster(redis_cluster, 300)
    ids = {n.port: node_id for node_id, n in redis_cluster.node_ids().items()}
    first, second, third = redis_cluster.nodes  # slots 0-5460, 5461-10922, 10923-16383
    with third.client() as c:
        assert c.execute_command("CLUSTER", "COUNTKEYSINSLOT", 16383) == 0
    maps_read, syncs = _calls(first, "cluster|nodes"), _calls(first, "sync")
    backup = subprocess.Popen(
        [*DRKIT, "backup", "redis", "--repo", repo, "--url", first.url],
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for(lambda: _calls(first, "cluster|nodes") > maps_read, backup)  # the slot map is read
    # the second master answers its SYNC only after it wakes
    asleep = threading.Thread(target=lambda: second.client().execute_command("DEBUG", "SLEEP", 5))
    asleep.start()
    _wait_for(lambda: _calls(first, "sync") > syncs, backup)  # the first master's RDB is being taken
    for node in (first, third):
        with node.client() as n:
            n.execute_command("CLUSTER", "SETSLOT", 16383, "NODE", ids[first.port])
    _, err = backup.communicate(timeout=120)
    asleep.join()
    assert backup.returncode == 1 and b"slot map changed during the backup" in err, err.decode()
    assert json.loads(drkit("snapshots", "--json", "--repo", repo, env=ENV).stdout) == []


def test_migration_between_two_other_masters_writes_no_snapshot(repo: str, redis_cluster: Cluster) -> None:
    """A slot migrating from the third master to the second: only those two show it (on their own
    `myself` line), not the node the URL names. Keys MIGRATEd between the two RDBs would be in
    neither, so the backup is refused whichever node the URL names (was: exit 0 through the first)."""
    fill_cluster(redis_cluster, 300)
    ids = {n.port: node_id for node_id, n in redis_cluster.node_ids().items()}
    first, second, third = redis_cluster.nodes  # slots 0-5460, 5461-10922, 10923-16383
    with second.client() as c:
        c.execute_command("CLUSTER", "SETSLOT", 16383, "IMPORTING", ids[third.port])
    with third.client() as c:
        c.execute_command("CLUSTER", "SETSLOT", 16383, "MIGRATING", ids[second.port])
    with first.client() as c:  # the URL's node sees nothing of it
        assert "[" not in c.execute_command("CLUSTER", "NODES").decode()
    proc = drkit("backup", "redis", "--repo", repo, "--url", first.url, env=ENV)
    assert proc.returncode == 1 and "no snapshot written" in one_line_error(proc), proc.stderr.decode()
    assert "being migrated" in one_line_error(proc)
    assert json.loads(drkit("snapshots", "--json", "--repo", repo, env=ENV).stdout) == []
