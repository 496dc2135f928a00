"""What a Redis source held at backup time, for drills: key counts per database and, for a sample
of keys, their type, absolute expiry and a digest of their value (by type, so encodings do not
matter). Canary keys are left out of the sample: their values change."""

from __future__ import annotations

import hashlib
import inspect
from datetime import UTC, datetime
from typing import Any

import redis

from ..system import heartbeat_name

CANARY_PREFIX = "drkit:canary:"
SAMPLE_SIZE = 100


def key_counts(c: redis.Redis) -> dict[str, int]:
    """db number (as text) → keys, from INFO (no scan: cheap on millions of keys). Canary keys count
    like any other: each is written before its backup's facts are recorded, so both sides hold it."""
    info: dict[str, Any] = c.info("keyspace")
    return {name.removeprefix("db"): int(v["keys"]) for name, v in info.items() if name.startswith("db")}


def on_db(c: redis.Redis, db: int) -> redis.Redis:
    """A client like ``c`` (same server, credentials, TLS) on database ``db``."""
    accepted = inspect.signature(redis.Redis.__init__).parameters
    kwargs = {k: v for k, v in c.connection_pool.connection_kwargs.items() if k in accepted}
    if c.connection_pool.connection_class is redis.SSLConnection:
        kwargs["ssl"] = True
    kwargs["db"] = db
    return redis.Redis(**kwargs)


def value_digest(client: redis.Redis, key: bytes) -> tuple[str, str]:
    """(type, sha256 of a canonical form of the value)."""
    c: Any = client  # redis-py's stubs type replies as bytes | str; ours are bytes (no decode_responses)
    kind = c.type(key).decode()
    if kind == "string":
        parts: list[bytes] = [c.get(key) or b""]
    elif kind == "hash":
        parts = [b"%s=%s" % kv for kv in sorted(c.hgetall(key).items())]
    elif kind == "list":
        parts = list(c.lrange(key, 0, -1))
    elif kind == "set":
        parts = sorted(c.smembers(key))
    elif kind == "zset":
        parts = [b"%s:%r" % (m, s) for m, s in c.zrange(key, 0, -1, withscores=True)]
    elif kind == "stream":
        parts = [repr(c.xrange(key, "-", "+")).encode()]
    else:
        parts = [c.dump(key) or b""]
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "big") + p)
    return kind, h.hexdigest()


def sample(c: redis.Redis, db: int, limit: int) -> dict[str, dict[str, Any]]:
    """Up to ``limit`` keys of one db (hex-encoded names) → type, expiry (ms since epoch, -1 none), digest."""
    client = on_db(c, db)
    out: dict[str, dict[str, Any]] = {}
    for key in client.scan_iter(count=1000):
        if key.startswith(CANARY_PREFIX.encode()):
            continue
        kind, digest = value_digest(client, key)
        out[key.hex()] = {"type": kind, "expires_ms": int(client.pexpiretime(key)), "digest": digest}
        if len(out) >= limit:
            break
    return out


def collect(c: redis.Redis, limit: int = SAMPLE_SIZE) -> dict[str, Any]:
    counts = key_counts(c)
    per_db = max(1, limit // max(1, len(counts)))
    return {"keys": counts, "sample": {db: sample(c, int(db), per_db) for db in counts}}


def write_canary(c: redis.Redis, job: str, now_ms: int) -> None:
    c.set(CANARY_PREFIX + job, str(now_ms))


def read_canary(c: redis.Redis, job: str) -> int | None:
    value = c.get(CANARY_PREFIX + job)
    return int(value) if value is not None else None


def read_heartbeat(c: redis.Redis, system: str) -> datetime | None:
    """The newest heartbeat of system ``system`` in this server (None: none)."""
    millis = read_canary(c, heartbeat_name(system))
    return datetime.fromtimestamp(millis / 1000, UTC) if millis is not None else None
