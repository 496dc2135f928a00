"""Pack buffers are page-aligned memory maps, so a backup to a local directory writes its packs with
O_DIRECT (storage_backends/local.py: no copy into the page cache, no write-back by the fsync); a blob
larger than a pack still gets a buffer its size, and every stream restores to its bytes."""

from __future__ import annotations

import ctypes
import fcntl
import io
import mmap
import os
import random
from pathlib import Path

import pytest

import storage_backends.local as local
from drkit.pipeline import ChunkerParams
from drkit.repository.format import RepoConfig
from drkit.repository.pack import BLOB_TREE
from drkit.repository.packbuf import Buffers, OpenPack
from drkit.repository.reader import read_blob
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream, restore_stream
from drkit.repository.writer import BlobWriter
from storage_backends.local import LocalBackend

SMALL = ChunkerParams(min_size=16 << 10, avg_size=64 << 10, max_size=256 << 10, seed=3)


def _address(buf: mmap.mmap | bytearray) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


def test_pack_buffers_are_page_aligned_and_reused() -> None:
    buffers = Buffers(2, 1 << 20)
    a, b = buffers.get(), buffers.get()
    assert _address(a) % mmap.PAGESIZE == 0 and _address(b) % mmap.PAGESIZE == 0
    buffers.put(a)
    assert buffers.get() is a


def test_a_blob_larger_than_a_pack_gets_a_buffer_its_size() -> None:
    buffers = Buffers(1, 4096)
    pack = OpenPack(buffers.get())
    slot = pack.reserve(BLOB_TREE, b"\x01" * 32, 10_000, 9_000)
    assert len(slot) == 10_000 and len(pack.buf) >= 10_000
    pack.written(slot, ok=True)
    buffers.put(pack.buf)  # not the size of the others: let go, and a new one made in its place
    assert len(buffers.get()) == 4096


def test_a_stream_backup_to_a_local_directory_writes_its_packs_with_o_direct(
    o_direct_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT on this platform")
    direct: list[int] = []
    real_write = os.write

    def write(fd: int, data: memoryview) -> int:
        n = real_write(fd, data)
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            direct.append(n)
        return n

    monkeypatch.setattr(local.os, "write", write)
    repo = Repository.init(LocalBackend(o_direct_dir / "repo"), "pw", RepoConfig(chunker=SMALL, pack_size=2 << 20))
    rng = random.Random(25)
    data = b"".join(rng.randbytes(1 << 20) + bytes(rng.randrange(256) for _ in range(64)) * 8192 for _ in range(6))
    snap = backup_stream(repo, SourceRef("stdin", "s"), io.BytesIO(data))
    assert sum(direct) >= len(data) // 4  # the packs' aligned heads went past the page cache
    out = io.BytesIO()
    reopened = Repository.open(LocalBackend(o_direct_dir / "repo", create=False), "pw")
    assert restore_stream(reopened, snap, out) == len(data)
    assert out.getvalue() == data


def test_a_blob_larger_than_a_pack_round_trips_through_a_local_directory(tmp_path: Path) -> None:
    repo = Repository.init(LocalBackend(tmp_path / "repo"), "pw", RepoConfig(chunker=SMALL, pack_size=1 << 20))
    big = random.Random(7).randbytes(3 << 20)
    with BlobWriter(repo=repo) as writer:
        blob_id = writer.add_blob(BLOB_TREE, big)
        writer.flush()
    reopened = Repository.open(LocalBackend(tmp_path / "repo", create=False), "pw")
    assert read_blob(reopened, blob_id) == big
