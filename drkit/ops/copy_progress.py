"""What a copy's progress line counts up to: the content bytes of the snapshots and archived AOF segments
it will convert, known before the first byte is read (so the line shows a bar, a percentage and an ETA).

The count matches what ``ContentCopier`` reports: every stream's size, and every file of a tree by its
size, a file or directory met again within one snapshot included (the copier reports those as covered
without reading them again). Tree blobs are read here once per distinct tree; the copy reads them again.
Only computed when a progress line is shown.
"""

from __future__ import annotations

from typing import Any

from ..repository.repo import Repository
from ..repository.snapshots import Snapshot
from ..sources.files.diff import load_tree
from ..sources.files.tree import DIR, FILE


def root_bytes(source: Repository, root: dict[str, Any], memo: dict[str, int]) -> int:
    kind = root.get("type")
    if kind == "stream":
        return int(root.get("size", 0))
    if kind == "bundle":
        return sum(int(part.get("size", 0)) for part in root.get("parts", {}).values())
    if kind == "tree":
        return tree_bytes(source, root["tree"], memo)
    return 0  # the copy refuses it


def tree_bytes(source: Repository, tree_id: str, memo: dict[str, int]) -> int:
    """The bytes of every file under the tree, each time it occurs; ``memo`` holds trees already counted.
    Recursive like ``ContentCopier.tree``, which converts the same trees right after."""
    if tree_id not in memo:
        total = 0
        for node in load_tree(source, tree_id):
            if node.type == FILE and node.content:
                total += node.size
            elif node.type == DIR and node.subtree:
                total += tree_bytes(source, node.subtree, memo)
        memo[tree_id] = total
    return memo[tree_id]


def snapshots_bytes(source: Repository, snaps: list[Snapshot]) -> int:
    memo: dict[str, int] = {}
    return sum(root_bytes(source, snap.root, memo) for snap in snaps)
