"""What the daemon knows at start-up, before any run: the series alerts read that a restart must not
blank. From each repository: every job's last success and recoverable window (its snapshots), its
newest drill (drill documents) and its archive freshness (WAL, AOF); from the state directory: the
last prune, check and copy of each repository; from the config: how old a drill or a check may grow
before it is late."""

from __future__ import annotations

import logging
from datetime import datetime

from storage_backends.errors import BackendError

from ..config import DrkitConfig
from ..config.models import CheckSchedule, CopySchedule, DrillSettings, SystemDrillSettings
from ..core.errors import DrkitError
from ..core.metrics import Metrics
from ..drills.history import load_history
from ..drills.result import DrillResult
from ..jobs.window import job_windows, job_windows_skipped
from ..ops.session import open_repository
from .archives import read_archives
from .maintenance import Maintainer, MaintenanceState
from .plan import MAINTENANCE, longest_gap, scheduled_runs

log = logging.getLogger("drkit.scheduler")
DRILL_SINCE = "drill:"  # maintenance.json: "since" of a job's drill deadline, "drill:<job>"


def drill_finished_at(result: DrillResult) -> float | None:
    """When a drill ended: its start plus its RTO (what both the daemon and its restart report)."""
    start = result.started_timestamp
    return None if start is None else start + (result.rto_seconds or 0.0)


def _set_deadlines(config: DrkitConfig, metrics: Metrics, state: MaintenanceState, now: datetime) -> None:
    drills: dict[str, list[str]] = {}
    owners: list[tuple[str, DrillSettings | SystemDrillSettings, str]] = [
        (name, job.drill, job.repository) for name, job in config.jobs.items()
    ]
    owners += [(name, system.drill, _system_repository(config, name)) for name, system in config.systems.items()]
    for name, drill, repository in owners:  # a system's drill is measured under its name (drkit_job)
        if drill.max_age is not None or drill.schedule is not None:
            max_age = drill.max_age or 2 * longest_gap(str(drill.schedule), now)
            metrics.ops.drill_max_age.labels(name).set(max_age)
            drills.setdefault(repository, []).append(f"{DRILL_SINCE}{name}")
    # when the daemon first knew of each drill deadline (kept beside the repository's tasks): a drill that
    # never passed is late this long after it
    for names in state.baseline(drills, now.timestamp()).values():
        for key, known in names.items():
            metrics.ops.drill_known_since.labels(key.removeprefix(DRILL_SINCE)).set(known)
    tasks: dict[str, list[str]] = {}
    for run in scheduled_runs(config):
        if run.kind in MAINTENANCE:
            tasks.setdefault(run.job, []).append(run.kind)
    since = state.baseline(tasks, now.timestamp())
    for name, repo in config.repositories.items():
        metrics.ops.register_repository(
            name,
            since.get(name, {}),
            check_max_age=_check_max_age(repo.check, now),
            copy_max_age=_copy_max_age(repo.copy_to, now),
        )


def _system_repository(config: DrkitConfig, system: str) -> str:
    """Where a system drill's result is stored (``drills.system``): its first component's repository."""
    return config.job(config.system(system).jobs[0]).repository


def _check_max_age(check: CheckSchedule | None, now: datetime) -> float | None:
    return None if check is None else check.max_age or 2 * longest_gap(check.schedule, now)


def _copy_max_age(copy: CopySchedule | None, now: datetime) -> tuple[str, float] | None:
    return None if copy is None else (copy.to, copy.max_age or 2 * longest_gap(copy.schedule, now))


def register_task(
    config: DrkitConfig, metrics: Metrics, state: MaintenanceState, repository: str, task: str, now: datetime
) -> None:
    """The deadline series of one scheduled task, as the daemon sets them at start-up, for a one-shot run
    (`drkit job maintain`): only this task's, so the textfiles of several tasks hold no series twice."""
    try:
        since = state.baseline({repository: [task]}, now.timestamp())[repository]
    except OSError as exc:  # as Maintainer: an unwritable state directory is logged, the run goes on
        log.error("cannot write the maintenance state %s: %s", state.path, exc.strerror)
        since = {task: now.timestamp()}
    cfg = config.repositories[repository]
    metrics.ops.register_repository(
        repository,
        since,
        check_max_age=_check_max_age(cfg.check, now) if task == "check" else None,
        copy_max_age=_copy_max_age(cfg.copy_to, now) if task == "copy" else None,
    )


