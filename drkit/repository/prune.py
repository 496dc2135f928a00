"""Prune: remove data no snapshot references, under an exclusive lock.

1. Mark: every blob any snapshot references is live.
2. Plan: an indexed pack with no live blob is deleted; one whose live fraction is below
   ``repack_below`` is repacked (its live blobs are copied into new packs), up to
   ``max_repack_bytes``; unindexed packs older than ``orphan_age`` seconds (left by interrupted
   backups) are deleted.
3. Apply, in crash-safe order: write the repacked blobs (packs, then an index naming them); write one
   new index covering every pack that stays; delete the old index objects; only then delete packs.
   An interruption leaves at worst duplicate index entries or unreferenced packs, never a snapshot
   whose data is gone.

Immutable repositories (object lock): a pack whose retention has not ended is neither deleted nor
repacked; it stays in the new index (``locked_packs`` says until when). An old index object that is
still locked cannot be deleted, so a ``superseded`` manifest naming it is written before any pack is
deleted, and readers skip superseded index objects: no index ever names a deleted pack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core import clock
from .format import DATA_PREFIX, INDEX_PREFIX, MANIFESTS_PREFIX, content_id, id_from_key, index_key, pack_key
from .immutability import when
from .index import SUPERSEDED_KIND, Index, PackRecord, encode_index
from .pack import PackEntry
from .reader import read_blob
from .references import live_blobs
from .repo import Repository
from .storage_errors import storage_errors
from .writer import BlobWriter


@dataclass
class PrunePlan:
    live_blobs: int = 0
    delete_packs: list[str] = field(default_factory=list)
    repack_packs: list[str] = field(default_factory=list)
    orphan_packs: list[str] = field(default_factory=list)
    keep_packs: list[str] = field(default_factory=list)
    locked_packs: dict[str, str] = field(default_factory=dict)  # pack id → retention end (kept, indexed)
    bytes_freed: int = 0
    bytes_repacked: int = 0


@dataclass(frozen=True)
class PruneOptions:
    repack_below: float = 0.5  # repack a pack whose live fraction is below this
    max_repack_bytes: int | None = None
    orphan_age: float = 3600.0  # unindexed packs younger than this may belong to a running backup
    dry_run: bool = False


def _packs_by_id(repo: Repository) -> dict[str, list[tuple[bytes, PackEntry]]]:
    packs: dict[str, list[tuple[bytes, PackEntry]]] = {pid: [] for pid in repo.index.pack_sizes}
    for blob_id, loc in repo.index.items():
        packs[loc.pack_id].append((blob_id, PackEntry(loc.type, blob_id, loc.offset, loc.length, loc.raw_length)))
    return packs


def plan(repo: Repository, options: PruneOptions) -> tuple[PrunePlan, set[bytes]]:
    live = live_blobs(repo)
    result = PrunePlan(live_blobs=len(live))
    budget = options.max_repack_bytes
    for pack_id, blobs in sorted(_packs_by_id(repo).items()):
        size = repo.index.pack_sizes[pack_id]
        live_bytes = sum(e.length for blob_id, e in blobs if blob_id in live)
        repack = live_bytes < size * options.repack_below and (budget is None or result.bytes_repacked < budget)
        if (live_bytes == 0 or repack) and _held(repo, pack_id, result):
            result.keep_packs.append(pack_id)
        elif live_bytes == 0:
            result.delete_packs.append(pack_id)
            result.bytes_freed += size
        elif repack:
            result.repack_packs.append(pack_id)
            result.bytes_repacked += live_bytes
            result.bytes_freed += size - live_bytes
        else:
            result.keep_packs.append(pack_id)
    _find_orphans(repo, options, result)
    return result, live


def _held(repo: Repository, pack_id: str, result: PrunePlan) -> bool:
    """True (and noted) if the pack's retention has not ended: it may be neither deleted nor repacked."""
    until = repo.locked_until(pack_key(pack_id))
    if until is not None:
        result.locked_packs[pack_id] = when(until)
    return until is not None


def _find_orphans(repo: Repository, options: PruneOptions, result: PrunePlan) -> None:
    horizon = clock.now() - options.orphan_age
    with storage_errors():
        infos = list(repo.backend.list(DATA_PREFIX))
    for info in infos:
        pack_id = id_from_key(info.key)
        if pack_id not in repo.index.pack_sizes and info.mtime.timestamp() < horizon:
            if not _held(repo, pack_id, result):
                result.orphan_packs.append(pack_id)
                result.bytes_freed += info.size


def prune(repo: Repository, options: PruneOptions | None = None) -> PrunePlan:
    options = options or PruneOptions()
    with repo.lock(exclusive=not options.dry_run, purpose="prune"):
        repo.load_index()
        result, live = plan(repo, options)
        if not options.dry_run:
            _apply(repo, result, live)
    return result


def _apply(repo: Repository, result: PrunePlan, live: set[bytes]) -> None:
    with storage_errors():
        old_indexes = [i.key for i in repo.backend.list(INDEX_PREFIX)]
    old_superseded = repo.manifests.ids(SUPERSEDED_KIND)
    packs = _packs_by_id(repo)
    keep = [PackRecord(pid, repo.index.pack_sizes[pid], [e for _, e in packs[pid]]) for pid in result.keep_packs]
    _repack(repo, result.repack_packs, live)  # new packs and their own index object, written first
    sealed = encode_index(keep, repo.cipher)
    new_key = index_key(content_id(sealed))
    with storage_errors():
        repo.backend.put(new_key, sealed)  # may be empty: then the repacked packs' index is all
    old_indexes = [key for key in old_indexes if key != new_key]
    held = {key for key in old_indexes if repo.locked_until(key) is not None}
    if held:  # written before any pack goes: readers must skip the index objects that stay
        repo.manifests.put(SUPERSEDED_KIND, {"indexes": [id_from_key(k) for k in old_indexes],
                                             "time": clock.utcnow().isoformat()})
    with storage_errors():
        for key in old_indexes:
            if key not in held:
                repo.backend.delete(key)
    for doc_id in old_superseded:  # the new record (or the deletions) cover what they listed
        if repo.locked_until(f"{MANIFESTS_PREFIX}{SUPERSEDED_KIND}/{doc_id}") is None:
            repo.manifests.delete(SUPERSEDED_KIND, doc_id)
    with storage_errors():
        for pack_id in result.delete_packs + result.repack_packs + result.orphan_packs:
            repo.backend.delete(pack_key(pack_id))


def _repack(repo: Repository, pack_ids: list[str], live: set[bytes]) -> None:
    """Copy the live blobs of ``pack_ids`` into new packs, one blob in memory at a time; the writer
    indexes the new packs itself."""
    if not pack_ids:
        return
    doomed = set(pack_ids)
    moving = [(blob_id, loc.type) for blob_id, loc in repo.index.items() if loc.pack_id in doomed and blob_id in live]
    source = repo.index
    repo.index = source.without_packs(doomed)  # the writer must not dedup against packs being replaced
    reader = _Reader(repo, source)
    with BlobWriter(repo) as writer:
        for blob_id, blob_type in moving:
            writer.add_blob(blob_type, read_blob(reader, blob_id))
        writer.flush()


@dataclass
class _Reader:
    """read_blob's view of the repository with the index as it was before the repack."""

    repo: Repository
    index: Index

    def __post_init__(self) -> None:
        self.backend = self.repo.backend
        self.cipher = self.repo.cipher
        self.hasher = self.repo.hasher
