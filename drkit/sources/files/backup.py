"""Walk file trees into tree blobs and data blobs, reusing a parent snapshot's unchanged files.

One ``BlobWriter`` per backup. Directories are walked depth-first; each directory's tree blob is
written after its children, so the root id is known last. The parent snapshot's tree for the same
directory is loaded as the walk enters it, so the lookup costs one blob read per directory. A file
whose size, mtime, ctime and inode equal its parent node's keeps the parent's content list without
being opened; an entry whose inode and ctime equal its parent node's keeps its extended attributes
unlisted, if the parent snapshot listed every entry's as this user (``parent_xattrs``); a directory
whose nodes all equal the parent's keeps the parent's tree blob, not encoded again. Problems with
single entries become warnings; the backup goes on.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from ...core.errors import IntegrityError
from ...repository.pack import BLOB_TREE
from ...repository.reader import read_blob
from ...repository.repo import Repository
from . import readahead, xattrs
from .filereads import SMALL_FILE, STREAM_READ, FileRead, read_small
from .levels import Level, Levels
from .markers import Marker
from .readahead import SCAN_AHEAD, Readers, Scanned, reusable, scan
from .sparse import file_chunks
from .tree import DIR, FILE, Node, decode_tree_known, encode_tree
from .walkahead import Ahead, parent_tree
from .walker import Excludes, Where, held_dirs_max, node_from_stat

log = logging.getLogger(__name__)
REPLACED = "moved or replaced while being backed up; the snapshot holds the directory that was walked"


@dataclass(kw_only=True)
class FileStats:
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    dirs: int = 0
    others: int = 0  # symlinks, fifos, devices
    files_read: int = 0
    bytes_read: int = 0  # file content read from disk
    total_bytes: int = 0  # size of every file in the snapshot


@dataclass(kw_only=True)
class BackupOptions:
    excludes: Excludes = field(default_factory=Excludes)
    one_file_system: bool = False
    markers: tuple[Marker, ...] = ()  # a directory holding one keeps only it (--exclude-if-present, -caches)
    larger_than: int | None = None  # files over this many bytes are left out (--exclude-larger-than)
    # a parent's file is reused only if its mtime and ctime are before this (ns since the epoch): one changed
    # in the same clock tick as the parent read it keeps equal times (PostgreSQL incremental base backups)
    settled_before_ns: int | None = None


class BlobSink(Protocol):
    """What the archiver stores through: a ``BlobWriter``, or a dry run's ``DryRunWriter`` that stores nothing."""

    def add_blob(self, blob_type: int, data: bytes) -> bytes: ...

    def add_data(self, chunk: bytes | memoryview, blob_id: bytes | None = None) -> bytes: ...

    def reuse(self, hex_ids: list[str]) -> bool: ...


