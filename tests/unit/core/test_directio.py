"""DirectWriter: a file written with O_DIRECT from unaligned pieces in any order, from threads."""

from __future__ import annotations

import errno
import os
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from drkit.core import directio
from drkit.core.directio import BLOCK, DirectWriter, open_direct

SEGMENT = 4 * BLOCK


def _pieces(data: bytes, seed: int) -> list[tuple[int, bytes]]:
    """``data`` cut at random (unaligned) places, shuffled."""
    rng = random.Random(seed)
    cuts = sorted({0, len(data), *(rng.randrange(len(data)) for _ in range(40))})
    pieces = [(a, data[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    rng.shuffle(pieces)
    return pieces


def _open(path: Path) -> int:
    fd = open_direct(path)
    if fd is None:
        pytest.skip(f"{path.parent} does not take O_DIRECT")
    return fd


@pytest.mark.parametrize("size", [0, 1, BLOCK - 1, SEGMENT, 3 * SEGMENT + 5, 5 * SEGMENT - BLOCK + 17])
def test_any_order_from_threads_gives_the_same_bytes(tmp_path: Path, size: int) -> None:
    data = random.Random(size).randbytes(size)
    path = tmp_path / "out"
    fd = _open(path)
    try:
        writer = DirectWriter(fd, segment=SEGMENT)
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda p: writer.write(p[1], p[0]), _pieces(data, size) if size else []))
        writer.finish(size)
    finally:
        os.close(fd)
    assert path.read_bytes() == data


def test_missing_bytes_are_refused(tmp_path: Path) -> None:
    fd = _open(tmp_path / "out")
    try:
        writer = DirectWriter(fd, segment=SEGMENT)
        writer.write(b"x" * 100, 0)
        writer.write(b"y" * 100, 200)  # 100..200 never written
        with pytest.raises(ValueError, match="missing"):
            writer.finish(300)
    finally:
        writer.close()
        os.close(fd)


def test_a_file_system_refusing_direct_writes_gets_buffered_ones(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system may take the O_DIRECT open yet refuse the write with EINVAL: the writer then
    turns O_DIRECT off for the file and writes the same segment again."""
    real = directio.pwrite_all
    refused: list[int] = []

    def pwrite_all(fd: int, data: memoryview, offset: int) -> None:
        import fcntl

        if fcntl.fcntl(fd, fcntl.F_GETFL) & directio.O_DIRECT:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        real(fd, data, offset)

    monkeypatch.setattr(directio, "pwrite_all", pwrite_all)
    data = random.Random(1).randbytes(2 * SEGMENT + 99)
    path = tmp_path / "out"
    fd = _open(path)
    try:
        writer = DirectWriter(fd, segment=SEGMENT)
        for offset, piece in _pieces(data, 7):
            writer.write(piece, offset)
        writer.finish(len(data))
    finally:
        os.close(fd)
    assert path.read_bytes() == data
    assert len(refused) == 1 and not writer.direct


def test_a_failing_write_stops_the_writes_after_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, data: memoryview, offset: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(directio, "pwrite_all", full)
    fd = _open(tmp_path / "out")
    try:
        writer = DirectWriter(fd, segment=SEGMENT)
        with pytest.raises(OSError) as info:
            for i in range(directio.IN_FLIGHT + 3):
                writer.write(bytes(SEGMENT), i * SEGMENT)
            writer.finish((directio.IN_FLIGHT + 3) * SEGMENT)
        assert info.value.errno == errno.ENOSPC
    finally:
        writer.close()
        os.close(fd)
