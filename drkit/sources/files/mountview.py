"""The read-only file system `drkit mount` shows, without the FUSE binding (``ops/mount.py`` adapts it):

    /ids/<id>/…              each files snapshot's tree (id: the short id, longer where two share it)
    /snapshots/<time>        -> ../ids/<id>, by start time (UTC, ``2026-12-07T10:00:00Z``; ``-1``… on a clash)
    /snapshots/latest        -> the newest, of one source only (none at all when ``latest=False``: ops/mount.py)
    /hosts/<host>/<time>     -> ../../ids/<id>, and ``latest``
    /tags/<tag>/<time>       -> ../../ids/<id>, and ``latest``

A stream snapshot (a Redis RDB, `backup stdin`) is a directory holding one file named after its source, a
bundle (a PostgreSQL logical dump and its globals, a base backup's tars, an AOF directory) one file per part;
they are read-only for the mounting user (mode 0400: database contents), read on demand and verified alike.

Entries carry what the snapshot recorded (type, mode, owner, nanosecond mtime, size, hard links as one
inode, symlink targets, device numbers, extended attributes). File data is read on demand, blob by blob,
and every blob is verified as a restore verifies it: damaged or missing data is ``EIO``, never wrong
bytes. The namespace is built when the view is made (snapshots taken later appear after a remount).
"""

from __future__ import annotations

import bisect
import errno
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...core import clock
from ...core.errors import DrkitError
from ...repository.reader import locate, read_blob
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot, source_of
from ...repository.streams import iter_stream_ids
from . import xattrs
from .diff import load_tree
from .tree import DIR, FILE, SYMLINK, Node
from .view import ROOT_ALONE, view_tree

_MODES = {
    FILE: stat.S_IFREG,
    DIR: stat.S_IFDIR,
    SYMLINK: stat.S_IFLNK,
    "fifo": stat.S_IFIFO,
    "socket": stat.S_IFSOCK,
    "chardev": stat.S_IFCHR,
    "blockdev": stat.S_IFBLK,
}
CACHED_BLOBS = 16  # verified plaintext blobs kept for reads that follow (a sequential read of a chunk)
CACHED_TREES = 256


@dataclass
class VDir:
    """A directory of the namespace above the snapshots."""

    mtime_ns: int
    children: dict[str, VDir | VLink | SnapRoot] = field(default_factory=dict)


@dataclass(frozen=True)
class VLink:
    target: str
    mtime_ns: int


@dataclass(frozen=True)
class SnapRoot:
    snap: Snapshot
    tree: str
    mtime_ns: int
    streams: dict[str, dict[str, Any]] | None = None  # a stream or bundle snapshot: file name → stream root


def stream_files(snap: Snapshot) -> dict[str, dict[str, Any]]:
    """The files a stream snapshot shows: its stream, named after its source, or a bundle's parts by name."""
    root = snap.root
    if root.get("type") == "bundle" and isinstance(root.get("parts"), dict):
        return _part_names({name: part for name, part in root["parts"].items() if isinstance(part, dict)})
    return {_safe(snap.source_name) or "stream": root}


def _part_names(parts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    shown = _shown_names(parts)
    return {shown[name]: part for name, part in parts.items()}


def _shown_names(names: Iterable[str]) -> dict[str, str]:
    """Each name → its file name, none hidden: a name `_safe` keeps is shown as it is, a changed one (``a/b``
    → ``a_b``) gets ``-1``… where it would clash with another name's (so tags/a_b/latest is tag a_b's)."""
    every = set(names)
    out = {name: name for name in every if name and _safe(name) == name}
    taken = set(out)
    for name in sorted(every - taken):
        safe = base = _safe(name) or "_"
        n = 1
        while safe in taken:
            safe, n = f"{base}-{n}", n + 1
        out[name] = safe
        taken.add(safe)
    return out


def _safe(name: str) -> str:
    return name.replace("/", "_").replace("\0", "_") if name not in (".", "..") else "_"


@dataclass
class OpenFile:
    ids: list[bytes]
    starts: list[int]  # offset of each blob in the file
    size: int


def _time_ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp()) * 1_000_000_000


