"""The restored tree as a container saw it (``sandbox.container_listing``) against the snapshot:
every snapshot entry, as the drill's default restore makes it (``special.expected``: no special files,
no setuid/setgid/world-write bits), present in the container with its type, permissions, size, mtime,
link target and owner, every regular file's SHA-256 equal to the one computed on this host while its chunks were
checked against the snapshot's (so the bytes the container read are the snapshot's), and no entry the
snapshot does not have."""

from __future__ import annotations

import os
import stat
from typing import Any

from ....drills.result import CheckResult
from ....drills.verify.timing import summarize, timed_check
from ....repository.repo import Repository
from .. import expected
from ..diff import walk
from ..tree import DIR, FILE, SYMLINK, Node
from .verify import DRILL_PRIVILEGES

_KNOWN = {FILE: "file", DIR: "dir", SYMLINK: "symlink"}


def _problem(rel: str, node: Node, seen: dict[str, Any], sha256: str | None) -> str | None:
    kind = _KNOWN.get(node.type, "other")
    if seen.get("t") != kind:
        return f"{rel}: a {seen.get('t')} in the container, a {kind} in the snapshot"
    if seen.get("e"):
        return f"{rel}: unreadable in the container ({seen['e']})"
    if seen["m"] != stat.S_IMODE(node.mode):
        return f"{rel}: mode {oct(seen['m'])} != {oct(stat.S_IMODE(node.mode))}"
    if node.type == SYMLINK and seen.get("l") != node.target:
        return f"{rel}: link target differs"
    if node.type == FILE:
        if seen["s"] != node.size or seen["n"] != node.mtime_ns:
            return f"{rel}: size or mtime differs"
        if sha256 is None or seen.get("h") != sha256:
            return f"{rel}: content differs"
    if os.geteuid() == 0 and (seen["u"], seen["g"]) != (node.uid, node.gid):
        return f"{rel}: owner {seen['u']}:{seen['g']} != {node.uid}:{node.gid}"
    return None


def compare_listing(
    repo: Repository, tree_id: str, listing: dict[str, dict[str, Any]], sha256: dict[str, str]
) -> list[str]:
    problems: list[str] = []
    unseen = dict(listing)
    for rel, snapshot_node in walk(repo, tree_id):
        node = expected(snapshot_node, DRILL_PRIVILEGES)  # what the drill's restore makes, as files.metadata
        if node is None:  # a special file the restore does not create: one there is an extra entry
            continue
        seen = unseen.pop(rel, None)
        problem = f"{rel} missing in the container" if seen is None else _problem(rel, node, seen, sha256.get(rel))
        if problem:
            problems.append(problem)
    problems += [f"{rel}: in the container, not in the snapshot" for rel in sorted(unseen)]
    return problems


def verify_listing(
    repo: Repository, tree_id: str, listing: dict[str, dict[str, Any]], sha256: dict[str, str]
) -> CheckResult:
    def check() -> tuple[bool, str]:
        return summarize(
            compare_listing(repo, tree_id, listing, sha256),
            f"{len(listing)} entries as the container sees them match the snapshot",
        )

    return timed_check("files.container", check)
