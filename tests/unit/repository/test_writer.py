"""The blob writer's small-chunk path (``add_data`` below ``SYNC_BELOW``, as file backups use it):
index objects are written as packs complete, and a failed upload stops the backup before ``flush``."""

from __future__ import annotations

import random

import pytest

from drkit.core.errors import StorageError
from drkit.pipeline import ChunkerParams, chunk_buffer
from drkit.repository import writer as writer_mod
from drkit.repository.format import INDEX_PREFIX, RepoConfig
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
    repo = _repo()
    chunks = _chunks(1, 2 << 20)  # ~32 packs of 64 KiB
    with BlobWriter(repo) as writer:
        ids = []
        for chunk in chunks:
            assert len(chunk) < writer_mod.SYNC_BELOW
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


def test_a_failed_upload_stops_small_chunk_backups_early() -> None:
    repo = Repository.init(_FailingPuts(), "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))
    writer = BlobWriter(repo)
    taken = 0
    with pytest.raises((StorageError, OSError)):
        for chunk in _chunks(2, 4 << 20):
            writer.add_data(chunk)
            taken += 1
    writer.close()
    assert taken < len(_chunks(2, 4 << 20)) // 2  # stopped long before the end, not at flush
