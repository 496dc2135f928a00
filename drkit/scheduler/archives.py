"""Archive freshness of the point-in-time jobs: when the newest WAL segment (physical PostgreSQL
jobs) or AOF segment (Redis jobs with an AOF archive) reached the repository.

PostgreSQL runs ``drkit pg wal-push`` (``drkit pg receive``'s streamed partial segments count too)
and ``drkit redis archive`` runs on its own, outside the daemon, so the daemon reads the archive
from the repository: at start-up, after each run of the job, and every ``ARCHIVE_REFRESH`` seconds
(a listing of the WAL prefix; the AOF records). The ``DrkitArchiveStale`` alert compares the age
with the job's RPO target."""

from __future__ import annotations

import logging
import math

from storage_backends.errors import BackendError

from ..config import DrkitConfig, PostgresSource, RedisSource
from ..config.models import BUILTIN_KINDS
from ..core.errors import DrkitError
from ..core.metrics import Metrics
from ..ops.session import open_repository
from ..repository.repo import Repository
from ..sources.postgres.wal import STREAMED, archive_times, is_segment
from ..sources.redis.kinds import ARCHIVE_KIND
from ..sources.registry import HasArchive, source_kind

ARCHIVE_REFRESH = 60.0  # seconds between reads of the archives by the daemon
log = logging.getLogger("drkit.scheduler")


def _newest_wal(repo: Repository) -> float | None:
    times = [at.timestamp() for name, at in archive_times(repo).items() if is_segment(name) or STREAMED.match(name)]
    return max(times, default=None)


def _newest_aof(repo: Repository, source_name: str) -> float | None:
    """The newest ``archived_at`` of the source's AOF records. A record without a usable one (written
    by a buggy or future drkit) is logged and left out: it must not stop the daemon at start-up, and
    the other jobs' series (and this job's other records) still count."""
    newest: float | None = None
    for doc_id, doc in repo.manifests.find(ARCHIVE_KIND, lambda d: d.get("source_name") == source_name):
        at = doc.get("archived_at")
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
            log.warning("AOF archive record %s of %s has no valid archived_at (%.40r); left out", doc_id[:12],
                        source_name, at, extra={"source": source_name})
            continue
        newest = float(at) if newest is None else max(newest, float(at))
    return newest


def read_archives(config: DrkitConfig, repository: str, repo: Repository, metrics: Metrics) -> None:
    """Set the archive freshness of every point-in-time job of ``repository`` (open as ``repo``)."""
    wal: float | None = None
    wal_read = False
    for job, spec in config.jobs.items():
        source = spec.source
        if spec.repository != repository:
            continue
        if isinstance(source, PostgresSource) and source.mode == "physical":
            if not wal_read:  # one WAL archive per repository
                wal, wal_read = _newest_wal(repo), True
            metrics.ops.archived(job, "wal", wal)
        elif isinstance(source, RedisSource):
            if source.archive is None:  # else the daemon's archiver sets it each round (aofarchivers)
                metrics.ops.archived(job, "aof", _newest_aof(repo, source.name))
        else:
            plugin = _archiving_plugin(source)
            if plugin is not None:
                metrics.ops.archived(job, plugin.archive_label, plugin.newest_archived(repo, source, job))


def _archiving_plugin(source: object) -> HasArchive | None:
    """The kind of a source from a plugin (drkit.sources) if it keeps an archive for this job."""
    kind = getattr(source, "kind", "")
    if kind in BUILTIN_KINDS:
        return None
    plugin = source_kind(kind)
    return plugin if isinstance(plugin, HasArchive) and plugin.archives(source) else None


def archiving_repositories(config: DrkitConfig) -> list[str]:
    return sorted(
        {
            job.repository
            for job in config.jobs.values()
            if isinstance(job.source, RedisSource)
            or (isinstance(job.source, PostgresSource) and job.source.mode == "physical")
            or _archiving_plugin(job.source) is not None
        }
    )


def refresh_archives(config: DrkitConfig, metrics: Metrics) -> None:
    """Read every repository that holds a point-in-time job's archive; one that cannot be read is
    logged and keeps its last values (the alert then sees them age)."""
    for repository in archiving_repositories(config):
        cfg = config.repositories[repository]
        try:
            repo = open_repository(cfg.url, cfg.passphrase.as_passphrase_source(), load_index=False)
            try:
                read_archives(config, repository, repo, metrics)
            finally:
                repo.close()
        except (DrkitError, BackendError, OSError) as exc:
            log.warning(
                "could not read the archives in repository %s: %s",
                repository,
                getattr(exc, "message", None) or exc,
                extra={"repository": repository},
            )


__all__ = ["ARCHIVE_REFRESH", "archiving_repositories", "read_archives", "refresh_archives"]
