"""Metrics of a long-running operation beyond single backups: the build, each job's recoverable window
and last failure, the drill and check deadlines from the config, and the scheduled maintenance of each
repository (prune, check, copy) -- what the daemon restores at start-up, so a restart does not blank
the series that alerts read.

Names follow the Prometheus conventions: base unit last (``_seconds``, ``_bytes``), timestamps as
``_timestamp_seconds`` since the epoch, counters ending in ``_total`` (the client adds it).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Info

JOB_LABEL = "drkit_job"
TASKS = ("prune", "check", "copy")


@dataclass(frozen=True, kw_only=True)
class OpsMetrics:
    build: Info | None  # only in the daemon: one-shot textfiles of several runs would repeat it
    backup_last_failure: Gauge
    oldest_point: Gauge
    newest_point: Gauge
    drill_max_age: Gauge
    drill_known_since: Gauge
    check_success: Gauge
    check_timestamp: Gauge
    check_max_age: Gauge
    copy_max_age: Gauge
    maintenance_last_success: Gauge
    maintenance_last_failure: Gauge
    maintenance_duration: Gauge
    maintenance_runs: Counter
    maintenance_known_since: Gauge
    prune_freed: Gauge
    archive_newest: Gauge
    runs_skipped: Counter
    retention_last_applied: Gauge
    retention_skipped: Counter
    system_heartbeat: Gauge

    def recovery_window(self, job: str, *, oldest: float | None, newest: float | None) -> None:
        """The job's oldest and newest recoverable point (snapshot end times); none: series removed."""
        for gauge, value in ((self.oldest_point, oldest), (self.newest_point, newest)):
            if value is None:
                _remove(gauge, job)
            else:
                gauge.labels(job).set(value)

    def archived(self, job: str, kind: str, at: float | None) -> None:
        """When the newest ``kind`` ("wal", "aof") segment of the job was archived; none yet: no series."""
        if at is not None:
            self.archive_newest.labels(job, kind).set(at)

    def register_repository(
        self,
        repository: str,
        tasks: dict[str, float],
        *,
        check_max_age: float | None,
        copy_max_age: tuple[str, float] | None = None,
    ) -> None:
        """Scheduled ``tasks`` (task → when the daemon first knew of the schedule) with zeroed counters;
        the deadlines of the check and of the copy (target repository, seconds)."""
        for task, since in tasks.items():
            self.maintenance_known_since.labels(repository, task).set(since)
            for result in ("success", "failure"):
                self.maintenance_runs.labels(repository, task, result)
        if check_max_age is not None:
            self.check_max_age.labels(repository).set(check_max_age)
        if copy_max_age is not None:
            self.copy_max_age.labels(repository, copy_max_age[0]).set(copy_max_age[1])

    def maintenance_finished(
        self, repository: str, task: str, *, success: bool, at: float, duration_s: float | None = None
    ) -> None:
        """One prune, check or copy run (``duration_s`` None: restored at start-up, not a new run)."""
        (self.maintenance_last_success if success else self.maintenance_last_failure).labels(repository, task).set(at)
        if duration_s is not None:
            self.maintenance_duration.labels(repository, task).set(duration_s)
            self.maintenance_runs.labels(repository, task, "success" if success else "failure").inc()

    def watch_retention(self, job: str, *, since: float) -> None:
        """A job with retention, at daemon start-up: no record of its last applied step survives a
        restart, so the gauge starts at ``since`` (an alert on it comes at most that much late)."""
        self.retention_last_applied.labels(job).set(since)
        self.retention_skipped.labels(job)

    def retention_ran(self, job: str, *, applied: bool | None, at: float) -> None:
        """A backup run's retention step: applied, skipped (see its warning), or none configured. An
        applied step shows the skipped counter too (0 in a one-shot run's export: a Pushgateway push then
        replaces an earlier skipped run's 1)."""
        if applied:
            self.retention_last_applied.labels(job).set(at)
            self.retention_skipped.labels(job)
        elif applied is not None:
            self.retention_skipped.labels(job).inc()

    def checked(self, repository: str, *, ok: bool, at: float) -> None:
        self.check_success.labels(repository).set(1 if ok else 0)
        self.check_timestamp.labels(repository).set(at)


