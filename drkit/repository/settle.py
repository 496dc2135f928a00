"""Phase 2 of prune: settle pending-deletion marks (docs/FORMAT.md §13).

A mark is *ready* once it is older than the grace delay and every lock of another process, live at
the moment we looked, has a ``view`` at least ``skew`` seconds after the mark: every process that
might hold a reference into the marked packs without knowing of the mark has finished (and written
its snapshot or index) or died. Only then are the snapshots, rooted manifests and recent tombstones
walked (``LiveSet``), so that what those processes wrote is seen.

For each pack of a ready mark:

- listed by an index object that is no pending index: *kept* (rescued earlier, or an orphan whose
  backup indexed it after all);
- holding a live blob that has no copy outside pending packs: *rescued*, written to a new index object;
- otherwise *deleted*.

Order: rescue index objects, then the marks' pending index objects are retired (deleted, or named
by a superseded record when locked), then the packs are deleted, then the marks. A crash anywhere
leaves either a mark to settle again or unreferenced packs, never an indexed pack that is gone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..core import clock
from .format import content_id, index_key, pack_key
from .index import SUPERSEDED_KIND, Index
from .locks import LockInfo, is_stale, list_locks
from .marks import Mark, delete_if_present, mark_key, marked_packs, pending_indexes
from .references import LiveSet
from .repo import Repository
from .storage_errors import storage_errors


@dataclass(frozen=True)
class Horizon:
    """The other processes' locks at one moment, and what they allow."""

    now: float
    locks: tuple[LockInfo, ...]  # live locks of other processes
    skew: float  # allowance for clocks that disagree and for a put still in flight

    def why_waiting(self, mark: Mark, grace: float) -> str | None:
        """None if ``mark`` may be settled now, else the reason (one line)."""
        age = self.now - mark.time
        if age < grace:
            return f"mark {mark.id[:8]}: {grace - age:.0f} s of the grace delay left"
        older = [lk for lk in self.locks if lk.view is None or lk.view < mark.time + self.skew]
        if older:
            more = f" and {len(older) - 1} more" if len(older) > 1 else ""
            return f"mark {mark.id[:8]}: waiting for locks older than the mark: {older[0].describe(self.now)}{more}"
        return None

    @property
    def tombstone_floor(self) -> float:
        """Tombstones written at or after this time may hold roots a running process read: live."""
        views = [-math.inf if lk.view is None else lk.view for lk in self.locks]
        return min(views) - self.skew if views else math.inf


def look_around(repo: Repository, own_key: str | None, skew: float) -> Horizon:
    now = clock.now()
    others = tuple(lk for lk in list_locks(repo.backend, besides=own_key) if not is_stale(lk, now, slack=skew))
    return Horizon(now, others, skew)


@dataclass
class Settlement:
    marks: list[Mark] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    rescue: list[str] = field(default_factory=list)
    bytes_freed: int = 0


def _needed(index: Index, live: LiveSet, pack_id: str) -> bool:
    """The pack holds a live blob with no copy outside packs pending deletion."""
    first, n = index.run(pack_id)
    live.grow()
    flags = live.flags
    if not index.has_duplicates:  # every entry is its blob's only copy
        return flags.find(1, first, first + n) >= 0
    for e in range(first, first + n):
        preferred = index.find(index.entry_fields(e)[1])
        if flags[preferred] and index.pack_of(preferred) in index.excluded:
            return True
    return False


def decide(repo: Repository, live: LiveSet, marks: list[Mark], sizes: dict[str, int]) -> Settlement:
    """What settling ``marks`` does, pack by pack (``sizes``: stored size of every pack in the backend)."""
    index = repo.index
    pending = pending_indexes(repo.marks.values())
    out = Settlement(marks=list(marks))
    for pack_id in dict.fromkeys(p for m in marks for p in m.all_packs):
        if any(src not in pending for src in index.listed_by.get(pack_id, ())):
            continue  # listed by a normal index object: it stays
        if pack_id in index.pack_sizes and _needed(index, live, pack_id):
            out.rescue.append(pack_id)
        else:
            out.delete.append(pack_id)
            out.bytes_freed += sizes.get(pack_id, 0)
    return out


def put_indexes(repo: Repository, pack_ids: list[str]) -> list[str]:
    """Write index objects covering ``pack_ids``; return their ids."""
    ids = []
    for sealed in repo.index.encode(pack_ids, repo.cipher):
        index_id = content_id(sealed)
        with storage_errors():
            repo.backend.put(index_key(index_id), sealed)
        ids.append(index_id)
    repo.index_ids.update(ids)
    for pack_id in pack_ids:
        repo.index.listed_by.setdefault(pack_id, []).extend(ids)
    return ids


def apply(repo: Repository, done: Settlement) -> None:
    """Carry out a settlement in crash-safe order (module docstring)."""
    repo.require_lock("settle pending marks")
    put_indexes(repo, done.rescue)
    settled = {m.id for m in done.marks}
    retired = sorted(pending_indexes(done.marks))
    held_indexes = [i for i in retired if repo.locked_until(index_key(i)) is not None]
    held_marks = [m for m in sorted(settled) if repo.locked_until(mark_key(m)) is not None]
    if held_indexes or held_marks:  # before anything goes: readers must skip what stays
        repo.manifests.put(
            SUPERSEDED_KIND, {"indexes": held_indexes, "marks": held_marks, "time": clock.utcnow().isoformat()}
        )
        repo.superseded.indexes.update(held_indexes)
        repo.superseded.marks.update(held_marks)
    with storage_errors():
        for index_id in retired:
            if index_id not in held_indexes:
                delete_if_present(repo.backend, index_key(index_id))
        for pack_id in done.delete:
            delete_if_present(repo.backend, pack_key(pack_id))
    with storage_errors():
        for mark_id in sorted(settled - set(held_marks)):
            delete_if_present(repo.backend, mark_key(mark_id))
    for mark_id in settled:
        repo.marks.pop(mark_id, None)
    repo.index_ids.difference_update(retired)
    # the deleted packs stay excluded: their entries stay in this process's index, and a copy stored anew
    # since (a backup that finished meanwhile) must be the one a later walk reads and a repack counts on
    stay = marked_packs(done.marks) - set(done.delete)
    repo.index.excluded = (repo.index.excluded - stay) | marked_packs(repo.marks.values())
