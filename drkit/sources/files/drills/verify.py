"""Files checks: every entry of the snapshot exists in the restored tree with its type, size,
permissions, mtime, extended attributes and (for regular files) content — re-chunked and re-hashed with the
repository's own keys, independently of the restore's writes."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from ....drills.result import CheckResult
from ....drills.verify.timing import summarize, timed_check
from ....pipeline import iter_chunks
from ....repository.repo import Repository
from .. import Privileges, expected, xattrs
from ..diff import walk
from ..tree import DIR, FILE, SYMLINK, Node

DRILL_PRIVILEGES = Privileges()  # the restore's default: modes as ``expected`` makes them, no special files
_TYPES = {FILE: stat.S_ISREG, DIR: stat.S_ISDIR, SYMLINK: stat.S_ISLNK}


def content_ids(repo: Repository, path: Path, sha256: Any = None) -> list[str]:
    """The keyed ids of ``path``'s chunks; each chunk also fed to ``sha256`` (a hashlib object) if given."""
    ids = []
    with open(path, "rb", buffering=0) as f:
        for chunk in iter_chunks(f, repo.config.chunker):
            ids.append(repo.hasher.digest(chunk).hex())
            if sha256 is not None:
                sha256.update(chunk)
    return ids


def _content_matches(repo: Repository, path: Path, rel: str, node: Node, digests: dict[str, str] | None) -> bool:
    """Whether the file's chunks are the snapshot's; if so and ``digests`` is given, its SHA-256 is
    recorded there (the checksum of the snapshot's content, for a container's view to be compared with)."""
    h = hashlib.sha256() if digests is not None else None
    if content_ids(repo, path, h) != node.content:
        return False
    if digests is not None and h is not None:
        digests[rel] = h.hexdigest()
    return True


def _metadata_problem(node: Node, st: os.stat_result) -> str | None:
    if stat.S_IMODE(st.st_mode) != stat.S_IMODE(node.mode):
        return f"mode {oct(stat.S_IMODE(st.st_mode))} != {oct(stat.S_IMODE(node.mode))}"
    if node.type == FILE and st.st_mtime_ns != node.mtime_ns:
        return "mtime differs"
    if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (node.uid, node.gid):
        return f"owner {st.st_uid}:{st.st_gid} != {node.uid}:{node.gid}"
    return None


def _entry_problems(
    repo: Repository, root: Path, rel: str, node: Node, digests: dict[str, str] | None
) -> tuple[str | None, str | None]:
    """(content problem, metadata problem) of one entry."""
    path = root / rel
    try:
        st = path.lstat()
    except OSError:
        return f"{rel} missing", None
    is_type = _TYPES.get(node.type)
    if is_type is not None and not is_type(st.st_mode):
        return f"{rel} is not a {node.type}", None
    if node.type == SYMLINK:
        return (None if os.readlink(path) == node.target else f"{rel}: link target differs"), None
    if node.type == FILE and (st.st_size != node.size or not _content_matches(repo, path, rel, node, digests)):
        return f"{rel}: content differs", None
    meta = _metadata_problem(node, st) or _xattrs_problem(node, path)
    return None, (f"{rel}: {meta}" if meta else None)


def _xattrs_problem(node: Node, path: Path) -> str | None:
    """Extended attributes and ACLs as in the snapshot (the sandbox's own SELinux label aside; as
    non-root, like owners, only what a non-root restore can set: user.* and ACLs)."""
    found, _ = xattrs.read(str(path))
    root = os.geteuid() == 0
    names = {
        n
        for n in found.keys() | node.xattrs.keys()
        if not n.startswith("security.selinux") and (root or n.startswith(("user.", "system.posix_acl_")))
    }
    differ = sorted(n for n in names if found.get(n) != node.xattrs.get(n))
    return f"extended attributes differ: {', '.join(differ)}" if differ else None


def _walk_compare(
    repo: Repository, tree_id: str, root: Path, digests: dict[str, str] | None = None
) -> tuple[list[str], list[str], int]:
    content: list[str] = []
    metadata: list[str] = []
    count = 0
    for rel, snapshot_node in walk(repo, tree_id):
        node = expected(snapshot_node, DRILL_PRIVILEGES)
        if node is None:  # a device node, FIFO or socket: a drill's restore does not create them
            continue
        count += 1
        c, m = _entry_problems(repo, root, rel, node, digests)
        if c:
            content.append(c)
        if m:
            metadata.append(m)
    return content, metadata, count


def verify_files(
    repo: Repository, tree_id: str, root: Path, digests: dict[str, str] | None = None
) -> list[CheckResult]:
    """Content and metadata checks; with ``digests``, the SHA-256 of every file whose content matched."""
    found: dict[str, tuple[list[str], list[str], int]] = {}

    def content() -> tuple[bool, str]:
        found["r"] = _walk_compare(repo, tree_id, root, digests)
        problems, _, count = found["r"]
        return summarize(problems, f"{count} entries present, file contents match")

    def metadata() -> tuple[bool, str]:
        _, problems, count = found.get("r") or _walk_compare(repo, tree_id, root)
        return summarize(problems, f"{count} entries: permissions, mtimes, owners and xattrs match")

    return [timed_check("files.content", content), timed_check("files.metadata", metadata)]
