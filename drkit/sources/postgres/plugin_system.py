"""A PostgreSQL component of a system restore (``drkit restore --system``), planned: WAL replay reaches the
target T itself, once a base backup ends before T and the archived WAL reaches past it (``pitr.choose_base``,
as `restore postgres --point-in-time`). A slice of the jobs layer (it reads the job's ``source:``)."""

from __future__ import annotations

from datetime import datetime

from ...core.errors import UsageError
from ...core.timespec import format_time
from ...repository import snapshots
from ...repository.repo import Repository
from ..system import ComponentPlan
from . import pitr
from .config import PostgresSource
from .ops import refuse_damaged_base, windows


def plan_postgres(repo: Repository, job: str, source: PostgresSource, target: datetime) -> ComponentPlan:
    if source.mode != "physical":
        raise UsageError(
            f"job {job}: a logical PostgreSQL job cannot be restored to a point in time",
            hint="set `mode: physical` (base backups + WAL archive) for a system's database",
        )
    snaps = snapshots.load_all(repo.manifests)
    own = [s for s in snaps if s.source_name == job]
    wins = {w.snapshot.id: w.window for w in windows(repo, snaps)}
    at = pitr.Target("time", format_time(target))
    base = pitr.choose_base(own if pitr.physical_backups(own) else snaps, at, lambda s: wins[s.id])
    # a damaged manifest may be a newer base backup that serves T: refused (exit 13) as `restore postgres
    # --point-in-time` refuses it, unless --skip-damaged (the restore is then handed this base by id)
    refuse_damaged_base(repo, at, base, snaps)
    return ComponentPlan(
        job, "postgres", target, f"base backup {base.short_id} + WAL replayed to the target", snapshot=base.id
    )
