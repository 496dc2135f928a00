"""The canary: a row per job holding when it was written, so a drill can prove from restored data
(not catalog metadata) how recent the recovered state is."""

from __future__ import annotations

from datetime import UTC, datetime

from ..system import heartbeat_name
from .conn import PgConn
from .facts import CANARY_TABLE
from .sql import session


def write(conn: PgConn, job: str, dbname: str | None = None, at: datetime | None = None) -> None:
    """The canary of ``job``: written now (the server's clock), or ``at`` (a system heartbeat's one instant)."""
    with session(conn, dbname) as db:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS public.{CANARY_TABLE} (job text PRIMARY KEY, written_at timestamptz NOT NULL)"
        )
        db.execute(
            f"INSERT INTO public.{CANARY_TABLE} VALUES (%s, coalesce(%s::timestamptz, clock_timestamp())) "
            "ON CONFLICT (job) DO UPDATE SET written_at = EXCLUDED.written_at",
            (job, at),
        )


def read(conn: PgConn, job: str, dbname: str | None = None) -> datetime | None:
    """When the newest canary of ``job`` in this server was written (None: no canary)."""
    with session(conn, dbname) as db:
        exists = db.execute(f"SELECT to_regclass('public.{CANARY_TABLE}') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        row = db.execute(f"SELECT written_at FROM public.{CANARY_TABLE} WHERE job = %s", (job,)).fetchone()
    if row is None:
        return None
    written: datetime = row[0]
    return written.astimezone(UTC)


def read_heartbeat(conn: PgConn, system: str, dbname: str | None = None) -> datetime | None:
    """The newest heartbeat of system ``system`` in this server (None: none)."""
    return read(conn, heartbeat_name(system), dbname)
