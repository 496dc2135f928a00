"""What a PostgreSQL source held at backup time, for drills to compare a restore against: the
databases, and per table its row count and an order-independent checksum of its rows.

The checksum is ``sum(hashtext(row::text))`` — one sequential scan, no sort — so it is cheap
enough to run at every backup and in every drill. The canary table is left out: it changes."""

from __future__ import annotations

from typing import Any

from .conn import PgConn
from .logical import quote_ident, quote_literal
from .process import query

CANARY_TABLE = "drkit_canary"

_TABLES_SQL = (
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' "
    f"AND NOT (n.nspname = 'public' AND c.relname = '{CANARY_TABLE}') ORDER BY 1, 2"
)


def databases(conn: PgConn) -> list[str]:
    """The databases a client can connect to (templates left out)."""
    rows = query(conn, "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY 1")
    return [r[0] for r in rows]


def table_facts(conn: PgConn, dbname: str) -> dict[str, dict[str, str]]:
    """``schema.table`` → {"rows", "checksum"} for every user table of one database."""
    tables = query(conn, _TABLES_SQL, dbname=dbname)
    if not tables:
        return {}
    parts = [
        f"SELECT {quote_literal(f'{s}.{t}')}, count(*), coalesce(sum(hashtext(x::text)::bigint), 0) "
        f"FROM {quote_ident(s)}.{quote_ident(t)} x"
        for s, t in tables
    ]
    rows = query(conn, " UNION ALL ".join(parts), dbname=dbname)
    return {name: {"rows": count, "checksum": checksum} for name, count, checksum in rows}


def collect(conn: PgConn, dbnames: list[str] | None = None) -> dict[str, Any]:
    """Facts for ``dbnames`` (default: every database)."""
    names = dbnames if dbnames is not None else databases(conn)
    return {"databases": {db: table_facts(conn, db) for db in names}}
