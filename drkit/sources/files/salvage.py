"""A files snapshot's tree without its damaged parts (``drkit repair snapshots``).

Walks the tree depth-first (iteratively: a deep tree must not exhaust the stack) and rebuilds every
directory on the way up. A directory whose tree blob cannot be read (missing, damaged, malformed) is
dropped whole; a file with a data blob that is missing (not indexed, or its pack not stored at the
indexed size) is dropped whole, never kept truncated or with a hole: restoring a repaired snapshot
gives each kept file exactly as backed up, and no file at all where one was damaged. Every dropped
path is reported. Unchanged subtrees keep their ids; only the directories on a dropped entry's path
get new tree blobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ...core.errors import IntegrityError
from ...repository.reader import read_blob
from ...repository.repo import Repository
from .tree import DIR, FILE, Node, decode_tree, encode_tree

BlobOk = Callable[[bytes], bool]  # is this data blob present and stored?
TreeWriter = Callable[[bytes], bytes]  # store a tree blob, return its id


@dataclass
class Salvage:
    tree: str | None  # the new root tree id (the old one if nothing was dropped); None: root unreadable
    dropped: list[str] = field(default_factory=list)  # "path: why"

    @property
    def changed(self) -> bool:
        return bool(self.dropped)


@dataclass(kw_only=True)
class _Dir:
    path: str
    tree_id: str
    nodes: list[Node]
    node: Node | None = None  # this directory's node in its parent (None: the root)
    out: list[Node] = field(default_factory=list)
    changed: bool = False
    i: int = 0


def _read(repo: Repository, tree_id: str, path: str) -> list[Node]:
    return decode_tree(read_blob(repo, bytes.fromhex(tree_id)), f"tree {tree_id[:16]} ({path or '/'})")


def salvage_tree(repo: Repository, tree_id: str, blob_ok: BlobOk, write_tree: TreeWriter) -> Salvage:
    """The tree ``tree_id`` with damaged directories and files dropped (module docstring)."""
    result = Salvage(tree=None)
    try:
        stack = [_Dir(path="", tree_id=tree_id, nodes=_read(repo, tree_id, ""))]
    except IntegrityError as exc:
        result.dropped.append(f"/: {exc.message}")
        return result
    while stack:
        top = stack[-1]
        if top.i == len(top.nodes):
            stack.pop()
            new_id = write_tree(encode_tree(top.out)).hex() if top.changed else top.tree_id
            if not stack:
                result.tree = new_id
            else:
                assert top.node is not None
                stack[-1].out.append(replace(top.node, subtree=new_id) if top.changed else top.node)
                stack[-1].changed |= top.changed
            continue
        node = top.nodes[top.i]
        top.i += 1
        child = _visit(repo, top, node, blob_ok, result)
        if child is not None:
            stack.append(child)
    return result


def _visit(repo: Repository, parent: _Dir, node: Node, blob_ok: BlobOk, result: Salvage) -> _Dir | None:
    """Keep ``node`` in ``parent.out``, drop it, or return the directory to descend into."""
    path = f"{parent.path}/{node.name}"
    if node.type == DIR and node.subtree:
        try:
            return _Dir(path=path, tree_id=node.subtree, nodes=_read(repo, node.subtree, path), node=node)
        except IntegrityError as exc:
            result.dropped.append(f"{path}/: {exc.message}")
            parent.changed = True
            return None
    if node.type == FILE:
        bad = sum(1 for hex_id in node.content if not blob_ok(bytes.fromhex(hex_id)))
        if bad:
            result.dropped.append(f"{path}: {bad} of {len(node.content)} data blobs missing")
            parent.changed = True
            return None
    parent.out.append(node)
    return None


__all__ = ["Salvage", "salvage_tree"]
