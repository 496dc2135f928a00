"""Tree blobs: one per directory, the sorted list of its entries as JSON.

    {"nodes": [{"name": ..., "type": "file"|"dir"|"symlink"|"fifo"|"socket"|"chardev"|"blockdev",
                "mode": int, "uid": int, "gid": int, "user": str, "group": str,
                "mtime_ns": int, "ctime_ns": int, "inode": int, "dev": int, "links": int, "size": int,
                "target": str (symlinks), "content": [hex data blob ids] (files),
                "subtree": hex tree blob id (dirs), "rdev": int (devices),
                "xattrs": {name: base64 value} (extended attributes and POSIX ACLs, ``xattrs.py``)}, ...]}

A field that is absent has its zero value: a node written before ``xattrs`` existed has none.

Names are decoded from the file system with ``surrogateescape`` and stored with ASCII escapes, so
any byte string survives. ``decode_tree`` refuses names that could leave the directory they are
restored into (empty, ``.``, ``..``, containing ``/`` or NUL) and duplicate names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...core.errors import IntegrityError

FILE, DIR, SYMLINK = "file", "dir", "symlink"
NODE_TYPES = frozenset({FILE, DIR, SYMLINK, "fifo", "socket", "chardev", "blockdev"})


@dataclass(slots=True, kw_only=True)
class Node:
    name: str
    type: str
    mode: int = 0
    uid: int = 0
    gid: int = 0
    user: str = ""
    group: str = ""
    mtime_ns: int = 0
    ctime_ns: int = 0
    inode: int = 0
    dev: int = 0
    links: int = 1
    size: int = 0
    target: str = ""
    content: list[str] = field(default_factory=list)
    subtree: str = ""
    rdev: int = 0
    xattrs: dict[str, str] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for k in _FIELDS:
            v = getattr(self, k)
            if v or k in ("name", "type"):
                doc[k] = v
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Node:
        try:
            return cls(**doc)
        except TypeError:  # a field this version does not know (or a malformed entry)
            if not isinstance(doc, dict):
                raise
            return cls(**{k: v for k, v in doc.items() if k in _FIELDS})


_FIELDS = tuple(Node.__dataclass_fields__)


def encode_tree(nodes: list[Node]) -> bytes:
    ordered = sorted(nodes, key=lambda n: n.name)
    return json.dumps({"nodes": [n.to_doc() for n in ordered]}, separators=(",", ":")).encode()


# The fast check of one node document, field by field, against ``tree_schema`` (which stays the
# reference, and names the problem when this check fails): hand-written because pydantic took ~10 µs a
# node, most of a re-run's or restore's tree decoding (1.3-1.7x the time before the schema), and its
# import ~9 MiB of peak RSS. It is never more lenient than the schema (a test compares the two).
_HEX = "0123456789abcdef"


def _hex_id(v: Any) -> bool:
    return type(v) is str and len(v) == 64 and not v.strip(_HEX)


def _ints_ok(g: Callable[[str, Any], Any]) -> bool:
    u32, u64, ns = 1 << 32, 1 << 64, 1 << 63
    mode, uid, gid, links, size = g("mode", 0), g("uid", 0), g("gid", 0), g("links", 0), g("size", 0)
    mtime, ctime, inode, dev, rdev = g("mtime_ns", 0), g("ctime_ns", 0), g("inode", 0), g("dev", 0), g("rdev", 0)
    return (
        type(mode) is int
        and 0 <= mode <= 0o7777
        and type(uid) is int
        and 0 <= uid < u32
        and type(gid) is int
        and 0 <= gid < u32
        and type(links) is int
        and 0 <= links < u32
        and type(size) is int
        and 0 <= size < ns
        and type(mtime) is int
        and -ns <= mtime < ns
        and type(ctime) is int
        and -ns <= ctime < ns
        and type(inode) is int
        and 0 <= inode < u64
        and type(dev) is int
        and 0 <= dev < u64
        and type(rdev) is int
        and 0 <= rdev < u64
    )


def node_ok(doc: Any) -> bool:
    """Whether one node document is well formed (``tree_schema._NodeDoc``; name and type are checked after)."""
    if type(doc) is not dict:
        return False
    g = doc.get
    user, group, target = g("user", ""), g("group", ""), g("target", "")
    content, subtree = g("content", []), g("subtree", "")
    return (
        _ints_ok(g)
        and type(user) is str
        and type(group) is str
        and type(target) is str
        and (not target or ("\x00" not in target and _fs_name(target)))
        and type(content) is list
        and all(map(_hex_id, content))
        and (subtree == "" or _hex_id(subtree))
    )


def _node_docs(doc: Any) -> list[dict[str, Any]]:
    """The node documents of a decoded tree blob: checked fast; one that fails goes through the schema,
    whose error (``ValueError``) names the field."""
    nodes = doc.get("nodes") if type(doc) is dict else None
    if type(nodes) is list and all(map(node_ok, nodes)):
        return nodes
    from .tree_schema import validated_nodes  # pydantic: loaded for a malformed tree only

    return validated_nodes(doc)


def check_name(name: object, where: str) -> str:
    """A name safe to create inside a directory, or IntegrityError."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\x00" in name or not _fs_name(name):
        raise IntegrityError(f"{where}: unsafe entry name {name!r} in snapshot tree (refused)")
    return name


