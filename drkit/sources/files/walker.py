"""Reading the file system: exclude patterns, directory listing, and ``lstat`` → ``Node``."""

from __future__ import annotations

import errno
import fnmatch
import grp
import logging
import os
import pwd
import resource
import stat
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from ...core.errors import UsageError
from .tree import DIR, FILE, SYMLINK, Node

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Excludes:
    """Glob patterns (``*`` may match ``/``, as ``fnmatch``'s) matched against an entry's absolute path and name:

    - with a leading ``/``: the absolute path (or what is under it);
    - with a ``/`` elsewhere: the end of the path, whole names (``src/d1`` matches ``/home/u/src/d1`` and
      ``/x/src/d1``, not ``/x/mysrc/d1``), as restic's and rsync's unanchored patterns; ``load`` makes one that
      starts with ``./`` or ``../`` absolute, from the working directory (``drkit backup files src --exclude
      ./src/d1``: only that one);
    - without a ``/``: any name.

    ``unmatched`` names the patterns (as given) that matched no entry so far: a careful tool says so, since a
    pattern that matches nothing backs up what the user meant to leave out, silently."""

    patterns: tuple[str, ...] = ()
    given: tuple[str, ...] = ()  # each pattern as the user wrote it (default: ``patterns``)
    _hits: set[int] = field(default_factory=set, compare=False, repr=False)  # indexes that matched an entry

    @classmethod
    def load(cls, patterns: list[str], files: list[Path] | None = None) -> Excludes:
        found = list(patterns)
        for f in files or []:
            try:
                lines = f.read_text().splitlines()
            except OSError as exc:
                raise UsageError(f"cannot read exclude file {f}: {exc.strerror}") from None
            found.extend(ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#"))
        return cls(tuple(_anchored(p) for p in found), tuple(found))

    def match(self, path: str, name: str) -> bool:
        for i, pat in enumerate(self.patterns):
            if _matches(pat, path, name):
                self._credit(i, path, name)
                return True
        return False

    def _credit(self, first: int, path: str, name: str) -> None:
        """Mark the pattern that matched, and any other one not yet marked that matches the same entry (so
        ``--exclude d2 --exclude src/d2`` does not call the second one unmatched)."""
        self._hits.add(first)  # set.add is atomic: the walk and the progress scan share this object
        if len(self._hits) < len(self.patterns):
            for j in range(first + 1, len(self.patterns)):
                if j not in self._hits and _matches(self.patterns[j], path, name):
                    self._hits.add(j)

    def unmatched(self) -> list[str]:
        given = self.given or self.patterns
        return [given[i] for i in range(len(self.patterns)) if i not in self._hits]


def _anchored(pattern: str) -> str:
    """A pattern of ``Excludes.load`` as ``_matches`` reads it: ``./x`` and ``../x`` made absolute from the
    working directory (as a PATH given so is), another relative one holding a ``/`` prefixed by ``*/`` (the end
    of a path, at a name's start)."""
    if pattern in (".", "./", "..", "../") or pattern.startswith(("./", "../")):
        return os.path.normpath(os.path.join(os.getcwd(), pattern))
    if "/" in pattern.rstrip("/") and not pattern.startswith("/"):
        return "*/" + pattern
    return pattern


def _matches(pat: str, path: str, name: str) -> bool:
    bare = pat.rstrip("/")
    if "/" in bare:
        return fnmatch.fnmatchcase(path, bare) or fnmatch.fnmatchcase(path, bare + "/*")
    return fnmatch.fnmatchcase(name, bare)


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


O_LIST = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK
# xattrs have no *at() calls: a name in an open directory is reached through its /proc magic link
_PROC_FD = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else None


class Where(NamedTuple):
    """Where an entry of the walk is: ``name`` in the directory open as ``dir_fd``; ``path`` names it in
    messages only. Every ``lstat``, ``readlink``, open and xattr read goes through ``dir_fd`` (a top path
    has none: ``name`` is the path), as restic and Borg walk: a parent directory swapped for a symlink
    after the walk opened it cannot lead a read to the symlink's target under this entry's path."""

    path: str
    name: str
    dir_fd: int | None = None

    def child(self, name: str, dir_fd: int) -> Where:
        path = self.path
        return _new(Where, (f"{path}{name}" if path.endswith("/") else f"{path}/{name}", name, dir_fd))

    def xattr_path(self) -> str:
        """A path to the entry for the path-only xattr calls (never followed: ``follow_symlinks=False``).
        Without /proc, the entry's full path (the one read that a swapped parent can still redirect)."""
        if self.dir_fd is None:
            return self.name
        if _PROC_FD is None:
            _no_proc_warning()
            return self.path
        return f"{_PROC_FD}/{self.dir_fd}/{self.name}"


@lru_cache(maxsize=1)
def _no_proc_warning() -> None:
    """Said once a process: the one read the walk cannot make by descriptor (no silent loss of that)."""
    log.warning(
        "/proc is not mounted: extended attributes are read by full path, which a parent directory "
        "swapped for a symlink during the backup can redirect (mount /proc to close that)"
    )


_new = tuple.__new__  # not the NamedTuple's own __new__: a Python call fewer per entry walked


class DirFd:
    """A directory the walk holds open while it ``lstat``s, lists and reads its entries, shared with the
    reader threads. Closed on the last ``drop``: the walk's own when it leaves the directory (every read
    of its files has ended then), or, when it closes one early (levels.py), that of the last read still
    running (``hold_for``): never while a reader may still open a name relative to it (a closed or
    reused descriptor would read another directory)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._refs = 1
        self._lock = threading.Lock()

    def hold_for(self, reads: list[Future[Any]]) -> None:
        """Stay open until each of ``reads`` is done."""
        with self._lock:
            self._refs += len(reads)
        for read in reads:
            read.add_done_callback(self._released)  # at once if done meanwhile

    def drop(self) -> None:
        with self._lock:
            self._refs -= 1
            last = self._refs == 0
        if last:
            os.close(self.fd)

    def _released(self, _: object) -> None:
        self.drop()


def open_dir(where: Where, dev: int | None = None) -> DirFd:
    """Open a directory to walk (raises OSError). Never a symlink's target: the walk ``lstat``s entries
    ahead (readahead.py), maybe long before it opens one it saw as a directory, and a symlink swapped in
    for it since must not bring another directory's files in under its name (ENOTDIR). With ``dev``
    (--one-file-system: the device ``lstat`` saw), nor a file system mounted there since."""
    fd = os.open(where.name, O_LIST, dir_fd=where.dir_fd)
    try:
        if dev is not None and os.fstat(fd).st_dev != dev:
            raise OSError(errno.EXDEV, "a file system was mounted here during the backup; not crossed", where.path)
    except BaseException:
        os.close(fd)
        raise
    return DirFd(fd)


def list_names(d: DirFd) -> list[str]:
    """The names in the open directory ``d``, sorted."""
    with os.scandir(d.fd) as it:
        return sorted(e.name for e in it)


def held_dirs_max() -> int:
    """How many directories on the walk's path it keeps open at most (one per level; deeper, the
    farthest from the current one are closed and opened again on the way back, levels.py): a quarter of
    the open-file limit (the readers, the repository and the sealing workers need some), 8 to 1024."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(8, min(1024, soft // 4))
