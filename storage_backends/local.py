"""A directory on a local (or mounted) filesystem.

Writes go to a temp file in the target directory, are fsynced, then renamed into place, and the
directory is fsynced: a crash leaves the old object or the new one, never a torn one.
``put_if_absent`` links the fsynced temp file to the final name (``link`` fails with EEXIST when
the name is taken), so of several racing writers exactly one wins and readers never see a partial
object.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from ._urls import BackendURL
from .base import Capabilities, Data, ObjectInfo, PutOptions, validate_key, validate_prefix
from .errors import AccessDenied, AlreadyExists, BackendError, ContainerMissing, NoSpace, NotFound, Transient

# A network filesystem (NFS, SMB, FUSE) that is reconnecting: retried for the retry window. A full disk
# (ENOSPC, EDQUOT) is NoSpace, never retried: waiting does not free space.
_TRANSIENT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "ESTALE",
        "ETIMEDOUT",
        "ENOTCONN",
        "ECONNRESET",
        "ECONNABORTED",
        "EHOSTDOWN",
        "EHOSTUNREACH",
        "EAGAIN",
        "EINTR",
    )
    if hasattr(errno, name)
)
_COPY_BLOCK = 4 * 1024 * 1024
_DIRECT_MIN = 1 << 20  # objects at least this large are written with O_DIRECT where they can be
_DIRECT_ALIGN = 4096  # O_DIRECT wants the buffer, the offset and the length aligned to the device's block size
_TMP_PREFIX = ".tmp-"


def _write_all(out: BinaryIO, view: memoryview) -> None:
    fd = out.fileno()
    view = _write_direct(fd, view)
    while view:
        view = view[os.write(fd, view) :]


def _write_direct(fd: int, view: memoryview) -> memoryview:
    """Write the block-aligned head of a large ``view`` past the page cache (``O_DIRECT``); return the
    rest, for ordinary writes: the tail, or all of it where the filesystem or the buffer's alignment
    refuses ``O_DIRECT``.

    Why: a pack goes to disk once and is not read back soon. Copied into the page cache, then written
    back by the ``fsync`` that follows, it cost the backup ~1 s of kernel CPU per GiB on the benchmark
    machines (bench/RESULTS.md, 2026-12-07 backup25); written from the pack's own page-aligned buffer
    (``repository/packbuf.py``) it costs almost none. Durability is unchanged: the caller still
    ``fsync``s the file (metadata, the tail, the device's write cache) before it is renamed into place.
    """
    if len(view) < _DIRECT_MIN or not hasattr(os, "O_DIRECT"):
        return view
    head = len(view) - len(view) % _DIRECT_ALIGN
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT)
    except OSError:  # a filesystem without O_DIRECT
        return view
    done = 0
    try:
        while done < head:
            try:
                done += os.write(fd, view[done:head])
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                break  # a buffer (or a short write) not aligned: the rest through the page cache
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)
    return view[done:]


class LocalBackend:
    def __init__(self, root: str | os.PathLike[str], *, create: bool = True) -> None:
        self.root = Path(root)
        self.display = f"file://{self.root}"
        self.capabilities = Capabilities(atomic_create=True, max_connections=4, bounded_space=True, remote=False)
        # with ``create``, made by the first write, not here: a command that only reads (and finds no
        # repository there, or a mistyped path) leaves nothing behind
        self._rooted = not create
        if not create and not self.root.is_dir():
            raise ContainerMissing("directory does not exist", backend=self.display)

    @classmethod
    def from_url(cls, url: BackendURL) -> LocalBackend:
        url.refuse_unknown(("create",))
        return cls(url.path, create=url.params.get("create", "true") != "false")

    # -- helpers -----------------------------------------------------------------------------
    def _make_root(self) -> None:
        """Create the directory owner-only (0700, whatever the umask): what is in it is its owner's."""
        if not self.root.is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            self.root.chmod(0o700)
        self._rooted = True

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _guard(self, key: str | None, fn):  # type: ignore[no-untyped-def]
        try:
            return fn()
        except FileNotFoundError as exc:
            raise NotFound("no such object", backend=self.display, key=key) from exc
        except FileExistsError as exc:
            raise AlreadyExists("object already exists", backend=self.display, key=key) from exc
        except PermissionError as exc:
            raise AccessDenied("permission denied", backend=self.display, key=key) from exc
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NoSpace("no space left on device", backend=self.display, key=key) from exc
            if exc.errno in _TRANSIENT_ERRNOS:
                raise Transient(exc.strerror or str(exc), backend=self.display, key=key) from exc
            raise BackendError(exc.strerror or str(exc), backend=self.display, key=key) from exc

    def _write_temp(self, path: Path, data: Data, private: bool = False) -> Path:
        if not self._rooted:
            self._make_root()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        mode = 0o600 if private else 0o666  # private: owner-only whatever the umask (key objects)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
            with open(fd, "wb", buffering=0) as out:
                if isinstance(data, bytes | bytearray | memoryview):
                    _write_all(out, memoryview(data))  # no intermediate copies of a whole pack
                else:
                    shutil.copyfileobj(data, out, _COPY_BLOCK)
                os.fsync(out.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- the contract --------------------------------------------------------------------------
    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        path = self._path(key)

        def run() -> None:
            tmp = self._write_temp(path, data, options is not None and options.private)
            os.replace(tmp, path)
            self._fsync_dir(path.parent)

        self._guard(key, run)

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        path = self._path(key)

        def run() -> None:
            if path.exists():
                raise FileExistsError(path)
            tmp = self._write_temp(path, data, options is not None and options.private)
            try:
                os.link(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            self._fsync_dir(path.parent)

        self._guard(key, run)

    def get(self, key: str) -> BinaryIO:
        path = self._path(key)
        return self._guard(key, lambda: open(path, "rb"))  # type: ignore[no-any-return]

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be >= 0")
        path = self._path(key)

        def run() -> bytes:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))  # not open(): no file object (~5 µs)
            try:
                return os.pread(fd, length, offset)
            finally:
                os.close(fd)

        return self._guard(key, run)  # type: ignore[no-any-return]

    def read_range(self, key: str, offset: int, length: int, buf: memoryview) -> memoryview:
        """``base.read_range``'s fast path: ``preadv`` straight into ``buf``."""
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be >= 0")
        path = self._path(key)
        view = buf[:length]

        def run() -> memoryview:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                done = 0
                while done < length:
                    n = os.preadv(fd, [view[done:]], offset + done)
                    if n == 0:  # the object's end
                        break
                    done += n
                return view[:done]
            finally:
                os.close(fd)

        return self._guard(key, run)  # type: ignore[no-any-return]

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        start = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in sorted(filenames):
                if name.startswith(_TMP_PREFIX):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if not key.startswith(prefix):
                    continue
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except FileNotFoundError:
                    continue  # deleted while listing
                yield ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def list_temps(self) -> Iterator[ObjectInfo]:
        """Temp files of writes that never finished (``LeavesTemps``), e.g. of a killed process."""
        for dirpath, _, filenames in os.walk(self.root):
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in sorted(n for n in filenames if n.startswith(_TMP_PREFIX)):
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except FileNotFoundError:
                    continue  # renamed into place or removed meanwhile
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                yield ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def delete_temp(self, key: str) -> None:
        parts = key.split("/")
        if not parts[-1].startswith(_TMP_PREFIX) or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"not a temp object key: {key!r}")
        path = self.root.joinpath(*parts)
        self._guard(key, lambda: path.unlink(missing_ok=True))

    def stat(self, key: str) -> ObjectInfo:
        st = self._guard(key, lambda: os.stat(self._path(key)))
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def delete(self, key: str) -> None:
        path = self._path(key)
        self._guard(key, lambda: path.unlink(missing_ok=True))

    def close(self) -> None:
        return None
