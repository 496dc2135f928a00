"""Reading snapshot trees: list entries (``ls``), compare two snapshots (``diff``), and every blob a
tree references (for ``drkit check``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ...core.printed import spellings
from ...repository.reader import read_blob
from ...repository.repo import Repository
from .tree import DIR, FILE, Node, decode_tree

T = TypeVar("T")


def load_tree(repo: Repository, tree_id: str) -> list[Node]:
    return decode_tree(read_blob(repo, bytes.fromhex(tree_id)), f"tree {tree_id[:16]}")


def _flatten(top: Iterator[T | Iterator[T | Any]]) -> Iterator[T]:
    """Run nested generators with an explicit stack instead of recursion: a generator yields results,
    or another generator (a level further down) whose results come next. Snapshot trees are as deep as
    the file system they came from (or as a crafted snapshot makes them): no depth exhausts the stack."""
    stack = [top]
    while stack:
        item = next(stack[-1], _DONE)
        if item is _DONE:
            stack.pop()
        elif isinstance(item, Iterator):
            stack.append(item)
        else:
            yield item


_DONE: Any = object()


def walk(repo: Repository, tree_id: str, prefix: str = "") -> Iterator[tuple[str, Node]]:
    """Every (snapshot-relative path, node), depth first, in name order."""
    return _flatten(_walk_level(repo, tree_id, prefix))


def _walk_level(repo: Repository, tree_id: str, prefix: str) -> Iterator[Any]:
    for node in load_tree(repo, tree_id):
        path = f"{prefix}/{node.name}" if prefix else node.name
        yield path, node
        if node.type == DIR and node.subtree:
            yield _walk_level(repo, node.subtree, path)


def find_subtree(repo: Repository, tree_id: str, path: str) -> tuple[str, str] | None:
    """The tree id of directory ``path`` inside the snapshot, and the path prefix; None if absent."""
    parts = [p for p in path.strip("/").split("/") if p]
    prefix = ""
    for part in parts:
        node = next((n for n in load_tree(repo, tree_id) if n.name == part), None)
        if node is None or node.type != DIR:
            return None
        tree_id, prefix = node.subtree, f"{prefix}/{part}" if prefix else part
    return tree_id, prefix


def spelled(repo: Repository, tree_id: str, path: str) -> str:
    """``path`` as the snapshot spells it: the first of its ``spellings`` (the name drkit printed as ``path``,
    `caf\\351` read back as the bytes ``caf\\xe9``; then ``path`` as typed) that names an entry, else ``path``."""
    for candidate in spellings(path):
        if lookup(repo, tree_id, candidate) is not None:
            return candidate
    return path


def lookup(repo: Repository, tree_id: str, path: str) -> tuple[str, Node] | None:
    """The node at ``path`` in the snapshot tree (``/`` or empty: a synthetic directory, the whole snapshot)."""
    node = Node(name="", type=DIR, mode=0o755, subtree=tree_id)
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        if node.type != DIR:
            return None
        found = next((n for n in load_tree(repo, node.subtree) if n.name == part), None) if node.subtree else None
        if found is None:
            return None
        node = found
        if i == len(parts) - 1:
            return part, node
    return "", node


def referenced_blobs(repo: Repository, tree_id: str, seen: set[str] | None = None) -> Iterator[bytes]:
    """Every tree and data blob under ``tree_id`` (each tree visited once)."""
    return _flatten(_referenced_level(repo, tree_id, set() if seen is None else seen))


def _referenced_level(repo: Repository, tree_id: str, seen: set[str]) -> Iterator[Any]:
    if tree_id in seen:
        return
    seen.add(tree_id)
    yield bytes.fromhex(tree_id)
    for node in load_tree(repo, tree_id):
        if node.type == FILE:
            yield from (bytes.fromhex(h) for h in node.content)
        elif node.type == DIR and node.subtree:
            yield _referenced_level(repo, node.subtree, seen)


@dataclass(frozen=True)
class Change:
    kind: str  # "+" added, "-" removed, "M" modified
    path: str


def _modified(a: Node, b: Node) -> bool:
    if a.type != b.type:
        return True
    if a.type == DIR:
        return (a.mode, a.uid, a.gid, a.xattrs) != (b.mode, b.uid, b.gid, b.xattrs)
    return (a.content, a.target, a.mode, a.uid, a.gid, a.mtime_ns, a.size, a.xattrs) != (
        b.content,
        b.target,
        b.mode,
        b.uid,
        b.gid,
        b.mtime_ns,
        b.size,
        b.xattrs,
    )


def diff_trees(repo: Repository, a_tree: str, b_tree: str, prefix: str = "") -> Iterator[Change]:
    """Changes from tree ``a`` to tree ``b``; identical subtrees are skipped without reading."""
    return _flatten(_diff_level(repo, a_tree, b_tree, prefix))


def _diff_level(repo: Repository, a_tree: str, b_tree: str, prefix: str) -> Iterator[Any]:
    if a_tree == b_tree:
        return
    a = {n.name: n for n in load_tree(repo, a_tree)} if a_tree else {}
    b = {n.name: n for n in load_tree(repo, b_tree)} if b_tree else {}
    for name in sorted(a.keys() | b.keys()):
        path = f"{prefix}/{name}" if prefix else name
        old, new = a.get(name), b.get(name)
        if old is None or new is None:
            kind = "+" if old is None else "-"
            node = new if new is not None else old
            assert node is not None
            yield Change(kind, path)
            if node.type == DIR:
                yield (
                    _diff_level(repo, "", node.subtree, path)
                    if kind == "+"
                    else _diff_level(repo, node.subtree, "", path)
                )
            continue
        if _modified(old, new):
            yield Change("M", path)
        if old.type == DIR and new.type == DIR:
            yield _diff_level(repo, old.subtree, new.subtree, path)
