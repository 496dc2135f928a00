"""Use cases of the files source: back up trees, restore (by snapshot or point in time), ls, diff."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ...core import clock, tracing
from ...core.errors import PartialBackup, PartialRestore, UsageError
from ...core.targets import target_errors
from ...core.timespec import parse_time
from ...repository import pointintime, snapshots
from ...repository.dryrun import DryRunWriter
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot, SnapshotFilter
from ...repository.writer import BlobWriter
from ..system import backup_skipped as backup_skipped  # kind-neutral (jobs count it for every kind)
from . import (
    ROOT_TYPE,
    SOURCE_KIND,
    Archiver,
    BackupOptions,
    Change,
    Node,
    Policy,
    Restorer,
    RestoreStats,
    Selection,
    diff_trees,
    find_subtree,
    root_tree,
    walk,
    xattrs,
)
from .diff import spelled
from .scan import scan
from .view import snapshot_paths, view_tree


@dataclass(kw_only=True)
class BackupRequest:
    paths: list[str]
    options: BackupOptions = field(default_factory=BackupOptions)
    tags: list[str] = field(default_factory=list)
    parent: str | None = None  # snapshot ref; default: latest of the same host and paths
    name: str | None = None  # source name; default: the paths joined by ","
    dry_run: bool = False  # walk, read and hash as a backup does, store nothing (repository/dryrun.py)
    on_read: Callable[[str, str], None] | None = None  # told each file read: its path and "new" or "changed"


@dataclass(kw_only=True)
class BackupResult:
    snapshot: Snapshot  # with ``dry_run``: the snapshot a backup would write, not written (no id)
    warnings: list[str]
    duration: float
    dry_run: bool = False
    marked: list[str] = field(default_factory=list)  # directories whose contents a marker file left out

    def summary(self) -> dict[str, Any]:
        return {
            **self.snapshot.stats,
            "snapshot": self.snapshot.id or None,
            "parent": self.snapshot.parent,
            "paths": self.snapshot.root["paths"],
            "duration_s": round(self.duration, 3),
            "warnings": self.warnings,
            "dry_run": self.dry_run,
            "marked_dirs": self.marked,
        }


def _abs_paths(paths: list[str]) -> list[str]:
    if not paths:
        raise UsageError("give at least one PATH to back up")
    out = sorted({os.path.abspath(p) for p in paths})
    names = [os.path.basename(p.rstrip("/")) or "root" for p in out]
    if len(set(names)) != len(names):
        raise UsageError("two PATHs have the same last component; back them up separately")
    for p in out:
        if not os.path.lexists(p):
            raise UsageError(f"{p} does not exist")
    return out


def _find_parent(repo: Repository, req: BackupRequest, paths: list[str]) -> Snapshot | None:
    if req.parent and req.parent != "latest":  # `latest`: the default, this host's of these paths
        return snapshots.find(repo.manifests, req.parent)
    host = socket.gethostname()
    found = [
        s
        for s in snapshots.load_all(repo.manifests)
        if s.source_kind == SOURCE_KIND and s.host == host and s.root.get("paths") == paths
    ]
    return found[-1] if found else None


def backup_files(
    repo: Repository,
    req: BackupRequest,
    *,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> BackupResult:
    """Back up the paths as one snapshot; raises PartialBackup (exit 3) *after* writing it if any
    entry was skipped. Write order: packs, index, snapshot. ``progress``: bytes of files done (read, or
    unchanged and not read); ``on_total``: called once, from a thread, with the bytes the backup will go
    through, as soon as a scan ahead of it has counted them."""
    paths = _abs_paths(req.paths)
    t0 = clock.monotonic()
    if on_total is not None:
        threading.Thread(
            target=lambda: on_total(scan(paths, req.options).bytes), name="drkit-scan", daemon=True
        ).start()
    if req.dry_run:  # no lock either: nothing is written, and a concurrent prune cannot lose what is not stored
        dry = DryRunWriter(repo, progress=progress)
        snap, archiver = _archive(repo, req, paths, dry, progress)
        _finish(snap, dry)
        return BackupResult(
            snapshot=snap,
            warnings=archiver.warnings,
            duration=clock.monotonic() - t0,
            dry_run=True,
            marked=archiver.marked,
        )
    with repo.lock(purpose="backup"), tracing.span("drkit.backup", **{"drkit.source_kind": SOURCE_KIND}) as span:
        with BlobWriter(repo=repo, progress=progress) as writer:
            snap, archiver = _archive(repo, req, paths, writer, progress)
            writer.flush()
        _finish(snap, writer)
        snapshots.save(repo.manifests, snap)
        span.set(
            **{
                "drkit.snapshot_id": snap.id,
                "drkit.bytes_added": int(writer.stats.stored_bytes),
                "drkit.warnings": len(archiver.warnings),
            }
        )
    return BackupResult(
        snapshot=snap, warnings=archiver.warnings, duration=clock.monotonic() - t0, marked=archiver.marked
    )


def _archive(
    repo: Repository,
    req: BackupRequest,
    paths: list[str],
    writer: BlobWriter | DryRunWriter,
    progress: Callable[[int], None] | None,
) -> tuple[Snapshot, Archiver]:
    """Walk ``paths`` into ``writer``; the snapshot to save once the writer is flushed (stats complete then)."""
    parent = _find_parent(repo, req, paths)
    start = clock.utcnow().isoformat()
    listed = parent is not None and xattrs.listed_as_me(parent.meta)  # its attributes may stand for ours
    archiver = Archiver(
        repo=repo, writer=writer, options=req.options, progress=progress, on_read=req.on_read, parent_xattrs=listed
    )
    try:
        with tracing.span("drkit.backup.data"):  # read the tree, chunk, hand packs to the uploaders
            tree = archiver.root(paths, parent.root.get("tree") if parent is not None else None)
    finally:
        archiver.close()
    snap = Snapshot(
        source_kind=SOURCE_KIND,
        source_name=req.name or ",".join(paths),
        time=start,
        tags=list(req.tags),
        parent=parent.id if parent is not None else None,
        root={"type": ROOT_TYPE, "tree": tree, "paths": paths},
        stats={**asdict(archiver.stats), "warnings": len(archiver.warnings)},
        meta={"backup_skipped": archiver.warnings[:SKIPPED_RECORDED]} if archiver.warnings else {},
    )
    if not archiver.xattr_problems:  # every entry's attributes listed and read: a later run may keep them
        snap.meta.update(xattrs.reader_meta())
    return snap, archiver


def _finish(snap: Snapshot, writer: BlobWriter | DryRunWriter) -> None:
    """Once the writer is flushed: its statistics, and the end time."""
    snap.stats = {**asdict(writer.stats), **snap.stats}
    snap.end_time = clock.utcnow().isoformat()


def raise_if_partial(result: BackupResult) -> None:
    if result.warnings and result.dry_run:
        raise PartialBackup(
            f"dry run: {len(result.warnings)} entries could not be read or changed while read; nothing was stored",
            hint="see the warnings above",
        )
    if result.warnings:
        raise PartialBackup(
            f"snapshot {result.snapshot.short_id} written, but {len(result.warnings)} "
            f"entries were skipped or changed while read",
            hint="see the warnings above",
        )


def find_files_snapshot(
    repo: Repository,
    ref: str | None,
    point_in_time: str | None,
    source_name: str | None = None,
    match: SnapshotFilter | None = None,
) -> Snapshot:
    """A files snapshot by reference, or the one at ``point_in_time`` (``files_snapshot_at``)."""
    if ref is not None:
        snap = snapshots.find(
            repo.manifests,
            ref,
            source_kind=SOURCE_KIND if ref == "latest" else None,
            source_name=source_name,
            match=match,
        )
        if snap.root.get("type") != ROOT_TYPE:
            raise UsageError(f"snapshot {snap.short_id} is not a files snapshot")
        return snap
    if point_in_time is None:
        raise UsageError("give a SNAPSHOT or --point-in-time")
    return files_snapshot_at(repo, point_in_time, source_name, match)[0]


def files_snapshot_at(
    repo: Repository, point_in_time: str, source_name: str | None = None, match: SnapshotFilter | None = None
) -> tuple[Snapshot, Snapshot | None]:
    """The newest files snapshot (of those ``match`` selects) that had *finished* by ``point_in_time``
    (``pointintime``: one still being read then may hold files written after it), and the newest one
    still being taken then, passed over (None: none)."""
    when = parse_time(point_in_time)
    found = [
        s
        for s in snapshots.load_all(repo.manifests)
        if s.source_kind == SOURCE_KIND and source_name in (None, s.source_name) and (not match or match.matches(s))
    ]
    snapshots.refuse_several_sources(found, point_in_time)  # two hosts' /etc too, not only two names
    chosen = pointintime.finished_by(found, when)
    # A damaged manifest stored after `chosen` started and by T (plus the longest backup seen: a backup
    # that ended by T is stored a little later) may be the snapshot at T: refused as `latest` is (exit 13).
    store = repo.manifests
    snapshots.refuse_damaged_until(
        store,
        chosen,
        when + _longest(found),
        point_in_time,
        possible=lambda key: snapshots.could_match(store, key, match, SOURCE_KIND, source_name),
    )
    running = pointintime.running_at(found, when, chosen)
    if chosen is None:
        raise UsageError(
            f"no files snapshot finished at or before {point_in_time}",
            hint=None if running is None else pointintime.running_line(running, point_in_time),
        )
    return chosen, running


def _longest(snaps: list[Snapshot]) -> timedelta:
    return max(
        (datetime.fromisoformat(s.end_time) - datetime.fromisoformat(s.time) for s in snaps if s.end_time),
        default=timedelta(0),
    )


def restore_files(  # noqa: PLR0913
    repo: Repository,
    snap: Snapshot,
    target: str,
    selection: Selection,
    *,
    progress: Callable[[int], None] | None = None,
    policy: Policy | None = None,
    on_total: Callable[[int], None] | None = None,
) -> RestoreStats:
    """Restore a files snapshot under ``target``; every blob is verified before it is written.
    ``policy``: what to do with what the target already holds (default: refuse anything in the way), and
    with special files and setuid/setgid/world-writable bits (default: not restored)."""
    with (
        repo.lock(purpose="restore"),
        target_errors(target),
        tracing.span("drkit.restore", **{"drkit.source_kind": SOURCE_KIND, "drkit.snapshot_id": snap.id}),
    ):
        restorer = Restorer(
            repo=repo,
            target=target,
            selection=selection,
            progress=progress,
            policy=policy or Policy(),
            on_total=on_total,
        )
        return restorer.run(view_tree(repo, snap))


@dataclass(frozen=True)
class RepairedFrom:
    """What a snapshot written by ``drkit repair snapshots`` lacks: its restore is partial by design."""

    original: str  # the damaged snapshot it was repaired from
    dropped_count: int
    dropped: list[str]  # "path: why", as recorded (at most the first 1000)

    def line(self, shown: int = 3) -> str:
        paths = ", ".join(d.split(": ", 1)[0] for d in self.dropped[:shown])
        more = f" and {self.dropped_count - shown} more" if self.dropped_count > shown else ""
        return (
            f"snapshot is a repair of {self.original[:8]}: {self.dropped_count} paths dropped by "
            f"`drkit repair snapshots` are not restored ({paths}{more})"
        )


def repaired_from(snap: Snapshot) -> RepairedFrom | None:
    """None unless ``snap`` names an original in ``meta.repaired_from``. The meta is read defensively (a
    crafted document may give any type): a repaired snapshot is never taken for a whole one."""
    original = snap.meta.get("repaired_from")
    if not original:
        return None
    listed = snap.meta.get("repair_dropped")
    dropped = [str(d) for d in listed] if isinstance(listed, list) else []
    count = snap.meta.get("repair_dropped_count")
    n = count if type(count) is int and count >= len(dropped) else max(len(dropped), 1)
    return RepairedFrom(str(original), n, dropped)


SKIPPED_RECORDED = 100  # the first entries a partial backup skipped, kept in the snapshot's meta for its restores


def skipped_line(snap: Snapshot, shown: int = 3) -> str:
    """One line for an operator restoring (or dumping, or drilling) a snapshot of a partial backup: the count,
    and the first paths when the snapshot records them (snapshots since this drkit version do)."""
    count = backup_skipped(snap)
    listed = snap.meta.get("backup_skipped")
    paths = [str(w).split(": ", 1)[0] for w in listed[:shown]] if isinstance(listed, list) else []
    named = f" ({', '.join(paths)}{f' and {count - len(paths)} more' if count > len(paths) else ''})" if paths else ""
    return (
        f"snapshot {snap.short_id} is of a partial backup (it exited 3): it skipped or half-read {count} "
        f"entries{named}, missing or torn in what it restores"
    )


def raise_if_partial_restore(snap: Snapshot, stats: RestoreStats) -> None:
    """PartialRestore (exit 3) when items could not be restored, when ``snap`` is a repaired snapshot
    (the paths its repair dropped are missing), or when its backup skipped or half-read entries."""
    repaired = repaired_from(snap)
    skipped = backup_skipped(snap)
    if skipped and not stats.warnings and repaired is None:
        raise PartialRestore(
            f"snapshot {snap.short_id} restored, but its backup skipped or half-read {skipped} "
            "entries: they are missing or torn, not as they were at its start",
            hint="see the warning above; back the source up again for a whole snapshot",
        )
    if repaired is not None and not stats.warnings:
        raise PartialRestore(
            f"snapshot {snap.short_id} restored without the {repaired.dropped_count} paths "
            f"`drkit repair snapshots` dropped from {repaired.original[:8]}",
            hint="see the warning above; the original (unless forgotten) is damaged: restored from "
            "a copy of the bucket, it restores whole by its id (docs/repository-safety.md)",
        )
    if stats.warnings:
        special = stats.specials_skipped or stats.modes_restricted
        raise PartialRestore(
            f"snapshot {snap.short_id} restored, but {len(stats.warnings)} items (or their "
            f"extended attributes) could not be restored as the snapshot has them",
            hint="see the warnings above"
            + (
                "; --special-files restores device nodes, FIFOs, "
                "sockets, setuid/setgid/world-writable modes and "
                "file capabilities"
                if special
                else ""
            )
            + ("; it is a repaired snapshot too: " + repaired.line() if repaired else "")
            + ("; its backup skipped or half-read entries too: " + skipped_line(snap) if skipped else ""),
        )


def list_files(
    repo: Repository, ref: str, path: str = "", match: SnapshotFilter | None = None
) -> Iterator[tuple[str, Node]]:
    snap = find_files_snapshot(repo, ref, None, match=match)
    tree = view_tree(repo, snap)
    found = find_subtree(repo, tree, spelled(repo, tree, path))  # `ls -b`'s spelling read back
    if found is None:
        raise UsageError(f"{path!r} is not a directory in snapshot {snap.short_id}")
    return walk(repo, found[0], found[1])


def diff_snapshots(repo: Repository, ref_a: str, ref_b: str) -> Iterator[Change]:
    a = find_files_snapshot(repo, ref_a, None)
    b = find_files_snapshot(repo, ref_b, None)
    pa, pb = snapshot_paths(a), snapshot_paths(b)
    if "/" in pa and "/" in pb and pa != pb:
        # `/` alone is seen from inside, `/` with other paths as the entry `root`: compared as stored, both
        # hold `root`, and the diff names the other paths, not the whole tree moved under /root
        return diff_trees(
            repo, root_tree(a.root, f"snapshot {a.short_id}"), root_tree(b.root, f"snapshot {b.short_id}")
        )
    return diff_trees(repo, view_tree(repo, a), view_tree(repo, b))