@dataclass(kw_only=True)
class Archiver:
    repo: Repository
    writer: BlobSink
    options: BackupOptions = field(default_factory=BackupOptions)
    stats: FileStats = field(default_factory=FileStats)
    warnings: list[str] = field(default_factory=list)
    on_file: Callable[[str], None] | None = None  # before a file is opened (tests: with it, no read-ahead)
    progress: Callable[[int], None] | None = None  # with the size of each file not read (unchanged, a hard link)
    marked: list[str] = field(default_factory=list)  # directories whose contents a marker file left out
    on_read: Callable[[str, str], None] | None = None  # with each file read and "new" or "changed"
    readers: int | None = None  # threads reading files ahead of the walk (None: one per CPU; 0 or 1 CPU: none)
    # the parent snapshot listed every entry's extended attributes, as this user: an entry unchanged since
    # (``readahead.same_inode``) keeps its parent node's unlisted (xattrs.py: the snapshot's READ_AS, TRUSTED)
    parent_xattrs: bool = False

    def __post_init__(self) -> None:
        self._hardlinks: dict[tuple[int, int], list[str]] = {}
        self._parents = ParentTrees(self.repo)
        self._pending: Scanned | None = None  # a directory met, not yet walked
        self._levels = Levels(held_dirs_max())
        if self.readers is None:
            cpus = self.repo.concurrency().seal_workers
            self.readers = cpus if cpus > 1 and self.on_file is None else 0
        self._reader = Readers(self.readers, self.repo.config.chunker, self.repo.hasher) if self.readers else None
        self._ahead = Ahead(self.options, self._load, self._reader, self._levels.held_max, readahead.WALK_READS_BELOW)
        self._ahead.xattrs_from_parent = self.parent_xattrs
        self.walk_reads = 0  # files the walk read itself (none handed to a reader, or not started in time)
        self.xattr_problems = 0  # entries whose extended attributes could not all be listed and read

    # -- the tree -------------------------------------------------------------------------------
    def root(self, paths: list[str], parent_tree: str | None) -> str:
        """Back up each absolute path as one entry of a synthetic root; return its tree id."""
        parent, parent_id = self._load(parent_tree)
        nodes = []
        with _older_objects_frozen():
            for path in paths:
                self._ahead.root_dev = None
                name = os.path.basename(path.rstrip("/")) or "root"
                s = scan(
                    Where(path, path),
                    name,
                    parent.get(name),
                    self.parent_xattrs,
                    self.options.settled_before_ns,
                    self._ahead.ctime_devices,
                )
                node = self._use(s)
                if node is not None:
                    self._descend()
                    nodes.append(node)
        return self._tree(nodes, parent, parent_id)

    def _load(self, tree_id: str | None) -> tuple[dict[str, Node], str]:
        """The parent snapshot's nodes of a directory by name, and the id of their tree blob if it may
        stand for them (``_tree``; "" if not: none, unreadable, or holding fields this version does not know)."""
        if not tree_id:
            return {}, ""
        try:
            nodes, known = self._parents.load_known(tree_id)
        except IntegrityError as exc:  # lost or damaged: compare with nothing, so every file is read anew
            log.warning("parent tree %s is unreadable (%s); its files are read again", tree_id[:16], exc.message)
            return {}, ""
        return nodes, tree_id if known else ""

    def _tree(self, nodes: list[Node], parent: dict[str, Node], parent_id: str) -> str:
        """The id of the tree blob of a directory's ``nodes``: the parent snapshot's for it if every node
        equals the parent's node of that name and no name is more or less (the blob decodes to these
        very nodes) and it is still indexed (``reuse``: as an unchanged file's blobs); else a new one."""
        if (
            parent_id
            and len(nodes) == len(parent)
            and all(n == parent.get(n.name) for n in nodes)
            and self.writer.reuse([parent_id])
        ):
            return parent_id
        return self.writer.add_blob(BLOB_TREE, encode_tree(nodes)).hex()

    def close(self) -> None:
        self._parents.close()
        if self._reader is not None:
            self._reader.close()
        self._levels.close()  # after the readers: none holds a directory any more
        self._ahead.close()

    def _descend(self) -> None:
        """Walk the directory ``_entry`` just met (if it met one) and everything below it, depth first
        with an explicit stack rather than recursion: a tree as deep as the file system allows (anyone
        who can write in it can make one) cannot fail the backup. A directory's tree blob is written when
        its level is done, after its children's, and becomes its node's ``subtree``."""
        stack = self._levels.stack
        while True:
            if self._pending is not None:
                self._enter(self._pending)
                self._pending = None
            if not stack:
                return
            level = stack[-1]
            s = self._next(level)
            if s is None:
                self._leave()
                level.node.subtree = self._tree(level.nodes, level.parent, level.parent_id)
                continue
            child = self._use(s)
            if child is not None:
                level.nodes.append(child)
            if self._reader is not None:  # its read-ahead room freed (and a read not used after all stopped)
                self._reader.finish(s)

    def _leave(self) -> None:
        """Done with the top level: close it; open the one below it again if it was closed (levels.py)."""
        left = self._levels.pop()
        if self._levels.reopen_problem is not None:
            self._abandon(self._levels.stack[-1], self._levels.reopen_problem)
        if self._levels.replaced(left):  # its entries were read through its descriptor: never another's
            self.warn(left.where.path, REPLACED)

    def _abandon(self, level: Level, problem: str) -> None:
        """Skip what is left of a level that could not be opened again (levels.py)."""
        self.warn(level.where.path, problem)
        for s in level.ahead:
            self._ahead.release(s)
        level.ahead.clear()
        level.dirs.clear()
        level.pos = len(level.names)

    def _next(self, level: Level) -> Scanned | None:
        """The level's next entry (None: none left), ``lstat``ed with up to ``SCAN_AHEAD`` after it and
        the next directories opened ahead (walkahead.py); the files queued for the readers, this one
        among them, are handed over as the budget allows before the walk takes it."""
        ahead = self._ahead
        if self._reader is None:
            ahead.scan(level, 1)
            return level.ahead.popleft() if level.ahead else None
        ahead.scan(level, SCAN_AHEAD)
        ahead.prepare(level)
        if not level.ahead:
            return None
        self._reader.fill(ahead.handoff)
        s = level.ahead.popleft()
        s.walked = True
        ahead.trim()
        return s

    def _enter(self, s: Scanned) -> None:
        """Walk into a directory met: the level opened ahead for it, or opened now (relative to its
        parent's descriptor) and listed; what kept it from being opened or listed is said now."""
        level = self._ahead.take(s)
        if level is None:
            assert s.node is not None
            same_fs = self.options.one_file_system and bool(self._levels.stack)  # the root: its own file system
            level = self._ahead.open(s.where, s.node, parent_tree(s), same_fs)
        if level.problem is not None:
            self.warn(level.where.path, level.problem)
        if level.marked:
            self.marked.append(level.where.path)
        self._levels.push(level)

    def _use(self, s: Scanned) -> Node | None:
        """The node of an entry ``scan`` met, its problems reported."""
        for problem in s.problems:
            self.warn(s.path, problem)
        self.xattr_problems += s.xattr_problem
        node = s.node
        if node is None or s.st is None:
            return None
        if node.type == DIR:
            return self._dir_node(s, node, s.st)
        if node.type == FILE:
            return self._file(s, node)
        self.stats.others += 1
        if s.link_error is not None:
            self.warn(s.path, s.link_error)
            return None
        return node

    def _dir_node(self, s: Scanned, node: Node, st: os.stat_result) -> Node | None:
        if self._ahead.root_dev is None:
            self._ahead.root_dev = st.st_dev
        elif self.options.one_file_system and st.st_dev != self._ahead.root_dev:
            self._ahead.release(s)  # not opened ahead (``Ahead.scan`` checks the device too): in case
            return None
        self.stats.dirs += 1
        self._pending = s
        return node  # its subtree is filled in by ``_descend``

    # -- file content -----------------------------------------------------------------------------
    def _file(self, s: Scanned, node: Node) -> Node | None:
        path, old = s.path, s.old
        if self.options.larger_than is not None and node.size > self.options.larger_than:
            return None
        if self.on_file is not None:
            self.on_file(path)
        self.stats.total_bytes += node.size
        key = (node.dev, node.inode)
        if node.links > 1 and key in self._hardlinks:
            node.content = self._hardlinks[key]
            self._not_read(node)
            return node
        if old is not None and reusable(node, old, self.options.settled_before_ns) and self.writer.reuse(old.content):
            node.content = old.content  # all indexed, none in a lost pack (else read again, or exit 13)
            self._not_read(node)
        else:
            content = self._read(s, node)
            if content is None:
                return None
            node.content = content
            if old is None:
                self.stats.files_new += 1
            else:
                self.stats.files_changed += 1
            if self.on_read is not None:
                self.on_read(path, "new" if old is None else "changed")
        if node.links > 1:
            self._hardlinks[key] = node.content
        return node

    def _not_read(self, node: Node) -> None:
        self.stats.files_unchanged += 1
        if self.progress is not None:
            self.progress(node.size)

    def _read(self, s: Scanned, node: Node) -> list[str] | None:
        """Read a file (or take what a reader read of it): its blob ids, its node's size and times
        updated to what was read."""
        path = s.path
        got = self._reader.take(s) if self._reader is not None else None
        if got is None:
            self.walk_reads += 1
            got = read_small(s.where, SMALL_FILE, self.repo.config.chunker, self.repo.hasher)
        try:
            ids, done = self._content(got)
        except OSError as exc:
            self.warn(path, exc)
            return None
        finally:
            if got.fd is not None:
                os.close(got.fd)
        before, after, size = done.before, done.after, done.size
        if done.problem is not None or before is None or after is None:
            self.warn(path, done.problem or "not read")
            return None
        self.stats.files_read += 1
        self.stats.bytes_read += size
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or size != before.st_size:
            self.warn(path, "file changed while being read; the snapshot holds what was read")
        if (after.st_dev, after.st_ino) != (node.dev, node.inode):  # another file since its lstat (maybe long
            self._restat(s.where, node, after)  # before: scanned ahead): the owner, mode, xattrs of the bytes read
        # the ctime stays the lstat's, seen before the attributes were listed and the bytes read: a file
        # changed since (rewritten while read, even with its mtime put back; an attribute set) shows
        # another ctime to the next run, which reads it and lists its attributes again; with this read's
        # last ctime it would be found unchanged and keep what this run read, with no warning
        node.size, node.mtime_ns = size, after.st_mtime_ns
        return ids

    def _restat(self, where: Where, node: Node, st: os.stat_result) -> None:
        fresh = node_from_stat(node.name, st)
        for name in ("mode", "uid", "gid", "user", "group", "inode", "dev", "links"):
            setattr(node, name, getattr(fresh, name))
        node.xattrs, problems = xattrs.read(where.xattr_path())
        self.xattr_problems += bool(problems)
        for problem in problems:
            self.warn(where.path, problem)

    def _content(self, got: FileRead) -> tuple[list[str], FileRead]:
        """Hand a file's chunks to the writer (sealed by its workers meanwhile): read whole (views of
        the data), from a reader's ``stream``, or streamed here in bounded blocks from ``fd`` (large, or
        grown since its ``fstat``). Returns the ids and how the read ended."""
        add = self.writer.add_data
        if got.stream is not None:
            ids = [add(c, i).hex() for c, i in got.stream]
            return ids, got.stream.result()
        if got.fd is None:
            return [add(c, i).hex() for c, i in zip(got.chunks, got.ids, strict=True)], got
        ids, size = [], 0
        for chunk, blob_id in file_chunks(got.fd, self.repo.config.chunker, self.repo.hasher, STREAM_READ):
            ids.append(add(chunk, blob_id).hex())  # holes not read (sparse.py)
            size += len(chunk)
        got.size, got.after = size, os.fstat(got.fd)
        return ids, got

    def warn(self, path: str, problem: OSError | str) -> None:
        text = problem if isinstance(problem, str) else (problem.strerror or str(problem))
        self.warnings.append(f"{path}: {text}")


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """The objects made before the walk (modules, classes, the repository: ~30,000) kept out of the
    garbage collector's passes while it walks, on the walk's thread: 0.067 -> 0.042 s of collector time
    on the bench's 20,180-file tree, no full pass (bench/RESULTS.md, session 16). Two backups at once in
    a process may unfreeze the other's early: it then collects as before."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class ParentTrees:
    """The parent snapshot's trees, loaded as the walk enters each directory; loading one tree
    starts reading its subdirectories' trees in the background, so the walk rarely waits."""

    def __init__(self, repo: Repository, workers: int = 4) -> None:
        self._repo = repo
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="drkit-parent")
        self._pending: dict[str, Future[tuple[list[Node], bool]]] = {}

    def _read(self, tree_id: str) -> tuple[list[Node], bool]:
        return decode_tree_known(read_blob(self._repo, bytes.fromhex(tree_id)), f"tree {tree_id[:16]}")

    def load(self, tree_id: str) -> dict[str, Node]:
        return self.load_known(tree_id)[0]

    def load_known(self, tree_id: str) -> tuple[dict[str, Node], bool]:
        """A tree's nodes by name, and whether it holds only fields this version knows."""
        fut = self._pending.pop(tree_id, None)
        nodes, known = fut.result() if fut is not None else self._read(tree_id)
        for n in nodes:
            if n.type == DIR and n.subtree and n.subtree not in self._pending:
                self._pending[n.subtree] = self._pool.submit(self._read, n.subtree)
        return {n.name: n for n in nodes}, known

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()
