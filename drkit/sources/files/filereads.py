"""Reading one file for a backup: whole (a small file) or streamed in bounded blocks (a large one),
cut into chunks and hashed, on whichever thread calls (the walk's, or a reader's: readahead.py).

A reader streaming a large file hands its chunks and their ids to the walk through a ``Stream``, a
queue holding at most ``STREAM_QUEUE`` bytes (the reader waits when it is full), so a large file
needs ``STREAM_RESERVE`` bytes however large it is: the read buffer and the queue.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from ...pipeline import ChunkerParams, chunk_buffer
from ...pipeline.hashing import BlobHasher
from .sparse import file_chunks
from .walker import Where

SMALL_FILE = 4 << 20  # files up to this size are read in one call and chunked in memory
STREAM_READ = 8 << 20  # larger files are read in blocks of this size (the chunker needs 2 x its maximum)
STREAM_QUEUE = 4 << 20  # a reader's chunks of a large file not yet taken by the walk, at most
_O_NOATIME: int = getattr(os, "O_NOATIME", 0)
_O_READ = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | _O_NOATIME


def stream_reserve(params: ChunkerParams) -> int:
    """The bytes a reader streaming one large file holds at most: its read buffer (as ``iter_chunks``
    sizes it) and its queue (which takes one chunk even if larger)."""
    return max(STREAM_READ, 2 * params.max_size) + max(STREAM_QUEUE, params.max_size)


@dataclass(slots=True, kw_only=True)
class FileRead:
    """A file's content as read: chunks and their ids; or ``fd`` (open at offset 0, ``before`` its
    fstat) when the caller is to stream it; or ``stream``, a reader streaming it; or the ``problem``
    that stopped the read."""

    chunks: list[memoryview] = field(default_factory=list)
    ids: list[bytes] = field(default_factory=list)
    size: int = 0
    before: os.stat_result | None = None
    after: os.stat_result | None = None
    fd: int | None = None
    problem: OSError | str | None = None
    stream: Stream | None = None


def open_for_reading(where: Where) -> int:
    """Open ``where.name`` relative to its directory's descriptor (walker.Where), without updating the
    access time where allowed: Linux refuses ``O_NOATIME`` (EPERM) on a file the caller does not own
    unless privileged, so such a file is opened without it. Opened non-blocking: a FIFO (or a device)
    put in place of the file after its ``lstat`` would block the open until
    someone writes to it (the caller's ``fstat`` then skips it); blocking again after."""
    flags = _O_READ
    try:
        fd = _open_nonblocking(where, flags)
    except PermissionError as exc:
        if exc.errno != errno.EPERM or not _O_NOATIME:
            raise  # EACCES: the file cannot be read at all
        flags &= ~_O_NOATIME
        fd = _open_nonblocking(where, flags)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)  # iter_chunks needs a blocking descriptor
    except OSError:
        os.close(fd)
        raise
    return fd


def _open_nonblocking(where: Where, flags: int) -> int:
    try:
        return os.open(where.name, flags | os.O_NONBLOCK, dir_fd=where.dir_fd)
    except BlockingIOError:  # another process holds a write lease (Samba's oplocks): a blocking open waits
        # for the lease to be given up, as before (only regular files have leases)
        return os.open(where.name, flags, dir_fd=where.dir_fd)


def _open_regular(where: Where) -> tuple[int, os.stat_result] | FileRead:
    """``where`` opened to read, with its ``fstat``; or the problem, as a ``FileRead`` (a file that is no
    longer a regular one since its ``lstat``: a FIFO, a device or a directory swapped in, is skipped)."""
    try:
        fd = open_for_reading(where)
    except OSError as exc:
        return FileRead(problem=exc)
    try:
        before = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        return FileRead(problem=exc)
    if not stat.S_ISREG(before.st_mode):
        os.close(fd)
        return FileRead(problem="changed type while being backed up; skipped")
    return fd, before


