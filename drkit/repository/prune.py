"""Prune: remove data no snapshot references, safely while backups run (docs/FORMAT.md §13).

Two phases, under a *maintenance* lock (it excludes other prunes, forgets and exclusive holders, not
backups, restores or checks):

1. Mark (here and prune_apply.py). Every blob a snapshot, a rooted manifest or a recent forget
   tombstone references is live. An indexed pack with no live blob is marked for deletion; one whose
   live fraction (the share of it a repack would keep, header included) is below ``repack_below`` is
   repacked (its live blobs copied into new packs) and marked, up to ``max_repack_bytes``; unindexed
   packs older than ``orphan_age`` are marked as orphans. The new index covers every pack that
   stays; the marked packs' entries move to pending index objects that a ``pending`` mark names.
   Nothing is deleted. With nothing to mark and an index already as compact as a rewrite would make
   it, nothing is written: a prune with nothing new to do changes nothing.
2. Settle (settle.py). A mark older than ``grace`` whose every other lock was taken after it is
   checked again against the snapshots as they are now: packs something still needs are indexed
   again, the rest deleted.

A run settles the ready marks of earlier runs first, then marks. With ``grace=0`` and no other lock,
the mark just written is settled at once: one run frees the space, like the old one-phase prune.

Memory: the index (index.py, 57-65 bytes a blob), one flag byte a blob for the live set, a few
numbers per pack, one pack being repacked: ~70 MB for a million blobs, ~650 MB for ten million.

Immutable repositories (object lock): a pack whose retention has not ended is neither marked nor
repacked; it stays in the new index (``locked_packs`` says until when). Index objects and marks that
are still locked when they should go are named by a ``superseded`` record, which readers skip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..core import clock
from ..core.errors import UsageError
from . import repack_requests, snapshots
from .format import DATA_PREFIX, id_from_key, pack_key
from .immutability import when
from .index import ENTRY_SIZE, Index
from .locks import LIFETIME
from .manifests import manifest_key
from .marks import FORGOTTEN_KIND, Mark, marked_packs, pending_indexes, read_tombstones
from .prune_apply import apply_plan
from .references import ROOTED_KINDS, LiveSet
from .repo import Repository
from .reserve import MaintenanceLock
from .settle import Horizon, Settlement, apply, decide, look_around
from .storage_errors import storage_errors
from .temps import remove_stale_temps, stale_temps

DEFAULT_GRACE = 2 * LIFETIME  # longer than a lock lives without a refresh
PACK_OVERHEAD = 32  # sealed header's nonce and tag, and the trailer (pack.py); plus 49 bytes an entry


@dataclass(kw_only=True)
class PrunePlan:
    live_blobs: int = 0
    delete_packs: list[str] = field(default_factory=list)  # unused packs marked in this run
    repack_packs: list[str] = field(default_factory=list)  # repacked, then marked
    orphan_packs: list[str] = field(default_factory=list)  # unindexed packs marked
    keep_packs: list[str] = field(default_factory=list)
    locked_packs: dict[str, str] = field(default_factory=dict)  # pack id → retention end (kept, indexed)
    bytes_freed: int = 0  # packs deleted in this run (a dry run: would be)
    bytes_repacked: int = 0
    bytes_marked: int = 0
    grace: float = DEFAULT_GRACE
    mark: str | None = None  # the pending mark this run wrote
    deleted_packs: list[str] = field(default_factory=list)  # deleted in this run (any mark)
    rescued_packs: list[str] = field(default_factory=list)  # marked, still needed: indexed again
    waiting: list[str] = field(default_factory=list)  # why marks stay pending, one line each
    pending_marks: int = 0  # marks left after this run
    temp_objects: int = 0  # temp objects of killed writes over an hour old, removed (dry run: found)


@dataclass(frozen=True, kw_only=True)
class PruneOptions:
    repack_below: float = 0.5  # repack a pack whose live fraction is below this
    max_repack_bytes: int | None = None
    orphan_age: float = 3600.0  # unindexed packs younger than this may belong to a running backup
    dry_run: bool = False
    grace: float = DEFAULT_GRACE  # a mark is settled no sooner than this
    clock_skew: float = 120.0  # allowance between hosts' clocks (and for a put in flight)
    reserve: int | None = None  # keep a space reserve of this many bytes from now on (reserve.py); None: as is


@dataclass(kw_only=True)
class Run:
    """One prune's state: what it loaded, the live set, and what it decided."""

    repo: Repository
    options: PruneOptions
    lock_key: str | None
    live: LiveSet
    result: PrunePlan
    stored: dict[str, tuple[int, float]]  # pack id → (size, mtime) in the backend
    deleted: set[str] = field(default_factory=set)
    rescued: set[str] = field(default_factory=set)
    requests: dict[str, list[str]] = field(default_factory=dict)  # packs `repair index` asked to rewrite
    progress: Callable[[int], None] | None = None  # bytes of the packs to repack read so far

    @property
    def index(self) -> Index:
        return self.repo.index

    def normal_packs(self) -> list[str]:
        """Packs an index object other than a pending one lists (or rescued in this run), not deleted."""
        pending = pending_indexes(self.repo.marks.values())
        listed = self.index.listed_by
        return [
            p
            for p in self.index.pack_sizes
            if p not in self.deleted and (p in self.rescued or any(src not in pending for src in listed.get(p, ())))
        ]


