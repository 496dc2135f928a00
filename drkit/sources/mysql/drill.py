"""The MySQL drill: restore the job's newest dump (or ``--snapshot``) into a throwaway local server,
then verify it: the restore itself, the row count of every table against the facts recorded at
backup time, and the canary row (the verified RPO)."""

from __future__ import annotations

from ..registry import DrillReport, DrillRequest
from .conn import MysqlConn
from .facts import read_canary, row_counts
from .restore import find_dump, restore_dump
from .sandbox import local_server


def drill(request: DrillRequest) -> DrillReport:
    if request.point_in_time is not None:
        raise _usage("a MySQL drill restores a dump: point-in-time drills are not supported yet")
    snap = find_dump(request.repo, request.snapshot or "latest", None if request.snapshot else _name(request))
    report = DrillReport(snapshot_id=snap.id)
    with local_server(request.workdir) as server:
        with request.phase("restore"):
            out = restore_dump(request.repo, snap, server)
            report.checks.append(("restore", True, f"database {out.database} restored from {snap.short_id}"))
        with request.phase("verify"):
            report.checks += _row_checks(request, snap.id, server, out.database)
            report.canary = read_canary(server, out.database, request.job)
    return report


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