def read_small(where: Where, limit: int, params: ChunkerParams, hasher: BlobHasher) -> FileRead:
    """Open ``where`` and, if it holds at most ``limit`` bytes, read, chunk and hash it whole; else
    leave it open for the caller to stream (``fd``). Reads at most ``limit + 1`` bytes."""
    opened = _open_regular(where)
    if isinstance(opened, FileRead):
        return opened
    fd, before = opened
    keep = False
    try:
        if before.st_size <= limit:
            data = read_all(fd, before.st_size)
            if len(data) <= before.st_size:  # chunks are views of ``data``
                chunks = chunk_buffer(data, params)
                ids = [hasher.digest(c) for c in chunks]
                return FileRead(chunks=chunks, ids=ids, size=len(data), before=before, after=os.fstat(fd))
            os.lseek(fd, 0, os.SEEK_SET)  # it grew: stream it
        keep = True
        return FileRead(before=before, fd=fd)
    except OSError as exc:
        return FileRead(problem=exc)
    finally:
        if not keep:
            os.close(fd)


def read_all(fd: int, size: int) -> bytes:
    """Read up to ``size + 1`` bytes (one more shows the file grew). A read that ends exactly at
    ``size`` ends it: a file on a local file system is then at its end (asking again cost one more
    syscall per file), and one that grows after is caught by the caller's ``fstat`` afterwards."""
    parts = []
    want = size + 1
    while want > 0:
        part = os.read(fd, want)
        if not part:
            break
        parts.append(part)
        want -= len(part)
        if want == 1:
            break
    return b"".join(parts)  # one part: that object itself, not a copy


class Stream:
    """A large file's chunks and ids, from the reader streaming it to the walk, in order, in bounded
    memory. Iterating waits for each chunk; ``result`` then says how the read ended."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: deque[tuple[bytes, bytes]] = deque()
        self._bytes = 0
        self._end: FileRead | None = None
        self._error: BaseException | None = None
        self._ended = False
        self._closed = False  # the walk stopped: the reader gives up

    # -- the reader's side
    def put(self, chunk: bytes, blob_id: bytes) -> bool:
        """Queue a chunk (waiting for room); False if the walk no longer wants it."""
        with self._cond:
            while self._items and self._bytes + len(chunk) > STREAM_QUEUE and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            self._items.append((chunk, blob_id))
            self._bytes += len(chunk)
            self._cond.notify_all()
            return True

    def end(self, result: FileRead | None, error: BaseException | None = None) -> None:
        with self._cond:
            self._end, self._error, self._ended = result, error, True
            self._cond.notify_all()

    # -- the walk's side
    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        while True:
            with self._cond:
                while not self._items and not self._ended:
                    self._cond.wait()
                if not self._items:
                    return
                item = self._items.popleft()
                self._bytes -= len(item[0])
                self._cond.notify_all()
            yield item

    def wait(self) -> None:
        with self._cond:
            while not self._ended:
                self._cond.wait()

    def result(self) -> FileRead:
        """How the read ended (once every chunk was taken); re-raises what stopped the reader."""
        self.wait()
        if self._error is not None:
            raise self._error
        assert self._end is not None
        return self._end

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()


def read_large(where: Where, params: ChunkerParams, hasher: BlobHasher, stream: Stream) -> FileRead:
    """Stream ``where`` into ``stream`` (a reader's task): chunks and ids, then how it ended."""
    try:
        result = _read_large(where, params, hasher, stream)
    except BaseException as exc:
        stream.end(None, exc)
        raise
    stream.end(result)
    return result


def _read_large(where: Where, params: ChunkerParams, hasher: BlobHasher, stream: Stream) -> FileRead:
    opened = _open_regular(where)
    if isinstance(opened, FileRead):
        return opened
    fd, before = opened
    try:
        size = 0
        for chunk, blob_id in file_chunks(fd, params, hasher, STREAM_READ):  # holes not read (sparse.py)
            if not stream.put(chunk, blob_id):
                break
            size += len(chunk)
        return FileRead(size=size, before=before, after=os.fstat(fd))
    except OSError as exc:
        return FileRead(problem=exc)
    finally:
        os.close(fd)
