"""Small file-writing helpers shared by the restores."""

from __future__ import annotations

import io
import os
import sys
from typing import BinaryIO, cast


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (``pwrite`` may write less than asked)."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make the names in directory ``path`` durable (a file linked, renamed or removed there)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def binary_stdout() -> BinaryIO:
    """Standard output for a restore's bytes: buffered, even under ``PYTHONUNBUFFERED=1`` or ``python -u`` (the
    container image sets it). There ``sys.stdout.buffer`` is the raw file, whose ``write`` may write only part
    of a block (the reader went away mid-write: ``restore --to - | psql`` and psql died) and say so only in its
    return value, which ``write_blobs``, ``tarfile`` and ``zipfile`` do not look at: the rest of the stream was
    lost and the command exited 0. A ``BufferedWriter`` writes every byte or raises. Callers flush it."""
    out = sys.stdout.buffer
    if not isinstance(out, io.RawIOBase):
        return out
    return cast(BinaryIO, open(out.fileno(), "wb", closefd=False))  # noqa: SIM115 - fd 1 stays open
