"""Restoring Redis snapshots: an RDB (or an AOF directory) into a target directory ready for
``redis-server``, optionally started; or loaded into a running, empty instance by copying every
key with ``DUMP``/``RESTORE`` from a throwaway server that loaded the restored files (an RDB, or
an AOF directory, e.g. one cut at a point in time), then its Redis functions. Expiry times are copied as absolute times
(``PEXPIRETIME``, ``RESTORE … ABSTTL``): a relative TTL would shift each by the copy's duration."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from ...core.errors import UsageError
from .aof import MANIFEST_SUFFIX, find_manifest
from .cluster import busy_paths, cluster_client, is_cluster, node_target, slot_map
from .conn import RedisTarget, connected, redis_errors
from .errors import RedisSourceError
from .process import RedisProcess

BATCH = 500

# writes the restored files under that directory; returns each data directory to load (one with
# dump.rdb, or with appendonlydir/ when the flag is True; a cluster snapshot has one per shard)
PlaceFn = Callable[[Path], list[tuple[Path, bool]]]


def prepare_dir(target_dir: Path, *, force: bool) -> None:
    target_dir.mkdir(parents=True, exist_ok=True)
    busy = [p.name for p in target_dir.iterdir() if p.name in ("dump.rdb", "appendonlydir")]
    busy += busy_paths(target_dir)  # a cluster snapshot's per-shard directories
    if busy and not force:
        raise UsageError(f"{target_dir} already holds {', '.join(busy)}; refusing to overwrite it without --force")


def server_on(data_dir: Path, *, aof: bool, port: int | None = None, private: bool = False) -> RedisProcess:
    """A (not yet started) redis-server that loads ``data_dir``'s dump.rdb or its AOF directory
    (``private``: behind a random password, for drkit's own use)."""
    extra: list[str] = []
    if aof:
        manifest = find_manifest(data_dir / "appendonlydir").name
        extra = ["--appendfilename", manifest.removesuffix(MANIFEST_SUFFIX)]
    return RedisProcess(dir=data_dir, port=port or 0, aof=aof, extra=extra, private=private)


def start_server(target_dir: Path, *, aof: bool, port: int | None) -> RedisProcess:
    """``--start``: a redis-server on the restored files, left running once it has loaded."""
    return server_on(target_dir, aof=aof, port=port).start()


def _check_empty(c: redis.Redis, display: str, force: bool) -> None:
    keyspace = c.info("keyspace")
    total = sum(int(v.get("keys", 0)) for v in keyspace.values() if isinstance(v, dict))
    if total and not force:
        raise UsageError(f"Redis at {display} already holds {total} keys; refusing to load into it without --force")
    libraries = 0 if force else len(c.function_list())
    if libraries:  # the restore's FUNCTION RESTORE would fail on a name taken, after every key is copied
        raise UsageError(
            f"Redis at {display} already holds {libraries} function libraries; refusing to load into "
            "it without --force (which replaces libraries of the same name)"
        )


def _dbs(c: redis.Redis) -> list[int]:
    return sorted(int(name[2:]) for name in c.info("keyspace") if name.startswith("db"))


def _copy_batch(src: redis.Redis, dst: Any, keys: list[bytes], replace: bool) -> int:
    pipe = src.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("PEXPIRETIME", key)  # type: ignore[no-untyped-call,unused-ignore]  # ms; -1 none; -2 gone
        pipe.dump(key)
    values = pipe.execute()
    out = dst.pipeline(transaction=False)
    count = 0
    for key, expire_at, dumped in zip(keys, values[0::2], values[1::2], strict=True):
        if dumped is None or int(expire_at) == -2:
            continue  # expired between SCAN and DUMP
        at = max(int(expire_at), 0)
        out.restore(key, at, dumped, replace=replace, absttl=at > 0)
        count += 1
    out.execute()
    return count


def _source_dbs(source: RedisProcess, into_cluster: bool) -> list[int]:
    with source.client() as c:
        dbs = _dbs(c)
    if into_cluster and any(db != 0 for db in dbs):
        raise UsageError(
            f"the restored data has keys in db {', '.join(str(d) for d in dbs if d)}: a Redis Cluster has db 0 only",
            hint="restore into a non-cluster server, or with --target-dir",
        )
    return dbs


@contextmanager
def _destination(target: RedisTarget, db: int, into_cluster: bool) -> Iterator[Any]:
    if into_cluster:
        with cluster_client(target) as rc:
            yield rc
    else:
        with connected(target, db=db) as c:
            yield c


def copy_keys(source: RedisProcess, target: RedisTarget, *, force: bool, into_cluster: bool = False) -> dict[int, int]:
    """Copy every key of every db from ``source`` into ``target`` (a server, or a cluster: each key
    to the master owning its slot); returns keys copied per db."""
    copied: dict[int, int] = {}
    for db in _source_dbs(source, into_cluster):
        src = source.client(db)
        with redis_errors(target), _destination(target, db, into_cluster) as dst:
            batch: list[bytes] = []
            copied[db] = 0
            for key in src.scan_iter(count=BATCH):
                batch.append(key)
                if len(batch) >= BATCH:
                    copied[db] += _copy_batch(src, dst, batch, force)
                    batch = []
            if batch:
                copied[db] += _copy_batch(src, dst, batch, force)
        src.close()
    return copied


def copy_functions(source: RedisProcess, nodes: list[RedisTarget], *, replace: bool) -> int:
    """The source's Redis functions (``FUNCTION DUMP``/``FUNCTION RESTORE``) into every node; they
    are data an RDB or AOF holds, but no key: a key copy alone drops them. Returns the libraries."""
    with source.client() as c:
        libraries = len(c.function_list())
        payload = c.function_dump() if libraries else b""
    for node in nodes if libraries else []:
        with connected(node) as dst:
            dst.execute_command("FUNCTION", "RESTORE", payload, "REPLACE" if replace else "APPEND")  # type: ignore[no-untyped-call,unused-ignore]
    return libraries


def _check_target(target: RedisTarget, force: bool) -> tuple[bool, list[RedisTarget]]:
    """Reachable and empty (every master of a cluster), unless ``force``: (a cluster?, the nodes a
    function is loaded into: the server, or every master)."""
    with connected(target) as probe:
        if not is_cluster(probe):
            _check_empty(probe, target.display, force)
            return False, [target]
        masters = slot_map(probe, urlsplit(target.url).hostname or "127.0.0.1")
    nodes = [node_target(target, master) for master in masters]
    for node in nodes:
        with connected(node) as c:
            _check_empty(c, node.display, force)
    return True, nodes


def _evicted(nodes: list[RedisTarget]) -> int:
    """Keys the nodes have evicted since they started (``INFO stats``)."""
    total = 0
    for node in nodes:
        with connected(node) as c:
            total += int(c.info("stats").get("evicted_keys", 0))
    return total


def _check_evictions(target: RedisTarget, nodes: list[RedisTarget], before: int) -> None:
    """A target with a maxmemory eviction policy accepts every RESTORE and drops keys meanwhile."""
    evicted = _evicted(nodes) - before
    if evicted > 0:
        raise RedisSourceError(
            f"Redis at {target.display} evicted {evicted} keys during the restore (its maxmemory "
            "policy): the restored data there is incomplete",
            hint="raise maxmemory (or set maxmemory-policy noeviction), empty it, restore again",
        )


def check_load_target(target: RedisTarget, *, force: bool = False) -> tuple[bool, list[RedisTarget]]:
    """A ``--to-url`` target: no db in the URL, reachable and empty unless ``force`` (every master of a
    cluster); (a cluster?, its nodes). ``load_into`` checks it, `restore --system` also before any work."""
    url_db = urlsplit(target.url).path.strip("/")
    if url_db not in ("", "0"):  # each db is copied to the same number: the URL's would be ignored
        raise UsageError(
            f"--to-url names db {url_db}: a restore copies every db of the snapshot to the same db number",
            hint="give the URL without a db (or /0)",
        )
    return _check_target(target, force)


def load_into(target: RedisTarget, place: PlaceFn, *, force: bool) -> dict[int, int]:
    """``--to-url``: write the restored files into a temp dir, load each data directory in a
    throwaway server, copy every key. The target is checked (reachable, empty unless ``force``)
    before ``place``."""
    into_cluster, nodes = check_load_target(target, force=force)
    evicted_before = _evicted(nodes)
    copied: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="drkit-redis-") as tmp:
        for n, (data_dir, aof) in enumerate(place(Path(tmp))):
            with server_on(data_dir, aof=aof, private=True) as server:
                try:
                    keys = copy_keys(server, target, force=force, into_cluster=into_cluster)
                    # a cluster's shards each hold the libraries: the first load appends, the next replace
                    copy_functions(server, nodes, replace=force or n > 0)
                except redis.ResponseError as exc:
                    raise RedisSourceError(f"Redis at {target.display} refused RESTORE: {exc}") from None
            for db, n in keys.items():
                copied[db] = copied.get(db, 0) + n
    _check_evictions(target, nodes, evicted_before)
    return copied
