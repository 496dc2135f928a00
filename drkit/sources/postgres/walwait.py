"""A base backup ends only once the WAL it needs is in the archive (as pgBackRest's backup does).

``pg_basebackup -X fetch`` puts the WAL that makes the copy consistent into the tar, but point-in-time
recovery replays from the archive: until every segment from the backup's start to the one holding
its stop point is archived, the base backup has no recoverable window. ``pg_backup_stop`` ends the
stop segment with a WAL switch on a primary; when the stop segment is still the one being written
(say the switch did not happen) drkit asks for ``pg_switch_wal()`` itself, then waits, up to a time
limit, until each segment is in the repository.
"""

from __future__ import annotations

import time

import psycopg
from psycopg.conninfo import make_conninfo

from ...core import clock
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from .conn import PgConn
from .errors import PostgresError
from .wal import exists, parse_lsn, segment_name

POLL = 0.2  # seconds between looks at the repository


class WalNotArchived(PostgresError):
    """The base backup's WAL did not reach the archive in time (exit 1: the backup did not finish
    as a recoverable one; its snapshot is written and becomes recoverable once the WAL arrives)."""


def needed_segments(snap: Snapshot) -> list[str]:
    """The WAL segments from the base backup's start to the one holding its last byte of WAL."""
    seg_size, timeline = int(snap.meta["wal_segment_size"]), int(snap.meta["timeline"])
    first = parse_lsn(snap.meta["start_lsn"]) // seg_size
    last = max(first, (parse_lsn(snap.meta["stop_lsn"]) - 1) // seg_size)
    return [segment_name(timeline, s, seg_size) for s in range(first, last + 1)]


def _connect(conn: PgConn) -> psycopg.Connection[tuple[object, ...]]:
    extra = {"password": conn.password} if conn.password is not None else {}
    if conn.passfile is not None:
        extra["passfile"] = str(conn.passfile)
    return psycopg.connect(make_conninfo(conn.dsn(), connect_timeout=30, **extra), autocommit=True)


def switch_if_current(conn: PgConn, name: str) -> bool:
    """``pg_switch_wal()`` if segment ``name`` is still being written; True if it switched. On a
    standby (no switch possible) or an unreachable server nothing happens: the wait decides."""
    try:
        with _connect(conn) as db:
            row = db.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
            if row is None or str(row[0])[8:] != name[8:]:
                return False
            db.execute("SELECT pg_switch_wal()")
            return True
    except psycopg.Error:
        return False


def wait_for_wal(repo: Repository, conn: PgConn, snap: Snapshot, timeout: float) -> list[str]:
    """Wait until every segment the base backup ``snap`` needs is archived; their names."""
    names = needed_segments(snap)
    deadline = clock.monotonic() + timeout
    switched = False
    while missing := [n for n in names if not exists(repo, n)]:
        if not switched:
            switched = True
            switch_if_current(conn, missing[-1])
        if clock.monotonic() > deadline:
            raise WalNotArchived(
                f"base backup {snap.short_id} is saved, but WAL segment {missing[0]} did not reach the archive "
                f"within {timeout:g} s: point-in-time recovery from it is not possible until it does",
                hint="check archive_mode and archive_command (`drkit pg wal-push %p` into this repository) and the "
                "server log; `drkit pg windows` shows when the backup becomes recoverable",
            )
        time.sleep(POLL)
    return names
