"""Resuming (issue 20): index checkpoints by age, and a failed run indexing what it uploaded, so the next
run of the same data stores nothing again. Memory backend; see tests/faults/test_resume.py for the
killed-process runs on S3."""

from __future__ import annotations

import random

import pytest

from drkit.core.errors import StorageError
from drkit.pipeline import ChunkerParams, chunk_buffer
from drkit.repository.format import DATA_PREFIX, INDEX_PREFIX, RepoConfig
from drkit.repository.repo import Repository
from drkit.repository.writer import BlobWriter
from storage_backends.testing.memory import MemoryBackend

SMALL = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=5)


def _repo() -> Repository:
    return Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))


def _chunks(seed: int, size: int) -> list[bytes]:
    return [bytes(c) for c in chunk_buffer(random.Random(seed).randbytes(size), SMALL)]


def _keys(repo: Repository, prefix: str) -> set[str]:
    return {i.key for i in repo.backend.list(prefix)}


class SourceFailed(Exception):
    pass


def _fail_after(repo: Repository, chunks: list[bytes]) -> None:
    with pytest.raises(SourceFailed), BlobWriter(repo=repo) as writer:
        for chunk in chunks:
            writer.add_data(chunk)
        raise SourceFailed("the producer died")


def _sizes(repo: Repository) -> dict[str, int]:
    return {i.key: i.size for i in repo.backend.list(DATA_PREFIX)}


def test_a_failed_run_indexes_its_packs_and_the_next_run_stores_only_the_rest() -> None:
    chunks = _chunks(3, 1 << 20)  # ~16 packs: fewer than the 64 of a count checkpoint
    fresh = _repo()
    with BlobWriter(repo=fresh) as writer:
        for chunk in chunks:
            writer.add_data(chunk)
        writer.flush()
    everything = sum(_sizes(fresh).values())
    repo = _repo()
    _fail_after(repo, chunks[: 3 * len(chunks) // 4])
    first = _sizes(repo)
    assert len(first) >= 2 and _keys(repo, INDEX_PREFIX)  # its uploaded packs, indexed on the way out
    again = Repository.open(repo.backend, "pw")
    with BlobWriter(repo=again) as writer:
        for chunk in chunks:
            writer.add_data(chunk)
        writer.flush()
    new = {k: v for k, v in _sizes(again).items() if k not in first}
    assert sum(new.values()) <= everything - sum(first.values()) + 2 * (64 << 10)  # the rest, not all again


def test_a_storage_failure_does_not_wait_on_the_index() -> None:
    repo = _repo()
    with pytest.raises(StorageError), BlobWriter(repo=repo) as writer:
        writer.add_data(_chunks(4, 4096)[0])
        raise StorageError("storage unreachable")
    assert not _keys(repo, INDEX_PREFIX)  # no index write attempted against a store that is down


def test_age_checkpoint_writes_index_objects_as_packs_upload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRKIT_INDEX_CHECKPOINT", "0s")
    repo = _repo()
    with BlobWriter(repo=repo) as writer:
        for chunk in _chunks(5, 1 << 20):
            writer.add_data(chunk)
        writer._hand_over_batch()
        while writer._queue:
            writer._take_queued()
        with writer._lock:
            writer._upload_open_pack()
        for f in list(writer._uploads):
            f.result()
        before_flush = len(_keys(repo, INDEX_PREFIX))
        writer.flush()
    assert before_flush >= len(_keys(repo, DATA_PREFIX)) - 1  # about one index object a pack, before flush


def test_a_bad_checkpoint_value_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRKIT_INDEX_CHECKPOINT", "1mo")
    with pytest.raises(Exception, match="DRKIT_INDEX_CHECKPOINT|month|mo"):
        BlobWriter(repo=_repo())
