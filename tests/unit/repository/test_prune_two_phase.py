"""Two-phase prune on an in-memory repository (FORMAT.md §13): marks wait for the grace delay and for
every lock older than them; a blob found only in a pending pack is stored again by a backup that knows
the mark, and a pack a snapshot still needs is indexed again instead of deleted; forget tombstones
keep a forgotten parent's data while a backup that may have read it runs; orphans are marked too."""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Iterator

import pytest

from drkit.core import clock
from drkit.pipeline import ChunkerParams
from drkit.repository import snapshots
from drkit.repository.check import check_repository
from drkit.repository.format import DATA_PREFIX, INDEX_PREFIX, RepoConfig, id_from_key, pack_key
from drkit.repository.locks import LOCK_PREFIX
from drkit.repository.prune import PruneOptions, PrunePlan, prune
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream, restore_stream
from drkit.retention.forget import forget
from drkit.retention.policy import Policy
from storage_backends.base import Backend
from storage_backends.testing.memory import MemoryBackend

SMALL = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=5)
HOUR = 3600.0


_NOW = [0.0]


@pytest.fixture
def now() -> Iterator[list[float]]:
    """A settable wall clock that starts at the real time (the memory store stamps real mtimes)."""
    _NOW[0] = time.time()
    clock.set_clock(lambda: _NOW[0])
    yield _NOW
    clock.set_clock(None)


def new_repo() -> Repository:
    return Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))


def reopen(repo: Repository) -> Repository:
    """Opened, its index read now (``open`` alone reads it when a lock is taken or on first use)."""
    opened = Repository.open(repo.backend, "pw")
    opened.load_index()
    return opened


def data(seed: int, size: int = 200_000) -> bytes:
    return random.Random(seed).randbytes(size)


def backup(repo: Repository, payload: bytes, *, locked: bool = True) -> str:
    _NOW[0] += 60  # each snapshot a minute after the last
    if not locked:  # a writer that took its view before the mark and never looked again
        return backup_stream(repo, SourceRef("stdin", "db"), io.BytesIO(payload)).id
    with repo.lock(purpose="backup"):
        return backup_stream(repo, SourceRef("stdin", "db"), io.BytesIO(payload)).id


def restore(repo: Repository, snap_id: str) -> bytes:
    out = io.BytesIO()
    fresh = reopen(repo)
    restore_stream(fresh, snapshots.find(fresh.manifests, snap_id), out)
    return out.getvalue()


def packs(backend: Backend) -> set[str]:
    return {id_from_key(i.key) for i in backend.list(DATA_PREFIX)}


def foreign_lock(backend: Backend, view: float | None) -> str:
    """A backup's shared lock on another host, refreshed (expires in an hour)."""
    key = f"{LOCK_PREFIX}{'e' * 32}"
    doc = dict(
        host="elsewhere",
        pid=1,
        username="u",
        exclusive=False,
        created=clock.now(),
        expires=clock.now() + HOUR,
        purpose="backup",
    )
    if view is not None:
        doc["view"] = view
    backend.put(key, json.dumps(doc).encode())
    return key


def run(repo: Repository, **options: float) -> PrunePlan:
    return prune(reopen(repo), PruneOptions(**options))  # type: ignore[arg-type]


def test_a_mark_waits_for_the_grace_delay(now: list[float]) -> None:
    repo = new_repo()
    old, kept = backup(repo, data(1)), backup(repo, data(2))
    forget(repo, Policy(keep_last=1))
    first = run(repo)
    assert first.delete_packs and first.mark and first.deleted_packs == [] and first.pending_marks == 1
    assert set(first.delete_packs) <= packs(repo.backend)  # marked, not deleted
    now[0] += HOUR - 1
    assert run(repo).deleted_packs == []
    now[0] += 2
    second = run(repo)
    assert sorted(second.deleted_packs) == sorted(first.delete_packs) and second.pending_marks == 0
    assert not set(first.delete_packs) & packs(repo.backend) and second.bytes_freed > 0
    assert restore(repo, kept) == data(2) and old not in snapshots.load_all(repo.manifests)
    assert check_repository(reopen(repo), read_data=True).ok


