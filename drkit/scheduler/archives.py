"""Archive freshness of the point-in-time jobs: when the newest WAL segment (physical PostgreSQL
jobs) or AOF segment (Redis jobs with an AOF archive) reached the repository.

PostgreSQL runs ``drkit pg wal-push`` (``drkit pg receive``'s streamed partial segments count too)
and ``drkit redis archive`` runs on its own, outside the daemon, so the daemon reads the archive
from the repository: at start-up, after each run of the job, and every ``ARCHIVE_REFRESH`` seconds
(a listing of the WAL prefix; the AOF records). The ``DrkitArchiveStale`` alert compares the age
with the job's RPO target."""

from __future__ import annotations

import logging

from storage_backends.errors import BackendError

from ..config import DrkitConfig
from ..core.errors import DrkitError
from ..core.metrics import Metrics
from ..ops.session import open_repository
from ..repository.repo import Repository
from ..sources.registry import HasArchive, source_kind

ARCHIVE_REFRESH = 60.0  # seconds between reads of the archives by the daemon
log = logging.getLogger("drkit.scheduler")


def read_archives(config: DrkitConfig, repository: str, repo: Repository, metrics: Metrics) -> None:
    """Set the archive freshness of every job of ``repository`` (open as ``repo``) whose kind keeps an
    archive for it (the registry's :class:`HasArchive`: WAL, AOF records, binary logs …)."""
    shared: dict[str, float | None] = {}  # a kind's archive_per_repository: read once for all its jobs
    for job, spec in config.jobs.items():
        kind = _archiving_kind(spec.source)
        if spec.repository != repository or kind is None:
            continue
        label = kind.archive_label
        if not getattr(kind, "archive_per_repository", False):
            metrics.ops.archived(job, label, kind.newest_archived(repo, spec.source, job))
            continue
        if label not in shared:
            shared[label] = kind.newest_archived(repo, spec.source, job)
        metrics.ops.archived(job, label, shared[label])


def _archiving_kind(source: object) -> HasArchive | None:
    """The source's kind (through the registry) if it keeps an archive the daemon reads for this job."""
    kind = source_kind(getattr(source, "kind", ""))
    return kind if isinstance(kind, HasArchive) and kind.archives(source) else None


def archiving_repositories(config: DrkitConfig) -> list[str]:
    return sorted({job.repository for job in config.jobs.values() if _archiving_kind(job.source) is not None})


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
