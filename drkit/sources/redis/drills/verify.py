"""Redis checks: key counts per database and a sample of keys (type, expiry, value digest) equal to
those recorded at backup time."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from typing import Any

import redis

from ....config import RedisCheck
from ....drills.result import CheckResult
from ....drills.verify.timing import summarize, timed_check
from .. import facts as redis_facts


def _counts(c: redis.Redis, recorded: dict[str, int]) -> tuple[bool, str]:
    got = redis_facts.key_counts(c)
    problems = [
        f"db{db}: {got.get(db, 0)} keys != {want} recorded"
        for db, want in sorted(recorded.items())
        if got.get(db, 0) != want
    ]
    problems += [f"db{db}: {n} keys, none recorded" for db, n in sorted(got.items()) if db not in recorded]
    return summarize(problems, f"{sum(recorded.values())} keys in {len(recorded)} databases")


def _sample(c: redis.Redis, sample: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    now_ms = int(time.time() * 1000)
    problems: list[str] = []
    checked = 0
    for db, keys in sorted(sample.items()):
        client: Any = redis_facts.on_db(c, int(db))
        for hex_key, want in sorted(keys.items()):
            if 0 <= want["expires_ms"] <= now_ms:
                continue  # expired since the backup: its absence is correct
            key = bytes.fromhex(hex_key)
            shown = key.decode(errors="replace")[:60]
            if not client.exists(key):
                problems.append(f"db{db} key {shown!r} missing")
                continue
            kind, digest = redis_facts.value_digest(client, key)
            expires = int(client.pexpiretime(key))
            if (kind, digest) != (want["type"], want["digest"]):
                problems.append(f"db{db} key {shown!r}: value differs")
            elif expires != want["expires_ms"]:
                problems.append(f"db{db} key {shown!r}: expiry {expires} != {want['expires_ms']}")
            checked += 1
    return summarize(problems, f"{checked} sampled keys match (type, value, expiry)")


def verify_redis(
    c: redis.Redis, facts: dict[str, Any] | None, *, compare_data: bool = True, require_facts: bool = True
) -> list[CheckResult]:
    """Built-in checks; ``require_facts=False``: no facts is no failure (the caller says what it did not
    verify)."""
    results = [timed_check("redis.accepts_connections", lambda: (bool(c.ping()), "PING answered"))]
    if not results[0].ok:
        return results
    if not facts:
        if require_facts:
            results.append(CheckResult("redis.facts", False, "no facts were recorded for this snapshot"))
        return results
    if compare_data:
        results.append(timed_check("redis.key_counts", lambda: _counts(c, facts["keys"])))
        results.append(timed_check("redis.sample", lambda: _sample(c, facts["sample"])))
    return results


def _reply_text(reply: object) -> str:
    if isinstance(reply, bytes):
        return reply.decode(errors="replace")
    if isinstance(reply, list):
        return " ".join(_reply_text(r) for r in reply)
    return "" if reply is None else str(reply)


def redis_check(c: redis.Redis) -> Callable[[RedisCheck], tuple[bool, str]]:
    """The runner of the operator's Redis checks (``drills.verify.user``) against the restored server: the
    command's reply as text equals ``expect``; nil (a missing key) is matched only by ``expect: null``."""

    def run(check: RedisCheck) -> tuple[bool, str]:
        client: Any = redis_facts.on_db(c, check.db)
        reply = client.execute_command(*shlex.split(check.redis))
        want = "nil" if check.expect is None else repr(check.expect)
        if reply is None:  # nil is no string: only `expect: null` matches it
            return check.expect is None, f"got nil, expected {want}"
        got = _reply_text(reply)
        return got == check.expect, f"got {got!r}, expected {want}"

    return run
