"""packscan.scan_pack reads a pack once, streamed: the content hash and a verdict per blob, with blobs that
span read chunks (chunks far smaller than a blob, and one byte) and one flipped byte naming exactly the
blob that holds it."""

from __future__ import annotations

import io
import random

import pytest

from drkit.pipeline import ChunkerParams
from drkit.repository import packscan
from drkit.repository.format import DATA_PREFIX, RepoConfig, id_from_key, pack_key
from drkit.repository.repair import read_pack_header
from drkit.repository.repo import Repository
from drkit.repository.writer import BlobWriter
from storage_backends.testing.memory import MemoryBackend

SMALL = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=5)


def _repo_with_a_pack() -> tuple[Repository, str, int]:
    repo = Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))
    with BlobWriter(repo=repo) as writer:
        writer.write_stream(io.BytesIO(random.Random(7).randbytes(100_000)))
        writer.flush()
    item = max(repo.backend.list(DATA_PREFIX), key=lambda i: i.size)
    return repo, id_from_key(item.key), item.size


@pytest.mark.parametrize("chunk", [1, 1000, 1 << 20])
def test_an_intact_pack_hashes_to_its_name_and_every_blob_verifies(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(packscan, "_CHUNK", chunk)
    repo, pack_id, size = _repo_with_a_pack()
    entries = read_pack_header(repo, pack_id, size)
    assert len(entries) > 3
    scan = packscan.scan_pack(repo, pack_id, size, entries)
    assert scan.content_hash == pack_id
    assert scan.bad == [] and sorted(e.id for e in scan.good) == sorted(e.id for e in entries)


@pytest.mark.parametrize("chunk", [1, 1000, 1 << 20])
def test_a_flipped_byte_fails_exactly_its_blob(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(packscan, "_CHUNK", chunk)
    repo, pack_id, size = _repo_with_a_pack()
    entries = sorted(read_pack_header(repo, pack_id, size), key=lambda e: e.offset)
    victim = entries[len(entries) // 2]
    body = bytearray(repo.backend.get(pack_key(pack_id)).read())
    body[victim.offset + victim.length // 2] ^= 0x80
    repo.backend.put(pack_key(pack_id), bytes(body))
    scan = packscan.scan_pack(repo, pack_id, size, entries)
    assert scan.content_hash != pack_id
    assert [e.id for e, _ in scan.bad] == [victim.id]
    assert "fails authentication" in scan.bad[0][1]
    assert len(scan.good) == len(entries) - 1 and victim not in scan.good


def test_a_pack_cut_short_fails_the_blobs_past_its_end() -> None:
    repo, pack_id, size = _repo_with_a_pack()
    entries = sorted(read_pack_header(repo, pack_id, size), key=lambda e: e.offset)
    last = entries[-1]
    body = repo.backend.get(pack_key(pack_id)).read()
    repo.backend.put(pack_key(pack_id), body[: last.offset + 1])
    scan = packscan.scan_pack(repo, pack_id, size, entries)
    assert [e.id for e, _ in scan.bad] == [last.id] and len(scan.good) == len(entries) - 1
