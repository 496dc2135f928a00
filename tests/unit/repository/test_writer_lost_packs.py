"""The writer never lets a snapshot reference a lost pack (packlist.py): deduplicated blobs and blob
lists reused from a parent are checked at ``flush``, with a stat per pack for a few packs and one LIST
for many."""

from __future__ import annotations

import io
import random

import pytest

from drkit.pipeline import ChunkerParams
from drkit.repository import packlist
from drkit.repository.format import DATA_PREFIX, RepoConfig
from drkit.repository.packlist import LostPack
from drkit.repository.repo import Repository
from drkit.repository.writer import BlobWriter
from storage_backends.testing.memory import MemoryBackend

SMALL = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=5)


def _repo() -> Repository:
    return Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))


def _store(repo: Repository, data: bytes) -> list[str]:
    with BlobWriter(repo=repo) as writer:
        refs = writer.write_stream(io.BytesIO(data))
        writer.flush()
    return [r.id.hex() for r in refs]


class _Counting(MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.stats = self.lists = 0

    def stat(self, key: str):  # type: ignore[no-untyped-def]
        self.stats += key.startswith(DATA_PREFIX)
        return super().stat(key)

    def list(self, prefix: str = ""):  # type: ignore[no-untyped-def]
        self.lists += prefix == DATA_PREFIX
        return super().list(prefix)


@pytest.mark.parametrize("size", [100_000, 1_500_000])  # a few packs (stat each), many (one LIST)
def test_dedup_into_a_lost_pack_fails_at_flush(size: int) -> None:
    backend = _Counting()
    repo = Repository.init(backend, "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))
    data = random.Random(size).randbytes(size)
    _store(repo, data)
    packs = sorted(i.key for i in backend.list(DATA_PREFIX))
    backend.delete(packs[len(packs) // 2])
    backend.stats = backend.lists = 0
    with pytest.raises(LostPack, match="missing from the storage") as err, BlobWriter(repo=repo) as writer:
        writer.write_stream(io.BytesIO(data))
        writer.flush()
    assert err.value.exit_code == 13 and "repair index" in str(err.value.hint)
    many = len(packs) > packlist._STAT_AT_MOST
    assert (backend.lists, backend.stats > 0) == ((1, False) if many else (0, True))


def test_intact_packs_pass_and_new_data_is_not_checked() -> None:
    repo = _repo()
    data = random.Random(1).randbytes(200_000)
    _store(repo, data)
    _store(repo, data)  # all deduplicated, all present
    with BlobWriter(repo=repo) as writer:
        writer.write_stream(io.BytesIO(random.Random(2).randbytes(100_000)))
        assert writer._used_packs() == set()  # nothing deduplicated: nothing to look up
        writer.flush()


def test_reuse_checks_parent_blobs_and_refuses_unindexed_ones() -> None:
    repo = _repo()
    ids = _store(repo, random.Random(3).randbytes(200_000))
    with BlobWriter(repo=repo) as writer:
        assert writer.reuse(ids)
        assert writer._used_packs()
        assert not writer.reuse([*ids, "ab" * 32])  # a blob no index holds: read the file again
        writer.flush()
    for info in list(repo.backend.list(DATA_PREFIX)):
        repo.backend.delete(info.key)
    with pytest.raises(LostPack), BlobWriter(repo=repo) as writer:
        assert writer.reuse(ids)
        writer.flush()


def test_index_reloaded_mid_run_checks_every_pack() -> None:
    """Flags are entry numbers of the index the writer started with; after a reload every pack counts."""
    repo = _repo()
    data = random.Random(4).randbytes(200_000)
    _store(repo, data)
    victim = min(i.key for i in repo.backend.list(DATA_PREFIX))
    with pytest.raises(LostPack), BlobWriter(repo=repo) as writer:
        repo.load_index()  # as a lock's refresh_marks may do
        repo.backend.delete(victim)
        writer.write_stream(io.BytesIO(random.Random(5).randbytes(50_000)))  # nothing deduplicated
        writer.flush()