def _fs_name(name: str) -> bool:
    try:
        os.fsencode(name)
    except UnicodeEncodeError:  # a lone surrogate outside surrogateescape's range
        return False
    return True


def decode_tree(data: bytes, where: str) -> list[Node]:
    """The nodes of a tree blob, each field checked against the schema (``tree_schema``): a crafted tree
    is an IntegrityError here, never a TypeError, ValueError or UnicodeEncodeError at restore."""
    return decode_tree_known(data, where)[0]


def decode_tree_known(data: bytes, where: str) -> tuple[list[Node], bool]:
    """``decode_tree``, and whether the blob holds only fields this version knows: one a newer drkit wrote
    may hold more, which its nodes here leave out, so such a blob does not stand for them."""
    try:
        docs = json.loads(data)
    except ValueError as exc:  # not JSON (a UnicodeDecodeError is a ValueError)
        raise IntegrityError(f"{where}: malformed tree blob ({type(exc).__name__})") from None
    try:
        node_docs = _node_docs(docs)
        try:  # ``from_doc`` inlined: a call fewer a node (~1.5 µs of ~8: re-runs decode every parent tree)
            nodes, known = [Node(**d) for d in node_docs], type(docs) is dict and len(docs) == 1
        except TypeError:  # a field this version does not know (or a malformed entry)
            nodes, known = [Node.from_doc(d) for d in node_docs], False
    except ValueError as exc:
        raise IntegrityError(f"{where}: malformed tree blob ({exc})") from None
    except (KeyError, TypeError) as exc:
        raise IntegrityError(f"{where}: malformed tree blob ({type(exc).__name__})") from None
    seen: set[str] = set()
    for node in nodes:
        check_name(node.name, where)
        if node.name in seen:
            raise IntegrityError(f"{where}: duplicate entry name {node.name!r} in snapshot tree (refused)")
        if not isinstance(node.type, str) or node.type not in NODE_TYPES:  # a list: unhashable
            raise IntegrityError(f"{where}: unknown node type {node.type!r}")
        seen.add(node.name)
    return nodes, known


def root_tree(root: dict[str, Any], where: str) -> str:
    """The root tree id of a files snapshot's ``root``, or IntegrityError (a crafted snapshot)."""
    tree = root.get("tree")
    if not isinstance(tree, str) or len(tree) != 64 or tree.strip("0123456789abcdef"):
        raise IntegrityError(f"{where}: malformed snapshot root (no tree id)")
    return tree
