"""`drkit copy`: replicate snapshots into a second repository (its own keys, chunker and storage).

Each snapshot's content is re-written through the target (``copy_content``): only blobs the target
lacks are uploaded. Per snapshot the write order is the usual one: packs, index, then the snapshot
manifest, whose ``meta.copy_of`` names the source repository and snapshot; a snapshot the target
already holds a copy of is skipped without reading its data, so repeating a copy uploads nothing;
one retagged in the source since is recognised too, and its copy gets the new tags (``copy_tags``).
With their snapshot travel its ``facts`` and ``drill`` documents (re-pointed at the new id), and of
every continuous-log archive a source plugin declares (``sources.archives``: WAL, AOF, binary logs …)
what the copied snapshots need, each archive the one way (``plan_copy``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.errors import UsageError
from ..repository import snapshots
from ..repository.archive import LogConflict
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot
from ..repository.writer import BlobWriter, WriteStats
from ..sources.archives import ArchiveCopy, archive_specs, plan_copy
from .copy_content import ContentCopier
from .copy_progress import snapshots_bytes
from .copy_tags import carry_tags, copy_of, copy_record, earlier_copies
from .secrets import PassphraseSource
from .session import Limits, open_repository

DOC_KINDS = {"facts": "snapshot", "drill": "snapshot_id"}  # document kind → field naming its snapshot


@dataclass(kw_only=True)
class CopyResult:
    copied: dict[str, str] = field(default_factory=dict)  # source snapshot id → new target id
    present: dict[str, str] = field(default_factory=dict)  # already copied earlier → its target id
    retagged: dict[str, str] = field(default_factory=dict)  # copied earlier, tags since changed → new target id
    tags_kept: dict[str, str] = field(default_factory=dict)  # copied earlier, tags changed but not carried → why
    documents: int = 0
    archives: dict[str, int] = field(default_factory=dict)  # archive label → objects copied (sources.archives)
    stats: WriteStats = field(default_factory=WriteStats)

    def add(self, stats: WriteStats) -> None:
        for name, value in asdict(stats).items():
            setattr(self.stats, name, getattr(self.stats, name) + value)


def _select(source: Repository, refs: list[str]) -> list[Snapshot]:
    if not refs:
        return snapshots.load_all(source.manifests)
    chosen = {s.id: s for s in (snapshots.find(source.manifests, r) for r in refs)}
    return sorted(chosen.values(), key=lambda s: (s.time, s.id))


Progress = Callable[[int], None] | None


def _copy_one(
    source: Repository, target: Repository, snap: Snapshot, ids: dict[str, str], progress: Progress = None
) -> tuple[str, WriteStats]:
    with BlobWriter(repo=target) as writer:
        root = ContentCopier(source, writer, progress).root(snap.root, snap.id)
        writer.flush()  # packs and index before the snapshot
    meta = {**snap.meta, "copy_of": copy_record(source, snap)}
    copy = Snapshot(
        source_kind=snap.source_kind,
        source_name=snap.source_name,
        root=root,
        time=snap.time,
        end_time=snap.end_time,
        host=snap.host,
        tags=list(snap.tags),
        parent=ids.get(snap.parent or ""),
        stats=snap.stats,
        meta=meta,
    )
    return snapshots.save(target.manifests, copy).id, writer.stats


def _canonical(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, default=str)


def _copy_documents(source: Repository, target: Repository, ids: dict[str, str]) -> int:
    """The facts and drill documents of the copied snapshots that the target does not hold yet."""
    count = 0
    for kind, ref in DOC_KINDS.items():
        have = {_canonical(doc) for _, doc in target.manifests.find(kind)}
        for _, doc in source.manifests.find(kind):
            if doc.get(ref) not in ids:
                continue
            moved = {**doc, ref: ids[doc[ref]]}
            if _canonical(moved) not in have:
                target.manifests.put(kind, moved)
                count += 1
    return count


def copy_snapshots(
    source: Repository, target: Repository, refs: list[str], *, progress: Progress = None, on_total: Progress = None
) -> CopyResult:
    """Copy the snapshots ``refs`` (all when empty) from ``source`` into ``target``. ``progress``: content
    bytes converted (read, or reused within a snapshot), after ``on_total`` was told how many there will be."""
    if source.config.id == target.config.id:
        raise UsageError("source and target are the same repository")
    result = CopyResult()
    with source.lock(purpose="copy"), target.lock(purpose="copy"):
        earlier = earlier_copies(target, source.config.id)
        chosen = _select(source, refs)
        source.load_index()  # after the listing: a snapshot written since the open has its blobs indexed
        in_source = set(source.manifests.ids(snapshots.KIND)) | {s.id for s in chosen}
        ids = {key: snap.id for key, snap in (earlier.by_original | earlier.made_of).items()}
        found = {snap.id: copy_of(earlier, snap, in_source) for snap in chosen}
        archives = _plan_archives(source, target, chosen)
        if on_total is not None:
            on_total(
                snapshots_bytes(source, [s for s in chosen if found[s.id] is None])
                + sum(c.total for c in archives.values())
            )
        present: list[tuple[Snapshot, Snapshot]] = []
        for snap in chosen:
            if (earlier_copy := found[snap.id]) is not None:
                present.append((snap, earlier_copy))
                ids[snap.id] = result.present[snap.id] = earlier_copy.id
                continue
            ids[snap.id], stats = _copy_one(source, target, snap, ids, progress)
            result.copied[snap.id] = ids[snap.id]
            result.add(stats)
        result.retagged, result.tags_kept = carry_tags(source, target, present)
        ids.update(result.retagged)
        chosen_ids = {s.id: ids[s.id] for s in chosen}
        result.documents = _copy_documents(source, target, chosen_ids)
        conflicts = _copy_archives(archives, result, progress)
    if conflicts:
        raise conflicts[0]
    return result


def _plan_archives(source: Repository, target: Repository, chosen: list[Snapshot]) -> dict[str, ArchiveCopy]:
    """label → what each archive carries for the snapshots ``chosen`` (listed once, before the total)."""
    planned = {spec.label: plan_copy(spec, source, target, chosen) for spec in archive_specs()}
    return {label: todo for label, todo in planned.items() if todo is not None}


def _copy_archives(archives: dict[str, ArchiveCopy], result: CopyResult, progress: Progress) -> list[LogConflict]:
    """Every archive the one way, after the snapshots; a conflict in one is kept for the end while the rest
    is still carried."""
    conflicts: list[LogConflict] = []
    for label, todo in archives.items():
        try:
            result.archives[label], stats = todo.run(progress)
        except LogConflict as exc:
            conflicts.append(exc)
            continue
        if stats is not None:
            result.add(stats)
    return conflicts


@contextmanager
def _opened(url: str, secret: PassphraseSource, limits: Limits | None) -> Iterator[Repository]:
    repo = open_repository(url, secret, limits=limits)
    try:
        yield repo
    finally:
        repo.close()


Side = tuple[str, PassphraseSource, Limits | None]  # URL, passphrase source, configured bandwidth limits


def copy_between(
    source: Side, target: Side, refs: list[str], *, progress: Progress = None, on_total: Progress = None
) -> CopyResult:
    """Open both repositories (``Side`` each; the command line's --limit-upload/--limit-download win over
    the configured limits), copy, close."""
    with ExitStack() as stack:
        src = stack.enter_context(_opened(*source))
        dst = stack.enter_context(_opened(*target))
        return copy_snapshots(src, dst, refs, progress=progress, on_total=on_total)
