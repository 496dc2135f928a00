"""Restore a files snapshot into a target directory, never writing outside it.

Three phases: (1) walk the trees, creating directories (each checked with ``lstat`` to be a real
directory, never a symlink) and planning files; (2) stream every file's blobs, in one ordered,
prefetched, verified read (``iter_blobs``), into temporary names created with ``O_EXCL|O_NOFOLLOW``,
then rename them into place; hard links are linked to their first restored path; (3) create
symlinks and special files, then set directory metadata deepest first. Symlinks come last, so no
write of this restore can pass through a link it created. Tree names are validated on decode
(``tree.decode_tree``).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from ...core.errors import IntegrityError, UsageError
from ...repository.reader import read_blob
from ...repository.repo import Repository
from .fetch import iter_verified
from .tree import DIR, FILE, SYMLINK, Node, decode_tree
from .walker import Excludes

SMALL_FILE = 4 << 20  # files up to this size are handed, whole, to a writer thread
WRITERS = 2
WRITE_QUEUE = 8  # small files waiting for a writer (bounds memory)
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Selection:
    includes: tuple[str, ...] = ()  # snapshot-relative paths ("data/sub"); empty = everything
    excludes: Excludes = field(default_factory=Excludes)

    def wants(self, rel: str, name: str, is_dir: bool) -> bool:
        if self.excludes.match("/" + rel, name):
            return False
        if not self.includes:
            return True
        return any(rel == p or rel.startswith(p + "/") or (is_dir and p.startswith(rel + "/"))
                   for p in self.includes)


@dataclass
class RestoreStats:
    files: int = 0
    dirs: int = 0
    others: int = 0
    bytes_written: int = 0


@dataclass
class Restorer:
    repo: Repository
    target: str
    selection: Selection = field(default_factory=Selection)
    stats: RestoreStats = field(default_factory=RestoreStats)
    progress: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        self._files: list[tuple[str, Node]] = []
        self._links: list[tuple[str, Node]] = []
        self._dirs: list[tuple[str, Node]] = []
        self._seen_inodes: set[tuple[int, int]] = set()
        self._is_root = os.geteuid() == 0

    def run(self, root_tree: str) -> RestoreStats:
        os.makedirs(self.target, exist_ok=True)
        self.target = os.path.realpath(self.target)
        self._walk(root_tree, "")
        self._write_files()
        for rel, node in self._links:
            self._special(rel, node)
        for rel, node in reversed(self._dirs):
            self._meta(self._path(rel), node)
        return self.stats

    def _path(self, rel: str) -> str:
        return os.path.join(self.target, rel)

    def _walk(self, tree_id: str, rel_dir: str) -> None:
        nodes = decode_tree(read_blob(self.repo, bytes.fromhex(tree_id)), f"tree {tree_id[:16]}")
        for node in nodes:
            rel = f"{rel_dir}/{node.name}" if rel_dir else node.name
            if not self.selection.wants(rel, node.name, node.type == DIR):
                continue
            if node.type == DIR:
                self._mkdir(rel)
                self._dirs.append((rel, node))
                self._walk(node.subtree, rel)
            elif node.type == FILE:
                self._files.append((rel, node))
            else:
                self._links.append((rel, node))

    def _mkdir(self, rel: str) -> None:
        path = self._path(rel)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise UsageError(f"cannot restore directory {rel}: the target holds a non-directory there")
        self.stats.dirs += 1

    # -- files ------------------------------------------------------------------------------
    def _write_files(self) -> None:
        """Blobs arrive in order on this thread; small files are written by a pool (creating
        files costs more than writing them), large ones here, streamed. Hard links come last."""
        ids = (bytes.fromhex(h) for _, node in self._files if not self._linked(node) for h in node.content)
        blobs = iter_verified(self.repo, ids)
        first: dict[tuple[int, int], str] = {}
        links: list[tuple[str, str]] = []
        slots = threading.BoundedSemaphore(WRITE_QUEUE)
        with ThreadPoolExecutor(WRITERS, thread_name_prefix="drkit-write") as pool:
            jobs: list[Future[int]] = []
            for rel, node in self._files:
                key = (node.dev, node.inode)
                if node.links > 1 and key in first:
                    links.append((first[key], rel))
                    continue
                first[key] = rel
                chunks = self._take(node, blobs)
                if isinstance(chunks, list):
                    slots.acquire()
                    jobs.append(pool.submit(self._write_small, rel, node, chunks, slots))
                else:
                    self.stats.bytes_written += write_file(self._path(rel), node, chunks, self._is_root)
            self.stats.bytes_written += sum(job.result() for job in jobs)
        self.stats.files += len(first)
        for first_rel, rel in links:
            self._hardlink(first_rel, rel)

    def _take(self, node: Node, blobs: Iterator[bytes]) -> list[bytes] | Iterator[bytes]:
        """A small file's blobs as a list; a large file's as a lazy iterator."""
        chunks = (self._counted(next(blobs)) for _ in node.content)
        return list(chunks) if node.size <= SMALL_FILE else chunks

    def _counted(self, data: bytes) -> bytes:
        if self.progress is not None:
            self.progress(len(data))
        return data

    def _write_small(self, rel: str, node: Node, chunks: list[bytes], slots: threading.BoundedSemaphore) -> int:
        try:
            return write_file(self._path(rel), node, iter(chunks), self._is_root)
        finally:
            slots.release()

    def _linked(self, node: Node) -> bool:
        """True for the second and later names of a hard-linked file (content written once)."""
        if node.links <= 1:
            return False
        key = (node.dev, node.inode)
        if key in self._seen_inodes:
            return True
        self._seen_inodes.add(key)
        return False

    def _hardlink(self, first_rel: str, rel: str) -> None:
        path = self._path(rel)
        if os.path.lexists(path) and not os.path.isdir(path):
            os.unlink(path)
        os.link(self._path(first_rel), path, follow_symlinks=False)
        self.stats.files += 1

    # -- symlinks, special files and metadata ---------------------------------------------------
    def _special(self, rel: str, node: Node) -> None:
        path = self._path(rel)
        if os.path.lexists(path) and not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
        if node.type == SYMLINK:
            os.symlink(node.target, path)
        elif node.type == "fifo":
            os.mkfifo(path, 0o600)
        elif node.type in ("chardev", "blockdev") and self._is_root:
            kind = stat.S_IFCHR if node.type == "chardev" else stat.S_IFBLK
            os.mknod(path, kind | 0o600, node.rdev)
        else:
            return  # sockets are not restored
        self.stats.others += 1
        self._meta(path, node)

    def _meta(self, path: str, node: Node) -> None:
        if self._is_root:
            os.chown(path, node.uid, node.gid, follow_symlinks=False)
        if node.type != SYMLINK:
            os.chmod(path, node.mode)
        os.utime(path, ns=(node.mtime_ns, node.mtime_ns), follow_symlinks=False)


def write_file(path: str, node: Node, chunks: Iterator[bytes], as_root: bool) -> int:
    """Write ``chunks`` to a new temporary file next to ``path`` (O_EXCL|O_NOFOLLOW: never through
    a link), leave all-zero chunks as holes, set metadata, then rename it into place."""
    # one file at a time per thread: the thread id makes the name unique, and short (NAME_MAX)
    tmp = os.path.join(os.path.dirname(path), f".drkit-restore-{os.getpid()}-{threading.get_ident()}")
    fd = os.open(tmp, _O_NEW, 0o600)
    try:
        written, hole = 0, False
        for data in chunks:
            hole = data[:1] == b"\0" and data[-1:] == b"\0" and data.count(0) == len(data)
            if hole:
                os.lseek(fd, len(data), os.SEEK_CUR)  # keep the file sparse
            else:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            written += len(data)
        if hole:
            os.ftruncate(fd, written)  # a trailing hole sets the size
        if written != node.size:
            raise IntegrityError(f"{path}: restored {written} bytes, the snapshot says {node.size}")
        if as_root and (node.uid, node.gid) != (os.geteuid(), os.getegid()):
            os.fchown(fd, node.uid, node.gid)
        os.fchmod(fd, node.mode)
        os.utime(fd, ns=(node.mtime_ns, node.mtime_ns))
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, path)
    return written
