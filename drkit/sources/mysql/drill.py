"""The MySQL drill: restore the job's newest dump (or ``--snapshot``; or, with ``--point-in-time``, a
--pitr dump plus archived binary logs) into a throwaway local server,
then verify it: the restore itself, the row count of every table against the facts recorded at
backup time, the job's SQL checks, and the canary row (the verified RPO)."""

from __future__ import annotations

from xml.etree import ElementTree

from ...core.errors import DrkitError
from ...core.timespec import parse_time
from ..registry import DrillReport, DrillRequest
from ..system import heartbeat_name
from .conn import MysqlConn
from .facts import read_canary, row_counts
from .pitr import Point, restore_point
from .process import run
from .restore import RestoreOutcome, find_dump, restore_dump
from .sandbox import local_server

_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def drill(request: DrillRequest) -> DrillReport:
    with local_server(request.workdir) as server:
        with request.phase("restore"):
            out, how = _restore(request, server)
        report = DrillReport(snapshot_id=out.snapshot.id)
        report.checks.append(("restore", True, f"database {out.database} restored from {how}"))
        with request.phase("verify"):
            if request.point_in_time is None:
                report.checks += _row_checks(request, out.snapshot.id, server, out.database)
            else:
                report.not_verified.append("mysql.rows: a point-in-time restore has no recorded row counts to match")
            report.checks += [_sql_check(server, out.database, check) for check in request.sql_checks]
            report.canary = read_canary(server, out.database, request.job)
            report.system_heartbeats = {
                s: read_canary(server, out.database, heartbeat_name(s)) for s in request.systems
            }
    return report


def _restore(request: DrillRequest, server: MysqlConn) -> tuple[RestoreOutcome, str]:
    """The dump (``--snapshot`` or the job's newest), or with ``--point-in-time`` the newest --pitr
    dump before it plus the archived binary logs up to it; (outcome, what was restored)."""
    if request.point_in_time is None:
        snap = find_dump(request.repo, request.snapshot or "latest", None if request.snapshot else _name(request))
        return restore_dump(request.repo, snap, server), snap.short_id
    if request.snapshot is not None:
        raise _usage("a point-in-time drill picks its dump itself: give --point-in-time without --snapshot")
    point = Point(time=parse_time(request.point_in_time))
    out, logs = restore_point(request.repo, server, _name(request), point)
    return out, f"{out.snapshot.short_id} plus {logs} binary log(s) up to {point.describe()}"


def _name(request: DrillRequest) -> str:
    return str(getattr(request.config, "name", None) or request.job)


def _row_checks(
    request: DrillRequest, snapshot_id: str, server: MysqlConn, database: str
) -> list[tuple[str, bool, str]]:
    facts = request.facts_of(snapshot_id)
    if not facts:
        return [("mysql.tables", True, "no facts recorded for this snapshot: row counts not compared")]
    expected: dict[str, int] = facts.get("row_counts", {})
    found = row_counts(server, database)
    checks = []
    for table in sorted(set(expected) | set(found)):
        want, got = expected.get(table), found.get(table)
        checks.append((f"mysql.rows.{table}", want == got, f"{got} rows (recorded at backup: {want})"))
    return checks


def _usage(message: str) -> Exception:
    from .errors import MysqlUsage

    return MysqlUsage(message)


def first_value(server: MysqlConn, sql: str, database: str) -> tuple[bool, str | None]:
    """(has a row, the first column of the first row; None for SQL NULL), exactly: read from the
    client's XML output, where NULL (``xsi:nil``) and the text 'NULL' differ and tabs and newlines
    survive (the batch output cannot tell them apart)."""
    root = ElementTree.fromstring(run("client", server, ["--xml", "--database", database, "-e", sql]))
    row = root.find("row")
    field = row.find("field") if row is not None else None
    if field is None:
        return False, None
    if field.get(_NIL) == "true":
        return True, None
    return True, field.text or ""


def _sql_check(
    server: MysqlConn, database: str, check: tuple[int, str, str | None, str | None]
) -> tuple[str, bool, str]:
    index, sql, expect, on = check
    name, want = f"user.sql[{index}]", "NULL" if expect is None else repr(expect)
    try:
        has_row, got = first_value(server, sql, on or database)
    except (DrkitError, ElementTree.ParseError) as exc:
        return name, False, getattr(exc, "message", None) or str(exc)
    if not has_row:
        return name, False, f"got no row, expected {want}"
    return name, got == expect, f"got {'NULL' if got is None else repr(got)}, expected {want}"
