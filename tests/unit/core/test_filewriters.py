"""File writers: O_DIRECT files written from unaligned pieces in any order, from threads; holes
left unwritten; a file system refusing direct I/O gets a plain writer; a failing device."""

from __future__ import annotations

import errno
import fcntl
import os
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from refusing_fs import RefusingFcntl

from drkit.core import filewriters
from drkit.core.filewriters import BLOCK, DirectPool, DirectWriter, PlainWriter, open_writer

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


_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


def _open(path: Path, pool: DirectPool) -> DirectWriter:
    writer = open_writer(path, _FLAGS, 0o644, pool=pool)
    if not isinstance(writer, DirectWriter):
        writer.close()
        pytest.skip(f"{path.parent} does not take O_DIRECT")
    return writer


@pytest.mark.parametrize("size", [0, 1, BLOCK - 1, SEGMENT, 3 * SEGMENT + 5, 5 * SEGMENT - BLOCK + 17])
def test_any_order_from_threads_gives_the_same_bytes(tmp_path: Path, pool: DirectPool, size: int) -> None:
    data = random.Random(size).randbytes(size)
    path = tmp_path / "out"
    writer = _open(path, pool)
    try:
        with ThreadPoolExecutor(3) as threads:
            list(threads.map(lambda p: writer.write(p[1], p[0]), _pieces(data, size) if size else []))
        writer.finish(size)
    finally:
        writer.close()
    assert path.read_bytes() == data


def test_holes_read_as_zeros_and_an_all_hole_segment_stays_unallocated(tmp_path: Path, pool: DirectPool) -> None:
    size = 6 * SEGMENT + 100
    data = bytearray(random.Random(2).randbytes(size))
    holes = [(100, 900), (2 * SEGMENT, 3 * SEGMENT), (3 * SEGMENT, 4 * SEGMENT + 7), (6 * SEGMENT, size)]
    for start, end in holes:
        data[start:end] = bytes(end - start)
    path = tmp_path / "out"
    writer = _open(path, pool)
    try:
        edges = sorted({0, size, *(e for h in holes for e in h)})
        for start, end in zip(edges, edges[1:], strict=False):
            if (start, end) in holes:
                writer.hole(start, end - start)
            else:
                writer.write(data[start:end], start)
        writer.finish(size)
    finally:
        writer.close()
    assert path.read_bytes() == data
    # segments 2 and the tail were never written: the file holds fewer blocks than its size needs
    assert path.stat().st_blocks * 512 <= size - 2 * SEGMENT


def test_a_reused_buffer_leaves_no_stale_bytes_in_holes(tmp_path: Path) -> None:
    with DirectPool(SEGMENT, threads=1, in_flight=1) as one_buffer:
        first, second = tmp_path / "a", tmp_path / "b"
        for path, fill in ((first, b"\xff"), (second, None)):
            writer = _open(path, one_buffer)
            try:
                if fill:
                    writer.write(fill * SEGMENT, 0)
                else:
                    writer.write(b"x" * 10, 0)
                    writer.hole(10, SEGMENT - 10)
                writer.finish(SEGMENT)
            finally:
                writer.close()
    assert second.read_bytes() == b"x" * 10 + bytes(SEGMENT - 10)


def test_missing_bytes_are_refused(tmp_path: Path, pool: DirectPool) -> None:
    writer = _open(tmp_path / "out", pool)
    try:
        writer.write(b"x" * 100, 0)
        writer.write(b"y" * 100, 200)  # 100..200 never placed
        with pytest.raises(ValueError, match="missing"):
            writer.finish(300)
    finally:
        writer.close()


