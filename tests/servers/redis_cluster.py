"""A real Redis Cluster for tests: ``start_cluster(dir, masters=3)`` starts that many
``redis-server`` 7 nodes (``cluster-enabled yes``, no replicas) on free loopback ports, each with its
cluster bus on another free port (``cluster-port``), joins them with ``redis-cli --cluster create``
and waits until every node reports ``cluster_state:ok``. Fixture: ``redis_cluster``.
``fill_cluster`` writes keys of several types across all slots; ``shard_digests`` is the oracle:
``DEBUG DIGEST`` of each master, by node id."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.cluster import ClusterNode, RedisCluster

from .redis import HOST, RedisServer, digest, free_port, start_redis

READY_TIMEOUT = 60.0


@dataclass
class Cluster:
    nodes: list[RedisServer]

    @property
    def url(self) -> str:
        """Any one node: drkit finds the others."""
        return self.nodes[0].url

    def client(self) -> RedisCluster:
        return RedisCluster(startup_nodes=[ClusterNode(HOST, n.port) for n in self.nodes])

    def node_ids(self) -> dict[str, RedisServer]:
        out = {}
        for n in self.nodes:
            with n.client() as c:
                raw = c.execute_command("CLUSTER", "MYID")
            out[raw.decode() if isinstance(raw, bytes) else str(raw)] = n
        return out

    def shard_digests(self) -> dict[str, str]:
        return {node_id: digest(n) for node_id, n in self.node_ids().items()}

    def shard_keys(self) -> dict[str, int]:
        out = {}
        for node_id, n in self.node_ids().items():
            with n.client() as c:
                out[node_id] = int(c.dbsize())
        return out


def _cluster_ok(nodes: list[RedisServer]) -> bool:
    for n in nodes:
        with n.client() as c:
            info = c.execute_command("CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        if "cluster_state:ok" not in text:
            return False
    return True


@contextmanager
def start_cluster(base: Path, masters: int = 3, *, aof: bool = False) -> Iterator[Cluster]:
    with ExitStack() as stack:
        nodes = [
            stack.enter_context(
                start_redis(
                    base / f"node{i}",
                    aof=aof,
                    extra=[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-port",
                        str(free_port()),
                        "--cluster-node-timeout",
                        "5000",
                    ],
                )
            )
            for i in range(masters)
        ]
        cli = shutil.which("redis-cli") or "redis-cli"
        proc = subprocess.run(
            [cli, "--cluster", "create", *[f"{HOST}:{n.port}" for n in nodes], "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {proc.stdout[-1500:]} {proc.stderr[-500:]}")
        deadline = time.monotonic() + READY_TIMEOUT
        while not _cluster_ok(nodes):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not reach cluster_state:ok in {READY_TIMEOUT} s")
            time.sleep(0.1)
        yield Cluster(nodes)


@pytest.fixture
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with start_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


def fill_cluster(cluster: Cluster, keys: int, seed: int = 1) -> None:
    """``keys`` strings spread over every slot, plus hashes, lists, sets, sorted sets and keys with
    TTLs (one of each per hundred keys)."""
    c = cluster.client()
    try:
        p = c.pipeline()
        for i in range(keys):
            p.set(f"k:{seed}:{i}", f"value-{seed}-{i}")
            if i % 100 == 0:
                p.hset(f"h:{seed}:{i}", mapping={f"f{j}": j for j in range(20)})
                p.rpush(f"l:{seed}:{i}", *range(30))
                p.sadd(f"s:{seed}:{i}", *range(25))
                p.zadd(f"z:{seed}:{i}", {f"m{j}": j / 7 for j in range(15)})
                p.set(f"t:{seed}:{i}", "expiring", ex=3600)
            if i % 500 == 499:
                p.execute()
        p.execute()
    finally:
        c.close()


__all__ = ["Cluster", "fill_cluster", "redis_cluster", "start_cluster"]
