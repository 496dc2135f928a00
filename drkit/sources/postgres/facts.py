"""What a PostgreSQL source held at backup time, for drills to compare a restore against: the
databases, and per table its row count and an order-independent checksum of its rows.

The checksum is ``sum(hashtext(row::text))`` — one sequential scan, no sort — so it is cheap
enough to run at every backup and in every drill. The canary table is left out: it changes."""

from __future__ import annotations

from typing import Any

from psycopg import sql as pgsql

from .conn import PgConn
from .sql import rows

CANARY_TABLE = "drkit_canary"

_TABLES_SQL = (
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' "
    f"AND NOT (n.nspname = 'public' AND c.relname = '{CANARY_TABLE}') ORDER BY 1, 2"
)


def databases(conn: PgConn) -> list[str]:
    """The databases a client can connect to (templates left out)."""
    found = rows(conn, "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY 1")
    return [str(r[0]) for r in found]


def table_facts(conn: PgConn, dbname: str) -> dict[str, dict[str, str]]:
    """``schema.table`` → {"rows", "checksum"} for every user table of one database. Values are
    decimal strings (the recorded format; a comparison is exact on them)."""
    tables = rows(conn, _TABLES_SQL, dbname=dbname)
    if not tables:
        return {}
    parts = [
        pgsql.SQL("SELECT {}::text, count(*), coalesce(sum(hashtext(x::text)::bigint), 0) FROM {} x").format(
            pgsql.Literal(f"{s}.{t}"), pgsql.Identifier(s, t)
        )
        for s, t in tables
    ]
    found = rows(conn, pgsql.SQL(" UNION ALL ").join(parts), dbname=dbname)
    return {str(name): {"rows": str(count), "checksum": str(checksum)} for name, count, checksum in found}


def collect(conn: PgConn, dbnames: list[str] | None = None) -> dict[str, Any]:
    """Facts for ``dbnames`` (default: every database)."""
    names = dbnames if dbnames is not None else databases(conn)
    return {"databases": {db: table_facts(conn, db) for db in names}}