def test_grace_zero_without_other_locks_frees_in_one_run(now: list[float]) -> None:
    repo = new_repo()
    backup(repo, data(1))
    kept = backup(repo, data(2))
    forget(repo, Policy(keep_last=1))
    plan = run(repo, grace=0)
    assert plan.delete_packs and sorted(plan.deleted_packs) == sorted(plan.delete_packs) and plan.pending_marks == 0
    assert not repo.manifests.ids("forgotten")  # no running process could need the tombstone
    assert restore(repo, kept) == data(2) and check_repository(reopen(repo), read_data=True).ok


def test_a_lock_older_than_the_mark_holds_it(now: list[float]) -> None:
    repo = new_repo()
    backup(repo, data(1))
    kept = backup(repo, data(2))
    forget(repo, Policy(keep_last=1))
    now[0] += 200  # started after the forget (it cannot have read the forgotten snapshot), before the mark
    lock = foreign_lock(repo.backend, view=clock.now())
    now[0] += 1
    first = run(repo, grace=0)
    assert first.delete_packs and first.deleted_packs == []
    assert any("locks older than the mark" in w for w in first.waiting)
    now[0] += 2 * HOUR  # still refreshed: the grace alone is not enough
    foreign_lock(repo.backend, view=clock.now() - 2 * HOUR)
    assert run(repo, grace=0).deleted_packs == []
    repo.backend.delete(lock)  # that backup finished
    foreign_lock(repo.backend, view=clock.now())  # a newer one knows of the mark
    assert sorted(run(repo, grace=0).deleted_packs) == sorted(first.delete_packs)
    assert restore(repo, kept) == data(2)


def test_an_old_drkit_lock_without_a_view_holds_every_mark(now: list[float]) -> None:
    repo = new_repo()
    backup(repo, data(1))
    backup(repo, data(2))
    forget(repo, Policy(keep_last=1))
    foreign_lock(repo.backend, view=None)
    plan = run(repo, grace=0)
    assert plan.delete_packs == []  # it may have read the forgotten snapshot: the tombstone keeps its data
    repo.manifests.delete("forgotten", repo.manifests.ids("forgotten")[0])
    plan = run(repo, grace=0)
    assert plan.delete_packs and plan.deleted_packs == []


def test_a_backup_that_knows_the_mark_stores_the_blobs_again(now: list[float]) -> None:
    repo = new_repo()
    gone = backup(repo, data(1))
    repo.manifests.delete(snapshots.KIND, gone)
    marked = run(repo)
    assert marked.delete_packs
    again = backup(reopen(repo), data(1))  # the same content, after the mark: not deduplicated into it
    assert snapshots.find(repo.manifests, again).stats["new_blobs"] > 0
    now[0] += HOUR + 1
    settled = run(repo)
    assert sorted(settled.deleted_packs) == sorted(marked.delete_packs) and settled.rescued_packs == []
    assert restore(repo, again) == data(1) and check_repository(reopen(repo), read_data=True).ok


def test_a_pack_a_new_snapshot_needs_is_indexed_again(now: list[float]) -> None:
    repo = new_repo()
    gone = backup(repo, data(1))
    repo.manifests.delete(snapshots.KIND, gone)
    unaware = reopen(repo)  # loaded its index before the mark, never looks again
    marked = run(repo)
    late = backup(unaware, data(1), locked=False)  # deduplicated into the marked packs
    assert snapshots.find(repo.manifests, late).stats["new_blobs"] == 0
    now[0] += HOUR + 1
    settled = run(repo)
    assert sorted(settled.rescued_packs) == sorted(marked.delete_packs) and settled.deleted_packs == []
    assert restore(repo, late) == data(1) and check_repository(reopen(repo), read_data=True).ok
    forget(repo, Policy(keep_tags=frozenset({"nothing"})))
    assert run(repo, grace=0).deleted_packs  # no longer needed: marked and deleted again


