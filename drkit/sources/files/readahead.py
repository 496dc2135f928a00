"""Reading files for a backup, on the walk's thread or ahead of it in a small pool of readers.

The walk (backup.py) ``lstat``s the entries of the directory it is in a few dozen ahead of the one it
assembles (``scan``), and those of the next directories, opened ahead of it (walkahead.py). A file it
will read (new or changed since the parent snapshot, one link) of at least ``WALK_READS_BELOW`` bytes
is then read, cut into chunks and hashed by a reader thread (filereads.py: a small file, at most ``SMALL_FILE``
bytes, whole; a large one streamed into a bounded queue; the system calls, pyfastcdc and blake3
release the GIL). The walk takes the results in its own order, hands the chunks and their ids to the
writer (``BlobWriter.add_data``, which is not thread-safe, stays on the walk's thread) and turns a
reader's failure into the same warning, at the same place, as reading it itself would have. The walk
reads itself: files smaller than ``WALK_READS_BELOW`` (handing one over cost more than reading it),
hard-linked files (the first name in walk order is read), a file whose parent blobs
turn out lost, a file no reader has started yet when the walk reaches it (rather than wait for it;
a loaded machine that keeps the readers from a CPU: ~5-12 % of a tree of small directories at a load
of 12-18 on 2 CPUs, ~40-50 % before directories were opened ahead), a file beyond the budget.

Memory: the files read ahead and not yet assembled hold at most ``read_ahead_budget``: room for one
large file streaming per reader (12 MiB: an 8 MiB read buffer and 4 MiB of chunks queued), at least
two, at most 64 MiB; 24 MiB with two readers: two large files, or one and a few hundred typical small
ones, enough to keep the readers busy while the walk assembles nodes. The walk reserves a small file's
``lstat`` size (+ 1, the byte that shows it grew) or a large file's 12 MiB before handing it over and
frees it once the entry is assembled; a reader reads no more than that: a small file found larger when
opened is streamed by the walk from the descriptor the reader opened (``FileRead.fd``).

The readers are as many as the sealing workers (``Repository.concurrency``: the CPUs the process may
use, or ``--workers``); with one CPU there are none and the walk reads every file itself (a thread
there only adds hand-offs).
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...pipeline import ChunkerParams
from ...pipeline.hashing import BlobHasher
from . import filereads, fstype, xattrs
from .filereads import SMALL_FILE, FileRead, Stream, stream_reserve
from .tree import FILE, SYMLINK, Node
from .walker import Where, node_from_stat

if TYPE_CHECKING:
    from .levels import Level

READ_AHEAD_MAX = 64 << 20  # bytes of files read ahead of the walk and not yet assembled, at most (many readers)
# Files smaller than this the walk reads itself, never handed to a reader: for a file of a few KiB the
# hand-over (a future, a reader woken, the result taken back, the reader's own Python per file, and the
# GIL handed to and fro at each of its ~7 system calls) held the GIL longer than the read does on the
# walk: 20,000 files of ~5 KB, 0.4-0.7 s less interpreter time in all threads once the walk read them
# (its own did not grow; bench/RESULTS.md, session 16). Larger files go to the readers, where reading,
# FastCDC and BLAKE3 (GIL released) outweigh the hand-over.
WALK_READS_BELOW = 16 << 10
# The file systems on which an unchanged entry's attributes are taken from the parent snapshot: their
# setxattr/removexattr (ACLs too) always update the inode's ctime. Elsewhere every entry's are listed:
# older tmpfs did not update it for trusted.* and security.*, FUSE's ctime is its server's, and a network
# file system's may lag (the review of s16-rerun).
CTIME_ON_XATTR = frozenset({fstype.EXT, fstype.XFS, fstype.BTRFS})
SCAN_AHEAD = 64  # entries of a directory ``lstat``ed ahead of the one the walk assembles


@dataclass(slots=True, kw_only=True)
class Scanned:
    """One directory entry as ``lstat`` found it, with the problems to report when the walk reaches it."""

    name: str
    where: Where  # relative to the directory's descriptor: a reader opens it there too
    old: Node | None  # the parent snapshot's node of that name
    st: os.stat_result | None = None
    node: Node | None = None
    problems: list[OSError | str] = field(default_factory=list)
    link_error: OSError | None = None  # a symlink whose target could not be read
    read: Future[FileRead] | None = None  # being read ahead
    stream: Stream | None = None  # a large file being read ahead: its chunks
    reserved: int = 0  # read-ahead bytes reserved for it
    walked: bool = False  # the walk reached it (not to be handed to a reader any more)
    sub: Level | None = None  # a directory opened and listed ahead of the walk (walkahead.py)
    xattr_problem: bool = False  # an attribute could not be listed or read (among ``problems``)

    @property
    def path(self) -> str:
        return self.where.path


def scan(
    where: Where,
    name: str,
    old: Node | None,
    xattrs_from_old: bool = False,
    settled_before_ns: int | None = None,
    ctime_devices: dict[int, bool] | None = None,
) -> Scanned:
    """``lstat`` an entry (and ``readlink`` a symlink) and list its extended attributes (one ``llistxattr``),
    or, with ``xattrs_from_old`` (the parent snapshot listed every entry's, as this user:
    ``Archiver.parent_xattrs``), take ``old``'s if the entry is the same inode with the same ctime
    (``same_inode``: no attribute or ACL can have changed since) on a file system in ``CTIME_ON_XATTR``
    (asked once a device and kept in ``ctime_devices``, the run's own: ``fstype.of_device``); problems are
    kept."""
    s = Scanned(name=name, where=where, old=old)
    try:
        s.st = os.stat(where.name, dir_fd=where.dir_fd, follow_symlinks=False)
    except OSError as exc:
        s.problems.append(exc)
        return s
    node = s.node = node_from_stat(os.fsdecode(name), s.st)
    if (
        xattrs_from_old
        and old is not None
        and same_inode(node, old, settled_before_ns)
        and fstype.of_device(s.st.st_dev, where.dir_fd, CTIME_ON_XATTR, {} if ctime_devices is None else ctime_devices)
    ):
        node.xattrs = old.xattrs
    else:
        node.xattrs, problems = xattrs.read(where.xattr_path())
        if problems:
            s.problems.extend(problems)
            s.xattr_problem = True
    if node.type == SYMLINK:
        try:
            node.target = os.readlink(where.name, dir_fd=where.dir_fd)
        except OSError as exc:
            s.link_error = exc
    return s


def read_ahead_budget(readers: int, params: ChunkerParams) -> int:
    """Room for one large file streaming per reader (at least two: a large file and small ones beside
    it), at most ``READ_AHEAD_MAX``: 24 MiB for two readers with the default chunker."""
    return min(READ_AHEAD_MAX, max(2, readers) * stream_reserve(params))


class Readers:
    """The reader threads and the read-ahead budget. Only the walk's thread calls these methods."""

    def __init__(self, readers: int, params: ChunkerParams, hasher: BlobHasher, budget: int | None = None):
        self._pool = ThreadPoolExecutor(readers, thread_name_prefix="drkit-read")
        self._params, self._hasher = params, hasher
        self._large = stream_reserve(params)
        self.budget = budget or read_ahead_budget(readers, params)
        self.held = 0  # bytes reserved by files read ahead and not yet assembled
        self.peak = 0  # the most ever held (tests)
        self.handed = 0  # files handed to the readers (tests, benches)
        self._out: dict[Future[FileRead], Scanned] = {}  # handed over, not taken
        self._streams: set[Stream] = set()  # large files being streamed, until assembled

    def fill(self, queue: deque[tuple[Level, Scanned]]) -> None:
        """Hand files to the readers from the front of ``queue`` (the order the walk scanned them: its
        directory's next entries and those of the directories opened ahead of it, walkahead.py) while
        they fit in the budget; stop at the first that does not. A reader opens the file relative to its
        directory's descriptor (``s.where``), which the walk keeps open until every entry of it is
        assembled, or, if it closes it earlier, until those reads end (levels.py). A file the walk
        reached first, or whose directory is closed for now, is dropped from the queue: the walk reads it."""
        while queue:
            level, s = queue[0]
            if s.walked or level.dir is None:  # closed: the descriptor in ``s.where`` is too
                queue.popleft()
                continue
            size = s.node.size if s.node is not None else 0
            need = size + 1 if size <= SMALL_FILE else self._large
            if self.held + need > self.budget:
                return
            queue.popleft()
            s.reserved = need
            self.held += need
            self.peak = max(self.peak, self.held)
            if size <= SMALL_FILE:
                s.read = self._pool.submit(filereads.read_small, s.where, size, self._params, self._hasher)
            else:
                s.stream = Stream()
                self._streams.add(s.stream)
                s.read = self._pool.submit(filereads.read_large, s.where, self._params, self._hasher, s.stream)
            self._out[s.read] = s
            self.handed += 1

    def take(self, s: Scanned) -> FileRead | None:
        """What a reader read of ``s`` (waiting for it), or its ``stream``; None if no reader was asked
        to or had started (the walk reads it itself, rather than wait)."""
        fut = s.read
        if fut is None:
            return None
        s.read = None
        del self._out[fut]
        if fut.cancel():  # not started: the walk reads it itself
            if s.stream is not None:
                self._streams.discard(s.stream)
                s.stream = None
            return None
        if s.stream is not None:
            return FileRead(stream=s.stream)
        return fut.result()

    def finish(self, s: Scanned) -> None:
        """``s`` is assembled: free its room in the budget, and stop or close what it did not use."""
        got = None
        if s.read is not None:  # read ahead, then not needed
            if s.stream is not None:
                s.stream.close()
            got = self.take(s)
        if s.stream is not None:
            s.stream.close()
            s.stream.wait()
            self._streams.discard(s.stream)
            s.stream = None
        if got is not None and got.fd is not None:
            os.close(got.fd)
        self.held -= s.reserved
        s.reserved = 0

    def close(self) -> None:
        """Stop and wait for the readers; close the descriptors of files read and never used (a failed walk)."""
        for stream in self._streams:  # a reader waiting for room in one returns
            stream.close()
        self._streams.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for fut in self._out:
            got = None if fut.cancelled() or fut.exception() is not None else fut.result()
            if got is not None and got.fd is not None:
                os.close(got.fd)
        self._out.clear()


def same_inode(node: Node, old: Node, settled_before_ns: int | None) -> bool:
    """Whether ``old`` (the parent snapshot's node of that name) was taken of the same inode with the same
    ctime: every write, and every change of owner, mode, extended attribute or ACL sets the ctime, so
    nothing but the atime can have changed since (a change in the same tick of the file system's coarse
    clock as one before the parent's read may keep it: restic and Borg trust the ctime as far). With
    ``settled_before_ns`` (PostgreSQL incremental base backups) also: its times before that cutoff, so a
    change in the same clock tick as the parent's read is not missed. A node's ctime is the one its
    ``lstat`` saw before its attributes were listed and its bytes read (``Archiver._read``), never a
    later one."""
    if (node.inode, node.ctime_ns, node.type) != (old.inode, old.ctime_ns, old.type):
        return False
    cutoff = settled_before_ns
    return cutoff is None or (old.mtime_ns < cutoff and old.ctime_ns < cutoff)


def reusable(node: Node, old: Node | None, settled_before_ns: int | None) -> bool:
    """Whether the parent snapshot's node ``old`` may stand for ``node`` unread: a file then, the same
    size and mtime now, and ``same_inode``. The one rule for the walk (``Archiver._file``) and for what it
    reads ahead (``wanted``)."""
    if old is None or old.type != FILE:
        return False
    return (node.size, node.mtime_ns) == (old.size, old.mtime_ns) and same_inode(node, old, settled_before_ns)


def wanted(s: Scanned, larger_than: int | None, settled_before_ns: int | None) -> bool:
    """Whether the walk will read ``s`` (worth reading ahead): a regular file with one link,
    kept (not larger than ``--exclude-larger-than``), new or changed since the parent snapshot."""
    node = s.node
    if node is None or node.type != FILE or node.links != 1:
        return False
    if larger_than is not None and node.size > larger_than:
        return False
    return not reusable(node, s.old, settled_before_ns)
