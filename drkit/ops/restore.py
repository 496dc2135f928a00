"""`drkit restore SNAPSHOT --to -|FILE`: write a stream snapshot back out, verified."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from ..core import tracing
from ..core.errors import UsageError
from ..core.fileio import binary_stdout
from ..core.targets import target_errors
from ..repository import snapshots
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot, SnapshotFilter
from ..repository.streams import restore_stream


def restore_to(
    repo: Repository,
    ref: str,
    to: str,
    match: SnapshotFilter | None = None,
    on_chosen: Callable[[Snapshot], None] | None = None,
) -> tuple[Snapshot, int]:
    """Restore a stream snapshot to standard output (``-``) or a new file (written to a temp
    name and renamed, so a failed restore never leaves a partial file under the final name).
    ``on_chosen``: told the snapshot before a byte is written."""
    with repo.lock(purpose="restore"), tracing.span("drkit.restore", **{"drkit.source_kind": "stream"}) as span:
        snap = snapshots.find(repo.manifests, ref, match=match, root_type="stream")  # latest: of the streams
        span.set(**{"drkit.snapshot_id": snap.id})
        if snap.root.get("type") != "stream":
            raise UsageError(f"snapshot {snap.short_id} is not a stream; use the source's restore command")
        if on_chosen is not None:
            on_chosen(snap)
        if to == "-":
            out = binary_stdout()
            written = restore_stream(repo, snap, out)
            out.flush()
            return snap, written
        target = Path(to)
        if _is_stream_endpoint(target):  # a FIFO, /dev/null, a tty: written through, nothing replaced
            with target_errors(to), open(target, "wb") as out:
                return snap, restore_stream(repo, snap, out)
        if target.exists():
            raise UsageError(f"{target} exists; refusing to overwrite it")
        # this process's own name, created exclusively: a file already there (a user's) is never truncated or removed
        tmp = target.with_name(f".{target.name}.{os.getpid()}.drkit-partial")
        with target_errors(to):
            out = open(tmp, "xb")  # noqa: SIM115 - closed below, before the rename
        try:
            with target_errors(to), out:
                written = restore_stream(repo, snap, out)
                out.flush()
                os.fsync(out.fileno())
                os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return snap, written


def _is_stream_endpoint(target: Path) -> bool:
    """True for an existing FIFO, socket or character device (followed through symlinks, as
    /dev/stdout is): bytes written there are read by someone, not stored in place of a file."""
    try:
        mode = target.stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)
