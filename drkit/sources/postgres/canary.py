"""The canary: a row per job holding when it was written, so a drill can prove from restored data
(not catalog metadata) how recent the recovered state is."""

from __future__ import annotations

from datetime import datetime

from .conn import PgConn
from .facts import CANARY_TABLE
from .logical import quote_literal
from .process import query


def write(conn: PgConn, job: str, dbname: str | None = None) -> None:
    query(conn, f"CREATE TABLE IF NOT EXISTS public.{CANARY_TABLE} "
                "(job text PRIMARY KEY, written_at timestamptz NOT NULL); "
                f"INSERT INTO public.{CANARY_TABLE} VALUES ({quote_literal(job)}, clock_timestamp()) "
                "ON CONFLICT (job) DO UPDATE SET written_at = EXCLUDED.written_at", dbname=dbname)


def read(conn: PgConn, job: str, dbname: str | None = None) -> datetime | None:
    """When the newest canary of ``job`` in this server was written (None: no canary)."""
    exists = query(conn, f"SELECT to_regclass('public.{CANARY_TABLE}') IS NOT NULL", dbname=dbname)
    if exists[0][0] != "t":
        return None
    rows = query(conn, "SELECT extract(epoch FROM written_at) FROM public."
                       f"{CANARY_TABLE} WHERE job = {quote_literal(job)}", dbname=dbname)
    if not rows:
        return None
    from datetime import UTC

    return datetime.fromtimestamp(float(rows[0][0]), tz=UTC)
