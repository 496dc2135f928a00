"""Logical backup: ``mariadb-dump --single-transaction --routines --events --triggers`` of one
database, streamed into the repository as a stream snapshot (kind ``mysql``). A dump that exits
non-zero vetoes the snapshot.

The dump names no database (no ``CREATE DATABASE``/``USE``), so it restores under any name; the
database's character set and collation are kept in the snapshot's metadata and recreated.
``--single-transaction`` is consistent for InnoDB tables (MyISAM ones are read without a lock).
``--hex-blob`` writes binary columns as hex (no raw bytes in the SQL), ``--skip-dump-date``
leaves out the timestamp so an unchanged database dumps to the same bytes (and deduplicates)."""

from __future__ import annotations

from collections.abc import Callable

from ...core import tracing
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.streams import SourceRef, backup_stream
from .conn import MysqlConn
from .errors import MysqlUsage
from .process import query, quote_string, spawned

KIND = "mysql"
DUMP_ARGS = [
    "--single-transaction",
    "--routines",
    "--events",
    "--triggers",
    "--hex-blob",
    "--skip-dump-date",
    "--default-character-set=utf8mb4",
    "--add-drop-table",
    "--quick",
]


def database_facts(conn: MysqlConn, database: str) -> dict[str, str]:
    rows = query(
        conn,
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
        f"WHERE SCHEMA_NAME = {quote_string(database)}",
    )
    if not rows:
        raise MysqlUsage(f"database {database!r} does not exist on {conn.display}")
    return {"charset": rows[0][0], "collation": rows[0][1]}


def backup_dump(
    repo: Repository,
    conn: MysqlConn,
    *,
    name: str | None = None,
    tags: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Snapshot:
    """Dump ``conn.database`` into one snapshot (under the repository's backup lock)."""
    database = conn.database
    if not database:
        raise MysqlUsage("a MySQL backup needs a database (the URL's path, e.g. mysql://backup@db:3306/shop)")
    with tracing.span("drkit.backup", **{"drkit.source_kind": KIND}), repo.lock(purpose="backup"):
        facts = database_facts(conn, database)
        version = query(conn, "SELECT VERSION()")[0][0]
        meta = {
            "mode": "logical",
            "database": database,
            "server": conn.display,
            "server_version": version,
            "database_facts": facts,
        }
        with spawned("dump", conn, [*DUMP_ARGS, "--", database]) as dump:
            return backup_stream(
                repo,
                SourceRef(KIND, name or database, list(tags or []), meta),
                dump.stdout,
                before_commit=dump.finish,
                progress=progress,
            )
