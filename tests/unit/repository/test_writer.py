"""The blob writer's ``add_data`` (chunks sealed by the workers in batches, as file backups use it):
index objects are written as packs complete, and a failed upload stops the backup before ``flush``."""

from __future__ import annotations

import errno
import random
import time

import pytest

from drkit.core.errors import StorageError
from drkit.pipeline import ChunkerParams, chunk_buffer
from drkit.repository import writer as writer_mod
from drkit.repository.format import INDEX_PREFIX, RepoConfig
from drkit.repository.pack import BLOB_TREE
from drkit.repository.repo import Repository
from drkit.repository.writer import BlobWriter
from storage_backends.testing.memory import MemoryBackend

SMALL = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=5)


def _repo() -> Repository:
    return Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))


def _chunks(seed: int, size: int) -> list[bytes]:
    data = random.Random(seed).randbytes(size)
    return [bytes(c) for c in chunk_buffer(data, SMALL)]


def test_small_chunks_get_index_objects_before_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_mod, "INDEX_FLUSH_PACKS", 2)
    monkeypatch.setattr(writer_mod, "QUEUED_BYTES", 256 << 10)  # far less queued than the 2 MiB written
    repo = _repo()
    chunks = _chunks(1, 2 << 20)  # ~32 packs of 64 KiB
    with BlobWriter(repo=repo) as writer:
        ids = []
        for chunk in chunks:
            ids.append(writer.add_data(chunk))
        before_flush = len(list(repo.backend.list(INDEX_PREFIX)))
        writer.flush()
    assert before_flush >= 5  # one object every two packs, as they complete
    reopened = Repository.open(repo.backend, "pw")  # what the index objects written name
    assert all(reopened.index.get(i) is not None for i in ids)


class _FailingPuts(MemoryBackend):
    def put(self, key: str, data: object) -> None:  # type: ignore[override]
        if key.startswith("data/"):
            raise OSError("disk on fire")
        super().put(key, data)  # type: ignore[arg-type]


def test_a_failed_upload_stops_small_chunk_backups_early(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_mod, "QUEUED_BYTES", 256 << 10)
    repo = Repository.init(_FailingPuts(), "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))
    writer = BlobWriter(repo=repo)
    taken = 0
    with pytest.raises((StorageError, OSError)):
        for chunk in _chunks(2, 4 << 20):
            writer.add_data(chunk)
            taken += 1
    writer.close()
    assert taken < len(_chunks(2, 4 << 20)) // 2  # stopped long before the end, not at flush


class _FullDisk(MemoryBackend):
    """A store whose pack writes fail part-way, the failure's traceback still holding a view of the
    pack (as the local directory's write loop does)."""

    def put(self, key: str, data: object) -> None:  # type: ignore[override]
        if key.startswith("data/"):
            view = memoryview(data)  # type: ignore[arg-type]  # kept alive by the traceback
            raise OSError(errno.ENOSPC, f"No space left on device ({len(view)} bytes)")
        super().put(key, data)  # type: ignore[arg-type]


def test_a_buffer_held_by_a_failed_upload_is_not_reused() -> None:
    """A blob larger than a pack grows the pack's buffer. Growing a buffer that a failed upload's
    traceback still held raised BufferError (an internal error, exit 1) instead of the storage error
    (seen with a real full tmpfs)."""
    repo = Repository.init(_FullDisk(), "pw", RepoConfig(chunker=SMALL, pack_size=256 << 10))
    rng = random.Random(4)
    writer = BlobWriter(repo=repo)
    try:
        with pytest.raises((StorageError, OSError), match="No space left"):
            # add_blob seals on this thread and does not look at uploads: nothing stops the writer
            # before the buffer comes back
            for _ in range(3):  # two fill the first pack; the third sends it to a failing upload
                writer.add_blob(BLOB_TREE, rng.randbytes(100 << 10))
            time.sleep(0.3)  # the upload has failed and handed its buffer back
            writer.add_blob(BLOB_TREE, rng.randbytes(100 << 10))
            writer.add_blob(BLOB_TREE, rng.randbytes(400 << 10))  # oversized: a fresh pack, grown
            writer.flush()
    finally:
        writer.close()


def test_small_chunks_in_batches_are_stored_once_and_all_counted() -> None:
    repo = _repo()
    chunks = _chunks(3, 1 << 20)
    twice = chunks + chunks[:10]  # repeats, some while their first copy still waits in a batch
    with BlobWriter(repo=repo) as writer:
        ids = [writer.add_data(c) for c in twice]
        assert writer._batch  # noqa: SLF001 - some chunks are still waiting to be handed over
        writer.flush()
        assert writer.stats.chunks == len(twice)
        assert writer.stats.new_blobs == len(set(ids)) == len(chunks)
        assert writer.stats.bytes_read == sum(len(c) for c in twice)
    reopened = Repository.open(repo.backend, "pw")
    assert all(reopened.index.get(i) is not None for i in ids)
