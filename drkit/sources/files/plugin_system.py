"""A files component of a system restore (``drkit restore --system``), planned: the newest snapshot that
*finished* at or before T (``repository.pointintime``: one still being read at T may hold files written
after it); its point is its start (a file changed during the backup may or may not be in it). A slice of
the jobs layer."""

from __future__ import annotations

from datetime import datetime

from ...core.timespec import format_time
from ...repository import pointintime
from ...repository.repo import Repository
from ..system import ComponentPlan, backup_skipped
from .ops import files_snapshot_at


def plan_files(repo: Repository, job: str, target: datetime) -> ComponentPlan:
    snap, _ = files_snapshot_at(repo, format_time(target), source_name=job)  # errors: named by the caller
    skipped = backup_skipped(snap)
    partial = f" (partial: its backup skipped or half-read {skipped} entries)" if skipped else ""
    return ComponentPlan(
        job=job,
        kind="files",
        point=pointintime.started(snap),
        how=f"files snapshot {snap.short_id}{partial}",
        snapshot=snap.id,
        until=pointintime.finished(snap),
    )