def _time_name(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%dT%H:%M:%SZ")


def _eio() -> OSError:
    return OSError(errno.EIO, "damaged or missing data (drkit check --read-data names it)")


class MountView:
    """Path lookups and reads, for one set of files snapshots. Thread-safe (the caches hold a lock)."""

    def __init__(self, repo: Repository, snaps: list[Snapshot], *, latest: bool = True) -> None:
        self.repo = repo
        self.root = VDir(_time_ns(clock.utcnow().isoformat()))
        self._latest = latest
        self._build(snaps)
        self._lock = threading.Lock()
        self._trees: OrderedDict[str, dict[str, Node]] = OrderedDict()
        self._blobs: OrderedDict[bytes, bytes] = OrderedDict()
        self._inodes: dict[tuple[Any, ...], int] = {}
        self._files: dict[int, OpenFile] = {}
        self._next_fh = 1

    # -- the namespace ----------------------------------------------------------------------------

    def _shown_tree(self, snap: Snapshot) -> str:
        """``view_tree`` (a snapshot of / alone shows /etc, not /root/etc); a root tree that cannot be read
        is shown as stored, its damage an EIO when read, never a mount that fails."""
        if snap.root.get("paths") != ROOT_ALONE:
            return str(snap.root.get("tree", ""))
        try:
            return view_tree(self.repo, snap)
        except DrkitError:
            return str(snap.root.get("tree", ""))

    def _build(self, snaps: list[Snapshot]) -> None:
        now = self.root.mtime_ns
        top = {name: VDir(now) for name in ("ids", "snapshots", "hosts", "tags")}
        self.root.children.update(top)
        ordered = sorted(snaps, key=lambda s: datetime.fromisoformat(s.time))
        ids = _short_ids([s.id for s in ordered])
        hosts, tags = _shown_names(s.host for s in snaps), _shown_names(t for s in snaps for t in s.tags)
        sources: dict[int, set[tuple[str, str, str]]] = {}  # a group's id -> its snapshots' sources
        for snap in ordered:
            when = _time_ns(snap.time)
            streams = stream_files(snap) if snap.root.get("type") in ("stream", "bundle") else None
            top["ids"].children[ids[snap.id]] = SnapRoot(snap, self._shown_tree(snap), when, streams)
            groups = [
                (top["snapshots"], "../ids/"),
                *((self._group(top["hosts"], hosts[snap.host]), "../../ids/"),),
                *((self._group(top["tags"], tags[t]), "../../ids/") for t in snap.tags),
            ]
            for vdir, up in groups:
                name = _free(vdir, _time_name(snap.time))
                vdir.children[name] = VLink(up + ids[snap.id], when)
                sources.setdefault(id(vdir), set()).add(source_of(snap))
                if self._latest:
                    vdir.children["latest"] = VLink(name, when)
        for group in (top["snapshots"], *top["hosts"].children.values(), *top["tags"].children.values()):
            # `latest` is the newest of one source (files.md): never another source's tree; several: none
            if isinstance(group, VDir) and len(sources.get(id(group), ())) > 1:
                group.children.pop("latest", None)

    @staticmethod
    def _group(parent: VDir, name: str) -> VDir:
        found = parent.children.setdefault(name, VDir(parent.mtime_ns))
        assert isinstance(found, VDir)
        return found

    def resolve(self, path: str) -> VDir | VLink | SnapRoot | tuple[SnapRoot, str, Node]:
        """What ``path`` names (a snapshot entry: its snapshot, its path inside, its node); ENOENT if nothing."""
        entry: VDir | VLink | SnapRoot = self.root
        parts = [p for p in path.split("/") if p]
        for i, part in enumerate(parts):
            if isinstance(entry, SnapRoot):
                return self._in_snapshot(entry, parts[i:])
            if not isinstance(entry, VDir) or part not in entry.children:
                raise OSError(errno.ENOENT, path)
            entry = entry.children[part]
        return entry

    def _in_snapshot(self, root: SnapRoot, parts: list[str]) -> tuple[SnapRoot, str, Node]:
        if root.streams is not None:
            if parts[0] not in root.streams:
                raise OSError(errno.ENOENT, parts[0])
            if len(parts) > 1:
                raise OSError(errno.ENOTDIR, parts[1])
            size = root.streams[parts[0]].get("size")
            return (
                root,
                parts[0],
                Node(
                    name=parts[0],
                    type=FILE,
                    mode=0o400,
                    uid=os.getuid(),
                    gid=os.getgid(),
                    mtime_ns=root.mtime_ns,
                    size=size if isinstance(size, int) else 0,
                ),
            )
        tree, node = root.tree, None
        for part in parts:
            if node is not None and (node.type != DIR or not node.subtree):
                raise OSError(errno.ENOTDIR if node.type != DIR else errno.ENOENT, part)
            node = self._tree(tree if node is None else node.subtree).get(part)
            if node is None:
                raise OSError(errno.ENOENT, part)
            tree = node.subtree
        assert node is not None
        return root, "/".join(parts), node

    def _tree(self, tree_id: str) -> dict[str, Node]:
        with self._lock:
            found = self._trees.get(tree_id)
            if found is not None:
                self._trees.move_to_end(tree_id)
                return found
        try:
            nodes = {n.name: n for n in load_tree(self.repo, tree_id)}
        except DrkitError:
            raise _eio() from None
        with self._lock:
            self._trees[tree_id] = nodes
            while len(self._trees) > CACHED_TREES:
                self._trees.popitem(last=False)
        return nodes

    # -- attributes -----------------------------------------------------------------------------
    def attrs(self, path: str) -> dict[str, int]:
        entry = self.resolve(path)
        if isinstance(entry, VDir):
            return self._dir_attrs(("v", path), entry.mtime_ns, 2 + len(entry.children))
        if isinstance(entry, VLink):
            return {
                "st_mode": stat.S_IFLNK | 0o777,
                "st_nlink": 1,
                "st_size": len(entry.target),
                "st_ino": self._ino(("v", path)),
                **_times(entry.mtime_ns),
            }
        if isinstance(entry, SnapRoot):
            return self._dir_attrs(("v", path), entry.mtime_ns, 2)
        return self._node_attrs(*entry)

    def _dir_attrs(self, key: tuple[Any, ...], mtime_ns: int, links: int) -> dict[str, int]:
        return {"st_mode": stat.S_IFDIR | 0o555, "st_nlink": links, "st_ino": self._ino(key), **_times(mtime_ns)}

    def _node_attrs(self, root: SnapRoot, inner: str, node: Node) -> dict[str, int]:
        hard = node.type != DIR and node.links > 1 and node.inode
        key = ("h", root.snap.id, node.dev, node.inode) if hard else ("n", root.snap.id, inner)
        size = node.size if node.type == FILE else len(node.target.encode(errors="surrogateescape"))
        return {
            "st_mode": _MODES.get(node.type, stat.S_IFREG) | node.mode,
            "st_nlink": max(node.links, 1),
            "st_uid": node.uid,
            "st_gid": node.gid,
            "st_size": size,
            "st_rdev": node.rdev,
            "st_ino": self._ino(key),
            "st_blocks": (size + 511) // 512,
            **_times(node.mtime_ns, node.ctime_ns),
        }

    def _ino(self, key: tuple[Any, ...]) -> int:
        with self._lock:
            return self._inodes.setdefault(key, len(self._inodes) + 2)  # 1 is the root's

    def names(self, path: str) -> list[str]:
        entry = self.resolve(path)
        if isinstance(entry, VDir):
            return sorted(entry.children)
        if isinstance(entry, SnapRoot):
            return sorted(entry.streams if entry.streams is not None else self._tree(entry.tree))
        if isinstance(entry, tuple) and entry[2].type == DIR:
            return sorted(self._tree(entry[2].subtree)) if entry[2].subtree else []
        raise OSError(errno.ENOTDIR, path)

    def link_target(self, path: str) -> str:
        entry = self.resolve(path)
        if isinstance(entry, VLink):
            return entry.target
        if isinstance(entry, tuple) and entry[2].type == SYMLINK:
            return entry[2].target
        raise OSError(errno.EINVAL, path)

    def xattrs(self, path: str) -> dict[str, bytes]:
        entry = self.resolve(path)
        if not isinstance(entry, tuple) or not entry[2].xattrs:
            return {}
        try:
            return xattrs.decoded(entry[2].xattrs, path)
        except DrkitError:
            raise _eio() from None

    # -- file data ------------------------------------------------------------------------------
    def open(self, path: str) -> int:
        entry = self.resolve(path)
        if not isinstance(entry, tuple) or entry[2].type != FILE:
            raise OSError(errno.EISDIR if not isinstance(entry, VLink) else errno.ELOOP, path)
        root, inner, node = entry
        starts: list[int] = []
        pos = 0
        try:
            if root.streams is not None:  # the list blobs are read (and verified) now
                ids = list(iter_stream_ids(self.repo, root.streams[inner]))
            else:
                ids = [bytes.fromhex(h) for h in node.content]
            for blob_id in ids:
                starts.append(pos)
                pos += locate(self.repo, blob_id).raw_length
        except DrkitError:
            raise _eio() from None
        if pos != node.size:  # the blobs do not add up to the recorded size: refused, as a restore refuses it
            raise _eio()
        with self._lock:
            fh, self._next_fh = self._next_fh, self._next_fh + 1
            self._files[fh] = OpenFile(ids, starts, pos)
        return fh

    def release(self, fh: int) -> None:
        with self._lock:
            self._files.pop(fh, None)

    def read(self, fh: int, size: int, offset: int) -> bytes:
        with self._lock:
            f = self._files.get(fh)
        if f is None:
            raise OSError(errno.EBADF, "not open")
        out, end = [], min(offset + size, f.size)
        i = bisect.bisect_right(f.starts, offset) - 1
        while offset < end and 0 <= i < len(f.ids):
            data = self._blob(f.ids[i])
            lo = offset - f.starts[i]
            part = data[lo : lo + end - offset]
            out.append(part)
            offset += len(part)
            i += 1
        return b"".join(out)

    def _blob(self, blob_id: bytes) -> bytes:
        with self._lock:
            found = self._blobs.get(blob_id)
            if found is not None:
                self._blobs.move_to_end(blob_id)
                return found
        try:
            data = read_blob(self.repo, blob_id)  # authenticated and re-hashed against its id
        except DrkitError:
            raise _eio() from None
        with self._lock:
            self._blobs[blob_id] = data
            while len(self._blobs) > CACHED_BLOBS:
                self._blobs.popitem(last=False)
        return data


def _times(mtime_ns: int, ctime_ns: int = 0) -> dict[str, int]:
    return {"st_mtime": mtime_ns, "st_atime": mtime_ns, "st_ctime": ctime_ns or mtime_ns}


def _short_ids(ids: list[str]) -> dict[str, str]:
    """Each id's shortest prefix of 8 or more hex digits that no other id shares."""
    out = {}
    for snap_id in ids:
        n = 8
        while n < len(snap_id) and any(o != snap_id and o.startswith(snap_id[:n]) for o in ids):
            n += 4
        out[snap_id] = snap_id[:n]
    return out


def _free(vdir: VDir, name: str) -> str:
    if name not in vdir.children:
        return name
    n = 1
    while f"{name}-{n}" in vdir.children:
        n += 1
    return f"{name}-{n}"
