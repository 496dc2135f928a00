"""Sparse files read for a backup (sparse.py): the holes are not read, and the chunks and blob ids are
exactly those of a plain read of the same bytes (the oracle: ``iter_chunks`` over the file's bytes as
``cp --sparse=never`` makes them, hashed the same way), for holes at the start, in the middle, at the
end, a file all hole, holes smaller than a chunk, data past a large hole, random layouts, chunker
settings whose zero chunk is ``max_size`` and one whose zero chunk is shorter, and files that grow or
change their extents during the read. What was read is counted by the kernel (``rchar`` of
/proc/thread-self/io), not by drkit."""

from __future__ import annotations

import errno
import io
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from files_fixtures import SMALL_CHUNKS

from drkit.pipeline import ChunkerParams, iter_chunks
from drkit.pipeline.hashing import BlobHasher
from drkit.sources.files import fstype, sparse
from drkit.sources.files.sparse import file_chunks, zero_chunk

HASHER = BlobHasher(b"k" * 32)
TINY = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384)
SHORT_ZERO = ChunkerParams(min_size=64, avg_size=256, max_size=1024, seed=21)  # zero chunks of 79 bytes
READ = 1 << 20
MiB = 1 << 20


def _write(path: Path, size: int, data: list[tuple[int, int]], seed: int = 1) -> None:
    """A file of ``size`` bytes, holes but for ``data`` (offset, length): random bytes."""
    rng = random.Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        for off, length in data:
            f.seek(off)
            f.write(rng.randbytes(length))


