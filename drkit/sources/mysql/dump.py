"""Logical backup: ``mariadb-dump --single-transaction --routines --events --triggers`` of one
database, streamed into the repository as a stream snapshot (kind ``mysql``). A dump that exits
non-zero vetoes the snapshot.

The dump names no database (no ``CREATE DATABASE``/``USE``), so it restores under any name; the
database's character set and collation are kept in the snapshot's metadata and recreated.
``--single-transaction`` is consistent for InnoDB tables (MyISAM ones are read without a lock).
``--hex-blob`` writes binary columns as hex (no raw bytes in the SQL), ``--skip-dump-date``
leaves out the timestamp so an unchanged database dumps to the same bytes (and deduplicates)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, BinaryIO, cast

from ...core import tracing
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.streams import SourceRef, backup_stream
from .conn import MysqlConn
from .errors import MysqlError, MysqlUsage
from .identity import dump_head, server_identity
from .process import query, quote_string, spawned

KIND = "mysql"
# MariaDB and MySQL < 8.0.23: CHANGE MASTER TO MASTER_LOG_FILE=…; MySQL 8.0.23+: CHANGE REPLICATION SOURCE TO SOURCE_…
_POSITION = re.compile(
    r"^-- CHANGE (?:MASTER|REPLICATION SOURCE) TO (?:MASTER|SOURCE)_LOG_FILE='(?P<file>[^']+)', "
    r"(?:MASTER|SOURCE)_LOG_POS=(?P<pos>\d+);",
    re.M,
)
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


def server_time(conn: MysqlConn) -> str:
    """The server's clock, UTC, ISO 8601 with microseconds."""
    return query(conn, "SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%f+00:00')")[0][0]


def database_facts(conn: MysqlConn, database: str) -> dict[str, str]:
    rows = query(
        conn,
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
        f"WHERE SCHEMA_NAME = {quote_string(database)}",
    )
    if not rows:
        raise MysqlUsage(f"database {database!r} does not exist on {conn.display}")
    return {"charset": rows[0][0], "collation": rows[0][1]}


class _HeadTap:
    """The dump's stdout, keeping its first ``HEAD`` bytes (where ``--master-data=2`` writes the
    binary-log position of the dump's consistent snapshot)."""

    HEAD = 1 << 16

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.head = stream, bytearray()

    def readinto(self, dest: memoryview) -> int:
        n = self.stream.readinto(dest)  # type: ignore[attr-defined]
        if n and len(self.head) < self.HEAD:
            self.head += bytes(dest[: min(n, self.HEAD - len(self.head))])
        return int(n or 0)

    def binlog_position(self) -> dict[str, Any]:
        found = _POSITION.search(self.head.decode(errors="replace"))
        if found is None:
            raise MysqlError("mariadb-dump --master-data wrote no binary-log position: no snapshot written")
        return {"file": found["file"], "position": int(found["pos"])}


def backup_dump(
    repo: Repository,
    conn: MysqlConn,
    *,
    name: str | None = None,
    tags: list[str] | None = None,
    binlog_position: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Snapshot:
    """Dump ``conn.database`` into one snapshot (under the repository's backup lock). With
    ``binlog_position`` (for point-in-time restores) the snapshot records the binary-log position
    of the dump's consistent state (``--master-data=2``; needs the RELOAD privilege)."""
    database = conn.database
    if not database:
        raise MysqlUsage("a MySQL backup needs a database (the URL's path, e.g. mysql://backup@db:3306/shop)")
    with tracing.span("drkit.backup", **{"drkit.source_kind": KIND}), repo.lock(purpose="backup"):
        meta: dict[str, Any] = {
            "mode": "logical",
            "database": database,
            "server": conn.display,
            "server_version": query(conn, "SELECT VERSION()")[0][0],
            "database_facts": database_facts(conn, database),
        }
        args = [*DUMP_ARGS, *(["--master-data=2"] if binlog_position else []), "--", database]
        with spawned("dump", conn, args) as dump:
            tap = _HeadTap(dump.stdout)

            def commit() -> None:
                dump.finish()
                if binlog_position:  # into the snapshot's metadata, which is written right after this
                    # the server's clock once the dump is done: the dump's state is older, on the clock
                    # binary-log times use (drkit's host clock may differ from the server's)
                    at = tap.binlog_position()
                    meta["binlog"] = {**at, "server_time_after": server_time(conn)}
                    # which server's log the position is in: a restore replays only that log (identity.py)
                    meta["binlog"] |= {"head": dump_head(conn, at["file"]), "identity": server_identity(conn)}

            source = SourceRef(KIND, name or database, list(tags or []), meta)
            return backup_stream(repo, source, cast(BinaryIO, tap), before_commit=commit, progress=progress)
