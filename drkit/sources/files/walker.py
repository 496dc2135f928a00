"""Reading the file system: exclude patterns, directory listing, and ``lstat`` → ``Node``."""

from __future__ import annotations

import errno
import fnmatch
import grp
import os
import pwd
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ...core.errors import UsageError
from .tree import DIR, FILE, SYMLINK, Node


@dataclass(frozen=True)
class Excludes:
    """Glob patterns: a pattern with a ``/`` matches the absolute path (or a path prefix), one
    without matches any path component's name, like restic's ``--exclude``."""

    patterns: tuple[str, ...] = ()

    @classmethod
    def load(cls, patterns: list[str], files: list[Path] | None = None) -> Excludes:
        found = list(patterns)
        for f in files or []:
            try:
                lines = f.read_text().splitlines()
            except OSError as exc:
                raise UsageError(f"cannot read exclude file {f}: {exc.strerror}") from None
            found.extend(ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#"))
        return cls(tuple(found))

    def match(self, path: str, name: str) -> bool:
        for pat in self.patterns:
            if "/" in pat.rstrip("/"):
                if fnmatch.fnmatchcase(path, pat.rstrip("/")) or fnmatch.fnmatchcase(path, pat.rstrip("/") + "/*"):
                    return True
            elif fnmatch.fnmatchcase(name, pat.rstrip("/")):
                return True
        return False


@lru_cache(maxsize=1024)
def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


@lru_cache(maxsize=1024)
def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return FILE
    if stat.S_ISDIR(mode):
        return DIR
    if stat.S_ISLNK(mode):
        return SYMLINK
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "chardev" if stat.S_ISCHR(mode) else "blockdev"


def node_from_stat(name: str, st: os.stat_result) -> Node:
    kind = _kind(st.st_mode)
    return Node(
        name=name,
        type=kind,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        user=user_name(st.st_uid),
        group=group_name(st.st_gid),
        mtime_ns=st.st_mtime_ns,
        ctime_ns=st.st_ctime_ns,
        inode=st.st_ino,
        dev=st.st_dev,
        links=st.st_nlink,
        size=st.st_size if kind == FILE else 0,
        rdev=st.st_rdev if kind in ("chardev", "blockdev") else 0,
    )


_O_LIST = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK


def list_dir(path: str, dev: int | None = None) -> list[str]:
    """The names in a directory, sorted (raises OSError). Never those of a symlink's target: the walk
    ``lstat``s entries ahead (readahead.py), maybe long before it lists one it saw as a directory, and
    a symlink swapped in for it since must not bring another directory's files in under its name (ENOTDIR).
    With ``dev`` (--one-file-system: the device ``lstat`` saw), nor those of a file system mounted there since."""
    fd = os.open(path, _O_LIST)
    try:
        if dev is not None and os.fstat(fd).st_dev != dev:
            raise OSError(errno.EXDEV, "a file system was mounted here during the backup; not crossed", path)
        with os.scandir(fd) as it:
            return sorted(e.name for e in it)
    finally:
        os.close(fd)
