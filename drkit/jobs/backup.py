"""One scheduled backup of a job: write the canary, record the source's facts, take the backup
through the same ops calls as ``drkit backup``, keep the facts next to the snapshot, then apply the
job's retention (forget only; ``drkit prune`` reclaims space)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from ..config import DrkitConfig, JobConfig
from ..config.models import Retention
from ..core import clock, tracing
from ..core.durations import parse_calendar_duration
from ..core.errors import DrkitError, LockFailed, LockLost
from ..ops.facts import save_facts
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot
from ..retention.forget import forget
from ..retention.policy import Policy
from ..sources.registry import source_kind
from ..sources.system import backup_skipped
from .connect import open_job_repository
from .window import job_windows

log = logging.getLogger("drkit.jobs")


@dataclass(kw_only=True)
class JobOutcome:
    job: str
    kind: str
    snapshot_id: str
    started_at: str
    seconds: float
    bytes_added: int
    forgotten: int = 0
    warnings: list[str] = field(default_factory=list)
    window: tuple[float, float] | None = None  # the job's oldest and newest snapshot end time after retention
    retention_applied: bool | None = None  # None: the job has no retention; False: skipped (see warnings)
    skipped: int = 0  # entries the backup skipped or half-read: a partial snapshot (`job run` exits 3)


def run_backup_job(
    config: DrkitConfig,
    name: str,
    *,
    facts_hook: Callable[[dict[str, Any]], None] | None = None,
    retention_gate: AbstractContextManager[object] | None = None,
) -> JobOutcome:
    """Back up job ``name``. ``facts_hook`` sees the facts after they are recorded and before the
    backup starts (tests use it to change the source in between). The retention step (a forget, under
    a maintenance lock) runs inside ``retention_gate``: the scheduler's way to keep it from its own
    prune of the same repository. A gate that raises :class:`LockFailed` (busy, the scheduler never
    waits) or a lock held by another process skips the step with a warning."""
    job = config.job(name)
    with tracing.span("drkit.job.run", **{"drkit.job": name, "drkit.source_kind": job.source.kind}) as span:
        outcome = _run_backup_job(config, name, job, facts_hook, retention_gate)
        span.set(
            **{
                "drkit.snapshot_id": outcome.snapshot_id,
                "drkit.bytes_added": outcome.bytes_added,
                "drkit.forgotten": outcome.forgotten,
                "drkit.retention_applied": outcome.retention_applied,
                "drkit.warnings": len(outcome.warnings),
            }
        )
    return outcome


def _run_backup_job(
    config: DrkitConfig,
    name: str,
    job: JobConfig,
    facts_hook: Callable[[dict[str, Any]], None] | None,
    retention_gate: AbstractContextManager[object] | None,
) -> JobOutcome:
    started, t0 = clock.utcnow().isoformat(), clock.monotonic()
    repo, _ = open_job_repository(config, job)
    try:
        warnings: list[str] = []
        if job.canary_enabled:
            _write_canary(name, job, warnings)
        facts = _collect_facts(job)
        if facts_hook is not None:
            facts_hook(facts)
        snap = _backup(repo, name, job, warnings)
        if facts:
            save_facts(repo, snap.id, name, facts)
        forgotten, applied = _retain(repo, name, job, snap.source_kind, warnings, retention_gate)
        window = job_windows(repo.manifests).get(name)
    finally:
        repo.close()
    added = int(snap.stats.get("stored_bytes", 0))
    return JobOutcome(
        job=name,
        kind=snap.source_kind,
        snapshot_id=snap.id,
        started_at=started,
        seconds=clock.monotonic() - t0,
        bytes_added=added,
        forgotten=forgotten,
        warnings=warnings,
        window=window,
        retention_applied=applied,
        skipped=backup_skipped(snap),
    )


def run_heartbeat(config: DrkitConfig, name: str) -> None:
    """Write only the canary (a light job between backups of point-in-time sources)."""
    warnings: list[str] = []
    _write_canary(name, config.job(name), warnings)
    if warnings:
        raise DrkitError(warnings[0])


def _write_canary(name: str, job: JobConfig, warnings: list[str]) -> None:
    try:
        source_kind(job.source.kind).write_canary(job.source, name)
    except (DrkitError, OSError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        warnings.append(f"canary not written: {message}")
        log.warning("canary not written", extra={"job": name, "error": message})


def _collect_facts(job: JobConfig) -> dict[str, Any]:
    return source_kind(job.source.kind).facts(job.source)


def _backup(repo: Repository, name: str, job: JobConfig, warnings: list[str]) -> Snapshot:
    kind = source_kind(job.source.kind)
    log.info("backing up %s", kind.describe(job.source), extra={"job": name})
    outcome = kind.backup(repo, job.source, name, [*job.tags, f"job={name}"])
    warnings.extend(outcome.warnings)
    return outcome.snapshot


def retention_policy(retention: Retention) -> Policy:
    """The policy of a job's ``retention:``; ``keep_within`` means what ``--keep-within`` means."""
    within = parse_calendar_duration(retention.keep_within) if retention.keep_within else None
    return Policy(
        keep_last=retention.keep_last or 0,
        keep_hourly=retention.keep_hourly or 0,
        keep_daily=retention.keep_daily or 0,
        keep_weekly=retention.keep_weekly or 0,
        keep_monthly=retention.keep_monthly or 0,
        keep_yearly=retention.keep_yearly or 0,
        keep_within=within,
    )


def has_retention(job: JobConfig) -> bool:
    """Whether a backup run of ``job`` has a retention step (a non-empty ``retention:``)."""
    return job.retention is not None and not retention_policy(job.retention).is_empty()


def _retain(
    repo: Repository,
    name: str,
    job: JobConfig,
    kind: str,
    warnings: list[str],
    gate: AbstractContextManager[object] | None,
) -> tuple[int, bool | None]:
    """The job's retention: (snapshots forgotten, applied; None without retention). When another
    process holds a maintenance lock (a prune or forget started by a CronJob or by hand) or the gate
    is busy, skipped with a warning: the snapshot is written, and the next run forgets what this one
    did not -- failing the backup over it would only raise a false alert. A lock lost during the
    forget (``LockLost``) is no such case: it fails the run."""
    if job.retention is None or not has_retention(job):
        return 0, None
    try:
        with gate if gate is not None else nullcontext(), tracing.span("drkit.retention", **{"drkit.job": name}):
            return _apply_retention(repo, name, job.retention, kind), True
    except LockLost:  # not "busy": the forget's lock expired under it, half done; the run fails
        raise
    except LockFailed as exc:
        warnings.append(f"retention not applied in this run: {exc.message}; the next run applies it")
        log.warning("retention not applied: %s", exc.message, extra={"job": name})
        return 0, False


def _apply_retention(repo: Repository, name: str, retention: Retention, kind: str) -> int:
    return len(forget(repo, retention_policy(retention), source_kind=kind, source_name=name).removed)
