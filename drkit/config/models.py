"""The shape of ``drkit.yaml``: repositories, jobs (source, schedule, retention, targets, checks,
drill) and the daemon's settings. Every model forbids unknown fields, so a typo is an error with
its path, not a silently ignored setting."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ..core.errors import UsageError
from .base import NAME_PATTERN, Cron, Seconds, Span, _Model
from .secrets import SecretRef
from .sources import Source


class PruneSchedule(_Model):
    """``drkit prune`` on a schedule: each run marks unused packs and deletes those an earlier run
    marked once ``grace`` has passed (two phases, as the command does)."""

    schedule: Cron
    grace: Seconds | None = Field(default=None, description="Default: prune's own (2 lock lifetimes).")
    repack_below: float = Field(default=0.5, ge=0, le=1)
    max_repack_size: int | None = Field(default=None, ge=0, description="MiB of live data repacked per run.")


class CheckSchedule(_Model):
    """``drkit check`` on a schedule: the structure every run, plus one group of a rotating
    ``--read-data-subset`` so every pack is read within ``read_data_period``."""

    schedule: Cron
    read_data_period: Seconds | None = Field(
        default=None, gt=0, description="Read every pack once within this span (null: structure only)."
    )
    max_age: Seconds | None = Field(
        default=None,
        gt=0,
        description="Alert when no check finished for this long (default: twice the "
        "longest gap between two runs of the schedule).",
    )


class CopySchedule(_Model):
    """``drkit copy`` of every snapshot into a second configured repository."""

    schedule: Cron
    to: str = Field(pattern=NAME_PATTERN, description="The name of the target repository in this file.")
    max_age: Seconds | None = Field(
        default=None,
        gt=0,
        description="Alert when no copy succeeded for this long: the target lags (default: "
        "twice the longest gap between two runs of the schedule).",
    )


class RepositoryConfig(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)  # `copy` in the file

    url: str = Field(min_length=1, description="Repository URL or local path.")
    passphrase: SecretRef
    prune: PruneSchedule | None = None
    check: CheckSchedule | None = None
    copy_to: CopySchedule | None = Field(default=None, alias="copy")
    retry_for: Seconds | None = Field(
        default=None,
        ge=0,
        description="How long a failing storage call is retried, with backoff, before the "
        "command fails (exit 14); default 5min. The command line's --retry-for wins.",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Threads that seal a backup's chunks and restore files; default "
        "one per CPU the process may use (affinity and cgroup quota). The command line's --workers wins.",
    )
    connections: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Storage requests in flight (pack uploads, reads); default 8 "
        "on a remote store (S3, GCS), 2 uploads and 4 reads on a local disk. The command line's --connections wins.",
    )
    limit_upload: int | None = Field(
        default=None,
        ge=0,
        description="Upload at most this many KiB/s to the store, all threads together; 0 or "
        "absent: no limit. The command line's --limit-upload wins.",
    )
    limit_download: int | None = Field(
        default=None,
        ge=0,
        description="Download at most this many KiB/s from the store, all threads together; 0 "
        "or absent: no limit. The command line's --limit-download wins.",
    )


class SqlCheck(_Model):
    sql: str
    expect: str | None = Field(
        description="The first column of the first row as text, exactly as the job's database gives it "
        "(PostgreSQL: its text output; tabs, newlines and spaces included); null matches only SQL NULL."
    )
    database: str | None = None


class RedisCheck(_Model):
    redis: str = Field(description="A Redis command, e.g. 'GET config:version'.")
    expect: str | None = Field(
        description="The reply as text (an array: its items joined by spaces); null matches "
        "only a nil reply (e.g. GET of a missing key), never a string ('' included)."
    )
    db: int = 0


class PathCheck(_Model):
    path_exists: str


Check = SqlCheck | RedisCheck | PathCheck


class Targets(_Model):
    rpo: Seconds = 300.0
    rto: Seconds = 900.0


class Retention(_Model):
    keep_last: int | None = Field(default=None, ge=0)
    keep_hourly: int | None = Field(default=None, ge=0)
    keep_daily: int | None = Field(default=None, ge=0)
    keep_weekly: int | None = Field(default=None, ge=0)
    keep_monthly: int | None = Field(default=None, ge=0)
    keep_yearly: int | None = Field(default=None, ge=0)
    keep_within: Span | None = None


class DrillSettings(_Model):
    schedule: Cron | None = None
    max_age: Seconds | None = Field(
        default=None,
        gt=0,
        description="Alert when no drill passed for this long (default: twice the longest "
        "gap between two runs of the schedule).",
    )
    sandbox: Literal["auto", "docker", "local"] = "auto"
    images: dict[str, str] = Field(
        default={},
        description="Container images for --sandbox docker, by source kind (a private registry or "
        "an air-gapped mirror); default postgres:<major of the backup>, redis:7, and for "
        "files python:3.11-slim-bookworm (any image with python3 on its PATH).",
    )

    @field_validator("images")
    @classmethod
    def _kinds_with_containers(cls, images: dict[str, str]) -> dict[str, str]:
        """Each key names a kind whose drill may run in a container (``HasContainerDrill``)."""
        if images:
            from ..sources.registry import HasContainerDrill, kind_names, source_kind

            able = [kind for kind in kind_names() if isinstance(source_kind(kind), HasContainerDrill)]
            unknown = sorted(set(images) - set(able))
            if unknown:
                raise ValueError(f"{unknown[0]!r} has no container sandbox (kinds with one: {', '.join(able)})")
        return images


class CanarySettings(_Model):
    enabled: bool | None = Field(
        default=None,
        description="Write a canary (a row, key or file, as the job's kind keeps it) at each backup, so a drill "
        "proves its RPO from restored data. Default: the kind's -- on for databases and any kind that does not "
        "declare otherwise; off for file trees, where drkit never writes into a production tree unless this is "
        "set to true.",
    )
    heartbeat: Cron | None = Field(default=None, description="Cron of a light job writing only the canary.")


class NotifySettings(_Model):
    """Where a run's outcome is sent (drkit/jobs/notify.py). The URLs usually hold a token: secret references."""

    webhook: SecretRef | None = Field(
        default=None,
        description="URL of a generic JSON POST: on a failed or partial run, and on success too with on_success.",
    )
    healthchecks: SecretRef | None = Field(
        default=None,
        description="A healthchecks.io-style ping URL, pinged by "
        "every backup run: the URL on success, URL/fail on failure or partial.",
    )
    on_success: bool = Field(default=False, description="Also POST the webhook when a run succeeds.")


