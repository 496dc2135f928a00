"""The files source: file trees as tree blobs (one per directory) and deduplicated data blobs.

Importing this package registers the ``tree`` root walker with ``drkit check``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...repository.references import ROOT_WALKERS
from ...repository.repo import Repository
from .backup import Archiver, BackupOptions, FileStats
from .diff import Change, diff_trees, find_subtree, referenced_blobs, walk
from .existing import OVERWRITE_CHOICES, Policy
from .restore import Restorer, RestoreStats, Selection
from .special import Privileges, expected
from .tree import Node, root_tree
from .walker import Excludes

ROOT_TYPE = "tree"
SOURCE_KIND = "files"


def _tree_root_blobs(repo: Repository, root: dict[str, Any]) -> Iterator[bytes]:
    yield from referenced_blobs(repo, root_tree(root, "snapshot"))


ROOT_WALKERS[ROOT_TYPE] = _tree_root_blobs

__all__ = [
    "OVERWRITE_CHOICES",
    "ROOT_TYPE",
    "SOURCE_KIND",
    "Archiver",
    "BackupOptions",
    "Change",
    "Excludes",
    "FileStats",
    "Node",
    "Policy",
    "Privileges",
    "RestoreStats",
    "Restorer",
    "Selection",
    "diff_trees",
    "expected",
    "find_subtree",
    "referenced_blobs",
    "root_tree",
    "walk",
]