def _remove(gauge: Gauge, *labels: str) -> None:
    try:
        gauge.remove(*labels)
    except KeyError:
        pass


def new_ops_metrics(registry: CollectorRegistry, version: str | None) -> OpsMetrics:
    def gauge(name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(name, doc, list(labels or (JOB_LABEL,)), registry=registry)

    repo, task = "repository", "task"
    build = None
    if version is not None:
        build = Info("drkit_build", "The running drkit's version", registry=registry)
        build.info({"version": version})
    return OpsMetrics(
        build=build,
        backup_last_failure=gauge(
            "drkit_backup_last_failure_timestamp_seconds", "When the newest failed backup run of the job ended"
        ),
        oldest_point=gauge(
            "drkit_recovery_point_oldest_timestamp_seconds",
            "End time of the job's oldest snapshot in its repository (oldest recoverable point)",
        ),
        newest_point=gauge(
            "drkit_recovery_point_newest_timestamp_seconds",
            "End time of the job's newest snapshot in its repository (newest recoverable point)",
        ),
        drill_max_age=gauge(
            "drkit_drill_max_age_seconds",
            "How old the newest passed drill of the job may be (drill.max_age, else twice the "
            "longest gap of drill.schedule)",
        ),
        drill_known_since=gauge(
            "drkit_drill_scheduled_since_timestamp_seconds",
            "When the daemon first knew of the job's drill deadline (a drill that never passed is late this long "
            "after it)",
        ),
        check_success=gauge(
            "drkit_repository_check_success", "1 if the last `drkit check` found no errors, else 0", repo
        ),
        check_timestamp=gauge("drkit_repository_check_timestamp_seconds", "When the last `drkit check` finished", repo),
        check_max_age=gauge(
            "drkit_repository_check_max_age_seconds",
            "How old the last check may be (check.max_age, else twice the longest gap of check.schedule)",
            repo,
        ),
        copy_max_age=gauge(
            "drkit_copy_max_age_seconds",
            "How old the last successful copy to the repository `to` may be (copy.max_age, else twice the "
            "longest gap of copy.schedule)",
            repo,
            "to",
        ),
        maintenance_last_success=gauge(
            "drkit_maintenance_last_success_timestamp_seconds",
            "When the newest successful scheduled prune, check or copy ended",
            repo,
            task,
        ),
        maintenance_last_failure=gauge(
            "drkit_maintenance_last_failure_timestamp_seconds",
            "When the newest failed scheduled prune, check or copy ended",
            repo,
            task,
        ),
        maintenance_duration=gauge(
            "drkit_maintenance_duration_seconds", "How long the last run of the task took", repo, task
        ),
        maintenance_runs=Counter(
            "drkit_maintenance_runs",
            "Scheduled maintenance runs, by task and result",
            [repo, task, "result"],
            registry=registry,
        ),
        maintenance_known_since=gauge(
            "drkit_maintenance_scheduled_since_timestamp_seconds",
            "When the daemon first knew of the task's schedule (a task that never ran is late this long after it)",
            repo,
            task,
        ),
        prune_freed=gauge("drkit_prune_freed_bytes", "Bytes the last scheduled prune deleted", repo),
        archive_newest=gauge(
            "drkit_archive_newest_timestamp_seconds",
            "When the job's newest WAL segment (kind=wal) or AOF segment (kind=aof) reached the repository",
            JOB_LABEL,
            "kind",
        ),
        runs_skipped=Counter(
            "drkit_scheduled_runs_skipped",
            "Scheduled runs not started because the schedule's previous run was still running "
            "(schedule: <job or repository>:<kind>)",
            ["schedule"],
            registry=registry,
        ),
        retention_last_applied=gauge(
            "drkit_retention_last_applied_timestamp_seconds",
            "When a backup run of the job last applied its retention (in the daemon: its start time until then)",
        ),
        retention_skipped=Counter(
            "drkit_retention_skipped",
            "Backup runs whose retention step was skipped (the repository busy or locked); the next run applies it",
            [JOB_LABEL],
            registry=registry,
        ),
        system_heartbeat=gauge(
            "drkit_system_heartbeat_last_success_timestamp_seconds",
            "The instant the newest system heartbeat wrote into every component of the system",
            "system",
        ),
    )


__all__ = ["TASKS", "OpsMetrics", "new_ops_metrics"]
