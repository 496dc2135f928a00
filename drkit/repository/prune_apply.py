"""Phase 1 of prune, the writes (prune.py decides what), in this order:

1. the repacked blobs: new packs, then the index object naming them (the writer's own order);
2. new index objects covering every pack that stays;
3. pending index objects with the entries of the marked packs, then the mark naming them;
4. the index objects read at the start (or written in this run) that 2 and 3 replace are deleted,
   or, still locked, named by a superseded record written first;
5. tombstones no running process can need any more are deleted.

With nothing to mark, and index objects that already list each pack that stays once (no more
objects than a rewrite would write), steps 1-3 write nothing: a prune with nothing new to do
changes nothing (it still deletes what 4 and 5 free).

No pack is deleted here. A crash leaves at worst duplicate index entries (two objects list a pack),
a pending index object no mark names (an ordinary index object then), or a mark whose packs an old
index object still lists (the settlement finds them listed, and keeps them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core import clock
from .caps import read_capped
from .format import index_key, pack_key
from .index import MAX_OBJECT_ENTRIES, SUPERSEDED_KIND
from .manifests import manifest_key
from .marks import FORGOTTEN_KIND, Superseded, delete_if_present, mark_key, pending_indexes, read_tombstones, write_mark
from .reader import open_blob
from .references import LiveSet
from .repo import Repository
from .settle import Horizon, put_indexes
from .storage_errors import storage_errors
from .writer import BlobWriter

if TYPE_CHECKING:
    from .prune import Run


def apply_plan(run: Run, horizon: Horizon) -> None:
    repo, result = run.repo, run.result
    repo.require_lock("prune")
    doomed = result.delete_packs + result.repack_packs
    repo.index.excluded |= set(doomed) | set(result.orphan_packs)  # the repack must not dedup into them
    _repack(repo, result.repack_packs, run.live, run.progress)
    gone = set(doomed)
    keep = sorted(p for p in run.normal_packs() if p not in gone)
    if not doomed and not result.orphan_packs and _compact(repo, keep):
        _retire(repo, [])  # nothing to mark and the index is as a rewrite would leave it: the run
        _drop_tombstones(repo, horizon)  # writes nothing (a prune with nothing to do changes nothing)
        return
    written = set(put_indexes(repo, keep))
    pending = put_indexes(repo, doomed)
    if doomed or result.orphan_packs:
        mark = write_mark(repo.manifests, clock.now(), doomed, result.orphan_packs, pending, result.bytes_marked)
        repo.marks[mark.id] = mark
        result.mark = mark.id
    marked = pending_indexes(repo.marks.values())
    _retire(repo, sorted(repo.index_ids - written - marked))
    _drop_tombstones(repo, horizon)


def _compact(repo: Repository, keep: list[str]) -> bool:
    """True if the normal index objects list each pack of ``keep`` once, nothing else, and are no more
    than a rewrite would write (so a rewrite would only replace them by equal objects)."""
    normal = repo.index_ids - pending_indexes(repo.marks.values())
    wanted = set(keep)
    for pack_id, sources in repo.index.listed_by.items():
        listed = sum(1 for src in sources if src in normal)
        if listed != (1 if pack_id in wanted else 0):
            return False
    if any(pack_id not in repo.index.listed_by for pack_id in wanted):
        return False
    objects = count = 0
    for pack_id in keep:  # Index.encode's split: a new object when one would exceed MAX_OBJECT_ENTRIES
        n = repo.index.run(pack_id)[1]
        if count and count + n > MAX_OBJECT_ENTRIES:
            objects, count = objects + 1, 0
        count += n
    return len(normal) == objects + (1 if count else 0)


def _repack(
    repo: Repository, pack_ids: list[str], live: LiveSet, progress: Callable[[int], None] | None = None
) -> None:
    """Copy the live blobs of ``pack_ids`` into new packs, one old pack in memory at a time; the writer
    indexes the new packs itself."""
    if not pack_ids:
        return
    index = repo.index
    with BlobWriter(repo=repo, resumable=False) as writer:  # a failed repack leaves its packs to the next prune
        for pack_id in pack_ids:
            key = pack_key(pack_id)
            with storage_errors():  # no more than the index says (a replaced, huge object is refused)
                data = read_capped(repo.backend, key, index.pack_sizes[pack_id])
            if progress is not None:
                progress(len(data))
            first, n = index.run(pack_id)
            for e in range(first, first + n):
                if live.flags[e]:
                    blob_type, blob_id, offset, length, raw = index.entry_fields(e)
                    writer.add_blob(blob_type, open_blob(repo, blob_id, data[offset : offset + length], key, raw))
        writer.flush()


def _retire(repo: Repository, retired: list[str]) -> None:
    """Delete the index objects ``retired``; name the ones still locked in a superseded record first.
    Objects earlier records named whose retention has ended are deleted, and no longer named."""
    prev = repo.superseded
    free_indexes = {i for i in prev.indexes if repo.locked_until(index_key(i)) is None}
    free_marks = {m for m in prev.marks if repo.locked_until(mark_key(m)) is None}
    with storage_errors():  # while a record still names them: no reader loads them meanwhile
        for key in [index_key(i) for i in sorted(free_indexes)] + [mark_key(m) for m in sorted(free_marks)]:
            delete_if_present(repo.backend, key)
    held = {i for i in retired if repo.locked_until(index_key(i)) is not None}
    now = Superseded(indexes=(prev.indexes - free_indexes) | held, marks=prev.marks - free_marks)
    if held or free_indexes or free_marks:
        doc = {"indexes": sorted(now.indexes), "marks": sorted(now.marks), "time": clock.utcnow().isoformat()}
        now.docs = [repo.manifests.put(SUPERSEDED_KIND, doc)] if now.indexes or now.marks else []
        for doc_id in prev.docs:  # the new record (or the deletions) cover what they listed
            if repo.locked_until(manifest_key(SUPERSEDED_KIND, doc_id)) is None:
                repo.manifests.delete(SUPERSEDED_KIND, doc_id)
    else:
        now.docs = prev.docs
    with storage_errors():
        for index_id in retired:
            if index_id not in held:
                delete_if_present(repo.backend, index_key(index_id))
    repo.superseded = now
    gone = set(retired)
    repo.index_ids -= gone
    for sources in repo.index.listed_by.values():
        sources[:] = [s for s in sources if s not in gone]


def _drop_tombstones(repo: Repository, horizon: Horizon) -> None:
    """Tombstones older than every running process's view: nobody can still use their roots."""
    for tomb in read_tombstones(repo.manifests):
        key = manifest_key(FORGOTTEN_KIND, tomb.id)
        if tomb.time < horizon.tombstone_floor and repo.locked_until(key) is None:
            repo.manifests.delete(FORGOTTEN_KIND, tomb.id)
