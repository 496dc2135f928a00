"""DirectWriter: files written with O_DIRECT from unaligned pieces in any order, from threads;
holes left unwritten; a file system refusing direct writes; a failing device."""

from __future__ import annotations

import errno
import fcntl
import os
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from refusing_fs import RefusingFcntl

from drkit.core import directio
from drkit.core.directio import BLOCK, DirectPool, DirectWriter, open_direct

SEGMENT = 4 * BLOCK


@pytest.fixture
def pool() -> Iterator[DirectPool]:
    with DirectPool(SEGMENT, threads=2) as p:
        yield p


def _pieces(data: bytes, seed: int) -> list[tuple[int, bytes]]:
    """``data`` cut at random (unaligned) places, shuffled."""
    rng = random.Random(seed)
    cuts = sorted({0, len(data), *(rng.randrange(len(data)) for _ in range(40))})
    pieces = [(a, data[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    rng.shuffle(pieces)
    return pieces


def _open(path: Path) -> int:
    fd, direct = open_direct(path)
    if not direct:
        os.close(fd)
        pytest.skip(f"{path.parent} does not take O_DIRECT")
    return fd


@pytest.mark.parametrize("size", [0, 1, BLOCK - 1, SEGMENT, 3 * SEGMENT + 5, 5 * SEGMENT - BLOCK + 17])
def test_any_order_from_threads_gives_the_same_bytes(tmp_path: Path, pool: DirectPool, size: int) -> None:
    data = random.Random(size).randbytes(size)
    path = tmp_path / "out"
    fd = _open(path)
    try:
        writer = DirectWriter(fd, pool)
        with ThreadPoolExecutor(3) as threads:
            list(threads.map(lambda p: writer.write(p[1], p[0]), _pieces(data, size) if size else []))
        writer.finish(size)
    finally:
        os.close(fd)
    assert path.read_bytes() == data


def test_holes_read_as_zeros_and_an_all_hole_segment_stays_unallocated(tmp_path: Path, pool: DirectPool) -> None:
    size = 6 * SEGMENT + 100
    data = bytearray(random.Random(2).randbytes(size))
    holes = [(100, 900), (2 * SEGMENT, 3 * SEGMENT), (3 * SEGMENT, 4 * SEGMENT + 7), (6 * SEGMENT, size)]
    for start, end in holes:
        data[start:end] = bytes(end - start)
    path = tmp_path / "out"
    fd = _open(path)
    try:
        writer = DirectWriter(fd, pool)
        edges = sorted({0, size, *(e for h in holes for e in h)})
        for start, end in zip(edges, edges[1:], strict=False):
            if (start, end) in holes:
                writer.hole(start, end - start)
            else:
                writer.write(data[start:end], start)
        writer.finish(size)
    finally:
        os.close(fd)
    assert path.read_bytes() == data
    # segments 2 and the tail were never written: the file holds fewer blocks than its size needs
    assert path.stat().st_blocks * 512 <= size - 2 * SEGMENT


def test_a_reused_buffer_leaves_no_stale_bytes_in_holes(tmp_path: Path) -> None:
    with DirectPool(SEGMENT, threads=1, in_flight=1) as one_buffer:
        first, second = tmp_path / "a", tmp_path / "b"
        for path, fill in ((first, b"\xff"), (second, None)):
            fd = _open(path)
            try:
                writer = DirectWriter(fd, one_buffer)
                if fill:
                    writer.write(fill * SEGMENT, 0)
                else:
                    writer.write(b"x" * 10, 0)
                    writer.hole(10, SEGMENT - 10)
                writer.finish(SEGMENT)
            finally:
                os.close(fd)
    assert second.read_bytes() == b"x" * 10 + bytes(SEGMENT - 10)


def test_missing_bytes_are_refused(tmp_path: Path, pool: DirectPool) -> None:
    fd = _open(tmp_path / "out")
    writer = DirectWriter(fd, pool)
    try:
        writer.write(b"x" * 100, 0)
        writer.write(b"y" * 100, 200)  # 100..200 never placed
        with pytest.raises(ValueError, match="missing"):
            writer.finish(300)
    finally:
        writer.close()
        os.close(fd)


def test_a_file_system_refusing_direct_writes_gets_buffered_ones(tmp_path: Path, pool: DirectPool,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system may take the O_DIRECT open yet refuse the write with EINVAL: the writer then
    turns O_DIRECT off for the file and writes the same segment again."""
    real = directio.pwrite_all
    refused: list[int] = []

    def pwrite_all(fd: int, data: memoryview, offset: int) -> None:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & directio.O_DIRECT:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        real(fd, data, offset)

    monkeypatch.setattr(directio, "pwrite_all", pwrite_all)
    data = random.Random(1).randbytes(2 * SEGMENT + 99)
    path = tmp_path / "out"
    fd = _open(path)
    try:
        writer = DirectWriter(fd, pool)
        for offset, piece in _pieces(data, 7):
            writer.write(piece, offset)
        writer.finish(len(data))
    finally:
        os.close(fd)
    assert path.read_bytes() == data
    assert refused and not writer.direct  # one refusal per writing thread at most
    assert len(refused) <= 2


def test_a_failing_write_stops_the_writes_after_it(tmp_path: Path, pool: DirectPool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, data: memoryview, offset: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(directio, "pwrite_all", full)
    fd = _open(tmp_path / "out")
    writer = DirectWriter(fd, pool)
    try:
        with pytest.raises(OSError) as info:
            for i in range(directio.IN_FLIGHT + 3):
                writer.write(bytes(SEGMENT), i * SEGMENT)
            writer.finish((directio.IN_FLIGHT + 3) * SEGMENT)
        assert info.value.errno == errno.ENOSPC
    finally:
        writer.close()
        os.close(fd)


def test_a_file_system_refusing_o_direct_gets_one_plain_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flag is turned on after the open, so a refusal leaves the one file just created (with
    O_EXCL too), open for buffered writes."""
    monkeypatch.setattr(directio, "fcntl", RefusingFcntl)
    path = tmp_path / "out"
    fd, direct = open_direct(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        assert not direct
        os.write(fd, b"buffered")
    finally:
        os.close(fd)
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and path.read_bytes() == b"buffered"


def test_a_write_failing_while_others_are_checked_is_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A queued write that fails just as the next segment is queued must still fail ``finish``
    (it was once dropped from the list unseen, and the file kept a segment of zeros)."""
    real = directio.pwrite_all
    release = threading.Event()

    def pwrite_all(fd: int, data: memoryview, offset: int) -> None:
        if offset == 0:
            release.wait(10)
            raise OSError(errno.EIO, "Input/output error")
        real(fd, data, offset)

    monkeypatch.setattr(directio, "pwrite_all", pwrite_all)
    with DirectPool(SEGMENT, threads=2) as pool:
        fd = _open(tmp_path / "out")
        writer = DirectWriter(fd, pool)
        try:
            writer.write(b"\x01" * SEGMENT, 0)  # queued; fails once released
            release.set()
            for i in range(1, 50):  # queue more while it fails, so some _queue looks at it mid-way
                writer.write(b"\x02" * SEGMENT, i * SEGMENT)
            with pytest.raises(OSError) as info:
                writer.finish(50 * SEGMENT)
            assert info.value.errno == errno.EIO
        except OSError as exc:  # raised already while queueing: as good
            assert exc.errno == errno.EIO
        finally:
            writer.close()
            os.close(fd)


def test_finish_raises_only_once_no_write_of_the_file_is_queued(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller closes the descriptor when ``finish`` raises: a write still queued then would land
    in whatever file reuses the descriptor number."""
    real = directio.pwrite_all
    finished: list[int] = []

    def pwrite_all(fd: int, data: memoryview, offset: int) -> None:
        if offset == 0:
            time.sleep(0.05)  # fails once the next segment is queued
            raise OSError(errno.ENOSPC, "No space left on device")
        time.sleep(0.3)  # the other segment's write is slow
        real(fd, data, offset)
        finished.append(offset)

    monkeypatch.setattr(directio, "pwrite_all", pwrite_all)
    with DirectPool(SEGMENT, threads=2) as pool:
        fd = _open(tmp_path / "out")
        writer = DirectWriter(fd, pool)
        try:
            writer.write(b"a" * SEGMENT, 0)
            writer.write(b"b" * SEGMENT, SEGMENT)
            with pytest.raises(OSError):
                writer.finish(2 * SEGMENT)
            assert finished == [SEGMENT]  # the slow write ended before finish raised
        finally:
            os.close(fd)
