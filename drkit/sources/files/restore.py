"""Restore a files snapshot into a target directory, never writing outside it.

Three phases: (1) walk the whole snapshot (trees are read ahead in parallel and their names
validated on decode, ``tree.decode_tree``), creating directories (each checked with ``lstat`` to be
a real directory, never a symlink) and planning files, so a malformed or malicious tree is refused
before any file is written; (2) write every file's content (``fetch.Writeout``: worker threads read,
verify and ``pwrite`` whole runs of blobs into files created with ``O_EXCL|O_NOFOLLOW``, at a
temporary name renamed into place when the name is already taken); hard links are linked to their
first restored path; (3) create symlinks and special files, then set directory metadata deepest
first. Symlinks come last, so no write of this restore can pass through a link it created.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ...core.errors import UsageError
from ...repository.repo import Repository
from .backup import ParentTrees
from .fetch import Writeout
from .tree import DIR, FILE, SYMLINK, Node
from .walker import Excludes


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
        self._is_root = os.geteuid() == 0

    def run(self, root_tree: str) -> RestoreStats:
        os.makedirs(self.target, exist_ok=True)
        self.target = os.path.realpath(self.target)
        trees = ParentTrees(self.repo)
        try:
            self._walk(trees, root_tree, "")
        finally:
            trees.close()
        self._write_files()
        for rel, node in self._links:
            self._special(rel, node)
        for rel, node in reversed(self._dirs):
            self._meta(self._path(rel), node)
        return self.stats

    def _path(self, rel: str) -> str:
        return os.path.join(self.target, rel)

    def _walk(self, trees: ParentTrees, tree_id: str, rel_dir: str) -> None:
        """Depth first in snapshot order, with an explicit stack (any depth; subtrees are read ahead)."""
        stack = [(iter(trees.load(tree_id).values()), rel_dir)]
        while stack:
            nodes, rel_dir = stack[-1]
            node = next(nodes, None)
            if node is None:
                stack.pop()
                continue
            rel = f"{rel_dir}/{node.name}" if rel_dir else node.name
            if not self.selection.wants(rel, node.name, node.type == DIR):
                continue
            if node.type == DIR:
                self._mkdir(rel)
                self._dirs.append((rel, node))
                stack.append((iter(trees.load(node.subtree).values()), rel))
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
        """Write each file's content once; its other hard-linked names are linked afterwards."""
        first: dict[tuple[int, int], str] = {}
        links: list[tuple[str, str]] = []

        def planned() -> Iterator[tuple[str, Node]]:
            for rel, node in self._files:
                if node.links > 1:
                    key = (node.dev, node.inode)
                    if key in first:
                        links.append((first[key], rel))
                        continue
                    first[key] = rel
                self.stats.files += 1
                yield self._path(rel), node

        writeout = Writeout(self.repo, as_root=self._is_root, progress=self.progress)
        self.stats.bytes_written += writeout.run(planned())
        for first_rel, rel in links:
            self._hardlink(first_rel, rel)

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
