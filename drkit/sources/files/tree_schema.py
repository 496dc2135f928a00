"""The schema of a stored tree blob, as pydantic types: the reference that names the problem in a
malformed tree's error message. ``tree.decode_tree`` checks well-formed nodes with its own fast
check (``tree.node_ok``, never more lenient than this schema: tests/unit/files/test_files_tree_schema.py)
and imports this module only for a tree that fails it, so a backup or restore neither pays
pydantic's ~10 µs a node nor, in the usual case, loads it at all."""

from __future__ import annotations

import os
from typing import Annotated, Any, NotRequired

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict


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


def validated_nodes(doc: object) -> list[dict[str, Any]]:
    """The node documents of a decoded tree blob, checked against the schema; ``ValueError`` naming the
    first field in error."""
    try:
        checked = _TREE.validate_python(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    return [dict(d) for d in checked["nodes"]]