def test_a_tombstone_keeps_a_forgotten_parent_while_an_older_backup_runs(now: list[float]) -> None:
    repo = new_repo()
    parent = backup(repo, data(1))
    backup(repo, data(2))
    lock = foreign_lock(repo.backend, view=clock.now())  # a backup that may have read ``parent``
    now[0] += 10
    forget(repo, Policy(keep_last=1))
    assert parent not in {s.id for s in snapshots.load_all(repo.manifests)}
    held = run(repo, grace=0)
    assert held.delete_packs == [] and repo.manifests.ids("forgotten")
    repo.backend.delete(lock)
    freed = run(repo, grace=0)
    assert freed.delete_packs and sorted(freed.deleted_packs) == sorted(freed.delete_packs)
    assert not repo.manifests.ids("forgotten")


def test_orphans_are_marked_and_kept_if_a_backup_indexes_them(now: list[float]) -> None:
    repo = new_repo()
    kept = backup(repo, data(2))
    orphan = "ab" * 32
    repo.backend.put(pack_key(orphan), b"an interrupted backup's pack")
    assert run(repo, grace=0).orphan_packs == []  # young: may belong to a running backup
    now[0] += HOUR + 1
    lock = foreign_lock(repo.backend, view=clock.now() - 60)  # a running backup, from before the mark
    marked = run(repo, grace=0)
    assert marked.orphan_packs == [orphan] and marked.deleted_packs == []
    repo.backend.delete(lock)
    assert run(repo, grace=0).deleted_packs == [orphan] and orphan not in packs(repo.backend)
    assert restore(repo, kept) == data(2)


def test_dry_run_changes_nothing(now: list[float]) -> None:
    repo = new_repo()
    backup(repo, data(1))
    backup(repo, data(2))
    forget(repo, Policy(keep_last=1))
    before = sorted(i.key for i in repo.backend.list(""))
    plan = run(repo, grace=0, dry_run=True)
    assert plan.delete_packs and plan.bytes_freed > 0 and plan.mark is None
    assert sorted(i.key for i in repo.backend.list("")) == before


def test_a_snapshot_written_after_the_index_was_loaded_is_walked(now: list[float]) -> None:
    """A backup that finishes between prune's index load and its snapshot listing: its list blob is
    in an index object prune has not read; prune reads it instead of failing, and keeps its data."""
    from drkit.repository.references import LiveSet

    repo = new_repo()
    backup(repo, data(1))
    pruner = reopen(repo)
    pruner.load_index()
    writer = reopen(repo)
    writer.load_index()
    backup(writer, data(2))
    live = LiveSet(pruner.index)
    live.add_documents(pruner, {})
    assert live.unindexed == 0
    assert sorted(restore(repo, s.id) for s in snapshots.load_all(repo.manifests)) == sorted([data(1), data(2)])
    fresh = reopen(repo)
    fresh.load_index()
    assert len(live) == len(fresh.index)  # every blob of both snapshots is live, none unindexed