def prune(
    repo: Repository,
    options: PruneOptions | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> PrunePlan:
    """``progress``: bytes of the packs to repack read, after ``on_total`` was told their sum (once the plan
    is made; 0 when nothing is repacked)."""
    options = options or PruneOptions()
    if options.reserve and repo.retention is not None:  # as init: a reserve under retention cannot go
        raise UsageError(
            "an immutable repository keeps no space reserve (it could not delete it)",
            hint="run prune without --reserve-mib",
        )
    with repo.lock(maintenance=not options.dry_run, purpose="prune") as lock:
        horizon = look_around(repo, lock.key, options.clock_skew)  # before anything is read
        # first, before any write: on a full disk their room goes to this run's index objects and mark
        temps = len((stale_temps if options.dry_run else remove_stale_temps)(repo.backend))
        repo.load_index()
        run = _start(repo, options, lock.key, horizon)
        if (why := unread_documents(repo)) is not None:  # their blobs are unknown: nothing may go
            run.result.waiting.append(why)
            run.result.keep_packs = sorted(run.normal_packs())
        else:
            _settle(run, horizon)
            plan(run)
        run.progress = progress
        if on_total is not None:
            on_total(sum(repo.index.pack_sizes[p] for p in run.result.repack_packs) if not options.dry_run else 0)
        if not options.dry_run:
            apply_plan(run, horizon)
            if options.grace <= 0 and run.result.mark is not None:
                settle_now(run)
            elif run.result.mark is not None:
                run.result.waiting.append(f"mark {run.result.mark[:8]}: written now, deleted after the grace delay")
        elif options.grace <= 0:  # as if no other lock is in the way
            run.result.bytes_freed += run.result.bytes_marked
        run.result.pending_marks = len(repo.marks)
        if not options.dry_run:  # the requests whose packs are all gone (rewritten and deleted)
            repack_requests.drop_done(repo, run.requests, set(run.stored) - run.deleted)
        if options.reserve is not None and isinstance(lock, MaintenanceLock):
            with storage_errors():
                lock.retarget(options.reserve)
        run.result.temp_objects = temps
    return run.result


def _start(repo: Repository, options: PruneOptions, lock_key: str | None, horizon: Horizon) -> Run:
    with storage_errors():
        stored = {id_from_key(i.key): (i.size, i.mtime.timestamp()) for i in repo.backend.list(DATA_PREFIX)}
    run = Run(
        repo=repo,
        options=options,
        lock_key=lock_key,
        live=LiveSet(repo.index),
        result=PrunePlan(grace=options.grace),
        stored=stored,
    )
    run.live.add_documents(repo, recent_tombstones(repo, horizon))
    return run


def unread_documents(repo: Repository) -> str | None:
    """Why nothing may be deleted, if a listing skipped a document that may reference blobs (a snapshot,
    a rooted manifest, a forget record): damaged, or sealed with a key this passphrase lacks (a key
    object retired by a rotation). Its blobs would look unused, and go with the packs holding them."""
    prefixes = tuple(manifest_key(k, "") for k in (snapshots.KIND, FORGOTTEN_KIND, *ROOTED_KINDS))
    unread = sorted(k for k in repo.manifests.skipped if k.startswith(prefixes))
    if not unread:
        return None
    return (
        f"nothing marked or deleted: {len(unread)} document(s) unreadable, first {unread[0][:60]} "
        "(`drkit check` lists them; a passphrase retired by `key rotate` cannot read newer ones)"
    )


def recent_tombstones(repo: Repository, horizon: Horizon) -> dict[str, tuple[dict[str, object], ...]]:
    """The roots of snapshots forgotten recently enough that a running process may have read them."""
    floor = horizon.tombstone_floor
    return {t.id: t.roots for t in read_tombstones(repo.manifests) if t.time >= floor}


def _why_waiting(repo: Repository, horizon: Horizon, mark: Mark, grace: float) -> str | None:
    """``Horizon.why_waiting``, and: a mark whose pending index object was skipped (unreadable) waits.
    Its packs' entries are unknown, so whether one holds a live blob (a backup that deduplicated into it
    before the mark) cannot be judged; settling would delete them unchecked. `repair index` indexes them."""
    unreadable = [i for i in mark.indexes if i in repo.skipped_indexes]
    if unreadable:
        return (
            f"mark {mark.id[:8]}: pending index object {unreadable[0][:16]} is unreadable, its packs are "
            "kept (`drkit check`; `drkit repair index` indexes them again)"
        )
    return horizon.why_waiting(mark, grace)


def _settle(run: Run, horizon: Horizon) -> None:
    ready = []
    for mark in run.repo.marks.values():
        why = _why_waiting(run.repo, horizon, mark, run.options.grace)
        if why is None:
            ready.append(mark)
        else:
            run.result.waiting.append(why)
    if ready:
        _carry_out(run, decide(run.repo, run.live, ready, {p: s for p, (s, _) in run.stored.items()}))


def _carry_out(run: Run, done: Settlement) -> None:
    result = run.result
    result.deleted_packs += done.delete
    result.rescued_packs += done.rescue
    result.bytes_freed += done.bytes_freed
    run.deleted.update(done.delete)
    run.rescued.update(done.rescue)
    if run.options.dry_run:  # what the plan would see after the settlement
        for mark in done.marks:
            run.repo.marks.pop(mark.id, None)
        run.repo.index.excluded = marked_packs(run.repo.marks.values())
    else:
        apply(run.repo, done)


def settle_now(run: Run) -> None:
    """With ``grace=0``: settle the mark just written if no other process holds a lock since before it.
    Index objects and documents written since the first look are read first."""
    repo = run.repo
    horizon = look_around(repo, run.lock_key, run.options.clock_skew)
    ready = [m for m in repo.marks.values() if _why_waiting(repo, horizon, m, 0.0) is None]
    run.result.waiting = [w for m in repo.marks.values() if (w := _why_waiting(repo, horizon, m, 0.0)) is not None]
    if not ready:
        return
    repo.load_new_indexes()
    run.live.add_documents(repo, recent_tombstones(repo, horizon))
    if (why := unread_documents(repo)) is not None:
        run.result.waiting.append(why)
        return
    _carry_out(run, decide(repo, run.live, ready, {p: s for p, (s, _) in run.stored.items()}))


# -- phase 1: the plan ----------------------------------------------------------------------------
def plan(run: Run) -> None:
    result, options, index = run.result, run.options, run.index
    run.live.grow()  # entries the index gained since the walk (settled marks, new index objects)
    result.live_blobs = len(run.live)
    budget = options.max_repack_bytes
    run.requests = repack_requests.requested(run.repo)
    for pack_id in sorted(run.normal_packs()):
        if pack_id in index.excluded:  # in a mark that is still pending: stays as it is
            result.keep_packs.append(pack_id)
            continue
        size = index.pack_sizes[pack_id]
        live_bytes, live_blobs = _live_bytes(index, run.live.flags, pack_id)
        # the fraction a repack would keep: the live blobs and their header entries. Counting the header
        # as dead made every small, fully live pack "mostly dead": repacked into an equal pack, every run
        kept = live_bytes + PACK_OVERHEAD + live_blobs * ENTRY_SIZE
        # a pack `repair index` kept although damaged is verified first, whatever its live fraction: a repack
        # meeting a failing blob would fail the whole prune
        repack = (
            live_bytes > 0
            and (budget is None or result.bytes_repacked < budget)
            and (_damaged_but_whole(run, pack_id) if pack_id in run.requests else kept < size * options.repack_below)
        )
        if (live_bytes == 0 or repack) and _held(run, pack_id):
            result.keep_packs.append(pack_id)
        elif live_bytes == 0:
            result.delete_packs.append(pack_id)
            result.bytes_marked += size
        elif repack:
            result.repack_packs.append(pack_id)
            result.bytes_repacked += live_bytes
            result.bytes_marked += size
        else:
            result.keep_packs.append(pack_id)
    _find_orphans(run)


def _damaged_but_whole(run: Run, pack_id: str) -> bool:
    """A pack `repair index` kept although damaged (repack_requests.py), whose live blobs all verify:
    rewritten whatever its live fraction. One with a failing blob (or gone from the storage) is kept and named."""
    why = repack_requests.unverified(run.repo, pack_id, run.live)
    if why is not None:
        run.result.waiting.append(
            f"pack {pack_id[:16]}: damaged, not rewritten: {why} (`drkit repair index --read-data` leaves the blob out)"
        )
    return why is None


def _live_bytes(index: Index, flags: bytearray, pack_id: str) -> tuple[int, int]:
    """The bytes of the pack's live blobs (sealed), and how many there are."""
    first, n = index.run(pack_id)
    live = flags.count(1, first, first + n)
    if live == n:  # every indexed blob; not "the pack less its header": `repair index` may have left
        return index.pack_blob_bytes(pack_id), n  # damaged blobs out, which a repack must not count as live
    if live == 0:
        return 0, 0
    return sum(index.entry_length(e) for e in range(first, first + n) if flags[e]), live


def _held(run: Run, pack_id: str) -> bool:
    """True (and noted) if the pack's retention has not ended: it may be neither deleted nor repacked."""
    until = run.repo.locked_until(pack_key(pack_id))
    if until is not None:
        run.result.locked_packs[pack_id] = when(until)
    return until is not None


def _find_orphans(run: Run) -> None:
    if run.repo.skipped_indexes:  # an unreadable index object may be the one naming them: keep every pack
        run.result.waiting.append(
            f"unindexed packs: not marked, {len(run.repo.skipped_indexes)} index object(s) "
            "unreadable (see `drkit check`)"
        )
        return
    horizon = clock.now() - run.options.orphan_age
    index, result = run.index, run.result
    for pack_id, (size, mtime) in sorted(run.stored.items()):
        if (
            pack_id not in index.pack_sizes
            and pack_id not in index.excluded
            and pack_id not in run.deleted
            and mtime < horizon
            and not _held(run, pack_id)
        ):
            result.orphan_packs.append(pack_id)
            result.bytes_marked += size
