"""Facts and canary of a MySQL job: exact row counts of the database's base tables (recorded next to
each snapshot, compared by a drill with the restored database), and a canary row a drill reads back
to measure the RPO from restored data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ...core import clock
from .conn import MysqlConn
from .process import query, quote_ident, quote_string

CANARY_TABLE = "drkit_canary"
MAX_TABLES = 500  # row counts of at most this many tables (a COUNT(*) each)


def row_counts(conn: MysqlConn, database: str) -> dict[str, int]:
    names = [
        r[0]
        for r in query(
            conn,
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
            f"{quote_string(database)} AND TABLE_TYPE = 'BASE TABLE' "
            f"ORDER BY TABLE_NAME LIMIT {MAX_TABLES}",
        )
    ]
    if not names:
        return {}
    sql = " UNION ALL ".join(
        f"SELECT {quote_string(n)}, COUNT(*) FROM {quote_ident(database)}.{quote_ident(n)}" for n in names
    )
    return {row[0]: int(row[1]) for row in query(conn, sql)}


def collect(conn: MysqlConn, database: str) -> dict[str, Any]:
    return {"database": database, "row_counts": row_counts(conn, database)}


def write_canary(conn: MysqlConn, database: str, job: str, at: datetime | None = None) -> None:
    """Upsert the job's canary row (created on first use) with the current UTC time, or ``at`` (a system
    heartbeat's one instant)."""
    table = f"{quote_ident(database)}.{quote_ident(CANARY_TABLE)}"
    now = (at or clock.utcnow()).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    query(
        conn,
        f"CREATE TABLE IF NOT EXISTS {table} (job VARCHAR(64) PRIMARY KEY, written_at DATETIME(6) NOT NULL)"
        f" ENGINE=InnoDB; REPLACE INTO {table} VALUES ({quote_string(job)}, {quote_string(now)})",
    )


def read_canary(conn: MysqlConn, database: str, job: str) -> datetime | None:
    """The job's canary time in a (restored) database; None if it has none."""
    exists = query(
        conn,
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
        f"{quote_string(database)} AND TABLE_NAME = {quote_string(CANARY_TABLE)}",
    )
    if exists[0][0] == "0":
        return None
    rows = query(
        conn,
        f"SELECT written_at FROM {quote_ident(database)}.{quote_ident(CANARY_TABLE)} WHERE job = {quote_string(job)}",
    )
    if not rows:
        return None
    return datetime.fromisoformat(rows[0][0]).replace(tzinfo=UTC)