def test_check_reads_index_objects_written_after_it_loaded_the_index(
    now: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backup that finishes while check runs: its snapshot is not reported as missing data."""
    repo = new_repo()
    backup(repo, data(1))
    checker = reopen(repo)
    real_load = checker.load_index

    def load_then_backup() -> None:  # the backup lands between check's index load and its walk
        real_load()
        backup(reopen(repo), data(3))

    monkeypatch.setattr(checker, "load_index", load_then_backup)
    report = check_repository(checker)
    assert report.errors == [] and report.snapshots_checked == 2


# -- regressions found in review: each of these lost data (or failed a check) before its fix ---------
def test_an_index_loaded_before_the_lock_is_reloaded_if_a_prune_ran_in_between(now: list[float]) -> None:
    """A backup opens the repository (index loaded), a prune --grace 0 marks and deletes packs, then
    the backup takes its lock: it must not deduplicate into the deleted packs."""
    repo = new_repo()
    backup(repo, data(1))
    backup(repo, data(2))
    forget(repo, Policy(keep_last=1))  # data(1) is dead
    late = reopen(repo)  # index loaded, no lock yet
    assert run(repo, grace=0).deleted_packs
    again = backup(late, data(1))  # takes its lock now
    assert snapshots.find(repo.manifests, again).stats["new_blobs"] > 0
    assert restore(repo, again) == data(1) and check_repository(reopen(repo)).ok


def test_a_writer_whose_lock_was_lost_indexes_nothing(now: list[float]) -> None:
    """Packs a backup uploaded before its lock was lost may be pruned as orphans: it must not write
    an index object naming them afterwards."""
    from drkit.core.errors import LockFailed
    from drkit.pipeline import chunk_buffer
    from drkit.repository.writer import BlobWriter

    repo = new_repo()
    backup(repo, data(2))
    stalled = reopen(repo)
    lock = stalled.lock(purpose="backup")
    lock.acquire()
    writer = BlobWriter(repo=stalled)
    for chunk in chunk_buffer(data(1), stalled.config.chunker)[:20]:
        writer.add_data(bytes(chunk))
    now[0] += 2 * HOUR  # suspended, or the refresh kept failing, for longer than the lock's lifetime
    assert lock.lost
    with pytest.raises(LockFailed, match="index object|upload a pack"):
        writer.flush()
    writer.close()
    lock.release()
    indexed = reopen(repo)
    assert set(indexed.index.pack_sizes) <= packs(repo.backend)
    assert len(indexed.index_ids) == 1  # only the first backup's index object


def test_live_flags_follow_a_blob_whose_preferred_copy_moves(now: list[float]) -> None:
    """A pending pack X holds a blob; a backup that knows the mark stores it again in pack Z; prune
    --grace 0 walks that snapshot (flagging X's entry), then loads Z's index object (Z becomes the
    preferred copy): Z must stay live, and X may go."""
    repo = new_repo()
    backup(repo, data(1))
    backup(repo, data(2))
    forget(repo, Policy(keep_last=1))
    assert run(repo).mark  # X marked, default grace
    now[0] += 600
    pruner = reopen(repo)
    real_load = pruner.load_index
    made: dict[str, str] = {}

    def load_then_backups() -> None:
        real_load()
        made["again"] = backup(reopen(repo), data(1))  # stored afresh: X is pending
        made["new"] = backup(reopen(repo), data(3))  # walked later: makes prune load new index objects

    pruner.load_index = load_then_backups  # type: ignore[method-assign]
    prune(pruner, PruneOptions(grace=0))
    assert restore(repo, made["again"]) == data(1) and restore(repo, made["new"]) == data(3)
    assert check_repository(reopen(repo), read_data=True).ok


def test_check_skips_a_snapshot_forgotten_while_it_runs(now: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    repo = new_repo()
    backup(repo, data(1))
    backup(repo, data(2))
    checker = reopen(repo)
    real_ids = checker.manifests.ids

    def ids_then_forget(kind: str) -> list[str]:
        out = real_ids(kind)
        if kind == snapshots.KIND:
            forget(reopen(repo), Policy(keep_last=1))
        return out

    monkeypatch.setattr(checker.manifests, "ids", ids_then_forget)
    report = check_repository(checker)
    assert report.errors == [] and report.snapshots_checked == 1


def test_a_long_running_holder_that_renews_its_view_lets_marks_settle(now: list[float]) -> None:
    repo = new_repo()
    backup(repo, data(1))
    backup(repo, data(2))
    forget(repo, Policy(keep_last=1))
    now[0] += 300  # past the clock-skew allowance: the holder did not read the forgotten snapshot
    archiver = reopen(repo)
    with archiver.lock(purpose="aof-archive") as lock:
        now[0] += 60
        assert run(repo).mark
        now[0] += 60  # grace 0 below: only the lock is in the way (the fake clock must not expire it)
        waiting = run(repo, grace=0)
        assert waiting.deleted_packs == [] and any("older than the mark" in w for w in waiting.waiting)
        now[0] += 300
        archiver.renew_view(lock)  # between rounds: nothing read before now is held
        assert run(repo, grace=0).deleted_packs


def test_aof_archive_renews_its_view_between_rounds(
    now: list[float], monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    import threading
    from pathlib import Path

    from drkit.sources.redis import ops

    repo = new_repo()
    renewed: list[float] = []
    waits: list[float] = []

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            if len(waits) == 3:
                raise KeyboardInterrupt
            return False

    monkeypatch.setattr(ops, "archive_once", lambda *a, **kw: [])
    monkeypatch.setattr(repo, "renew_view", lambda lock: renewed.append(lock.view))
    with pytest.raises(KeyboardInterrupt):
        ops.aof_archive(repo, Path("/nonexistent"), "r", ops.Follow(interval=5, stop=Stop()), report=lambda doc: None)
    assert len(renewed) == 2  # after each completed wait


def test_a_refresh_that_finds_a_new_mark_reloads_from_the_reads_it_made(
    now: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo()
    backup(repo, data(1))
    backup(repo, data(2))
    forget(repo, Policy(keep_last=1))
    reader = reopen(repo)
    reader.load_index()
    assert reader.marks == {} and not reader.index.excluded
    plan = run(repo)
    assert plan.mark
    real_list = reader.backend.list
    listed: list[str] = []

    def counting_list(prefix: str = "") -> Iterator[object]:
        listed.append(prefix)
        return real_list(prefix)

    monkeypatch.setattr(reader.backend, "list", counting_list)
    reader.refresh_marks()
    assert list(reader.marks) == [plan.mark] and reader.index.excluded == set(plan.delete_packs)
    assert listed.count(INDEX_PREFIX) == 1  # the reload used the listing the refresh made
    listed.clear()
    reader.refresh_marks()  # nothing changed since: no reload
    assert listed.count(INDEX_PREFIX) == 1


# -- the lazy path (open reads no index; the lock's on_acquired does): a prune between open and lock --
def test_a_mark_between_open_and_lock_is_known(now: list[float]) -> None:
    repo = new_repo()
    gone = backup(repo, data(1))
    repo.manifests.delete(snapshots.KIND, gone)
    late = Repository.open(repo.backend, "pw")  # as a backup opens: index due, not read
    marked = run(repo)  # a prune marks data(1)'s packs between the open and the lock
    assert marked.delete_packs
    again = backup(late, data(1))  # locks now: the index is read after the lock, with the mark
    assert snapshots.find(repo.manifests, again).stats["new_blobs"] > 0
    now[0] += HOUR + 1
    settled = run(repo)
    assert sorted(settled.deleted_packs) == sorted(marked.delete_packs) and settled.rescued_packs == []
    assert restore(repo, again) == data(1) and check_repository(reopen(repo), read_data=True).ok


def test_packs_deleted_between_open_and_lock_are_stored_again(now: list[float]) -> None:
    repo = new_repo()
    backup(repo, data(1))
    backup(repo, data(2))
    forget(repo, Policy(keep_last=1))
    late = Repository.open(repo.backend, "pw")
    assert run(repo, grace=0).deleted_packs
    again = backup(late, data(1))
    assert snapshots.find(repo.manifests, again).stats["new_blobs"] > 0
    assert restore(repo, again) == data(1) and check_repository(reopen(repo)).ok
