"""Redis Cluster: one snapshot of every master.

A cluster node holds only the keys of its own hash slots, so an RDB of the node a URL names is a
part of the data. ``backup_cluster`` reads the slot map (``CLUSTER NODES``) from that node, takes an
RDB from each master over the replication protocol (as for a single server) into one bundle
snapshot, a part ``<node-id>.rdb`` per master, and records the slot map in the snapshot's metadata.
The map is read again at the end: if a slot moved, a master failed over or the cluster was not
healthy, no snapshot is written. Each master's RDB is consistent on its own; like Redis itself, the
masters' RDBs are not taken at one common instant.

``write_shards`` restores such a snapshot as one directory per shard: ``DIR/<node-id>/dump.rdb``,
plus ``DIR/cluster-shards.json`` (node id, address, slot ranges, keys of each shard).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster

from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.streams import BundleWriter, SourceRef
from .conn import RedisTarget, connected, redis_errors
from .errors import RedisSourceError
from .rdb import RdbTransfer

SLOTS = 16384
SHARDS_FILE = "cluster-shards.json"

Progress = Callable[[int], None] | None
WritePart = Callable[[str, Path], int]  # (part name, file path) → bytes written


@dataclass(frozen=True)
class Master:
    node_id: str
    host: str
    port: int
    slots: tuple[tuple[int, int], ...]

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"


def is_cluster(c: redis.Redis) -> bool:
    return int(c.info("cluster").get("cluster_enabled", 0)) == 1


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _slot_ranges(words: list[str], node_id: str) -> tuple[tuple[int, int], ...]:
    ranges = []
    for word in words:
        if word.startswith("["):  # [slot->-id] / [slot-<-id]: a slot being migrated
            raise RedisSourceError(
                f"Redis Cluster: slot {word.strip('[]').split('-')[0]} of node {node_id[:12]} "
                "is being migrated; no snapshot written",
                hint="retry when resharding has finished",
            )
        first, _, last = word.partition("-")
        ranges.append((int(first), int(last or first)))
    return tuple(sorted(ranges))


def parse_nodes(text: str, default_host: str) -> list[Master]:
    """The masters that own slots, from ``CLUSTER NODES`` (``id host:port@bus[,hostname] flags
    master ping pong epoch link slot...``); a failed master is an error."""
    masters = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 8 or "master" not in words[2].split(","):
            continue
        node_id, flags = words[0], words[2].split(",")
        if "fail" in flags or "fail?" in flags or words[7] != "connected":
            raise RedisSourceError(
                f"Redis Cluster: master {node_id[:12]} ({words[1]}) is {words[2]}/{words[7]}; no snapshot written",
                hint="back up when every master is reachable",
            )
        hostport = words[1].split("@")[0]
        host, _, port = hostport.rpartition(":")
        slots = _slot_ranges(words[8:], node_id)
        if slots:
            masters.append(Master(node_id, host or default_host, int(port), slots))
    return sorted(masters, key=lambda m: m.slots[0])


def own_slots(c: redis.Redis) -> dict[str, Any]:
    """This node's id and slot ranges (the ``myself`` line of ``CLUSTER NODES``)."""
    text = _text(c.execute_command("CLUSTER", "NODES"))  # type: ignore[no-untyped-call,unused-ignore]
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 8 and "myself" in words[2].split(","):
            ranges = [w for w in words[8:] if not w.startswith("[")]
            slots = [[int(w.partition("-")[0]), int(w.partition("-")[2] or w.partition("-")[0])] for w in ranges]
            return {"id": words[0], "slots": slots, "slot_count": sum(b - a + 1 for a, b in slots)}
    return {"id": None, "slots": [], "slot_count": 0}


def part_warning(node: dict[str, Any]) -> str:
    return (
        f"this Redis is one node of a Redis Cluster: its AOF holds only its own {node['slot_count']} of "
        f"{SLOTS} slots; back up every master's AOF (or use --url alone for an RDB of every master)"
    )


def slot_map(c: redis.Redis, default_host: str) -> list[Master]:
    info = _text(c.execute_command("CLUSTER", "INFO"))  # type: ignore[no-untyped-call,unused-ignore]
    if "cluster_state:ok" not in info:
        raise RedisSourceError(
            "Redis Cluster: cluster_state is not ok; no snapshot written",
            hint="back up when CLUSTER INFO reports cluster_state:ok",
        )
    masters = parse_nodes(_text(c.execute_command("CLUSTER", "NODES")), default_host)  # type: ignore[no-untyped-call,unused-ignore]
    covered = sum(last - first + 1 for m in masters for first, last in m.slots)
    if covered != SLOTS:
        raise RedisSourceError(f"Redis Cluster: masters own {covered} of {SLOTS} slots; no snapshot written")
    return masters


@contextmanager
def cluster_client(target: RedisTarget) -> Iterator[RedisCluster]:
    """A cluster-aware client (each key to the master owning its slot), same credentials and TLS."""
    parts = urlsplit(target.url)
    kw = target.client_kwargs()
    if parts.scheme == "rediss":
        kw["ssl"] = True
    with redis_errors(target):
        rc = RedisCluster(host=parts.hostname or "127.0.0.1", port=parts.port or 6379, **kw)
        try:
            yield rc
        finally:
            rc.close()


