"""An entry's kind as the snapshot names it and as the file system shows it, and whether a path is in a
snapshot's tree (restore.py)."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from .diff import load_tree
from .tree import DIR, FILE, SYMLINK

if TYPE_CHECKING:
    from ...repository.repo import Repository

_KINDS = {"fifo": stat.S_IFIFO, "socket": stat.S_IFSOCK, "chardev": stat.S_IFCHR, "blockdev": stat.S_IFBLK}
_IFMT = {DIR: stat.S_IFDIR, FILE: stat.S_IFREG, SYMLINK: stat.S_IFLNK, **_KINDS}


def _in_snapshot(repo: Repository, tree_id: str, rel: str) -> bool:
    """Whether the snapshot has an entry at ``rel`` (exactly that spelling: ``Selection`` compares strings)."""
    node = None
    for part in rel.split("/"):
        node = next((n for n in load_tree(repo, tree_id) if n.name == part), None) if tree_id else None
        if node is None:
            return False
        tree_id = node.subtree if node.type == DIR else ""
    return node is not None


def _kind(st: os.stat_result | None) -> str:
    return "directory" if st is not None and stat.S_ISDIR(st.st_mode) else "non-directory"
