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
from dataclasses import dataclass, field
from typing import Any

from ...core.errors import IntegrityError

FILE, DIR, SYMLINK = "file", "dir", "symlink"
NODE_TYPES = frozenset({FILE, DIR, SYMLINK, "fifo", "socket", "chardev", "blockdev"})


@dataclass(slots=True)
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


def check_name(name: object, where: str) -> str:
    """A name safe to create inside a directory, or IntegrityError."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\x00" in name:
        raise IntegrityError(f"{where}: unsafe entry name {name!r} in snapshot tree (refused)")
    return name


def decode_tree(data: bytes, where: str) -> list[Node]:
    try:
        docs = json.loads(data)["nodes"]
        nodes = [Node.from_doc(d) for d in docs]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{where}: malformed tree blob ({exc})") from None
    seen: set[str] = set()
    for node in nodes:
        check_name(node.name, where)
        if node.name in seen:
            raise IntegrityError(f"{where}: duplicate entry name {node.name!r} in snapshot tree (refused)")
        if node.type not in NODE_TYPES:
            raise IntegrityError(f"{where}: unknown node type {node.type!r}")
        seen.add(node.name)
    return nodes
