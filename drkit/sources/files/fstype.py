"""The type of the file system a descriptor is on (``fstatfs``'s ``f_type``), for the decisions that trust
a file system's answers only where they are the local kernel's own: a sparse file's hole map (sparse.py)
and an attribute change updating the ctime (readahead.scan)."""

from __future__ import annotations

import ctypes
import functools
import os

# statfs f_type magics (linux/magic.h)
EXT = 0xEF53  # ext2, ext3, ext4
XFS = 0x58465342
BTRFS = 0x9123683E
TMPFS = 0x01021994
OVERLAYFS = 0x794C7630


class _StatFs(ctypes.Structure):
    # Only the first field is read: f_type is a word (__fsword_t) at offset 0 on x86-64 and aarch64 (on
    # s390x a 4-byte field: the word read is then no magic, and nothing is trusted, the safe side); the
    # padding covers the rest of struct statfs (120 bytes on x86-64, less elsewhere).
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 248)]


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def fs_type(fd: int) -> int | None:
    """The ``f_type`` magic of the file system ``fd`` is on (``fstatfs``), None where it cannot be asked.
    Hand-written: Python's ``os`` has ``fstatvfs`` only, which leaves the type out, and the libraries
    that have it (psutil) map mount points by path, not an open descriptor."""
    buf = _StatFs()
    try:
        if _libc().fstatfs(fd, ctypes.byref(buf)) != 0:
            return None
    except (OSError, AttributeError):  # no libc symbol (not Linux/glibc or musl)
        return None
    return int(buf.f_type) & 0xFFFFFFFF


def of_device(dev: int, fd: int | None, kinds: frozenset[int], cache: dict[int, bool]) -> bool:
    """Whether device ``dev``'s file system is one of ``kinds``, asked through ``fd`` (open on that device)
    once a device and kept in ``cache``. False without a descriptor, or when ``fd`` is on another device
    (a mount point's entry, seen from the directory it is mounted on), not cached then. ``cache`` is one
    run's, never a process's: a device number of major 0 (tmpfs, overlayfs, btrfs, NFS, FUSE, ZFS) is
    handed out again once its file system is unmounted, so the daemon's next run could otherwise take a
    FUSE mount for the Btrfs that had its number."""
    known = cache.get(dev)
    if known is None:
        if fd is None or os.fstat(fd).st_dev != dev:
            return False
        known = cache[dev] = fs_type(fd) in kinds
    return known
