"""Restoring Redis snapshots: an RDB (or an AOF directory) into a target directory ready for
``redis-server``, optionally started; or loaded into a running, empty instance by copying every
key with ``DUMP``/``RESTORE`` from a throwaway server that loaded the restored files (an RDB, or
an AOF directory, e.g. one cut at a point in time). Expiry times are copied as absolute times
(``PEXPIRETIME``, ``RESTORE … ABSTTL``): a relative TTL would shift each by the copy's duration."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import redis

from ...core.errors import UsageError
from .aof import MANIFEST_SUFFIX, find_manifest
from .cluster import busy_paths
from .conn import RedisTarget, connected, redis_errors
from .errors import RedisSourceError
from .process import RedisProcess

BATCH = 500

PlaceFn = Callable[[Path], bool]  # writes dump.rdb or appendonlydir/ in that directory; True: the AOF


def prepare_dir(target_dir: Path, *, force: bool) -> None:
    target_dir.mkdir(parents=True, exist_ok=True)
    busy = [p.name for p in target_dir.iterdir() if p.name in ("dump.rdb", "appendonlydir")]
    busy += busy_paths(target_dir)  # a cluster snapshot's per-shard directories
    if busy and not force:
        raise UsageError(f"{target_dir} already holds {', '.join(busy)}; refusing to overwrite it without --force")


def server_on(data_dir: Path, *, aof: bool, port: int | None = None) -> RedisProcess:
    """A (not yet started) redis-server that loads ``data_dir``'s dump.rdb or its AOF directory."""
    extra: list[str] = []
    if aof:
        manifest = find_manifest(data_dir / "appendonlydir").name
        extra = ["--appendfilename", manifest.removesuffix(MANIFEST_SUFFIX)]
    return RedisProcess(data_dir, port or 0, aof=aof, extra=extra)


def start_server(target_dir: Path, *, aof: bool, port: int | None) -> RedisProcess:
    """``--start``: a redis-server on the restored files, left running once it has loaded."""
    return server_on(target_dir, aof=aof, port=port).start()


def _check_empty(c: redis.Redis, display: str, force: bool) -> None:
    keyspace = c.info("keyspace")
    total = sum(int(v.get("keys", 0)) for v in keyspace.values() if isinstance(v, dict))
    if total and not force:
        raise UsageError(f"Redis at {display} already holds {total} keys; refusing to load into it without --force")


def _dbs(c: redis.Redis) -> list[int]:
    return sorted(int(name[2:]) for name in c.info("keyspace") if name.startswith("db"))


def _copy_batch(src: redis.Redis, dst: redis.Redis, keys: list[bytes], replace: bool) -> int:
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


def copy_keys(source: RedisProcess, target: RedisTarget, *, force: bool) -> dict[int, int]:
    """Copy every key of every db from ``source`` into ``target``; returns keys copied per db."""
    copied: dict[int, int] = {}
    with connected(target) as probe:
        _check_empty(probe, target.display, force)
    for db in _dbs(source.client()):
        src = redis.Redis(host="127.0.0.1", port=source.port, db=db)
        with redis_errors(target), connected(target, db=db) as dst:
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


def load_into(target: RedisTarget, place: PlaceFn, *, force: bool) -> dict[int, int]:
    """``--to-url``: write the restored files into a temp dir, load them in a throwaway server,
    copy every key. The target is checked (reachable, empty unless ``force``) before ``place``."""
    with connected(target) as probe:
        _check_empty(probe, target.display, force)
    with tempfile.TemporaryDirectory(prefix="drkit-redis-") as tmp:
        aof = place(Path(tmp))
        with server_on(Path(tmp), aof=aof) as server:
            try:
                return copy_keys(server, target, force=force)
            except redis.ResponseError as exc:
                raise RedisSourceError(f"Redis at {target.display} refused RESTORE: {exc}") from None
