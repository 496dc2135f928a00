"""Memory of a backup that writes many small blobs (issue 25, bench/scale.py's 500,000-file tree): the
writer forgets the ids of blobs once they are indexed, and an index object is encoded without one
Python object per entry -- with the same bytes as before and deduplication unchanged."""

from __future__ import annotations

import os
import random
import tracemalloc

import pytest

from drkit.pipeline import ChunkerParams
from drkit.repository import writer as writer_mod
from drkit.repository.format import AAD_INDEX, RepoConfig
from drkit.repository.index import decode_index, encode_index
from drkit.repository.pack import _ENTRY, PackEntry
from drkit.repository.repo import Repository
from drkit.repository.writer import BlobWriter
from storage_backends.testing.memory import MemoryBackend

SMALL = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=5)


def _repo() -> Repository:
    return Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))


def test_writer_keeps_no_ids_of_indexed_blobs_and_still_dedups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_mod, "INDEX_FLUSH_PACKS", 2)
    repo = _repo()
    rng = random.Random(7)
    files = [rng.randbytes(rng.randint(256, 2047)) for _ in range(3000)]  # ~3.4 MB: ~60 packs
    with BlobWriter(repo=repo) as writer:
        ids = [writer.add_data(f) for f in files]
        peak_seen = len(writer._seen)
        writer.flush()
        assert writer._seen == set()  # every blob is in repo.index now; the writer holds no ids
        assert peak_seen < len(files) // 2  # and it did not hold them all during the run
        new_blobs, packs = writer.stats.new_blobs, len(repo.index.pack_sizes)
        assert [writer.add_data(f) for f in files] == ids  # the same data again: deduplicated ...
        writer.flush()
        assert (writer.stats.new_blobs, len(repo.index.pack_sizes)) == (new_blobs, packs)  # ... nothing stored
        writer.add_data(b"one more small file")
        writer.flush()
        assert writer.stats.new_blobs == new_blobs + 1
    assert new_blobs == len(set(files))


def _records(n: int) -> list[writer_mod.PackRecord]:
    entries = [
        PackEntry(type=i % 2, id=os.urandom(32), offset=i * 100, length=90, raw_length=80 + i % 7) for i in range(n)
    ]
    return [writer_mod.PackRecord(os.urandom(32).hex(), 1 << 24, entries[k : k + n // 4]) for k in range(0, n, n // 4)]


def test_encode_index_same_bytes_in_bounded_memory() -> None:
    repo = _repo()
    records = _records(100_000)
    tracemalloc.start()
    try:
        sealed = encode_index(records, repo.cipher)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    body = repo.cipher.open(sealed, AAD_INDEX)
    expected = b"".join(  # the stored form, as documented in docs/FORMAT.md (one record per entry)
        bytes.fromhex(r.pack_id)
        + r.size.to_bytes(8, "little")
        + len(r.entries).to_bytes(4, "little")
        + b"".join(_ENTRY.pack(e.type, e.id, e.offset, e.length, e.raw_length) for e in r.entries)
        for r in records
    )
    assert body == expected
    assert [(r.pack_id, r.size, r.entries) for r in decode_index(sealed, repo.cipher, "x")] == [
        (r.pack_id, r.size, r.entries) for r in records
    ]
    assert peak < 3.2 * len(body)  # one per-entry bytes object each held ~5x the body