def test_a_file_system_refusing_direct_writes_gets_buffered_ones(
    tmp_path: Path, pool: DirectPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system may take the O_DIRECT open yet refuse the write with EINVAL: the writer then
    turns O_DIRECT off for the file and writes the same segment again."""
    real = filewriters.pwrite_all
    refused: list[int] = []

    def pwrite_all(fd: int, data: memoryview, offset: int) -> None:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & filewriters.O_DIRECT:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        real(fd, data, offset)

    monkeypatch.setattr(filewriters, "pwrite_all", pwrite_all)
    data = random.Random(1).randbytes(2 * SEGMENT + 99)
    path = tmp_path / "out"
    writer = _open(path, pool)
    try:
        for offset, piece in _pieces(data, 7):
            writer.write(piece, offset)
        writer.finish(len(data))
    finally:
        writer.close()
    assert path.read_bytes() == data
    assert refused and not writer.direct  # one refusal per writing thread at most
    assert len(refused) <= 2


def test_a_failing_write_stops_the_writes_after_it(
    tmp_path: Path, pool: DirectPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full device is reported while the restore still hands out segments, not only at ``finish``."""
    tried: list[int] = []

    def full(fd: int, data: memoryview, offset: int) -> None:
        tried.append(offset)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(filewriters, "pwrite_all", full)
    writer = _open(tmp_path / "out", pool)
    try:
        with pytest.raises(OSError) as info:
            for i in range(50):
                writer.write(bytes(SEGMENT), i * SEGMENT)
        assert info.value.errno == errno.ENOSPC
        assert len(tried) < 50  # the writes stopped early
    finally:
        writer.close()


def test_a_file_system_refusing_o_direct_gets_a_plain_writer_and_one_file(
    tmp_path: Path, pool: DirectPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flag is turned on after the open, so a refusal leaves the one file just created (with
    O_EXCL too), written through the page cache with the same calls."""
    monkeypatch.setattr(filewriters, "fcntl", RefusingFcntl)
    path = tmp_path / "out"
    writer = open_writer(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, pool=pool)
    try:
        assert isinstance(writer, PlainWriter)
        writer.write(b"buffered", 0)
        writer.hole(8, 100)
        writer.finish(108)
    finally:
        writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and path.read_bytes() == b"buffered" + bytes(100)


class _FailsWhileLookedAt:
    """A queued write that is not done at the first look and done, failed, at any later one: what a
    real write failing while ``_queue`` goes through the queue looks like."""

    def __init__(self) -> None:
        self.looks = 0

    def done(self) -> bool:
        self.looks += 1
        return self.looks > 1

    def exception(self, timeout: float | None = None) -> BaseException:
        return OSError(errno.EIO, "Input/output error")


def test_a_write_failing_while_the_queue_is_looked_at_is_not_lost(tmp_path: Path, pool: DirectPool) -> None:
    """Such a write was once dropped from the queue unseen (two looks at ``done``), and ``finish``
    succeeded with a segment of zeros in the file."""
    writer = _open(tmp_path / "out", pool)
    try:
        writer._writes.append(_FailsWhileLookedAt())  # type: ignore[arg-type]
        writer.write(b"x" * SEGMENT, 0)  # queues a segment: one look at the queue
        with pytest.raises(OSError) as info:
            writer.finish(SEGMENT)
        assert info.value.errno == errno.EIO
    finally:
        writer.close()


def test_finish_raises_only_once_no_write_of_the_file_is_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller closes the descriptor when ``finish`` raises: a write still queued then would land
    in whatever file reuses the descriptor number."""
    real = filewriters.pwrite_all
    finished: list[int] = []

    def pwrite_all(fd: int, data: memoryview, offset: int) -> None:
        if offset == 0:
            time.sleep(0.05)  # fails once the next segment is queued
            raise OSError(errno.ENOSPC, "No space left on device")
        time.sleep(0.3)  # the other segment's write is slow
        real(fd, data, offset)
        finished.append(offset)

    monkeypatch.setattr(filewriters, "pwrite_all", pwrite_all)
    with DirectPool(SEGMENT, threads=2) as pool:
        writer = _open(tmp_path / "out", pool)
        try:
            writer.write(b"a" * SEGMENT, 0)
            writer.write(b"b" * SEGMENT, SEGMENT)
            with pytest.raises(OSError):
                writer.finish(2 * SEGMENT)
            assert finished == [SEGMENT]  # the slow write ended before finish raised
        finally:
            writer.close()
