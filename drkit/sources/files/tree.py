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
from dataclasses import dataclass, field
from typing import Annotated, Any, NotRequired

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

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


def _encodable(value: str) -> str:
    """A name or link target the file system can take: encodable (``surrogateescape`` as on backup)."""
    if "\x00" in value:
        raise ValueError("contains NUL")
    os.fsencode(value)  # UnicodeEncodeError (a ValueError): a lone surrogate outside the escapes
    return value


_Text = Annotated[str, AfterValidator(_encodable)]
_U32 = Annotated[int, Field(ge=0, lt=1 << 32)]
_U64 = Annotated[int, Field(ge=0, lt=1 << 64)]
_NS = Annotated[int, Field(ge=-(1 << 63), lt=1 << 63)]
_HEX_ID = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _NodeDoc(TypedDict):
    """The schema of one stored node; other fields (a newer drkit's) pass through to ``Node.from_doc``."""

    __pydantic_config__ = ConfigDict(strict=True, extra="allow")  # type: ignore[misc]
    name: Any  # checked by ``check_name``, type by ``decode_tree``: their messages name the problem
    type: Any
    mode: NotRequired[Annotated[int, Field(ge=0, le=0o7777)]]
    uid: NotRequired[_U32]
    gid: NotRequired[_U32]
    user: NotRequired[str]
    group: NotRequired[str]
    mtime_ns: NotRequired[_NS]
    ctime_ns: NotRequired[_NS]
    inode: NotRequired[_U64]
    dev: NotRequired[_U64]
    links: NotRequired[_U32]
    size: NotRequired[Annotated[int, Field(ge=0, lt=1 << 63)]]
    target: NotRequired[_Text]
    content: NotRequired[list[_HEX_ID]]
    subtree: NotRequired[Annotated[str, Field(pattern=r"^([0-9a-f]{64})?$")]]
    rdev: NotRequired[_U64]


class _TreeDoc(TypedDict):
    __pydantic_config__ = ConfigDict(strict=True, extra="ignore")  # type: ignore[misc]
    nodes: list[_NodeDoc]


_TREE = TypeAdapter(_TreeDoc)


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
    """The nodes of a tree blob, each field checked against the schema (``_TreeDoc``): a crafted tree
    is an IntegrityError here, never a TypeError, ValueError or UnicodeEncodeError at restore."""
    try:
        doc = _TREE.validate_python(json.loads(data))  # not validate_json: it refuses escaped names' surrogates
        nodes = [Node.from_doc(dict(d)) for d in doc["nodes"]]
    except ValidationError as exc:
        first = exc.errors()[0]
        field_path = ".".join(str(p) for p in first["loc"])
        raise IntegrityError(f"{where}: malformed tree blob ({field_path}: {first['msg']})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{where}: malformed tree blob ({type(exc).__name__})") from None
    seen: set[str] = set()
    for node in nodes:
        check_name(node.name, where)
        if node.name in seen:
            raise IntegrityError(f"{where}: duplicate entry name {node.name!r} in snapshot tree (refused)")
        if node.type not in NODE_TYPES:
            raise IntegrityError(f"{where}: unknown node type {node.type!r}")
        seen.add(node.name)
    return nodes


def root_tree(root: dict[str, Any], where: str) -> str:
    """The root tree id of a files snapshot's ``root``, or IntegrityError (a crafted snapshot)."""
    tree = root.get("tree")
    if not isinstance(tree, str) or len(tree) != 64 or tree.strip("0123456789abcdef"):
        raise IntegrityError(f"{where}: malformed snapshot root (no tree id)")
    return tree
