"""The sqlite drill: restore the job's newest backup (or ``--snapshot``) into the drill's private
directory, then verify it: ``PRAGMA integrity_check``, the row count of every table against the facts
recorded at backup time, the job's SQL checks, and the canary row (the verified RPO)."""

from __future__ import annotations

import sqlite3

from drkit.core.errors import UsageError
from drkit.sources.registry import DrillReport, DrillRequest

from .database import connect, find_backup, integrity_problem, read_canary, restore_database, row_counts

Check = tuple[str, bool, str]


def drill(request: DrillRequest) -> DrillReport:
    if request.point_in_time is not None:
        raise UsageError("an sqlite backup has no point-in-time restore: drill a snapshot")
    name = None if request.snapshot else str(getattr(request.config, "name", None) or request.job)
    target = request.workdir / "restored.db"
    with request.phase("restore"):
        snap = find_backup(request.repo, request.snapshot or "latest", name)
        written = restore_database(request.repo, snap, target)
    report = DrillReport(snapshot_id=snap.id)
    report.checks.append(("restore", True, f"{snap.short_id} restored: {written} bytes"))
    with request.phase("verify"), connect(target, immutable=True) as conn:
        problem = integrity_problem(conn)
        report.checks.append(("sqlite.integrity", problem is None, problem or "PRAGMA integrity_check: ok"))
        report.checks += _row_checks(request, snap.id, conn)
        report.checks += [_sql_check(conn, check) for check in request.sql_checks]
        report.canary = read_canary(conn, request.job)
    return report


def _row_checks(request: DrillRequest, snapshot_id: str, conn: sqlite3.Connection) -> list[Check]:
    facts = request.facts_of(snapshot_id)
    if not facts:
        return [("sqlite.tables", True, "no facts recorded for this snapshot: row counts not compared")]
    expected: dict[str, int] = facts.get("row_counts", {})
    found = row_counts(conn)
    return [
        (f"sqlite.rows.{table}", expected.get(table) == found.get(table), _rows(found.get(table), expected.get(table)))
        for table in sorted(set(expected) | set(found))
    ]


def _rows(got: int | None, want: int | None) -> str:
    return f"{got} rows (recorded at backup: {want})"


def _text(value: object) -> str | None:
    """A value as the check compares it: NULL is None, text as it is, anything else by str()."""
    return None if value is None else value if isinstance(value, str) else str(value)


def _sql_check(conn: sqlite3.Connection, check: tuple[int, str, str | None, str | None]) -> Check:
    index, sql, expect, database = check
    name, want = f"user.sql[{index}]", "NULL" if expect is None else repr(expect)
    if database is not None:
        return name, False, f"an sqlite file holds one database: `database: {database}` cannot be chosen"
    try:
        row = conn.execute(sql).fetchone()
    except sqlite3.Error as exc:
        return name, False, str(exc)
    if row is None:
        return name, False, f"got no row, expected {want}"
    got = _text(row[0])
    return name, got == expect, f"got {'NULL' if got is None else repr(got)}, expected {want}"
