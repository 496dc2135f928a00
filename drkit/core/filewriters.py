"""New files written from pieces that arrive in any order, on any thread: ``open_writer`` gives a
``DirectWriter`` where the file system takes ``O_DIRECT``, else a ``PlainWriter``, with the same
calls (``write``, ``hole``, ``complete_to``, ``finish``, ``close``), so the restores do not branch;
the writer owns its descriptor, so ``close`` both waits for the writes and closes it, in that order.

A restore writes every byte to the device anyway. Buffered writes first copy each page into the
page cache, which on a VM whose free memory is handed back to the host (these machines) costs a
host fault per page: 1 GiB took 1.7-2.3 s of system time, while ``O_DIRECT`` moved it in 0.4 s with
0.1 s of CPU. Direct writes also leave the page cache to the programs that run on the restored
host, and make a closing fsync cheap.

``O_DIRECT`` wants block-aligned buffers, offsets and lengths; a restore's pieces (blobs) are not.
So a file is cut into aligned segments: each piece is copied into the (page-aligned,
anonymous-mmap) buffer of the segment(s) it falls into, and a segment once complete is written out
by a writing thread of the ``DirectPool`` (a direct write waits for the device: on the copying
thread it stalled the decryption). At most ``in_flight`` complete segments wait for those threads;
a copy that completes one more waits. A range declared a ``hole`` is not copied: a segment that is
all hole is not written at all, and the whole blocks of a hole of ``MIN_SKIP`` bytes or more in a
segment that also holds data are skipped (``data_extents``), so the file stays sparse there. ``finish`` writes the last,
partial segment padded to a block and truncates the file to its size. Every byte must be placed
once.

Where the file system refuses ``O_DIRECT`` (EINVAL when ``open_writer`` turns it on, or at a
write), the file is written buffered: slower here, never wrong.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache, cached_property
from types import TracebackType
from typing import Protocol

from .fileio import pwrite_all

SEGMENT = 8 << 20
DIRECT_FROM = 1 << 20  # the restores write files this large with O_DIRECT (smaller ones: plain writes)
IN_FLIGHT = 4
BLOCK = 4096  # the largest logical block size O_DIRECT asks alignment to in practice
MIN_SKIP = 64 << 10  # zero runs inside a direct segment left unwritten from this length (and at the end)
O_DIRECT: int = getattr(os, "O_DIRECT", 0)
WRITEBACK_STEP = 32 << 20
_SYNC_FILE_RANGE_WRITE = 2


class FileWriter(Protocol):
    """What a restore calls to fill a new file (thread-safe ``write`` and ``hole``). The writer owns
    the descriptor ``fd`` (for the caller's fchmod, utime, fsync) and ``close`` closes it."""

    fd: int

    def write(self, data: bytes | memoryview, offset: int) -> None: ...

    def hole(self, offset: int, length: int) -> None: ...

    def complete_to(self, end: int) -> None: ...

    def finish(self, size: int) -> None: ...

    def close(self) -> None: ...


class DirectPool:
    """What the direct writers of one restore share: the writing threads, the bound on segments
    waiting for them, and the free segment buffers. A context manager (closing waits for the threads)."""

    def __init__(self, segment: int | None = None, *, threads: int = 1, in_flight: int = IN_FLIGHT) -> None:
        self.segment = segment or SEGMENT
        if self.segment % BLOCK:
            raise ValueError(f"segment size must be a multiple of {BLOCK}")
        self.in_flight = in_flight
        self.slots = threading.BoundedSemaphore(in_flight)
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="drkit-direct")
        self._free: list[mmap.mmap] = []
        self._lock = threading.Lock()

    def buffer(self) -> mmap.mmap:
        with self._lock:
            if self._free:
                return self._free.pop()
        return mmap.mmap(-1, self.segment)  # page-aligned

    def give_back(self, buf: mmap.mmap) -> None:
        """Keep ``buf`` for reuse, up to ``in_flight`` of them (memory returns to the system beyond)."""
        with self._lock:
            if len(self._free) < self.in_flight:
                self._free.append(buf)

    @cached_property
    def zeros(self) -> memoryview:
        """A segment of zeros, for holes and padding."""
        return memoryview(bytes(self.segment))

    def close(self) -> None:
        self.executor.shutdown(wait=True)  # no thread was started if no segment was written

    def __enter__(self) -> DirectPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


@dataclass
class _Segment:
    buf: mmap.mmap | None = None  # taken on the first data, so an all-hole segment never needs one
    placed: int = 0  # bytes placed, data or hole
    holes: list[tuple[int, int]] = field(default_factory=list)  # (start, end) within the segment


