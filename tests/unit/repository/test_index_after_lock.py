"""``Repository.open`` leaves the index to be read once a lock is written (FORMAT.md §13 wants it read
after the lock; it used to be read before too), or on first use without a lock; a mark written between
the open and the lock is known to the process (in-memory store, every call recorded)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from backends.recording import Call, RecordingBackend

from drkit.core.errors import LockFailed, StorageError
from drkit.pipeline import ChunkerParams
from drkit.repository.format import RepoConfig
from drkit.repository.marks import write_mark
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream
from storage_backends import ObjectInfo, PutOptions, Unreachable
from storage_backends.testing.memory import MemoryBackend

SMALL = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=5)
DATA = bytes(range(256)) * 200 + b"tail"


def _stored() -> tuple[MemoryBackend, set[str]]:
    """A repository with one stream snapshot; the packs it wrote."""
    store = MemoryBackend()
    repo = Repository.init(store, "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))
    with repo.lock(purpose="backup"):
        backup_stream(repo, SourceRef("stdin", "s"), io.BytesIO(DATA))
    return store, set(repo.index.pack_sizes)


def _first(calls: list[Call], call: str, prefix: str) -> int:
    return next(i for i, c in enumerate(calls) if c.call == call and c.key.startswith(prefix))


def test_open_reads_no_index_and_the_lock_reads_it_once_after_its_own_write() -> None:
    store, _ = _stored()
    calls: list[Call] = []
    repo = Repository.open(RecordingBackend(store, calls), "pw")
    assert not any(c.key.startswith(("index/", "manifests/")) for c in calls)
    with repo.lock(purpose="backup"):
        assert _first(calls, "put_if_absent", "locks/") < _first(calls, "list", "index/")
        assert sum(1 for c in calls if c.call == "list" and c.key == "index/") == 1
        assert sum(1 for c in calls if c.call == "list" and c.key == "manifests/pending/") == 1
        assert repo.index.pack_sizes


def test_without_a_lock_the_index_is_read_on_first_use() -> None:
    store, packs = _stored()
    calls: list[Call] = []
    repo = Repository.open(RecordingBackend(store, calls), "pw")
    assert set(repo.index.pack_sizes) == packs
    assert sum(1 for c in calls if c.call == "list" and c.key == "index/") == 1
    assert set(repo.index.pack_sizes) == packs  # read once
    assert sum(1 for c in calls if c.call == "list" and c.key == "index/") == 1


def test_any_attribute_of_the_loaded_index_reads_it_first() -> None:
    """``index_ids``, ``marks``, ``superseded``, ``skipped_indexes`` are the index's too: a reader of one of
    them alone (a test tool walking ``index_ids``) must not see the empty ones of an index not read yet."""
    store, _ = _stored()
    for name in ("index_ids", "marks", "superseded", "skipped_indexes"):
        calls: list[Call] = []
        repo = Repository.open(RecordingBackend(store, calls), "pw")
        getattr(repo, name)
        assert sum(1 for c in calls if c.call == "list" and c.key == "index/") == 1, name
        assert len(repo.index_ids) == 1


def test_a_mark_written_between_the_open_and_the_lock_is_known() -> None:
    """A prune marks the packs after the backup opened the repository and before it locked: the backup must
    not deduplicate into them (it stores the blobs again)."""
    store, packs = _stored()
    repo = Repository.open(store, "pw")
    pruner = Repository.open(store, "pw", load_index=False)
    pruner.load_index()
    write_mark(pruner.manifests, 0.0, sorted(packs), [], sorted(pruner.index_ids), 0)
    with repo.lock(purpose="backup"):
        assert repo.index.excluded == packs
        backup_stream(repo, SourceRef("stdin", "again"), io.BytesIO(DATA))
    assert not set(repo.index.pack_sizes) <= packs  # new packs: nothing deduplicated into marked ones


def test_a_lock_refused_by_another_leaves_no_lock_and_drops_what_it_read_ahead() -> None:
    """The view is read alongside the lock listing (one round trip on a remote store): when that listing
    finds an exclusive holder, the lock fails as before, its own object is deleted, and what was read
    ahead is dropped: the next lock reads the index again and sees what another backup indexed since."""
    store, packs = _stored()
    holder = Repository.open(store, "pw", load_index=False).lock(exclusive=True, purpose="key rotate")
    holder.acquire()
    repo = Repository.open(store, "pw")
    with pytest.raises(LockFailed):
        repo.lock(purpose="backup").acquire()
    assert [info.key for info in store.list("locks/")] == [holder.key]
    holder.release()
    other = Repository.open(store, "pw")
    with other.lock(purpose="backup"):
        backup_stream(other, SourceRef("stdin", "t"), io.BytesIO(DATA[::-1] + b"more"))
    added = set(other.index.pack_sizes) - packs
    assert added
    with repo.lock(purpose="backup"):
        assert set(repo.index.pack_sizes) == packs | added


class _MarksFail(RecordingBackend):
    """The listing of pending marks fails (the store went away mid-lock)."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if prefix == "manifests/pending/":
            raise Unreachable("store gone", backend=self.display)
        return super().list(prefix)


def test_a_view_read_ahead_that_fails_fails_the_lock_and_removes_it() -> None:
    """The view read alongside the lock listing is the lock's: its storage error is the lock's (exit 14,
    as when it was read after the listing), and the lock object it wrote is deleted on the way out."""
    store, _ = _stored()
    repo = Repository.open(_MarksFail(store, []), "pw")
    with pytest.raises(StorageError):
        repo.lock(purpose="backup").acquire()
    assert list(store.list("locks/")) == []


class _MarkAsTheLockIsStored(RecordingBackend):
    """A prune writes its mark the moment the lock object is stored, before the lock's put returns."""

    def __init__(self, store: MemoryBackend, calls: list[Call], mark: Callable[[], object]) -> None:
        super().__init__(store, calls)
        self.mark: Callable[[], object] | None = mark

    def put_if_absent(self, key: str, data: Any, options: PutOptions | None = None) -> None:
        super().put_if_absent(key, data, options)
        if key.startswith("locks/") and self.mark is not None:
            mark, self.mark = self.mark, None
            mark()


def test_a_mark_written_as_the_lock_is_stored_is_known() -> None:
    """The view read alongside the lock listing starts only once the lock's write has returned (§13): a mark
    stored before that moment is in it, and the backup deduplicates nothing into the marked packs."""
    store, packs = _stored()
    pruner = Repository.open(store, "pw", load_index=False)
    pruner.load_index()
    calls: list[Call] = []

    def mark() -> None:
        write_mark(pruner.manifests, 0.0, sorted(packs), [], sorted(pruner.index_ids), 0)

    repo = Repository.open(_MarkAsTheLockIsStored(store, calls, mark), "pw")
    with repo.lock(purpose="backup"):
        assert repo.index.excluded == packs
        backup_stream(repo, SourceRef("stdin", "again"), io.BytesIO(DATA))
    assert not set(repo.index.pack_sizes) <= packs
