"""Plan a whole-system point-in-time restore: for each component (a job of the system), the instant
whose state it can be restored to at or before T, chosen with the same catalog code as the
per-source restores, before anything is written.

- PostgreSQL (physical): WAL replay reaches T itself, once a base backup ends before T and the
  archived WAL reaches past it (``pitr.choose_base``, as `restore postgres --point-in-time`).
- Redis: AOF annotations have one-second resolution; the cut is the one every Redis point-in-time
  restore makes (``redis_pitr.aof_cut``): the seconds before ``floor(T)``, so nothing after T is
  restored — the state at ``floor(T)``. Without an AOF covering that, the newest RDB snapshot that
  ended at or before T.
- Files: the newest snapshot that *ended* at or before T (one still being read at T may hold files
  written after it); its point is its start (a file changed during the backup may or may not be in it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..config import JobConfig, PostgresSource, RedisSource
from ..core.errors import DrkitError, UsageError
from ..core.timespec import format_time
from ..repository import snapshots
from ..repository.repo import Repository
from ..sources.files.ops import backup_skipped, find_files_snapshot
from ..sources.postgres import pitr as pg_pitr
from ..sources.postgres.ops import refuse_damaged_base
from ..sources.postgres.ops import windows as pg_windows
from ..sources.redis import catalog as redis_catalog
from ..sources.redis import pitr as redis_pitr
from ..sources.registry import HasSystemPlan, source_kind


class SkewTooLarge(DrkitError):
    """A component of a system cannot get within the allowed skew of the point in time (exit 15)."""

    exit_code = 15


@dataclass(frozen=True, kw_only=True)
class ComponentPlan:
    job: str
    kind: str  # postgres | redis | files
    point: datetime  # the instant whose state the component holds once restored (never after the target)
    how: str  # one line: what is restored, for people
    snapshot: str = ""  # the base backup / snapshot restored from ("" for an AOF cut of an archive)
    redis_name: str | None = None  # the source name the Redis AOF / RDB is recorded under
    redis_cut: str | None = None  # the point in time passed to the Redis restore: floor(T), a whole second
    until: datetime | None = None  # files: when the snapshot ended (its content is of [point, until])

    def skew(self, target: datetime) -> float:
        """Seconds the component stays before the target."""
        return round((target - self.point).total_seconds(), 6)


def plan_component(repo: Repository, job_name: str, job: JobConfig, target: datetime) -> ComponentPlan:
    source = job.source
    kind = source_kind(source.kind)
    if not isinstance(kind, HasSystemPlan):  # e.g. a kind from a source plugin (drkit.sources)
        raise UsageError(f"job {job_name}: a {source.kind} job cannot be restored as part of a system yet")
    plan: ComponentPlan = kind.plan_system_component(repo, job_name, source, target)
    return plan


def plan_postgres(repo: Repository, job: str, source: PostgresSource, target: datetime) -> ComponentPlan:
    if source.mode != "physical":
        raise UsageError(
            f"job {job}: a logical PostgreSQL job cannot be restored to a point in time",
            hint="set `mode: physical` (base backups + WAL archive) for a system's database",
        )
    snaps = snapshots.load_all(repo.manifests)
    own = [s for s in snaps if s.source_name == job]
    wins = {w.snapshot.id: w.window for w in pg_windows(repo, snaps)}
    at = pg_pitr.Target("time", format_time(target))
    base = pg_pitr.choose_base(own if pg_pitr.physical_backups(own) else snaps, at, lambda s: wins[s.id])
    # a damaged manifest may be a newer base backup that serves T: refused (exit 13) as `restore postgres
    # --point-in-time` refuses it, unless --skip-damaged (the restore is then handed this base by id)
    refuse_damaged_base(repo, at, base, snaps)
    return ComponentPlan(
        job=job,
        kind="postgres",
        point=target,
        how=f"base backup {base.short_id} + WAL replayed to the target",
        snapshot=base.id,
    )


def plan_redis(repo: Repository, job: str, source: RedisSource, target: datetime) -> ComponentPlan:
    """The AOF of the job's own name, else of the source's ``name`` (`redis aof-archive --name`); else an RDB."""
    cut = redis_pitr.aof_cut(target.timestamp())
    problems: list[str] = []
    for name in dict.fromkeys([job, source.name]):
        pieces = redis_catalog.aof_pieces(repo, name)
        if not pieces:
            continue
        try:
            redis_pitr.choose_group(redis_pitr.group_pieces(pieces), cut)
        except UsageError as exc:
            problems.append(exc.message)
            continue
        point = datetime.fromtimestamp(cut.point, UTC)
        return ComponentPlan(
            job=job,
            kind="redis",
            point=point,
            how=f"AOF of {name!r} cut after {redis_pitr.iso(cut.last_second)} (the state at "
            f"{format_time(point)}: AOF times have one-second resolution)",
            redis_name=name,
            redis_cut=redis_pitr.iso(cut.point),  # the restore cuts before it: the same cut
        )
    for name in dict.fromkeys([job, source.name]):
        try:
            snap = redis_catalog.rdb_at(repo, target.timestamp(), name)
        except UsageError as exc:
            problems.append(exc.message)
            continue
        return ComponentPlan(
            job=job,
            kind="redis",
            point=redis_catalog.snapshot_time(snap),
            how=f"RDB snapshot {snap.short_id}",
            snapshot=snap.id,
            redis_name=name,
        )
    raise UsageError(f"job {job}: no Redis AOF or RDB reaches {format_time(target)}: " + "; ".join(problems))


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