class JobConfig(_Model):
    source: Source
    repository: str = "default"
    schedule: Cron | None = None
    jitter: Seconds = 0.0
    tags: list[str] = []
    retention: Retention | None = None
    targets: Targets = Targets()
    checks: list[Check] = []
    drill: DrillSettings = DrillSettings()
    canary: CanarySettings = CanarySettings()
    notify: NotifySettings | None = Field(default=None, description="Replaces the top-level notify for this job.")

    @property
    def canary_enabled(self) -> bool:
        """``canary.enabled`` as set, else the kind's default (on for databases, off for file trees)."""
        if self.canary.enabled is not None:
            return self.canary.enabled
        from ..sources.registry import canary_by_default  # loads only this job's kind

        return canary_by_default(self.source.kind)


class SystemDrillSettings(_Model):
    """The daemon's scheduled `drkit drill --system`: every component in its own sandbox, the system judged."""

    schedule: Cron | None = None
    max_age: Seconds | None = Field(
        default=None,
        gt=0,
        description="Alert when no system drill passed for this "
        "long (default: twice the longest gap between two runs of the schedule).",
    )
    sandbox: Literal["auto", "docker", "local"] = "auto"


class SystemConfig(_Model):
    """Jobs that only make sense together (an order row, its queued job, its upload): restored to one
    point in time, drilled and measured as one, against the system's own targets."""

    jobs: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = Field(min_length=1)
    targets: Targets = Targets()
    max_skew: Seconds = Field(
        default=1.0,
        ge=0,
        description="How far each component may stay before the point in "
        "time of a system restore (default 1s: Redis AOF timestamps have one-second "
        "resolution); `--allow-skew` overrides it.",
    )
    heartbeat: Cron | None = Field(
        default=None,
        description="Cron of the system heartbeat: one instant written "
        "into every component (row, key, file) in one step.",
    )
    drill: SystemDrillSettings = SystemDrillSettings()

    @model_validator(mode="after")
    def _distinct(self) -> SystemConfig:
        if len(set(self.jobs)) != len(self.jobs):
            raise ValueError("jobs: a job is listed twice")
        return self


class SchedulerSettings(_Model):
    max_concurrent: int = Field(default=2, ge=1)
    shutdown_grace: Seconds = 300.0
    misfire_grace: Seconds = 86400.0


class HttpSettings(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=9187, ge=0, le=65535)


class DrkitConfig(_Model):
    """The whole file."""

    repositories: dict[Annotated[str, Field(pattern=NAME_PATTERN)], RepositoryConfig] = {}
    jobs: dict[Annotated[str, Field(pattern=NAME_PATTERN)], JobConfig] = {}
    systems: dict[Annotated[str, Field(pattern=NAME_PATTERN)], SystemConfig] = {}
    scheduler: SchedulerSettings = SchedulerSettings()
    http: HttpSettings = HttpSettings()
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    notify: NotifySettings | None = Field(
        default=None,
        description="For every job without its own notify, and for the scheduled prune, check and copy runs.",
    )

    @model_validator(mode="after")
    def _jobs_name_known_repositories(self) -> DrkitConfig:
        for name, job in self.jobs.items():
            if job.repository not in self.repositories:
                known = ", ".join(sorted(self.repositories)) or "none"
                raise ValueError(f"jobs.{name}.repository: unknown repository {job.repository!r} (known: {known})")
        for name, repo in self.repositories.items():
            if repo.copy_to is not None and (repo.copy_to.to == name or repo.copy_to.to not in self.repositories):
                others = ", ".join(sorted(set(self.repositories) - {name})) or "none"
                raise ValueError(
                    f"repositories.{name}.copy.to: {repo.copy_to.to!r} is not another repository "
                    f"of this file (others: {others})"
                )
        self._systems_name_known_jobs()
        return self

    def _systems_name_known_jobs(self) -> None:
        for name, system in self.systems.items():
            unknown = [j for j in system.jobs if j not in self.jobs]
            if unknown:
                known = ", ".join(sorted(self.jobs)) or "none"
                raise ValueError(f"systems.{name}.jobs: unknown job {unknown[0]!r} (known: {known})")
            if name in self.jobs and (system.drill.schedule or system.drill.max_age):
                raise ValueError(
                    f"systems.{name}.drill: a job is named {name!r} too; their drill metrics "
                    "(label drkit_job) would mix: rename the system"
                )

    def job(self, name: str) -> JobConfig:
        try:
            return self.jobs[name]
        except KeyError:
            known = ", ".join(sorted(self.jobs)) or "none"
            raise UsageError(f"no job named {name!r} in the config (jobs: {known})") from None

    def system(self, name: str) -> SystemConfig:
        try:
            return self.systems[name]
        except KeyError:
            from ..core.errors import UsageError

            known = ", ".join(sorted(self.systems)) or "none"
            raise UsageError(
                f"no system named {name!r} in the config (systems: {known})",
                hint="define it under `systems:` in drkit.yaml (docs/systems.md)",
            ) from None
