"""Physical base backups: ``pg_basebackup -D - -Ft -X fetch`` (one tar of the data directory,
with the WAL needed to make it consistent) streamed into a bundle snapshot (part ``base``).

The snapshot's meta records what point-in-time recovery needs: start and stop LSN, timeline,
system identifier, server version, WAL segment size and start/stop times (ISO 8601 UTC)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

from ...core import clock
from ...core.errors import IntegrityError
from ...core.filewriters import DirectPool
from ...core.untar import TarExtractor, TarFormatError, UnsafeArchive
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.streams import BundleWriter, SourceRef, restore_part
from ..files.restore import Restorer
from .conn import PgConn
from .errors import PostgresError
from .localtree import data_tree
from .process import Spawned
from .sql import scalar
from .wal import format_lsn, parse_lsn

KIND = "postgres"
_START = re.compile(r"write-ahead log start point: ([0-9A-F]+/[0-9A-F]+) on timeline (\d+)")
_END = re.compile(r"write-ahead log end point: ([0-9A-F]+/[0-9A-F]+)")


def server_facts(conn: PgConn) -> dict[str, str | int]:
    return {
        "system_identifier": str(scalar(conn, "SELECT system_identifier FROM pg_control_system()")),
        "server_version_num": int(scalar(conn, "SHOW server_version_num")),
        "wal_segment_size": int(scalar(conn, "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'")),
        "archive_mode": str(scalar(conn, "SHOW archive_mode")),
    }


def parse_basebackup_log(stderr: bytes) -> tuple[int, int, int]:
    """(start LSN, stop LSN, timeline) from ``pg_basebackup --verbose`` output."""
    text = stderr.decode(errors="replace")
    start, end = _START.search(text), _END.search(text)
    if start is None or end is None:
        raise PostgresError("pg_basebackup did not report its start and end WAL positions")
    return parse_lsn(start.group(1)), parse_lsn(end.group(1)), int(start.group(2))


def backup_physical(
    repo: Repository,
    conn: PgConn,
    *,
    name: str | None = None,
    tags: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Snapshot:
    """Take a base backup of the whole cluster into one snapshot."""
    facts = server_facts(conn)
    args = ["-D", "-", "-Ft", "-X", "fetch", "-c", "fast", "--verbose", "-l", "drkit base backup", "-d", conn.dsn()]
    with BundleWriter(repo, progress=progress) as bundle:
        start_time = clock.utcnow().isoformat()
        proc = Spawned("pg_basebackup", args, conn)
        try:
            bundle.add("base", cast(BinaryIO, proc.stdout))
            log = proc.finish()
        finally:
            proc.kill()
        start_lsn, stop_lsn, timeline = parse_basebackup_log(log)
        meta = {
            "mode": "physical",
            "server": conn.display,
            **facts,
            "timeline": timeline,
            "start_lsn": format_lsn(start_lsn),
            "stop_lsn": format_lsn(stop_lsn),
            "start_time": start_time,
            "stop_time": clock.utcnow().isoformat(),
        }
        source_name = name or f"cluster-{facts['system_identifier']}"
        return bundle.commit(SourceRef(KIND, source_name, list(tags or []), meta))


def extract_base(repo: Repository, snap: Snapshot, target: Path) -> int:
    """Unpack the snapshot's data directory tar into ``target`` (an empty directory), every blob
    verified; large files written with ``O_DIRECT`` (see ``core.untar``). A local base backup (a
    tree, ``localbase``) is restored by the files restorer, its data directory's contents into ``target``."""
    if snap.root.get("type") == "tree":
        stats = Restorer(repo=repo, target=str(target)).run(data_tree(repo, snap))
        if stats.warnings:  # e.g. a world-writable file someone put in the data directory: said, not hidden
            raise PostgresError(
                f"snapshot {snap.short_id}: the base backup was not restored exactly: "
                f"{stats.warnings[0]} ({len(stats.warnings)} entries)",
                hint="the data directory is in place; check those entries before starting it",
            )
        return stats.bytes_written
    try:
        with DirectPool(threads=2) as pool, TarExtractor(target, pool) as tar:
            written = restore_part(repo, snap, "base", cast(BinaryIO, tar))
            tar.close()
    except (UnsafeArchive, TarFormatError) as exc:
        raise IntegrityError(f"snapshot {snap.short_id}: base backup: {exc}") from None
    return written
