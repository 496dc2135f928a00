"""A restore's directories held by descriptor: a file is created, linked and renamed relative to its
directory's descriptor, checked to be the directory the restore made or listed (fetch.py, restore.py)."""

from __future__ import annotations

import errno
import os
import threading
from typing import TYPE_CHECKING

from ...core.errors import DrkitError

if TYPE_CHECKING:
    from .fetch import Writeout

Ident = tuple[int, int]  # (st_dev, st_ino)

_O_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


_SWAPPED = {errno.ENOTDIR, errno.ELOOP, errno.ENOENT}  # the directory is no longer there (by that name)


def open_dir(path: str, ident: Ident | None) -> int:
    """An ``O_PATH`` descriptor of the directory at ``path``, checked to be the one ``ident`` names (the
    directory the restore made or found there): else (a symlink put at its name or above it, or it
    is gone) a ``DrkitError``, the restore failing rather than writing or removing anything through it."""
    try:
        fd = os.open(path, _O_DIR)
    except OSError as exc:
        if exc.errno in _SWAPPED:
            raise _replaced(path) from None
        raise
    try:
        st = os.fstat(fd)
        if ident is not None and (st.st_dev, st.st_ino) != ident:
            raise _replaced(path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _replaced(path: str) -> DrkitError:
    return DrkitError(
        f"directory {path} was replaced during the restore (a symlink put at its name or above it?): "
        "nothing is written or removed through it; the restore is incomplete",
        hint="files not finished were removed; restore into a directory only you can write",
    )


class _Dir:
    """The directory of a group of consecutive files of the plan, by descriptor, open while one of
    them (``users``) is not finished. Each open checks it is the directory ``ident`` says."""

    __slots__ = ("path", "ident", "fd", "users", "lock", "owner")

    def __init__(self, path: str, ident: Ident | None, owner: Writeout) -> None:
        self.path, self.ident, self.owner = path, ident, owner
        self.fd = -1
        self.users = 0
        self.lock = threading.Lock()

    def use(self) -> None:
        with self.lock:
            self.users += 1

    def open(self) -> int:
        with self.lock:
            if self.fd < 0:
                self.fd = open_dir(self.path, self.ident)
                self.owner.opened(self, True)
            return self.fd

    def release(self) -> None:
        """One of its files is finished (or removed): closed once none is left."""
        with self.lock:
            self.users -= 1
            if self.users <= 0:
                self._close()

    def close(self) -> None:
        with self.lock:
            self._close()

    def _close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            self.owner.opened(self, False)
            os.close(fd)


def _link_fd(fd: int, name: str, at: int) -> None:
    """``linkat(AT_FDCWD, "/proc/self/fd/FD", at, name, AT_SYMLINK_FOLLOW)``: names an ``O_TMPFILE``
    file without privileges (``AT_EMPTY_PATH`` needs CAP_DAC_READ_SEARCH; as root it measured ~2 µs a
    file less, within the noise). Never follows or replaces what is at ``name``: FileExistsError."""
    os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=at, follow_symlinks=True)
