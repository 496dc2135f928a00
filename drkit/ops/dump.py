"""`drkit dump SNAPSHOT PATH`: one file of a files snapshot to a stream, or a directory as tar or zip."""

from __future__ import annotations

from typing import BinaryIO

from ..core.errors import UsageError
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot, SnapshotFilter
from ..sources.files.diff import lookup, spelled
from ..sources.files.dump import content, write_tar, write_zip
from ..sources.files.ops import find_files_snapshot
from ..sources.files.tree import FILE
from ..sources.files.view import view_tree


def dump(
    repo: Repository,
    ref: str,
    path: str,
    out: BinaryIO,
    *,
    archive: str | None = None,  # noqa: PLR0913
    match: SnapshotFilter | None = None,
) -> tuple[Snapshot, list[str], bool]:
    """Write PATH of the snapshot to ``out``: a regular file's bytes (unless ``archive`` is given), anything
    else as an archive (``tar`` by default). Returns the snapshot, the warnings (entries an archive cannot
    hold), and whether an archive was written."""
    with repo.lock(purpose="dump"):
        snap = find_files_snapshot(repo, ref, None, match=match)
        tree = view_tree(repo, snap)
        path = spelled(repo, tree, path)  # as `drkit ls` printed it, `caf\351`, or as typed
        found = lookup(repo, tree, path)
        if found is None:
            raise UsageError(
                f"{path!r} is not in snapshot {snap.short_id}", hint=f"`drkit ls {snap.short_id}` lists its entries"
            )
        name, node = found
        archived = not (node.type == FILE and archive is None)
        warnings: list[str] = []
        if not archived:
            for chunk in content(repo, "/" + path.strip("/"), node):
                out.write(chunk)
        else:
            warnings = (write_zip if archive == "zip" else write_tar)(repo, name, node, out)
        out.flush()
    return snap, warnings, archived
