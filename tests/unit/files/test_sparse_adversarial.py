"""Adversarial layouts and races for sparse reads (sparse.py), against the real chunker over the real bytes.

- Extent edges placed where the zero-chunk shortcut decides: at multiples of the zero chunk's length, at
  ``max_size`` after them, a byte or a block either side; chunker settings whose zero chunk is
  ``max_size``, shorter, or ``min_size == max_size``; on the test file system and on tmpfs. The oracle:
  FastCDC over the whole file read into memory (``chunk_buffer``), not ``iter_chunks``.
- A writer thread filling holes while the file is read, each region written once with its final bytes:
  every byte the read gives is either a hole's zero or the region's final byte, and no region that held
  data before the read began comes back as anything but its data (no zeros where data was).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from drkit.pipeline import ChunkerParams, chunk_buffer
from drkit.pipeline.hashing import BlobHasher
from drkit.sources.files.sparse import file_chunks, zero_chunk

HASHER = BlobHasher(b"a" * 32)
BLOCK = 4096
SHM = Path("/dev/shm")


@pytest.fixture(params=["tmp", "tmpfs"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    if request.param == "tmp":
        yield tmp_path
        return
    if not SHM.is_dir() or not os.access(SHM, os.W_OK):
        pytest.skip("no writable /dev/shm")
    d = Path(tempfile.mkdtemp(prefix="drkit-sparse-", dir=SHM))
    try:
        yield d
    finally:
        shutil.rmtree(d)


def _params(rng: random.Random) -> ChunkerParams:
    return rng.choice(
        [
            ChunkerParams(min_size=1024, avg_size=4096, max_size=16384),
            ChunkerParams(min_size=64, avg_size=256, max_size=1024, seed=21),  # zero chunk shorter than max
            ChunkerParams(min_size=64, avg_size=1024, max_size=8192, seed=rng.randrange(1 << 63)),
            ChunkerParams(min_size=4096, avg_size=4096, max_size=4096, seed=rng.randrange(1 << 63)),
            ChunkerParams(min_size=16 << 10, avg_size=64 << 10, max_size=256 << 10, seed=rng.randrange(1 << 63)),
        ]
    )


@pytest.mark.parametrize("seed", range(40))
def test_extent_edges_at_the_zero_chunk_cuts(where: Path, seed: int) -> None:
    rng = random.Random(seed)
    params = _params(rng)
    z, m = zero_chunk(params), params.max_size
    edges = sorted(
        {
            base + d
            for k in range(6)
            for base in (k * z, k * z + m, k * m)
            for d in (-BLOCK, -1, 0, 1, BLOCK)
            if base + d >= 0
        }
    )
    data, size = [], 0
    for _ in range(rng.randrange(0, 8)):
        off = rng.choice(edges)
        length = rng.choice([1, BLOCK - 1, BLOCK, BLOCK + 1, z, m, rng.randrange(1, 3 * m)])
        data.append((off, length))
        size = max(size, off + length)
    size = max(1, rng.choice([size, size + 1, size + z, size + m, size + rng.randrange(0, 4 * m)]))
    path = where / f"f{seed}"
    with open(path, "wb") as f:
        f.truncate(size)
        for off, length in data:
            f.seek(off)
            f.write(rng.randbytes(length))
    fd = os.open(path, os.O_RDONLY)
    try:
        got = [(HASHER.digest(c), i) for c, i in file_chunks(fd, params, HASHER, rng.choice([64 << 10, 1 << 20]))]
    finally:
        os.close(fd)
    want = [HASHER.digest(bytes(c)) for c in chunk_buffer(path.read_bytes(), params)]
    assert [c for c, _ in got] == want
    assert [i for _, i in got] == want


@pytest.mark.parametrize("seed", range(12))
def test_holes_filled_during_the_read_never_lose_data(where: Path, seed: int) -> None:
    rng = random.Random(seed)
    params = rng.choice([ChunkerParams(min_size=1024, avg_size=4096, max_size=16384), _params(rng)])
    size = rng.randrange(1 << 20, 6 << 20)
    regions = sorted(rng.sample(range(size // BLOCK), 150))
    final = {r: rng.randbytes(BLOCK) for r in regions}
    before = set(rng.sample(regions, 40))
    path = where / f"r{seed}"
    with open(path, "wb") as f:
        f.truncate(size)
        for r in before:
            f.seek(r * BLOCK)
            f.write(final[r])
    later = [r for r in regions if r not in before]
    rng.shuffle(later)
    start = threading.Event()

    def writer() -> None:
        wfd = os.open(path, os.O_WRONLY)
        try:
            start.wait()
            for r in later:
                os.pwrite(wfd, final[r], r * BLOCK)
        finally:
            os.close(wfd)

    thread = threading.Thread(target=writer)
    thread.start()
    fd = os.open(path, os.O_RDONLY)
    out = bytearray()
    try:
        start.set()
        for chunk, blob_id in file_chunks(fd, params, HASHER, rng.choice([64 << 10, 1 << 20])):
            assert blob_id == HASHER.digest(chunk)
            out += chunk
    finally:
        os.close(fd)
        thread.join()
    assert len(out) == size
    for r in regions:
        got = bytes(out[r * BLOCK : (r + 1) * BLOCK])
        if r in before:
            assert got == final[r], f"data present before the read lost at block {r}"
        else:
            assert all(b in (0, f) for b, f in zip(got, final[r], strict=True)), f"foreign bytes at block {r}"
    holes = set(range(size // BLOCK)) - set(regions)
    assert not any(any(out[h * BLOCK : (h + 1) * BLOCK]) for h in holes)


def test_data_one_byte_short_of_max_size_after_a_chunk_start(where: Path) -> None:
    """A chunk starting in a hole ``max_size - 1`` bytes before data: its cut depends on the data's first
    byte (FastCDC hashes the byte at ``max_size - 1``), so it is no zero chunk. Built so that it matters:
    these settings' zero chunk is ``max_size``, yet here the chunker cuts at ``max_size - 1``."""
    params = ChunkerParams(min_size=64, avg_size=256, max_size=1024, seed=1)
    assert zero_chunk(params) == params.max_size
    head = random.Random(1373).randbytes(BLOCK)  # found by search: a chunk starts at 7169 (in the hole)
    content = head + bytes(BLOCK) + bytes([185]) + random.Random(2).randbytes(5000)
    want = [bytes(c) for c in chunk_buffer(content, params)]
    starts = [sum(len(c) for c in want[:n]) for n in range(len(want))]
    at = starts.index(2 * BLOCK - (params.max_size - 1))  # the case: max_size - 1 zeros, then data
    assert len(want[at]) == params.max_size - 1
    path = where / "f"
    with open(path, "wb") as f:
        f.write(head)
        f.seek(2 * BLOCK)
        f.write(content[2 * BLOCK :])
    fd = os.open(path, os.O_RDONLY)
    try:
        assert os.lseek(fd, BLOCK, os.SEEK_DATA) == 2 * BLOCK, "the file system keeps no hole"
        got = [c for c, _ in file_chunks(fd, params, HASHER, 64 << 10)]
    finally:
        os.close(fd)
    assert got == want
