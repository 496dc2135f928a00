"""Unpack a tar stream into an empty directory, in process, fed in pieces of any size.

PostgreSQL base backups are ``pg_basebackup -Ft`` tars (ustar: directories, regular files and
symlinks). Piping them through ``tar -x`` wrote every byte through the page cache, which on these
VMs costs a host fault per page; here files of ``DIRECT_FROM`` bytes and more are written with the
``O_DIRECT`` writers of ``filewriters`` (the relation segments and WAL files that are nearly all of
a cluster), the rest with plain writes.

Nothing is written outside the target: absolute names, ``..`` components, members under a symlink
this extraction created and member types other than directory, regular file and symlink are
refused (``UnsafeArchive``) before anything of that member is written; a name already taken
by such a symlink too. Files are opened with
``O_NOFOLLOW``. Modes and modification times are restored (a directory the archive does not list
is created 0700), but never a setuid, setgid or sticky bit nor write permission for others
(``MODE_MASK``: a data directory never has them; a crafted archive must not plant a setuid
executable or a world-writable file); device nodes and FIFOs are refused like every other
unhandled type. Ownership is left to the caller. Small files are written by a few threads
(``_SmallFiles``), so the main thread goes on parsing while file systems make it wait at creation.
"""

from __future__ import annotations

import os
import tarfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from types import TracebackType

from .filewriters import DIRECT_FROM, DirectPool, open_writer

BLOCK = 512
SMALL_THREADS = 2
SMALL_QUEUED = 32  # small files waiting for a thread (each < DIRECT_FROM)
MODE_MASK = 0o775  # no setuid, setgid, sticky or other-write bit is ever set from an archive
_FILE_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class UnsafeArchive(ValueError):
    """A member that would be written outside the target, or that this extractor does not handle."""


class TarFormatError(ValueError):
    """The stream is not a well-formed tar (bad header checksum, ends inside a member)."""


class _Large:
    """A file of ``DIRECT_FROM`` bytes or more, placed piece by piece through its writer."""

    def __init__(self, info: tarfile.TarInfo, path: Path, pool: DirectPool | None) -> None:
        self.info = info
        self.writer = open_writer(path, _OPEN_FLAGS, info.mode & MODE_MASK, pool=pool)
        self.written = 0

    def add(self, data: memoryview) -> None:
        self.writer.write(data, self.written)
        self.written += len(data)

    def finish(self) -> None:
        try:
            self.writer.finish(self.info.size)
            _set_meta(self.writer.fd, self.info)
        finally:
            self.writer.close()

    def discard(self) -> None:
        self.writer.close()


class _Small:
    """A smaller file, gathered whole and then written by one of ``_SmallFiles``' threads."""

    def __init__(self, info: tarfile.TarInfo, path: Path, files: _SmallFiles) -> None:
        self.info, self.path, self.files = info, path, files
        self.pieces: list[bytes] = []
        self.written = 0

    def add(self, data: memoryview) -> None:
        self.pieces.append(bytes(data))  # the caller may reuse its buffer
        self.written += len(data)

    def finish(self) -> None:
        self.files.submit(self.path, self.info, self.pieces)

    def discard(self) -> None:
        pass


