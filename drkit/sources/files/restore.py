"""Restore a files snapshot into a target directory, never writing outside it.

Three phases: (1) walk the whole snapshot (trees are read ahead in parallel and their names
validated on decode, ``tree.decode_tree``; xattrs checked too), deciding for each entry what to do
with what the target holds there (``existing.Policy``: by default anything in the way refuses the
restore, here, before anything is written) and planning files; then remove what is in the way of an
entry of another type and create the directories (each checked with ``lstat`` to be a real
directory, never a symlink); (2) write every file's content (``fetch.Writeout``: worker threads
read, verify and ``pwrite`` whole runs of blobs into files created unnamed, linked into place once
complete); hard links are linked to their first restored
path; (3) set the metadata of existing files kept (``--overwrite if-changed``), create symlinks and
special files, remove the entries the snapshot does not have (``--delete``), then set directory
metadata deepest first. Symlinks come last, so no write of this restore can pass through a link it
created. Metadata: owner (as root), then xattrs and ACLs, then mode, then mtime, set by descriptor on the
entry the restore created or found (``Restorer._meta``); everything is created, linked and removed
relative to a descriptor of its directory checked to be the one the restore made or listed
(``_in_parent``, ``fetch.open_dir``): never through a symlink put at a name or above it meanwhile (a
restore run as root into a directory another user can write). Device nodes, FIFOs,
sockets, setuid/setgid bits and world-writable modes only with ``--special-files`` (``special.py``):
by default each is a warning (exit 3).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ...core.errors import DrkitError, UsageError
from ...repository.repo import Repository
from . import existing, xattrs
from .backup import ParentTrees
from .dirfds import open_dir
from .entrykinds import _IFMT, _KINDS, _in_snapshot, _kind
from .existing import Policy
from .fetch import Writeout
from .special import SPECIAL_TYPES, Privileges, expected
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
        return any(rel == p or rel.startswith(p + "/") or (is_dir and p.startswith(rel + "/")) for p in self.includes)


@dataclass(kw_only=True)
class RestoreStats:
    files: int = 0
    dirs: int = 0
    others: int = 0
    bytes_written: int = 0
    unchanged: int = 0  # existing files whose content was kept, metadata set (--overwrite if-changed)
    kept: int = 0  # existing entries left as they were (--overwrite if-newer|never)
    extra: int = 0  # entries not in the snapshot left in restored directories (no --delete)
    deleted: int = 0  # entries not in the snapshot removed (--delete)
    specials_skipped: int = 0  # device nodes, FIFOs, sockets not created (no --special-files)
    modes_restricted: int = 0  # setuid/setgid/world-writable bits, file capabilities left off (no --special-files)
    warnings: list[str] = field(default_factory=list)  # what was not restored (exit 3)


@dataclass(kw_only=True)
class Restorer:
    repo: Repository
    target: str
    selection: Selection = field(default_factory=Selection)
    stats: RestoreStats = field(default_factory=RestoreStats)
    progress: Callable[[int], None] | None = None
    policy: Policy = field(default_factory=Policy)
    on_total: Callable[[int], None] | None = None  # told the bytes ``progress`` will reach, once they are known

    def __post_init__(self) -> None:
        self._files: list[tuple[str, Node]] = []
        self._touch: list[tuple[str, Node]] = []  # existing files kept, metadata set (if-changed)
        self._links: list[tuple[str, Node]] = []
        self._dirs: list[tuple[str, Node, str]] = []  # with the action (existing.NEW, META …)
        self._fresh: set[str] = set()  # directories this restore creates: nothing to look at inside
        self._replace: list[str] = []  # entries in the way, removed before anything is written
        self._conflicts: list[str] = []
        self._extras: list[str] = []
        self._is_root = os.geteuid() == 0
        self._inherits = False  # new entries may inherit a default ACL: their xattrs are set exactly
        self._unlocked: existing.Unlocked = {}  # existing directories opened to us (not root): their modes
        self._ids: dict[str, tuple[int, int]] = {}  # directories and kept files: (st_dev, st_ino) as made or listed
        self._by_fd = os.path.isdir("/proc/self/fd")  # see ``_meta``
        self.privileges = Privileges(keep=self.policy.special_files)

    def run(self, root_tree: str) -> RestoreStats:
        try:
            return self._run(root_tree)
        finally:  # refused, failed or done: what the snapshot gave no mode of its own gets its own back
            existing.relock(self._unlocked)

    def _run(self, root_tree: str) -> RestoreStats:
        missing = [p for p in self.selection.includes if not _in_snapshot(self.repo, root_tree, p)]
        if missing:  # else the restore writes nothing there, and --delete empties that path of the target
            raise UsageError(
                f"--include {missing[0]!r}: no such path in the snapshot; nothing was written",
                hint="snapshot paths start with the backed-up directory's name; `drkit ls SNAPSHOT` lists them",
            )
        try:
            os.makedirs(self.target, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise UsageError(f"cannot restore into {self.target}: not a directory") from None
        self.target = os.path.realpath(self.target)
        st = os.lstat(self.target)
        self._ids[""] = (st.st_dev, st.st_ino)  # the files at its top are written into that very directory
        trees = ParentTrees(self.repo)
        try:
            self._walk(trees, root_tree, "")
        finally:
            trees.close()
        if self._conflicts:
            raise existing.in_the_way(self._conflicts)
        self._prepare()
        if self.on_total is not None:
            self.on_total(self._total())
        self._write_files()
        for rel, node in self._touch:
            self._meta(self._path(rel), node, was_there=True, ident=self._ids[rel])
            self.stats.unchanged += 1
        for rel, node in self._links:
            self._special(rel, node)
        self._delete_extras()
        for rel, node, action in reversed(self._dirs):
            if action != existing.KEEP:
                self._meta(self._path(rel), node, was_there=action == existing.META, ident=self._ids[rel])
                self._unlocked.pop(self._path(rel), None)
        return self.stats

    def _path(self, rel: str) -> str:
        return os.path.join(self.target, rel)

    def _walk(self, trees: ParentTrees, tree_id: str, rel_dir: str) -> None:
        """Depth first in snapshot order, with an explicit stack rather than recursion (a snapshot as deep
        as its file system allowed cannot exhaust the interpreter's stack); subtrees are read ahead."""
        top = trees.load(tree_id)
        stack = [(iter(top.values()), rel_dir, self._there(rel_dir, top))]
        while stack:
            nodes, rel_dir, there = stack[-1]
            node = next(nodes, None)
            if node is None:
                stack.pop()
                if rel_dir:  # the top level of the target is never searched for extra entries
                    self._extra(rel_dir, there)
                continue
            rel = f"{rel_dir}/{node.name}" if rel_dir else node.name
            if not self.selection.wants(rel, node.name, node.type == DIR):
                continue
            if node.xattrs or not isinstance(node.xattrs, dict):
                xattrs.decoded(node.xattrs, rel)  # a malformed one is refused before anything is written
            admitted = self._admit(rel, node)
            if admitted is None:
                there.pop(node.name, None)  # what the target holds there stays, never an extra entry
                continue
            node = admitted
            action = self._action(rel, node, there.pop(node.name, None))
            if action in (existing.SKIP, existing.CONFLICT) or (action == existing.KEEP and node.type != DIR):
                continue
            if node.type == DIR:
                self._dirs.append((rel, node, action))
                sub = trees.load(node.subtree)
                stack.append((iter(sub.values()), rel, self._there(rel, sub)))
            elif node.type == FILE:
                (self._touch if action == existing.META else self._files).append((rel, node))
            else:
                self._links.append((rel, node))

    def _admit(self, rel: str, node: Node) -> Node | None:
        """``node`` as this restore creates it (``special.Privileges``), or None if it does not."""
        if self.privileges.untouched(node):
            return node
        why = self.privileges.skipped(node)
        if why is not None:
            self.stats.warnings.append(f"{rel}: {why}")
            self.stats.specials_skipped += 1
            return None
        restricted = self.privileges.restricted(node)
        if restricted is None:
            return node
        self.stats.warnings.append(f"{rel}: {restricted}")
        self.stats.modes_restricted += 1
        return expected(node, self.privileges)

    def _there(self, rel_dir: str, names: Collection[str]) -> dict[str, os.stat_result]:
        """What the target holds in the directory a walk enters (nothing, if this restore creates it);
        ``names``, the snapshot's entries there, are never taken for a killed restore's leftovers."""
        if rel_dir in self._fresh:
            return {}
        path = self._path(rel_dir) if rel_dir else self.target
        if not self._is_root:  # root may list and write it anyway
            existing.unlock_dir(path, self._unlocked)
        if not self._inherits:  # a default ACL there is inherited by what the restore creates inside
            self._inherits = xattrs.has_default_acl(path)
        try:
            return existing.listing(path, names)
        except OSError as exc:
            raise DrkitError(
                f"cannot read directory {path} of the target: {exc.strerror}",
                hint="nothing was written; restore as a user who can read it, or elsewhere",
            ) from None

    def _action(self, rel: str, node: Node, st: os.stat_result | None) -> str:
        action = self.policy.decide(node, st)
        if st is not None and (action == existing.META or node.type == DIR):
            self._ids[rel] = (st.st_dev, st.st_ino)  # what is set on it or done in it later: on that very entry
        if action == existing.CONFLICT:
            self._conflicts.append(rel)
        elif action == existing.SKIP:
            flags = f"--overwrite {self.policy.overwrite}" + (" --delete" if self.policy.delete else "")
            self.stats.warnings.append(f"{rel}: not restored, the target holds a {_kind(st)} there ({flags})")
        elif action == existing.KEEP and node.type != DIR:
            self.stats.kept += 1
        elif action == existing.REPLACE and st is not None and (node.type == DIR or stat.S_ISDIR(st.st_mode)):
            self._replace.append(rel)  # a file for a directory or the other way round: removed first
        if node.type == DIR and action in (existing.NEW, existing.REPLACE):
            self._fresh.add(rel)
        return action

    def _extra(self, rel_dir: str, there: dict[str, os.stat_result]) -> None:
        for name, st in there.items():
            rel = f"{rel_dir}/{name}"
            if not self.selection.wants(rel, name, stat.S_ISDIR(st.st_mode)):
                continue
            if self.policy.overwrite is None:
                self._conflicts.append(rel)
            elif self.policy.delete:
                self._extras.append(rel)
            else:
                self.stats.extra += 1

    def _prepare(self) -> None:
        """Remove the entries in the way of one of another type, then create the directories."""
        for rel in self._replace:
            try:
                with self._in_parent(rel) as (at, name):
                    existing.remove(name, at)
            except OSError as exc:
                raise DrkitError(
                    f"cannot remove {rel} from the target (in the way of the restore): {exc.strerror}"
                ) from None
        for rel, _, _ in self._dirs:
            self._mkdir(rel)

    def _delete_extras(self) -> None:
        for rel in self._extras:
            try:
                with self._in_parent(rel) as (at, name):
                    existing.remove(name, at)
            except OSError as exc:
                self.stats.warnings.append(f"{rel}: not in the snapshot, not removed: {exc.strerror}")
                continue
            self.stats.deleted += 1

    @contextmanager
    def _in_parent(self, rel: str) -> Iterator[tuple[int, str]]:
        """The directory ``rel`` is in, by descriptor (``fetch.open_dir``: the very directory the restore
        made or found there, never through a symlink put at its name or above it), and ``rel``'s name."""
        rel_dir, _, name = rel.rpartition("/")
        at = open_dir(self._path(rel_dir) if rel_dir else self.target, self._ids.get(rel_dir))
        try:
            yield at, name
        except OSError as exc:
            if exc.filename == name:  # named by its path
                exc.filename = self._path(rel)
            raise
        finally:
            os.close(at)

    def _mkdir(self, rel: str) -> None:
        with self._in_parent(rel) as (at, name):
            try:
                os.mkdir(name, 0o700, dir_fd=at)
            except FileExistsError:
                pass
            st = os.stat(name, dir_fd=at, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"cannot restore directory {rel}: the target holds a non-directory there")
        self._ids[rel] = (st.st_dev, st.st_ino)  # its metadata is set on that very directory
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
        writeout.exact_xattrs = self._inherits
        writeout.dirs = {self.target: self._ids[""]} | {self._path(rel): self._ids[rel] for rel, _, _ in self._dirs}
        try:
            self.stats.bytes_written += writeout.run(planned())
        finally:
            self.stats.warnings += writeout.warnings
        for first_rel, rel in links:
            self._hardlink(first_rel, rel)

    def _total(self) -> int:
        """The bytes of the files to write, a hard-linked file once (as ``_write_files`` writes them)."""
        seen: set[tuple[int, int]] = set()
        total = 0
        for _, node in self._files:
            if node.links > 1:
                if (node.dev, node.inode) in seen:
                    continue
                seen.add((node.dev, node.inode))
            total += node.size
        return total

    def _hardlink(self, first_rel: str, rel: str) -> None:
        with self._in_parent(first_rel) as (src_at, src_name), self._in_parent(rel) as (at, name):
            try:
                if not stat.S_ISDIR(os.stat(name, dir_fd=at, follow_symlinks=False).st_mode):  # removed or skipped
                    os.unlink(name, dir_fd=at)  # a symlink (to a directory, too) is replaced, never followed
            except FileNotFoundError:
                pass
            os.link(src_name, name, src_dir_fd=src_at, dst_dir_fd=at, follow_symlinks=False)
        self.stats.files += 1

    # -- symlinks, special files and metadata ---------------------------------------------------
    def _special(self, rel: str, node: Node) -> None:
        with self._in_parent(rel) as (at, name):
            try:
                if not stat.S_ISDIR(os.stat(name, dir_fd=at, follow_symlinks=False).st_mode):
                    os.unlink(name, dir_fd=at)
            except FileNotFoundError:
                pass
            if node.type == SYMLINK:
                os.symlink(node.target, name, dir_fd=at)
            else:  # admitted by --special-files
                try:
                    os.mknod(name, _KINDS[node.type] | 0o600, node.rdev, dir_fd=at)
                except PermissionError as exc:  # a device node needs the privilege (CAP_MKNOD)
                    self.stats.warnings.append(f"{rel}: {SPECIAL_TYPES[node.type]} not restored: {exc.strerror}")
                    return
            st = os.stat(name, dir_fd=at, follow_symlinks=False)
        self.stats.others += 1
        self._meta(self._path(rel), node, ident=(st.st_dev, st.st_ino))

    def _meta(self, path: str, node: Node, *, was_there: bool = False, ident: tuple[int, int] | None = None) -> None:
        """Owner, xattrs, mode and times of the entry at ``path``, by an ``O_PATH|O_NOFOLLOW`` descriptor:
        a symlink put at its name is opened itself (its type differs: refused), and one put at a parent's
        name leads to another inode than ``ident``, the one the restore created or listed (refused): a
        warning, its metadata not set. ``chmod`` would follow a symlink, and the ``*at`` calls with
        ``AT_SYMLINK_NOFOLLOW`` still follow one in a parent. The calls go through the descriptor's
        ``/proc/self/fd`` link (``fchmod``/``fchown``/``fsetxattr`` refuse an ``O_PATH`` descriptor, and a
        file or directory we may not read can be opened no other way; glibc's ``lchmod`` does the same):
        it names the inode the descriptor holds, a symlink's own for a symlink. Without /proc, by path."""
        try:
            fd = os.open(path, _O_ENTRY)
        except FileNotFoundError:
            self.stats.warnings.append(f"{path}: {GONE}")
            return
        try:
            st = os.fstat(fd)
            if stat.S_IFMT(st.st_mode) != _IFMT[node.type] or (ident is not None and (st.st_dev, st.st_ino) != ident):
                self.stats.warnings.append(f"{path}: {GONE}")
                return
            where = f"/proc/self/fd/{fd}" if self._by_fd else path
            self._set_meta(where, path, node, was_there=was_there, follow=self._by_fd)
        finally:
            os.close(fd)

    def _set_meta(self, where: str, path: str, node: Node, *, was_there: bool, follow: bool) -> None:
        """``follow``: ``where`` is a descriptor's /proc link (followed to the inode it holds, only)."""
        if self._is_root:
            os.chown(where, node.uid, node.gid, follow_symlinks=follow)
        was_there = was_there or self._inherits
        if node.xattrs or was_there:  # after the owner, before the mode (see fetch.FileOut.finish)
            problems = xattrs.apply(where, node.xattrs, existing=was_there, follow=follow)
            self.stats.warnings += [f"{path}: {p}" for p in problems]
        if node.type != SYMLINK:
            os.chmod(where, node.mode)
        os.utime(where, ns=(node.mtime_ns, node.mtime_ns), follow_symlinks=follow)


_O_ENTRY = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC  # opens a symlink itself; never blocks on a FIFO
GONE = "replaced or removed during the restore (a symlink put at its name or above it?): its metadata not set"