def _rchar() -> int:
    with open("/proc/thread-self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def _sparse_chunks(path: Path, params: ChunkerParams, read_size: int = READ) -> tuple[list[tuple[bytes, bytes]], int]:
    """The file's chunks (their hashes: less memory) and ids as drkit reads it, and the bytes it read."""
    fd = os.open(path, os.O_RDONLY)
    try:
        before = _rchar()
        got = [(HASHER.digest(c), i) for c, i in file_chunks(fd, params, HASHER, read_size)]
        return got, _rchar() - before
    finally:
        os.close(fd)


def _plain_chunks(content: bytes, params: ChunkerParams) -> list[tuple[bytes, bytes]]:
    """The oracle: the chunker over the bytes themselves, in one stream."""
    return [(HASHER.digest(c), HASHER.digest(c)) for c in iter_chunks(io.BytesIO(content), params, read_size=READ)]


def _holes(path: Path) -> bool:
    """Whether the file system made the file sparse (it has a hole before its end)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_HOLE) < os.fstat(fd).st_size
    finally:
        os.close(fd)


LAYOUTS = {  # size, data extents
    "hole at start": (6 * MiB, [(5 * MiB, MiB)]),
    "hole in the middle": (6 * MiB, [(0, MiB), (5 * MiB, MiB)]),
    "hole at end": (6 * MiB, [(0, MiB)]),
    "all hole": (6 * MiB, []),
    "holes smaller than a chunk": (3 * MiB, [(off, 3000) for off in range(0, 3 * MiB, 12288)]),
    "data past a large hole": (24 * MiB, [(100, 5000), (23 * MiB + 17, 70_000)]),
    "unaligned data between holes": (9 * MiB, [(MiB + 1, 1), (4 * MiB - 7, 9), (8 * MiB + 4095, 2)]),
}


@pytest.mark.parametrize("params", [TINY, SHORT_ZERO, SMALL_CHUNKS, ChunkerParams()], ids=lambda p: f"max{p.max_size}")
@pytest.mark.parametrize("layout", LAYOUTS)
def test_chunks_and_ids_equal_a_plain_read(tmp_path: Path, layout: str, params: ChunkerParams) -> None:
    size, data = LAYOUTS[layout]
    path = tmp_path / "f"
    _write(path, size, data)
    if data != [] or size:
        assert _holes(path), "the test file system keeps no holes"
    got, read = _sparse_chunks(path, params)
    assert got == _plain_chunks(path.read_bytes(), params)
    allocated = os.stat(path).st_blocks * 512
    assert read <= allocated + max(READ, 2 * params.max_size) * (len(data) + 1), (read, allocated)


def test_short_zero_chunk_is_short() -> None:
    """SHORT_ZERO covers zero chunks shorter than ``max_size`` (the default's are ``max_size``)."""
    assert zero_chunk(SHORT_ZERO) < SHORT_ZERO.max_size
    assert zero_chunk(ChunkerParams()) == ChunkerParams().max_size


@pytest.mark.parametrize("seed", range(24))
def test_random_layouts(tmp_path: Path, seed: int) -> None:
    """Holes and data of every size from a byte to several chunks, at any alignment."""
    rng = random.Random(seed)
    params = rng.choice([TINY, SHORT_ZERO, SMALL_CHUNKS])
    pos, data = rng.randrange(0, 3 * params.max_size), []
    while len(data) < 12:
        length = rng.choice([1, rng.randrange(1, 5000), rng.randrange(1, 4 * params.max_size)])
        data.append((pos, length))
        pos += length + rng.choice([1, rng.randrange(1, 8192), rng.randrange(4096, 6 * params.max_size)])
    path = tmp_path / "f"
    _write(path, pos + rng.choice([0, 1, rng.randrange(1, 5 * params.max_size)]), data, seed)
    got, _ = _sparse_chunks(path, params, rng.choice([READ, 64 << 10]))
    assert got == _plain_chunks(path.read_bytes(), params)


def test_large_hole_is_not_read(tmp_path: Path) -> None:
    """1 GiB with 2 MiB of data: ~2 MiB read (before: the whole GiB), the zero chunk hashed once."""
    path = tmp_path / "f"
    _write(path, 1 << 30, [(0, MiB), (700 * MiB, MiB)])
    got, read = _sparse_chunks(path, ChunkerParams(), 8 * MiB)
    assert read < 24 * MiB
    zero = HASHER.digest(bytes(4 * MiB))
    assert sum(1 for _, i in got if i == zero) >= 250  # the holes: 4 MiB zero chunks


def _consume(chunks: Iterator[tuple[bytes, bytes]], first: int) -> list[tuple[bytes, bytes]]:
    return [(HASHER.digest(c), i) for c, i in (next(chunks) for _ in range(first))]


def _during_read(path: Path, params: ChunkerParams, change: object) -> list[tuple[bytes, bytes]]:
    """Read a few chunks, ``change`` the file, read the rest."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = file_chunks(fd, params, HASHER, 64 << 10)
        got = _consume(chunks, 3)
        assert callable(change)
        change()
        return got + [(HASHER.digest(c), i) for c, i in chunks]
    finally:
        os.close(fd)


def test_file_growing_during_the_read(tmp_path: Path) -> None:
    """Data appended past a hole at the end while the file is read is read, as a plain read would."""
    path = tmp_path / "f"
    _write(path, 4 * MiB, [(0, 100_000)])

    def grow() -> None:
        with open(path, "r+b") as f:
            f.seek(9 * MiB)
            f.write(os.urandom(50_000))

    got = _during_read(path, TINY, grow)
    assert got == _plain_chunks(path.read_bytes(), TINY)


def test_extents_changing_during_the_read(tmp_path: Path) -> None:
    """Data written into a hole ahead of the read, and a hole punched into data ahead of it: the
    snapshot holds the file's bytes after the change (nothing decided from a stale extent map)."""
    path = tmp_path / "f"
    _write(path, 8 * MiB, [(0, 100_000), (6 * MiB, MiB)])

    def change() -> None:
        with open(path, "r+b") as f:
            f.seek(3 * MiB + 5)
            f.write(os.urandom(20_000))
        subprocess.run(["fallocate", "-p", "-o", str(6 * MiB + 4096), "-l", str(512 << 10), str(path)], check=True)

    got = _during_read(path, TINY, change)
    assert got == _plain_chunks(path.read_bytes(), TINY)


def test_file_shrinking_during_the_read(tmp_path: Path) -> None:
    """Cut short in a hole: the read ends at the new end (the backup warns: its size changed)."""
    path = tmp_path / "f"
    _write(path, 8 * MiB, [(0, 100_000), (7 * MiB, 1000)])
    got = _during_read(path, TINY, lambda: os.truncate(path, 2 * MiB))
    assert got == _plain_chunks(path.read_bytes(), TINY)


def test_no_seek_hole_reads_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system refusing SEEK_HOLE (EINVAL): the file is read whole, same chunks."""
    path = tmp_path / "f"
    _write(path, 4 * MiB, [(MiB, 5000)])
    real = os.lseek

    def refusing(fd: int, pos: int, how: int) -> int:
        if how in (os.SEEK_DATA, os.SEEK_HOLE):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, pos, how)

    monkeypatch.setattr(sparse.os, "lseek", refusing)
    got, read = _sparse_chunks(path, TINY)
    assert got == _plain_chunks(path.read_bytes(), TINY)
    assert read >= 4 * MiB  # read whole


def test_a_file_system_not_trusted_with_holes_is_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sparse file on a file system whose hole map is not trusted (ZFS, NFS, FUSE, SMB...; here the
    test's own file system taken off the list): read whole, same chunks as a plain read."""
    path = tmp_path / "f"
    _write(path, 12 * MiB, [(MiB, 5000), (9 * MiB, 7000)])
    _, skipped = _sparse_chunks(path, TINY)
    assert skipped < 2 * MiB  # trusted (ext4 or tmpfs here): the holes were not read
    monkeypatch.setattr(sparse, "HOLES_TRUSTED", frozenset())
    got, read = _sparse_chunks(path, TINY)
    assert got == _plain_chunks(path.read_bytes(), TINY)
    assert read >= 12 * MiB  # read whole


@pytest.mark.parametrize(("kind", "magic", "trusted"), [("tmpfs", 0x01021994, True), ("ramfs", 0x858458F6, False)])
def test_the_fs_type_is_read_from_the_descriptor(tmp_path: Path, kind: str, magic: int, trusted: bool) -> None:
    """``fs_type`` (fstatfs through ctypes) names the file system a descriptor is on: a real mount of each."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", kind, "-o", "size=8m", kind, str(mnt)], check=True, capture_output=True)
    try:
        fd = os.open(mnt, os.O_RDONLY)
        try:
            assert fstype.fs_type(fd) == magic
            assert (fstype.fs_type(fd) in sparse.HOLES_TRUSTED) is trusted
        finally:
            os.close(fd)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        assert fstype.fs_type(fd) in sparse.HOLES_TRUSTED  # the tests' own temp dir: ext4 or tmpfs
    finally:
        os.close(fd)


def test_a_device_number_reused_by_another_file_system_is_asked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anonymous device numbers (tmpfs, overlayfs, btrfs, NFS, FUSE, ZFS: 0:N) are handed out again once a
    file system is unmounted. A long-lived process (the scheduler's daemon runs backups in-process) that
    met a tmpfs as 0:N must not trust the holes of the file system mounted as 0:N after it (a ramfs here,
    not trusted: a ZFS, NFS or FUSE mount alike)."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], check=True, capture_output=True)
    try:
        dev = os.stat(mnt).st_dev
        _write(mnt / "f", 4 * MiB, [(MiB, 5000)])
        _, read = _sparse_chunks(mnt / "f", TINY)
        assert read < MiB  # tmpfs: trusted, the holes were skipped
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    subprocess.run(["mount", "-t", "ramfs", "-o", "size=16m", "ramfs", str(mnt)], check=True, capture_output=True)
    try:
        if os.stat(mnt).st_dev != dev:
            pytest.skip("the device number was not handed out again (another mount took it)")
        _write(mnt / "f", 4 * MiB, [(MiB, 5000)])
        asked: list[int] = []
        real = os.lseek

        def noting(fd: int, pos: int, how: int) -> int:
            if how in (os.SEEK_DATA, os.SEEK_HOLE):
                asked.append(how)
            return real(fd, pos, how)

        monkeypatch.setattr(sparse.os, "lseek", noting)
        got, _ = _sparse_chunks(mnt / "f", TINY)
        assert got == _plain_chunks((mnt / "f").read_bytes(), TINY)
        assert asked == []  # ramfs is not trusted with holes: not asked for them
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