class _SmallFiles:
    """Threads that create and write small files, so parsing goes on while the file system makes a
    creation wait (30-50 µs a file on these VMs' ext4, up to ~0.4 ms near many recently deleted
    ones). At most ``SMALL_QUEUED`` files wait; the first failure is raised by the next ``submit``
    or by ``close``."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(SMALL_THREADS, thread_name_prefix="drkit-untar")
        self.slots = threading.BoundedSemaphore(SMALL_QUEUED)
        self.pending: list[Future[None]] = []

    def submit(self, path: Path, info: tarfile.TarInfo, pieces: list[bytes]) -> None:
        self._raise_failed()
        self.slots.acquire()
        try:
            self.pending.append(self.executor.submit(self._write, path, info, pieces))
        except BaseException:
            self.slots.release()
            raise

    def close(self) -> None:
        """Wait for every file; raise the first failure."""
        self.executor.shutdown(wait=True)
        self._raise_failed()

    def _write(self, path: Path, info: tarfile.TarInfo, pieces: list[bytes]) -> None:
        try:
            writer = open_writer(path, _OPEN_FLAGS, info.mode & MODE_MASK, pool=None)
            try:
                offset = 0
                for piece in pieces:
                    writer.write(piece, offset)
                    offset += len(piece)
                _set_meta(writer.fd, info)
            finally:
                writer.close()
        finally:
            self.slots.release()

    def shutdown(self) -> None:
        """Wait for the threads, raising nothing (after a failure elsewhere)."""
        self.executor.shutdown(wait=True)

    def _raise_failed(self) -> None:
        done = [f for f in self.pending if f.done()]
        self.pending = [f for f in self.pending if f not in done]
        for f in done:
            exc = f.exception()
            if exc is not None:
                raise exc


def _set_meta(fd: int, info: tarfile.TarInfo) -> None:
    os.fchmod(fd, info.mode & MODE_MASK)  # whatever the umask
    os.utime(fd, (info.mtime, info.mtime))


class TarExtractor:
    """``write`` the tar's bytes in order (it serves ``restore_part`` as a writable file), then
    ``close``; a context manager (on an exception the file being written is closed and the
    small-file threads are waited for; what was written stays)."""

    def __init__(self, target: Path, pool: DirectPool | None) -> None:
        self.target, self.pool = target, pool
        self._small = _SmallFiles()
        self._header = bytearray()
        self._member: _Large | _Small | None = None
        self._skip = 0  # padding after a member's data
        self._ended = False
        self._links: set[PurePosixPath] = set()
        self._dirs: list[tuple[Path, tarfile.TarInfo]] = []  # mode and time set at the end, as tar does
        self._made: set[Path] = {target}
        self._names: set[PurePosixPath] = set()  # every member so far: a name may appear once

    def write(self, data: bytes | memoryview) -> int:
        """Take all of ``data``; returns its length, as a file's ``write`` does."""
        view = memoryview(data)
        size = len(view)
        while view and not self._ended:
            if self._member is not None:
                view = self._write(view)
            elif self._skip:
                n = min(self._skip, len(view))
                self._skip -= n
                view = view[n:]
            else:
                n = min(BLOCK - len(self._header), len(view))
                self._header += view[:n]
                view = view[n:]
                if len(self._header) == BLOCK:
                    block, self._header = bytes(self._header), bytearray()
                    self._start(block)
        if self._ended:
            self._check_zero(view)
        return size

    @staticmethod
    def _check_zero(view: memoryview) -> None:
        """After the end-of-archive block only zero padding may follow: a zero block in the middle
        of an archive must not silently drop the members after it."""
        if view and bytes(view).count(0) != len(view):
            raise TarFormatError("data after the end-of-archive block")

    def close(self) -> None:
        """Wait for the small files; check the stream ended between members; set the directories'
        modes and modification times (last: a read-only directory must not stop its files)."""
        self._small.close()
        if self._member is not None or self._header or self._skip:
            raise TarFormatError("the tar stream ends inside a member")
        if not self._ended:
            raise TarFormatError("the tar stream ends without its end-of-archive block")
        for path, info in reversed(self._dirs):
            path.chmod(info.mode & MODE_MASK)
            os.utime(path, (info.mtime, info.mtime))

    def __enter__(self) -> TarExtractor:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        member, self._member = self._member, None
        try:
            if member is not None:
                member.discard()
        finally:
            self._small.shutdown()  # after close() a no-op

    def _start(self, block: bytes) -> None:
        if block == bytes(BLOCK):
            self._ended = True  # end-of-archive: what follows is padding
            return
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as exc:
            raise TarFormatError(f"bad tar header: {exc}") from None
        if info.size < 0:
            raise TarFormatError(f"tar member {info.name!r} has a negative size")
        rel = self._safe_path(info)
        if rel in self._names:
            raise UnsafeArchive(f"tar member {info.name!r} appears twice; refusing it")
        self._names.add(rel)
        path = self.target / rel
        if info.type == tarfile.DIRTYPE:
            self._mkdir(path)
            self._dirs.append((path, info))
        elif info.type == tarfile.SYMTYPE:
            self._mkdir(path.parent)
            os.symlink(info.linkname, path)
            self._links.add(rel)
        elif info.type in _FILE_TYPES:
            self._mkdir(path.parent)
            if info.size >= DIRECT_FROM:
                self._member = _Large(info, path, self.pool)
            else:
                self._member = _Small(info, path, self._small)
                if info.size == 0:
                    self._end_member()
        else:
            raise UnsafeArchive(
                f"tar member {info.name!r}: type {info.type!r} is not handled "
                "(only directories, regular files and symlinks)"
            )

    def _mkdir(self, path: Path) -> None:
        """``path`` and any missing parents, each 0700 (a listed directory gets its own mode at the end)."""
        if path in self._made:
            return
        self._mkdir(path.parent)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if not path.is_dir() or path.is_symlink():
                raise
        self._made.add(path)

    def _write(self, view: memoryview) -> memoryview:
        member = self._member
        assert member is not None
        n = min(member.info.size - member.written, len(view))
        member.add(view[:n])
        if member.written == member.info.size:
            self._end_member()
        return view[n:]

    def _end_member(self) -> None:
        member, self._member = self._member, None
        assert member is not None
        self._skip = -member.info.size % BLOCK
        member.finish()

    def _safe_path(self, info: tarfile.TarInfo) -> PurePosixPath:
        name = PurePosixPath(info.name)
        parts = [p for p in name.parts if p not in ("", ".")]
        if name.is_absolute() or ".." in parts or not parts:
            raise UnsafeArchive(f"tar member {info.name!r} would be written outside the target; refusing it")
        rel = PurePosixPath(*parts)
        if rel in self._links or any(parent in self._links for parent in rel.parents):
            raise UnsafeArchive(f"tar member {info.name!r} lies under a symlink; refusing it")
        return rel