class DirectWriter:
    """Thread-safe ``write(data, offset)`` / ``hole(offset, length)`` into one ``O_DIRECT`` file
    descriptor; then ``finish(size)``, and always ``close()``."""

    def __init__(self, fd: int, pool: DirectPool) -> None:
        self.fd, self.pool, self.segment = fd, pool, pool.segment
        self._segments: dict[int, _Segment] = {}
        self._lock = threading.Lock()
        self._writes: list[Future[None]] = []
        self.direct = True
        self._closed = False

    def write(self, data: bytes | memoryview, offset: int) -> None:
        """Place ``data`` at ``offset``; queues every segment this completes."""
        view = memoryview(data)
        while view:
            index, start = divmod(offset, self.segment)
            n = min(len(view), self.segment - start)
            buf = self._buffer_of(index)
            buf[start : start + n] = view[:n]  # each byte range has one writer: no lock for the copy
            self._placed(index, n)
            view, offset = view[n:], offset + n

    def hole(self, offset: int, length: int) -> None:
        """Declare ``length`` zero bytes at ``offset``, left unwritten where a whole segment is zero."""
        while length:
            index, start = divmod(offset, self.segment)
            n = min(length, self.segment - start)
            with self._lock:
                self._segments.setdefault(index, _Segment()).holes.append((start, start + n))
            self._placed(index, n)
            offset, length = offset + n, length - n

    def finish(self, size: int) -> None:
        """Write the partial last segment, wait for every write of this file, cut the file to
        ``size``; call once every byte is placed. Raises the first write's error, but only once no
        write of this file is queued any more."""
        try:
            index, tail = divmod(size, self.segment)
            seg = self._segments.pop(index, None) if tail else None
            if self._segments or (tail and (seg is None or seg.placed != tail)):
                raise ValueError("DirectWriter.finish: bytes are missing before the end of the file")
            if seg is not None:
                self._queue(seg, index, -(-tail // BLOCK) * BLOCK)
        except BaseException:
            self._drain()
            raise
        failure = self._drain()
        if failure is not None:
            raise failure
        os.ftruncate(self.fd, size)

    def close(self) -> None:
        """Wait for every queued write of this file (after a failure: their errors do not matter
        then), then close the descriptor; once."""
        self._drain()
        if not self._closed:
            self._closed = True
            os.close(self.fd)

    def complete_to(self, end: int) -> None:
        """Nothing to start: complete segments are written as they complete."""

    def _drain(self) -> BaseException | None:
        """Wait for every queued write; the first error among them, if any."""
        with self._lock:
            writes, self._writes = self._writes, []
        errors = [f.exception() for f in writes]
        return next((e for e in errors if e is not None), None)

    def _buffer_of(self, index: int) -> mmap.mmap:
        with self._lock:
            seg = self._segments.setdefault(index, _Segment())
            if seg.buf is None:
                seg.buf = self.pool.buffer()
            return seg.buf

    def _placed(self, index: int, n: int) -> None:
        with self._lock:
            seg = self._segments[index]
            seg.placed += n
            done = seg.placed == self.segment
            if done:
                del self._segments[index]
        if done:
            self._queue(seg, index, self.segment)

    def _queue(self, seg: _Segment, index: int, length: int) -> None:
        """Zero the segment's holes and queue its write (waiting while ``in_flight`` are queued);
        an all-hole segment is not written. Raises an earlier write's error instead, so a failing
        device stops the restore early."""
        buf = seg.buf
        if buf is None:
            return
        zeros = self.pool.zeros
        for start, end in seg.holes:
            buf[start:end] = zeros[: end - start]
        buf[seg.placed : length] = zeros[: length - seg.placed]  # the padding of a last segment
        extents = data_extents(seg.holes, seg.placed, length)
        self.pool.slots.acquire()
        try:
            with self._lock:
                done = [f for f in self._writes if f.done()]  # one look: a write failing meanwhile stays listed
                failed = next((e for e in (f.exception() for f in done) if e is not None), None)
                self._writes = [f for f in self._writes if f not in done]
                if failed is None:
                    self._writes.append(self.pool.executor.submit(self._write_out, buf, extents, index * self.segment))
        except BaseException:
            self.pool.slots.release()
            raise
        if failed is not None:
            self.pool.slots.release()
            self.pool.give_back(buf)
            raise failed

    def _write_out(self, buf: mmap.mmap, extents: list[tuple[int, int]], offset: int) -> None:
        try:
            with memoryview(buf) as whole:
                for start, end in extents:
                    part = whole[start:end]
                    try:
                        pwrite_all(self.fd, part, offset + start)
                    except OSError as exc:
                        if exc.errno != errno.EINVAL:
                            raise
                        self._go_buffered()  # (or another thread just did)
                        pwrite_all(self.fd, part, offset + start)  # an EINVAL now is a real one
                    finally:
                        part.release()
            self.pool.give_back(buf)
        finally:
            self.pool.slots.release()

    def _go_buffered(self) -> None:
        """The file system took the open but refuses a direct write: carry on with buffered writes."""
        with self._lock:
            if self.direct:
                flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
                fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~O_DIRECT)
                self.direct = False


class PlainWriter:
    """The same calls through the page cache: ``pwrite``, holes left unwritten (``finish`` cuts the
    file to size), and with ``writeback`` the kernel asked to start writing back each
    ``WRITEBACK_STEP`` bytes once complete (``sync_file_range(SYNC_FILE_RANGE_WRITE)``, which does
    not wait), so a closing fsync waits for the last step instead of the whole file."""

    def __init__(self, fd: int, *, writeback: bool = False) -> None:
        self.fd = fd
        self._closed = False
        self._holes = False
        self._sync_range = _sync_file_range() if writeback else None
        self._started = 0

    def write(self, data: bytes | memoryview, offset: int) -> None:
        pwrite_all(self.fd, data, offset)

    def hole(self, offset: int, length: int) -> None:
        self._holes = True  # keep the file sparse

    def complete_to(self, end: int) -> None:
        """The file is complete up to ``end`` (called in file order)."""
        if self._sync_range is not None and end - self._started >= WRITEBACK_STEP:
            self._sync_range(self.fd, self._started, end - self._started, _SYNC_FILE_RANGE_WRITE)  # a hint
            self._started = end

    def finish(self, size: int) -> None:
        if self._holes:
            os.ftruncate(self.fd, size)  # a trailing hole sets the size

    def close(self) -> None:
        """Close the descriptor; once."""
        if not self._closed:
            self._closed = True
            os.close(self.fd)


def data_extents(
    holes: list[tuple[int, int]], placed: int, length: int, min_skip: int = MIN_SKIP
) -> list[tuple[int, int]]:
    """The ``BLOCK``-aligned ranges of a segment of ``length`` bytes to write: all of it but the
    whole blocks of its ``holes`` (adjacent holes merged; one reaching the end of the ``placed``
    bytes takes the padding with it) that span at least ``min_skip`` bytes, so the file is not
    allocated there. Shorter zero runs are written: a direct write waits for the device, and a
    segment cut into many small writes would cost more than the blocks it saves."""
    merged: list[list[int]] = []
    for start, end in sorted(holes):
        if merged and merged[-1][1] >= start:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    extents, at = [], 0
    for start, end in merged:
        start, end = -(-start // BLOCK) * BLOCK, (length if end >= placed else end // BLOCK * BLOCK)
        if end - start < min_skip and end < length:
            continue
        if end <= start:
            continue
        if start > at:
            extents.append((at, start))
        at = max(at, end)
    if at < length:
        extents.append((at, length))
    return extents


SyncRange = Callable[[int, int, int, int], int]


@cache
def _sync_file_range() -> SyncRange | None:
    """Linux's ``sync_file_range(2)`` through libc (Python has no binding), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def open_writer(
    path: str | os.PathLike[str],
    flags: int,
    mode: int,
    *,
    pool: DirectPool | None,
    writeback: bool = False,
    dir_fd: int | None = None,
) -> FileWriter:
    """``os.open(path, flags, mode, dir_fd=dir_fd)`` in a writer that owns the descriptor: a ``DirectWriter`` on
    ``pool`` where the file system takes ``O_DIRECT``, else (or without a pool) a ``PlainWriter``. ``O_DIRECT`` is not
    passed to ``open`` itself: Linux creates the file before refusing the flag, which would leave it
    behind (and make an ``O_EXCL`` retry fail); ``fcntl(F_SETFL)`` refuses it without side effects."""
    fd = os.open(path, flags, mode, dir_fd=dir_fd)
    if pool is None or not O_DIRECT:
        return PlainWriter(fd, writeback=writeback)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | O_DIRECT)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            os.close(fd)
            raise
        return PlainWriter(fd, writeback=writeback)
    return DirectWriter(fd, pool)
