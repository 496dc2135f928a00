"""What the daemon schedules, when each thing runs next, and which runs were missed while it was
down. Pure: every function takes ``now`` and touches no clock, file or network.

A job yields up to three scheduled runs: its ``schedule`` (a backup), ``drill.schedule`` (a restore
drill) and ``canary.heartbeat`` (a light canary write). A repository yields up to three maintenance
runs: ``prune``, ``check`` and ``copy``; a system its ``heartbeat`` (``system-heartbeat``: one instant
written into every component) and ``drill.schedule`` (``system-drill``: `drkit drill --system`). Each is
keyed ``<job, repository or system>:<kind>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from apscheduler.triggers.cron import CronTrigger

from ..config import DrkitConfig
from ..config.cron import cron_trigger

Kind = Literal["backup", "drill", "heartbeat", "prune", "check", "copy", "system-heartbeat", "system-drill"]
MAINTENANCE: tuple[Kind, ...] = ("prune", "check", "copy")
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class ScheduledRun:
    job: str  # the job's name; for prune, check and copy the repository's
    kind: Kind
    cron: str
    jitter: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.job}:{self.kind}"

    def trigger(self) -> CronTrigger:
        return cron_trigger(self.cron, jitter=self.jitter)


@dataclass(frozen=True)
class NextRun:
    job: str
    kind: Kind
    cron: str
    at: datetime | None  # None: the expression never fires again


def scheduled_runs(config: DrkitConfig) -> list[ScheduledRun]:
    """Every scheduled run of ``config``, by job name, then backup, drill, heartbeat."""
    out: list[ScheduledRun] = []
    for name, job in sorted(config.jobs.items()):
        crons: dict[Kind, str | None] = {
            "backup": job.schedule,
            "drill": job.drill.schedule,
            "heartbeat": job.canary.heartbeat if job.canary_enabled else None,
        }
        out.extend(ScheduledRun(name, kind, expr, job.jitter) for kind, expr in crons.items() if expr)
    for name, repo in sorted(config.repositories.items()):
        tasks: dict[Kind, str | None] = {
            "prune": repo.prune.schedule if repo.prune else None,
            "check": repo.check.schedule if repo.check else None,
            "copy": repo.copy_to.schedule if repo.copy_to else None,
        }
        out.extend(ScheduledRun(name, kind, expr) for kind, expr in tasks.items() if expr)
    out.extend(
        ScheduledRun(name, "system-heartbeat", system.heartbeat)
        for name, system in sorted(config.systems.items())
        if system.heartbeat
    )
    out.extend(
        ScheduledRun(name, "system-drill", system.drill.schedule)
        for name, system in sorted(config.systems.items())
        if system.drill.schedule
    )
    return out


def fire_times(cron: str, start: datetime, end: datetime, limit: int = 10_000) -> list[datetime]:
    """The times ``cron`` fires after ``start`` and at or before ``end``: the first ``limit`` of them."""
    trigger, out = cron_trigger(cron), list[datetime]()
    fire: datetime | None = trigger.get_next_fire_time(None, start + _TICK)
    while fire is not None and fire <= end and len(out) < limit:
        out.append(fire)
        fire = trigger.get_next_fire_time(fire, fire + _TICK)
    return out


def longest_gap(cron: str, now: datetime, horizon: timedelta = timedelta(days=400)) -> float:
    """The longest time in seconds between two runs of ``cron`` over ``horizon`` from ``now`` (the
    horizon itself when it fires at most once): a run is late once this has passed since the last."""
    fires = fire_times(cron, now, now + horizon, limit=2_000)
    gaps = [(b - a).total_seconds() for a, b in zip(fires, fires[1:], strict=False)]
    return max(gaps, default=horizon.total_seconds())


def next_fire(cron: str, after: datetime) -> datetime | None:
    """The first time strictly after ``after`` that ``cron`` fires (no jitter)."""
    fire: datetime | None = cron_trigger(cron).get_next_fire_time(None, after + _TICK)
    return fire


def missed_run(cron: str, last: datetime, now: datetime, grace: float) -> datetime | None:
    """The fire time owed at start-up, or None: the first time ``cron`` fired after ``last`` (the
    previous run) and at or before ``now`` that is at most ``grace`` seconds old. However many fire
    times were missed, they owe one run (they coalesce)."""
    first = next_fire(cron, max(last, now - timedelta(seconds=grace)))
    return first if first is not None and first <= now else None


def next_runs(config: DrkitConfig, now: datetime) -> list[NextRun]:
    """When each scheduled run of ``config`` fires next after ``now`` (UTC, without jitter)."""
    return [NextRun(r.job, r.kind, r.cron, next_fire(r.cron, now)) for r in scheduled_runs(config)]


__all__ = [
    "MAINTENANCE",
    "Kind",
    "NextRun",
    "ScheduledRun",
    "fire_times",
    "longest_gap",
    "missed_run",
    "next_fire",
    "next_runs",
    "scheduled_runs",
]
