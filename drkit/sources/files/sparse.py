"""Chunks of a large file for a backup, its holes not read: a sparse file (a disk image, a database
file) is read only where it holds data; its holes are given to the chunker as the zeros they read as.

The chunks and their ids are those a plain read of the whole file gives, so a sparse file deduplicates
with earlier snapshots (and with the same bytes elsewhere). Two things make holes cheap:

- ``HoleReader`` fills a hole's part of the chunker's buffer with zeros instead of reading it:
  ``lseek(SEEK_DATA)`` and ``lseek(SEEK_HOLE)`` at each step say where the data is (asked as the read
  goes, so data written ahead of it is read, as a plain read would);
- where a chunk would start at least ``max_size`` bytes before the next data, FastCDC's cut depends only
  on those zeros (it decides from at most ``max_size`` bytes after the chunk's start, as ``iter_chunks``
  relies on too): it is the same all-zero chunk every time, ``zero_chunk`` long, hashed once per file
  and neither cut nor hashed again. So a 100 GiB image holding 1 GiB of data costs about the reading,
  chunking and hashing of 1 GiB. The chunker restarts where such a run of zero chunks ends
  (tests/unit/files/test_sparse_read.py checks the chunks and ids against a plain read's, over many
  layouts and chunker settings).

A file system without SEEK_HOLE (EINVAL, EOPNOTSUPP), a file with no hole, or a platform without the
calls: the file is read whole, as before. So is a file on a file system not in ``HOLES_TRUSTED``: its
hole map is trusted only where it is the local kernel's own (ext4, XFS, btrfs, tmpfs, overlayfs over
them). ZFS (OpenZFS before 2.2.2/2.1.14 reported holes over data not yet committed), NFS, SMB, FUSE
and other network or userspace file systems answer ``SEEK_HOLE`` from elsewhere (a server, a daemon,
a page cache not yet flushed to it); a wrong answer there would put zeros in the snapshot without a
warning, so they are read whole. Written here rather than taken from a library: pyfastcdc
cuts the buffers it is given and knows nothing of files; the backup tools that skip holes (Borg's
chunkers, tar) do it inside their own code, not as a library drkit could use.
"""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Iterator
from typing import BinaryIO, cast

from ...pipeline import ChunkerParams, chunk_buffer, iter_chunks
from ...pipeline.hashing import BlobHasher
from . import fstype

_SEEK_DATA: int | None = getattr(os, "SEEK_DATA", None)
_SEEK_HOLE: int | None = getattr(os, "SEEK_HOLE", None)
_UNSUPPORTED = {errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}
# The file systems whose SEEK_DATA/SEEK_HOLE answer holes are skipped on: ext2/3/4, XFS, btrfs, tmpfs,
# overlayfs (it asks the layer's file system, one of these in practice;
# tests/unit/files/test_sparse_adversarial.py ran on each).
HOLES_TRUSTED = frozenset({fstype.EXT, fstype.XFS, fstype.BTRFS, fstype.TMPFS, fstype.OVERLAYFS})
_ZEROS = bytes(8 << 20)  # what a hole reads as, copied from (calloc'd: its pages are the zero page until read)


def file_chunks(fd: int, params: ChunkerParams, hasher: BlobHasher, read_size: int) -> Iterator[tuple[bytes, bytes]]:
    """The chunks of the regular file open at ``fd`` (read from offset 0 to its end, the descriptor's
    offset moved) and their ids; its holes are not read where the file system says where they are."""
    if not _has_hole(fd):
        with os.fdopen(os.dup(fd), "rb", buffering=0) as f:
            for chunk in iter_chunks(f, params, read_size=read_size):
                yield chunk, hasher.digest(chunk)
        return
    reader = HoleReader(fd)
    zero: tuple[bytes, bytes] | None = None  # the all-zero chunk and its id, once one is met
    zlen = zero_chunk(params)
    start = 0  # where the next chunk starts
    while True:
        while reader.zeros_at(start) >= params.max_size:
            if zero is None:
                chunk = bytes(zlen)
                zero = (chunk, hasher.digest(chunk))
            start += zlen
            yield zero
        reader.pos = start  # the chunker starts (again) here: what it had read past ``start`` is dropped
        for chunk in iter_chunks(cast(BinaryIO, reader), params, read_size=read_size):
            yield chunk, hasher.digest(chunk)
            start += len(chunk)
            if reader.zeros_at(start) >= params.max_size:
                break  # dropped: zeros, and at most ``read_size`` bytes of data read again (cached)
        else:
            return


@functools.lru_cache(maxsize=8)
def zero_chunk(params: ChunkerParams) -> int:
    """The length of the chunk FastCDC cuts at a start followed by at least ``max_size`` zeros."""
    return len(chunk_buffer(bytes(2 * params.max_size), params)[0])


def _has_hole(fd: int) -> bool:
    """Whether the file has a hole before its end (its end is a hole to ``SEEK_HOLE``); False where the
    file system cannot say (it is then read whole). The descriptor's offset is back at 0."""
    if _SEEK_HOLE is None or _SEEK_DATA is None:
        return False
    if fstype.fs_type(fd) not in HOLES_TRUSTED:  # asked each file (a microsecond): see fstype.of_device
        return False
    try:
        hole = os.lseek(fd, 0, _SEEK_HOLE)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED or exc.errno == errno.ENXIO:  # ENXIO: empty now
            return False
        raise
    try:
        return hole < os.fstat(fd).st_size
    finally:
        os.lseek(fd, 0, os.SEEK_SET)


class HoleReader:
    """A file's bytes from ``pos``, holes as zeros, through ``readinto`` (what ``iter_chunks`` reads
    with): data with ``preadv`` into the caller's buffer, holes copied from ``_ZEROS``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pos = 0
        self.bytes_read = 0  # data read from the file (tests)

    def _next_data(self, at: int) -> int | None:
        """The offset of the first data at or after ``at``; None if none (a hole to the end, or past it)."""
        assert _SEEK_DATA is not None
        try:
            return os.lseek(self.fd, at, _SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return None
            raise

    def zeros_at(self, at: int) -> int:
        """How many bytes from ``at`` are a hole (0 in data or at the end)."""
        data = self._next_data(at)
        return max((data if data is not None else os.fstat(self.fd).st_size) - at, 0)

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` from ``pos`` up to the next change between hole and data; 0 at the end."""
        want = min(len(view), len(_ZEROS))
        data = self._next_data(self.pos)
        if data is None or data > self.pos:  # a hole, to the next data or to the end
            count = min(want, (data if data is not None else os.fstat(self.fd).st_size) - self.pos)
            if count <= 0:
                return 0  # the end (or past it: the file shrank)
            view[:count] = _ZEROS[:count]
        else:  # data: read up to the next hole (the end is one), or as a plain read where the file
            # changed between the two calls (a hole's bytes read as zeros; 0 at the end)
            hole = self._data_end()
            count = os.preadv(self.fd, [view[: min(want, hole - self.pos) if hole > self.pos else want]], self.pos)
            self.bytes_read += count
        self.pos += count
        return count

    def _data_end(self) -> int:
        """Where the data at ``pos`` ends: the next hole (``pos`` if the file changed meanwhile)."""
        assert _SEEK_HOLE is not None
        try:
            return os.lseek(self.fd, self.pos, _SEEK_HOLE)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # at or past the end
                return self.pos
            raise
