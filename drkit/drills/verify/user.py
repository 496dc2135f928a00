"""The operator's own checks from the job's config or a runbook: SQL with an expected result, Redis
commands with expected replies, paths that must exist.

An SQL check ``{sql, expect}`` passes when the first column of the first row of the first result
with columns (``SET …; SELECT …`` reads the SELECT), in PostgreSQL's own text form (as ``psql``
prints one value: ``t``, ``3000.50``), equals ``expect`` exactly: no trimming, a tab or a newline
inside the value is part of it. SQL NULL is matched only by ``expect: null``, never by a string
('' included). A statement that returns no row fails the check. Values are read over psycopg
(``sources.postgres.sql.text_value``)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import Check, PathCheck, RedisCheck, SqlCheck
from ..result import CheckResult
from .timing import timed_check

if TYPE_CHECKING:  # the [postgres] and [redis] extras: imported when a check of theirs runs, so a
    import redis  # files drill works on a core-only install

    from ...sources.postgres.conn import PgConn


def _reply_text(reply: object) -> str:
    if isinstance(reply, bytes):
        return reply.decode(errors="replace")
    if isinstance(reply, list):
        return " ".join(_reply_text(r) for r in reply)
    return "" if reply is None else str(reply)


def _sql(conn: PgConn, check: SqlCheck, default_db: str) -> tuple[bool, str]:
    from ...sources.postgres.sql import text_value

    has_row, got = text_value(conn, check.sql, dbname=check.database or default_db)
    want = "NULL" if check.expect is None else repr(check.expect)
    if not has_row:
        return False, f"got no row, expected {want}"
    return got == check.expect, f"got {'NULL' if got is None else repr(got)}, expected {want}"


def _redis(c: redis.Redis, check: RedisCheck) -> tuple[bool, str]:
    from ...sources.redis import facts as redis_facts

    client: Any = redis_facts.on_db(c, check.db)
    reply = client.execute_command(*shlex.split(check.redis))
    if reply is None:  # nil (a missing key) is no string: only `expect: null` matches it
        return check.expect is None, f"got nil, expected {'nil' if check.expect is None else repr(check.expect)}"
    got = _reply_text(reply)
    return got == check.expect, f"got {got!r}, expected {'nil' if check.expect is None else repr(check.expect)}"


def _path(root: Path, check: PathCheck) -> tuple[bool, str]:
    """The entry exists in the restored tree: neither ``..`` nor a restored symlink (to /etc, say) may
    make a file outside it count."""
    path = root / check.path_exists.lstrip("/")
    real, top = os.path.realpath(path), os.path.realpath(root)
    inside = real == top or real.startswith(top + os.sep)
    found = inside and os.path.exists(real)
    note = " (resolves outside the restored tree: not counted)" if not inside and os.path.exists(real) else ""
    return found, f"{check.path_exists} {'exists' if found else 'missing'}{note}"


def verify_user_checks(
    checks: list[Check],
    *,
    pg: PgConn | None = None,
    pg_db: str = "postgres",
    redis_client: redis.Redis | None = None,
    root: Path | None = None,
) -> list[CheckResult]:
    """Run each check that applies to the restored kind; a check for another kind fails (misconfigured)."""
    results = []
    for i, check in enumerate(checks):
        name = f"user.{type(check).__name__.removesuffix('Check').lower()}[{i}]"
        if isinstance(check, SqlCheck) and pg is not None:
            results.append(timed_check(name, lambda c=check: _sql(pg, c, pg_db)))  # type: ignore[misc]
        elif isinstance(check, RedisCheck) and redis_client is not None:
            results.append(timed_check(name, lambda c=check: _redis(redis_client, c)))  # type: ignore[misc]
        elif isinstance(check, PathCheck) and root is not None:
            results.append(timed_check(name, lambda c=check: _path(root, c)))  # type: ignore[misc]
        else:
            results.append(CheckResult(name, False, "this check does not apply to the restored source"))
    return results
