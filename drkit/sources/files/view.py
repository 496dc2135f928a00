"""The tree a user sees of a files snapshot. Each backed-up path is one top-level entry named by its last
component (``/srv/data`` restores as ``TARGET/data``); ``/`` has none, and its entry is stored under the
name ``root``, so a backup of ``/`` listed as ``/root/etc`` and restored as ``TARGET/root/etc``: neither
where a system restore puts it nor distinguishable from root's home directory. A snapshot of ``/`` alone is
seen from inside that entry: ``/etc``, ``TARGET/etc`` (``TARGET`` plays ``/``), as restic restores it. The
stored tree is unchanged (old snapshots read the new way); ``/`` backed up with other paths keeps ``root``."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from .diff import load_tree
from .tree import DIR, root_tree

ROOT_ALONE = ["/"]
ROOT_NAME = "root"  # the name ``/`` is stored under (``Archiver.root``)


def view_tree(repo: Repository, snap: Snapshot) -> str:
    """The tree id ``restore``, ``ls``, ``dump``, ``find``, ``diff``, ``mount`` and drills show of ``snap``."""
    tree = root_tree(snap.root, f"snapshot {snap.short_id}")
    if snap.root.get("paths") != ROOT_ALONE:
        return tree
    nodes = load_tree(repo, tree)
    if len(nodes) == 1 and nodes[0].name == ROOT_NAME and nodes[0].type == DIR and nodes[0].subtree:
        return nodes[0].subtree
    return tree  # not the shape a backup of / writes (an empty /, a crafted tree): shown as stored


def top_dir(paths: Sequence[str], path: str) -> str:
    """Where ``path``, one of a snapshot's (or a job's) backed-up ``paths``, is under a restore's target, as
    ``view_tree`` shows it: ``""`` (the target itself) for ``/`` backed up alone, else its last component."""
    if [p.rstrip("/") or "/" for p in paths] == ROOT_ALONE:
        return ""
    return os.path.basename(path.rstrip("/")) or ROOT_NAME


def snapshot_paths(snap: Snapshot) -> list[str]:
    """The paths a files snapshot backed up, as stored (none if its root does not say)."""
    paths = snap.root.get("paths")
    return [str(p) for p in paths] if isinstance(paths, list) else []
