"""PostgreSQL checks: accepts connections, every database present, per-table row counts and
checksums equal to those recorded at backup time, and ``amcheck`` on btree indexes when the
extension is available."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ....config import SqlCheck
from ....drills.result import CheckResult
from ....drills.verify.timing import summarize, timed_check
from .. import facts as pg_facts
from ..conn import PgConn
from ..errors import PostgresError
from ..sql import rows, scalar, session, text_value

_AMCHECK_SQL = (
    "SELECT count(bt_index_check(c.oid)) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE a.amname = 'btree' AND c.relpersistence <> 't' AND i.indisvalid "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
)


def _connects(conn: PgConn) -> tuple[bool, str]:
    version = scalar(conn, "SHOW server_version")
    return True, f"PostgreSQL {version}"


def _databases(conn: PgConn, recorded: dict[str, Any]) -> tuple[bool, str]:
    present = set(pg_facts.databases(conn))
    missing = sorted(set(recorded) - present)
    return summarize([f"database {db} missing" for db in missing], f"{len(recorded)} databases present")


def _compare_tables(conn: PgConn, recorded: dict[str, Any], field: str) -> tuple[bool, str]:
    problems: list[str] = []
    tables = 0
    for db, want in recorded.items():
        try:
            got = pg_facts.table_facts(conn, db)
        except PostgresError as exc:
            problems.append(f"{db}: {exc.message}")
            continue
        for table, values in sorted(want.items()):
            tables += 1
            have = got.get(table)
            if have is None:
                problems.append(f"{db}.{table} missing")
            elif have[field] != values[field]:
                problems.append(f"{db}.{table}: {field} {have[field]} != {values[field]} recorded")
    return summarize(problems, f"{tables} tables match ({field})")


def _amcheck(conn: PgConn, dbs: list[str]) -> tuple[bool, str]:
    if not rows(conn, "SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'"):
        return True, "skipped: amcheck not available"
    checked = 0
    for db in dbs:
        with session(conn, db) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
            found = c.execute(_AMCHECK_SQL).fetchone()
        checked += int(found[0]) if found else 0
    return True, f"{checked} btree indexes verified"


def verify_postgres(
    conn: PgConn, facts: dict[str, Any] | None, *, compare_data: bool = True, require_facts: bool = True
) -> list[CheckResult]:
    """Built-in checks. ``compare_data=False`` (a point-in-time drill whose target is not the
    facts' point) checks presence only: row counts legitimately differ there. ``require_facts=False``:
    no facts is no failure (the caller reports what was not verified)."""
    results = [timed_check("postgres.accepts_connections", lambda: _connects(conn))]
    if not results[0].ok:
        return results
    recorded: dict[str, Any] = (facts or {}).get("databases", {})
    if not recorded:
        if require_facts:
            results.append(CheckResult("postgres.facts", False, "no facts were recorded for this snapshot"))
        recorded = {db: {} for db in pg_facts.databases(conn)}
    else:
        results.append(timed_check("postgres.databases", lambda: _databases(conn, recorded)))
    if facts and compare_data:
        results.append(timed_check("postgres.row_counts", lambda: _compare_tables(conn, recorded, "rows")))
        results.append(timed_check("postgres.checksums", lambda: _compare_tables(conn, recorded, "checksum")))
    results.append(timed_check("postgres.amcheck", lambda: _amcheck(conn, sorted(recorded))))
    return results


def sql_check(conn: PgConn, default_db: str) -> Callable[[SqlCheck], tuple[bool, str]]:
    """The runner of the operator's SQL checks (``drills.verify.user``) against the restored server. A check
    ``{sql, expect}`` passes when the first column of the first row of the first result with columns
    (``SET …; SELECT …`` reads the SELECT), in PostgreSQL's own text form (as ``psql`` prints one value:
    ``t``, ``3000.50``), equals ``expect`` exactly: no trimming, a tab or a newline inside the value is part
    of it. SQL NULL is matched only by ``expect: null``, never by a string ('' included). A statement that
    returns no row fails the check."""

    def run(check: SqlCheck) -> tuple[bool, str]:
        has_row, got = text_value(conn, check.sql, dbname=check.database or default_db)
        want = "NULL" if check.expect is None else repr(check.expect)
        if not has_row:
            return False, f"got no row, expected {want}"
        return got == check.expect, f"got {'NULL' if got is None else repr(got)}, expected {want}"

    return run
