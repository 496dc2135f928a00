"""A files component of a system restore (``drkit restore --system``), planned: the newest snapshot that
*ended* at or before T (one still being read at T may hold files written after it); its point is its start
(a file changed during the backup may or may not be in it). A slice of the jobs layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ...core.errors import UsageError
from ...core.timespec import format_time
from ...repository.repo import Repository
from ..system import ComponentPlan, backup_skipped
from .ops import find_files_snapshot


def plan_files(repo: Repository, job: str, target: datetime) -> ComponentPlan:
    when = target
    for _ in range(1000):  # each turn steps past one snapshot that ended after the target
        snap = find_files_snapshot(repo, None, format_time(when), source_name=job)
        end = _utc(snap.end_time) if snap.end_time else _utc(snap.time)
        if end <= target:
            skipped = backup_skipped(snap)
            partial = f" (partial: its backup skipped or half-read {skipped} entries)" if skipped else ""
            return ComponentPlan(
                job=job,
                kind="files",
                point=_utc(snap.time),
                how=f"files snapshot {snap.short_id}{partial}",
                snapshot=snap.id,
                until=end,
            )
        when = _utc(snap.time) - timedelta(microseconds=1)
    raise UsageError(f"job {job}: no files snapshot ended at or before {format_time(target)}")


def _utc(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)