def node_target(target: RedisTarget, master: Master) -> RedisTarget:
    """The same credentials and TLS settings, at one master's address."""
    parts = urlsplit(target.url)
    host = f"[{master.host}]" if ":" in master.host else master.host
    url = urlunsplit((parts.scheme, f"{host}:{master.port}", "/0", "", ""))
    return RedisTarget(
        url=url,
        username=target.username,
        password=target.password,
        tls_ca=target.tls_ca,
        tls_insecure=target.tls_insecure,
    )


def _slot_owners(masters: list[Master]) -> list[tuple[str, tuple[tuple[int, int], ...]]]:
    return [(m.node_id, m.slots) for m in masters]


def check_views(target: RedisTarget, masters: list[Master], default_host: str) -> None:
    """Every master's own view of the map is ``masters`` and none of its slots is being migrated or
    imported. A node shows its migrating/importing slots only on its own ``myself`` line, and learns
    a slot's new owner by gossip: the view of the node the URL names alone misses a migration
    between two others (keys moved between two masters' RDBs would be in neither)."""
    want = _slot_owners(masters)
    for master in masters:
        with connected(node_target(target, master)) as c:
            if _slot_owners(slot_map(c, default_host)) != want:
                raise RedisSourceError(
                    f"Redis Cluster: master {master.node_id[:12]} ({master.addr}) sees another slot map; "
                    "no snapshot written",
                    hint="retry when no resharding or failover is running",
                )


def _backup_master(bundle: BundleWriter, target: RedisTarget, master: Master, diskless: bool) -> dict[str, Any]:
    part = f"{master.node_id}.rdb"
    with RdbTransfer(node_target(target, master), diskless=diskless) as transfer:
        assert transfer.reader is not None
        bundle.add(part, transfer.reader)  # type: ignore[arg-type]
        transfer.check_complete()
        facts = transfer.facts
        return {
            "id": master.node_id,
            "addr": master.addr,
            "slots": [list(r) for r in master.slots],
            "part": part,
            "keys": sum(facts["keys_per_db"].values()),
            "rdb_size": transfer.reader.read_bytes,
            "run_id": facts["run_id"],
            "master_repl_offset": facts["master_repl_offset"],
            "redis_version": facts["redis_version"],
        }


def backup_cluster(
    repo: Repository,
    target: RedisTarget,
    name: str,
    tags: list[str],
    progress: Progress = None,
    *,
    diskless: bool = True,
) -> Snapshot:
    """Every master's RDB in one snapshot, with the slot map; vetoed if the map changed meanwhile."""
    host = urlsplit(target.url).hostname or "127.0.0.1"
    with connected(target) as c:
        masters = slot_map(c, host)
        check_views(target, masters, host)
        with BundleWriter(repo, progress=progress) as bundle:
            shards = [_backup_master(bundle, target, m, diskless) for m in masters]

            def unchanged() -> None:
                if slot_map(c, host) != masters:
                    raise RedisSourceError(
                        "Redis Cluster: the slot map changed during the backup; no snapshot written",
                        hint="retry when no resharding or failover is running",
                    )
                check_views(target, masters, host)  # a migration between two other masters, too

            meta = {
                "mode": "cluster",
                "url": target.display,
                "shards": shards,
                "slots": SLOTS,
                "keys": sum(s["keys"] for s in shards),
                "rdb_size": sum(s["rdb_size"] for s in shards),
                "redis_version": shards[0]["redis_version"],
            }
            return bundle.commit(SourceRef("redis", name, tags, meta), before_commit=unchanged)


def write_shards(snap: Snapshot, target_dir: Path, write_part: WritePart) -> list[str]:
    """``DIR/<node-id>/dump.rdb`` per shard and ``DIR/cluster-shards.json``; returns the shard ids."""
    shards = snap.meta["shards"]
    for shard in shards:
        (target_dir / shard["id"]).mkdir(parents=True, exist_ok=True)
        write_part(shard["part"], target_dir / shard["id"] / "dump.rdb")
    layout = [{k: s[k] for k in ("id", "addr", "slots", "keys")} for s in shards]
    (target_dir / SHARDS_FILE).write_text(json.dumps({"snapshot": snap.id, "shards": layout}, indent=2) + "\n")
    return [s["id"] for s in shards]


def shard_dirs(target_dir: Path) -> list[str]:
    """The shard directories a restore wrote (from ``cluster-shards.json``)."""
    return [s["id"] for s in json.loads((target_dir / SHARDS_FILE).read_text())["shards"]]


def busy_paths(target_dir: Path) -> list[str]:
    """What a cluster restore would overwrite in ``target_dir``."""
    if not target_dir.is_dir():
        return []
    return [p.name for p in target_dir.iterdir() if p.name == SHARDS_FILE or (p.is_dir() and (p / "dump.rdb").exists())]
