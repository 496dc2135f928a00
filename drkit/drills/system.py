"""`drkit drill --system NAME`: every component of a system drilled at once (each job's own drill, in its
own sandbox, in parallel), then the system judged as one: each component's checks, the cross-component
heartbeat (the newest heartbeat every component holds is the verified recovery point; their spread the
measured skew), and RPO/RTO against the system's targets. The system's result is one more ``DrillResult``
(``source_kind`` ``system``): one check per component, one for the heartbeat, one for the skew of a
point-in-time drill, then the targets; every report format renders it like a job's.

With ``--point-in-time T`` the components are planned as `restore --system` plans them (PostgreSQL: WAL to
T; Redis: the AOF cut at the second before T; files: the newest snapshot that ended by T); without it, each
component drills its latest backup and the heartbeat measures how far apart they are."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from ..config import DrkitConfig, SystemConfig
from ..core import clock
from ..core.errors import DrkitError
from ..core.timespec import format_time, parse_time
from ..jobs import open_job_repository
from ..jobs.system_heartbeat import Heartbeats
from ..jobs.system_plan import ComponentPlan, SkewTooLarge
from ..jobs.system_restore import check_skew, plan_system
from ..sources.registry import HasSystemDrill, source_kind
from .history import save_result
from .result import CheckResult, DrillResult
from .runner import run_drill
from .targets import ExtraTargets, evaluate_targets

log = logging.getLogger("drkit.drills")
Spec = tuple[str | None, str | None]  # (snapshot, point in time) of one component's drill


def run_system_drill(
    config: DrkitConfig,
    name: str,
    *,
    sandbox: str = "auto",
    point_in_time: str | None = None,
    allow_skew: float | None = None,
    extra_targets: ExtraTargets | None = None,
) -> list[DrillResult]:
    """The system's result first, then each component's (each also stored in its job's repository). The
    system's result is held to the system's targets and to ``extra_targets`` (a runbook's)."""
    system = config.system(name)
    t0, started = time.monotonic(), clock.utcnow()
    result = DrillResult(
        job=name, source_kind="system", sandbox=sandbox, started_at=started.isoformat(), point_in_time=point_in_time
    )
    specs: dict[str, Spec] = dict.fromkeys(system.jobs, (None, None))
    if point_in_time is not None:
        try:
            specs = _plan(config, name, system, parse_time(point_in_time), allow_skew, result)
        except DrkitError as exc:
            result.error = exc.message
            return [_finish(config, (system, extra_targets), result, [], started)]

    def one(job: str) -> tuple[float, DrillResult]:
        offset = time.monotonic() - t0
        return offset, run_drill(config, job, sandbox=sandbox, snapshot=specs[job][0], point_in_time=specs[job][1])

    with ThreadPoolExecutor(len(system.jobs), thread_name_prefix="drkit-system-drill") as pool:
        done = list(pool.map(one, system.jobs))
    parts = [r for _, r in done]
    result.sandbox = ",".join(sorted({p.sandbox for p in parts}))
    for part in parts:
        result.checks.append(_component_check(part))
    _heartbeat_check(name, system, parts, started, result)
    if result.checks_ok and all(p.rto_seconds is not None for p in parts):
        result.rto_seconds = round(max(offset + (p.rto_seconds or 0.0) for offset, p in done), 3)
    catalogs = [p.rpo_catalog_seconds for p in parts]
    if parts and all(c is not None for c in catalogs):
        result.rpo_catalog_seconds = max(c for c in catalogs if c is not None)
    return [_finish(config, (system, extra_targets), result, parts, started), *parts]


def _plan(
    config: DrkitConfig, name: str, system: SystemConfig, when: datetime, allow_skew: float | None, result: DrillResult
) -> dict[str, Spec]:
    plans = plan_system(config, name, when)
    allowed = system.max_skew if allow_skew is None else allow_skew
    try:
        check_skew(name, plans, when, allowed)
        spread = max(p.skew(when) for p in plans)
        result.checks.append(
            CheckResult(
                "system.skew",
                True,
                f"every component within {allowed:g} s of {format_time(when)} (the furthest {spread:g} s before)",
            )
        )
    except SkewTooLarge as exc:
        result.checks.append(CheckResult("system.skew", False, exc.message))
    return {p.job: _spec(p, when) for p in plans}


def _spec(plan: ComponentPlan, when: datetime) -> Spec:
    """What the component's drill restores, as its kind says (a kind without ``system_drill``: the snapshot)."""
    kind = source_kind(plan.kind)
    return kind.system_drill(plan, when) if isinstance(kind, HasSystemDrill) else (plan.snapshot, None)


def _component_check(part: DrillResult) -> CheckResult:
    name = f"component:{part.job}"
    if part.error:
        return CheckResult(name, False, part.error)
    failed = part.failed_checks
    if failed:
        return CheckResult(name, False, "; ".join(f"{c.name}: {c.detail}" for c in failed)[:2000])
    return CheckResult(
        name,
        True,
        f"{part.source_kind}: {len(part.checks)} checks passed (snapshot {part.snapshot_id[:8] or '-'})",
        part.rto_seconds or 0.0,
    )


def _heartbeat_check(
    name: str, system: SystemConfig, parts: list[DrillResult], started: datetime, result: DrillResult
) -> None:
    found = {p.job: p.system_heartbeats.get(name) for p in parts}
    result.system_heartbeats = found
    beats = Heartbeats({job: parse_time(at) if at else None for job, at in found.items()})
    point = beats.verified_point
    if point is not None:
        result.rpo_verified_seconds = round(max(0.0, (started - point).total_seconds()), 3)
        result.rpo_basis = "system heartbeat: the newest heartbeat every restored component holds"
        result.checks.append(
            CheckResult(
                "system.heartbeat",
                True,
                f"every component holds the heartbeat of "
                f"{format_time(point)}; their newest are {beats.skew_seconds:g} s apart",
            )
        )
        return
    missing = sorted(job for job, at in found.items() if at is None)
    if len(missing) == len(found) and system.heartbeat is None:
        result.not_verified.append(
            f"heartbeat: no system heartbeat in the restored data (set systems.{name}."
            f"heartbeat, or run `drkit system heartbeat {name}`); the RPO is the catalog's"
        )
        return
    result.checks.append(
        CheckResult("system.heartbeat", False, "no system heartbeat in the restored data of " + ", ".join(missing))
    )


def _finish(
    config: DrkitConfig,
    targets: tuple[SystemConfig, ExtraTargets | None],
    result: DrillResult,
    parts: list[DrillResult],
    started: datetime,
) -> DrillResult:
    system = targets[0]
    result.targets = evaluate_targets(system.targets, result, targets[1])
    try:
        repo, _ = open_job_repository(config, config.job(system.jobs[0]), load_index=False)
    except DrkitError as exc:
        log.warning("system drill result not stored", extra={"system": result.job, "error": exc.message})
        return result
    try:
        save_result(repo.manifests, result)
    except DrkitError as exc:
        log.warning("system drill result not stored", extra={"system": result.job, "error": exc.message})
    finally:
        repo.close()
    log.info(
        "system drill finished",
        extra={
            "system": result.job,
            "success": result.success,
            "components": len(parts),
            "started": started.isoformat(),
        },
    )
    return result
