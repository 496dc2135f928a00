"""What a local base backup copies of a data directory, which earlier backup it builds on, and the
files ``pg_backup_stop`` hands over (``backup_label``, ``tablespace_map``) added to its tree.

The copy leaves out what ``pg_basebackup`` leaves out: the contents of ``pg_wal`` (the archive
holds the WAL), ``pg_replslot``, ``pg_stat_tmp``, ``pg_dynshmem``, ``pg_notify``, ``pg_serial``,
``pg_snapshots`` and ``pg_subtrans`` (their directories stay), ``postmaster.pid`` and
``postmaster.opts``, an old ``backup_label`` / ``tablespace_map`` / ``backup_manifest``, temporary
files (``pgsql_tmp*``, ``*.tmp`` at the top) and relation cache files (``pg_internal.init``)."""

from __future__ import annotations

import glob
import os
import socket
import sys
from pathlib import Path

from ...core import clock
from ...core.errors import IntegrityError, UsageError
from ...pipeline import chunk_buffer
from ...repository.pack import BLOB_TREE
from ...repository.reader import read_blob
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ..files.backup import BlobSink
from ..files.tree import DIR, FILE, Node, decode_tree, encode_tree
from ..files.walker import Excludes

METHOD = "local"
MTIME_MARGIN_NS = 3_000_000_000  # a file changed this close to (or after) the previous copy's start is read again
_EMPTIED = (
    "pg_wal",
    "pg_replslot",
    "pg_stat_tmp",
    "pg_dynshmem",
    "pg_notify",
    "pg_serial",
    "pg_snapshots",
    "pg_subtrans",
)
_TOP_FILES = (
    "postmaster.pid",
    "postmaster.opts",
    "backup_label",
    "tablespace_map",
    "backup_manifest",
    "postgresql.auto.conf.tmp",
    "current_logfiles.tmp",
)
_ANY_DEPTH = ("pgsql_tmp*", "pg_internal.init")


def excludes(pgdata: str) -> Excludes:
    top = glob.escape(pgdata)
    return Excludes(tuple([f"{top}/{d}/*" for d in _EMPTIED] + [f"{top}/{f}" for f in _TOP_FILES] + list(_ANY_DEPTH)))


def check_data_dir(pgdata: Path, system_identifier: str) -> str:
    """The data directory's real path, once its ``global/pg_control`` names the server's system
    identifier (the copy is of the server drkit is connected to) and it has no tablespaces."""
    real = os.path.realpath(pgdata)
    try:
        with open(os.path.join(real, "global", "pg_control"), "rb") as f:
            head = f.read(8)
        spaces = os.listdir(os.path.join(real, "pg_tblspc"))
    except OSError as exc:
        raise UsageError(
            f"cannot read the data directory {real}: {exc.strerror}",
            hint="a local base backup runs on the database host, as a user who can read the data "
            "directory (--pgdata); elsewhere use --method pg_basebackup",
        ) from None
    found = int.from_bytes(head, sys.byteorder) if len(head) == 8 else -1
    if str(found) != system_identifier:
        raise UsageError(
            f"{real} is not the data directory of the server connected to (system identifier "
            f"{found}, the server's {system_identifier})",
            hint="give the right one with --pgdata",
        )
    if spaces:
        raise UsageError(
            f"the cluster has tablespaces ({len(spaces)} in pg_tblspc); local base backups copy the "
            "data directory only",
            hint="use --method pg_basebackup for this cluster",
        )
    return real


def previous(snaps: list[Snapshot], system_identifier: str, pgdata: str) -> Snapshot | None:
    """The newest local base backup of this cluster and data directory taken on this host, the one an
    incremental one builds on."""
    host = socket.gethostname()
    found = [
        s
        for s in snaps
        if s.source_kind == "postgres"
        and s.host == host
        and s.meta.get("method") == METHOD
        and s.root.get("type") == "tree"
        and s.meta.get("system_identifier") == system_identifier
        and s.meta.get("pgdata") == pgdata
        and "copy_start_ns" in s.meta
    ]
    return found[-1] if found else None


def settled_before(parent: Snapshot) -> int:
    """Files whose mtime and ctime are before this (ns) may be taken from ``parent`` unread: a change made
    after it read them gets a later time stamp even on a coarse clock."""
    return int(parent.meta["copy_start_ns"]) - MTIME_MARGIN_NS


def add_stop_files(repo: Repository, sink: BlobSink, root_id: str, files: dict[str, str]) -> str:
    """The root tree with ``files`` (name → text, empty ones left out) added to its one directory,
    the data directory; the new root tree's id."""
    root = decode_tree(read_blob(repo, bytes.fromhex(root_id)), "base backup root")
    if len(root) != 1 or root[0].type != DIR:
        raise UsageError("the data directory could not be read as a directory")
    data = root[0]
    nodes = decode_tree(read_blob(repo, bytes.fromhex(data.subtree)), "data directory")
    nodes = [n for n in nodes if n.name not in files]
    now = int(clock.now() * 1e9)
    for name, text in files.items():
        if not text:
            continue
        raw = text.encode()
        content = [sink.add_data(c).hex() for c in chunk_buffer(raw, repo.config.chunker)]
        nodes.append(
            Node(
                name=name,
                type=FILE,
                mode=0o600,
                uid=data.uid,
                gid=data.gid,
                user=data.user,
                group=data.group,
                mtime_ns=now,
                ctime_ns=now,
                size=len(raw),
                content=content,
            )
        )
    data.subtree = sink.add_blob(BLOB_TREE, encode_tree(nodes)).hex()
    return sink.add_blob(BLOB_TREE, encode_tree([data])).hex()


def data_tree(repo: Repository, snap: Snapshot) -> str:
    """The tree id of the data directory a local base backup holds."""
    root = decode_tree(read_blob(repo, bytes.fromhex(snap.root["tree"])), f"snapshot {snap.short_id}")
    if len(root) != 1 or root[0].type != DIR:
        raise IntegrityError(f"snapshot {snap.short_id}: the base backup's root is not one data directory")
    return root[0].subtree
