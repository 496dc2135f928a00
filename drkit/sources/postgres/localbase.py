"""Local base backups: drkit copies the data directory itself, between ``pg_backup_start()`` and
``pg_backup_stop()`` in one database session, as pgBackRest does; ``--type incr`` takes files
unchanged since the previous local base backup from it without reading them.

A file is taken unread when its size, mtime, ctime and inode equal those recorded by the previous
backup *and* its mtime and ctime are older than that backup's copy start less ``MTIME_MARGIN_NS``
(``localtree.settled_before``): a file written in the same clock tick as the previous copy read it
keeps equal time stamps, so one that recent is read again; ``touch -d`` can put an mtime back but
not the ctime. ``--checksum`` reads every file (unchanged chunks are still stored once).

The copy is a files-source tree (``root.type = "tree"``) holding the data directory, with the
``backup_label`` and ``tablespace_map`` ``pg_backup_stop`` returns added to it: any restore of it
starts recovery from the backup's checkpoint. It holds no WAL: the backup is done only once the WAL
from its start to its stop point is in the archive (``walwait``, in ``ops``). Files that
vanish while the copy runs (a dropped table) and files written while read are expected, as with
``pg_basebackup``: WAL replay from the start point repairs both. Any other unreadable file fails the
backup, and no snapshot is written."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ...core import clock
from ...repository import snapshots
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.writer import BlobWriter
from ..files.backup import Archiver, BackupOptions
from . import localtree
from .conn import PgConn
from .errors import PostgresError
from .sql import connect, scalar
from .wal import format_lsn, parse_lsn

TYPES = ("full", "incr")
_TIMELINE = re.compile(r"^START TIMELINE: (\d+)$", re.MULTILINE)
# what a copy of a running cluster meets and WAL replay repairs (the archiver's own wording)
_EXPECTED = (": " + os.strerror(errno.ENOENT), ": file changed while being read; the snapshot holds what was read")


@dataclass(frozen=True)
class LocalOptions:
    pgdata: Path | None = None  # default: the server's data_directory setting
    type: str = "incr"  # "full", or "incr" (a full one when there is no previous local backup)
    checksum: bool = False  # read every file, even one the previous backup says is unchanged


@dataclass(frozen=True, kw_only=True)
class _Copy:
    tree: str
    archiver: Archiver
    stop_files: dict[str, str]
    start_lsn: int
    stop_lsn: int
    timeline: int


def backup_local(  # noqa: PLR0913
    repo: Repository,
    conn: PgConn,
    facts: dict[str, str | int],
    opts: LocalOptions,
    *,
    name: str | None = None,
    tags: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Snapshot:
    """Copy the data directory into one snapshot (the caller holds the repository lock)."""
    if facts["archive_mode"] == "off":
        raise PostgresError(
            "a local base backup needs the WAL archive (archive_mode is off): it holds no WAL itself",
            hint="set archive_mode and archive_command (`drkit pg wal-push %p`), or use --method pg_basebackup",
        )
    system_id = str(facts["system_identifier"])
    pgdata = localtree.check_data_dir(opts.pgdata or Path(str(scalar(conn, "SHOW data_directory"))), system_id)
    parent = None if opts.type == "full" else localtree.previous(snapshots.load_all(repo.manifests), system_id, pgdata)
    backup_opts = BackupOptions(excludes=localtree.excludes(pgdata))
    if parent is not None:
        backup_opts.settled_before_ns = localtree.settled_before(parent)
    start_time, copy_start_ns = clock.utcnow().isoformat(), int(clock.now() * 1e9)
    with BlobWriter(repo=repo, progress=progress) as writer:
        copy = _copy(
            repo,
            conn,
            writer,
            pgdata,
            backup_opts,
            parent.root["tree"] if parent is not None and not opts.checksum else None,
        )
        writer.flush()  # the trees just written become readable: the stop files go into the data directory's
        tree = localtree.add_stop_files(repo, writer, copy.tree, copy.stop_files)  # (the first root, unreferenced,
        writer.flush()  # is left to prune: two small blobs)
    meta = {
        "mode": "physical",
        "method": localtree.METHOD,
        "type": "full" if parent is None else "incr",
        "checksum": opts.checksum,
        "pgdata": pgdata,
        "server": conn.display,
        **facts,
        "timeline": copy.timeline,
        "start_lsn": format_lsn(copy.start_lsn),
        "stop_lsn": format_lsn(copy.stop_lsn),
        "start_time": start_time,
        "stop_time": clock.utcnow().isoformat(),
        "copy_start_ns": copy_start_ns,
    }
    snap = Snapshot(
        source_kind="postgres",
        source_name=name or f"cluster-{system_id}",
        root={"type": "tree", "tree": tree, "paths": [pgdata]},
        time=start_time,
        tags=list(tags or []),
        parent=parent.id if parent is not None else None,
        meta=meta,
        stats={**asdict(writer.stats), **asdict(copy.archiver.stats), "warnings": len(copy.archiver.warnings)},
    )
    snap.end_time = clock.utcnow().isoformat()
    return snapshots.save(repo.manifests, snap)


def unexpected_warnings(warnings: list[str]) -> list[str]:
    """The archiver's warnings other than a file vanished or written while read (as ``pg_basebackup``)."""
    return [w for w in warnings if not w.endswith(_EXPECTED)]


def _copy(
    repo: Repository,
    conn: PgConn,
    writer: BlobWriter,
    pgdata: str,
    options: BackupOptions,
    parent_tree: str | None,
) -> _Copy:
    """pg_backup_start, the copy, pg_backup_stop, in one session (closing it early aborts the backup)."""
    archiver = Archiver(repo=repo, writer=writer, options=options)
    with connect(conn) as db:
        row = db.execute("SELECT pg_backup_start(%s, true)::text", ("drkit local base backup",)).fetchone()
        start_lsn = parse_lsn(str(row[0])) if row else 0
        try:
            tree = archiver.root([pgdata], parent_tree)
        finally:
            archiver.close()
        if unexpected := unexpected_warnings(archiver.warnings):
            raise PostgresError(
                f"local base backup failed: {unexpected[0]} ({len(unexpected)} files not read); "
                "no snapshot was written",
                hint="run drkit as a user that can read the whole data directory (root or the server's OS user)",
            )
        stop = db.execute("SELECT lsn::text, labelfile, spcmapfile FROM pg_backup_stop(false)").fetchone()
    if stop is None:
        raise PostgresError("pg_backup_stop() returned nothing")
    label, spcmap = str(stop[1]), str(stop[2] or "")
    found = _TIMELINE.search(label)
    if found is None:
        raise PostgresError("the backup label pg_backup_stop() returned names no timeline")
    return _Copy(
        tree=tree,
        archiver=archiver,
        stop_files={"backup_label": label, "tablespace_map": spcmap},
        start_lsn=start_lsn,
        stop_lsn=parse_lsn(str(stop[0])),
        timeline=int(found.group(1)),
    )