def _read_repository(config: DrkitConfig, repository: str, metrics: Metrics) -> None:
    cfg = config.repositories[repository]
    repo = open_repository(cfg.url, cfg.passphrase.as_passphrase_source(), load_index=False)
    try:
        windows, skipped = job_windows_skipped(repo.manifests)
        drills = load_history(repo.manifests)
        read_archives(config, repository, repo, metrics)
    finally:
        repo.close()
    for job, spec in config.jobs.items():
        if spec.repository != repository:
            continue
        _restore_window(metrics, job, windows.get(job))
        if job in skipped:  # whether the newest snapshot is of a partial backup (DrkitBackupPartial)
            metrics.skipped.labels(job).set(skipped[job])
        _restore_drill(metrics, job, drills.get(job, []))
    for system in config.systems:
        if _system_repository(config, system) == repository:
            _restore_drill(metrics, system, drills.get(system, []))


def _restore_window(metrics: Metrics, job: str, window: tuple[float, float] | None) -> None:
    if window is not None:
        metrics.last_success.labels(job).set(window[1])
        metrics.ops.recovery_window(job, oldest=window[0], newest=window[1])


def restore_job_window(config: DrkitConfig, job: str, metrics: Metrics) -> None:
    """The job's last success and recoverable window from its repository, for the metrics of a one-shot run
    that failed: its textfile replaces the last one whole, and without them the backup alerts misread it
    (DrkitBackupNeverSucceeded fired, DrkitBackupTooOld had nothing to compare). Unreadable: logged."""
    cfg = config.repositories[config.job(job).repository]
    try:
        repo = open_repository(cfg.url, cfg.passphrase.as_passphrase_source(), load_index=False)
        try:
            window = job_windows(repo.manifests).get(job)
        finally:
            repo.close()
    except (DrkitError, BackendError, OSError) as exc:
        log.info(
            "could not read the last success of %s: %s", job, getattr(exc, "message", None) or exc, extra={"job": job}
        )
        return
    _restore_window(metrics, job, window)


def _restore_drill(metrics: Metrics, job: str, results: list[DrillResult]) -> None:
    if not results:
        return
    metrics.drill_success.labels(job).set(1 if results[-1].success else 0)
    passed = [at for r in results if r.success and (at := drill_finished_at(r)) is not None]
    if passed:
        metrics.drill_last_success.labels(job).set(max(passed))


def restore_metrics(config: DrkitConfig, metrics: Metrics, maintainer: Maintainer, now: datetime) -> None:
    """Set every series that can be known before a run; a repository that cannot be read is logged
    and skipped (its series appear with the next run)."""
    restore_local(config, metrics, maintainer, now)
    read_histories(config, metrics)


def restore_local(config: DrkitConfig, metrics: Metrics, maintainer: Maintainer, now: datetime) -> None:
    """What the config and the state directory tell (fast: no repository is read)."""
    _set_deadlines(config, metrics, maintainer.state, now)
    maintainer.restore()


def read_histories(config: DrkitConfig, metrics: Metrics) -> None:
    """What the repositories tell: each job's last success, window and drills (a storage that hangs
    makes this slow: the daemon runs it with its HTTP endpoints up)."""
    for repository in sorted({job.repository for job in config.jobs.values()}):
        try:
            _read_repository(config, repository, metrics)
        except (DrkitError, BackendError, OSError) as exc:
            log.warning(
                "could not read the history of repository %s: %s",
                repository,
                getattr(exc, "message", None) or exc,
                extra={"repository": repository},
            )


__all__ = [
    "drill_finished_at",
    "read_histories",
    "register_task",
    "restore_job_window",
    "restore_local",
    "restore_metrics",
]
