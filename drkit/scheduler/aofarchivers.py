"""Redis AOF archivers run by the daemon: one thread per Redis job with ``archive`` in its source, each
doing what ``drkit redis aof-archive --url`` does (``sources.redis.ops.aof_archive``) every
``archive.interval`` seconds until the daemon stops. Records are named after the job, like the job's
AOF snapshots, so a point-in-time restore of the job (or of its system) finds both.

Each round that succeeds sets the job's archive freshness (``drkit_archive_newest_timestamp_seconds``
with kind ``aof``, read by ``DrkitArchiveStale``) and the archiver's own series (``core/aofmetrics``).
An archiver that fails (the repository unreachable, the AOF directory gone: any failure, else the
thread would die and archiving stop for good) is logged and started again after ``RETRY`` seconds,
going on from what the repository records; ``drkit_redis_aof_archive_up`` stays 0 meanwhile."""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import CollectorRegistry

from ..config import DrkitConfig, JobConfig, RedisSource
from ..core.aofmetrics import AofArchiveFamilies, AofArchiveMetrics
from ..core.metrics import Metrics
from ..jobs.connect import open_job_repository
from ..sources.redis.plugin_conn import redis_target
from .runs import _error_text
from .workers import WorkerThreads

RETRY = 5.0  # seconds before a failed archiver starts again: the Redis RPO is in seconds
STOP_TIMEOUT = 60.0
log = logging.getLogger("drkit.scheduler")


def archived_jobs(config: DrkitConfig) -> dict[str, JobConfig]:
    """The Redis jobs whose AOF the daemon archives."""
    return {
        name: spec
        for name, spec in config.jobs.items()
        if isinstance(spec.source, RedisSource) and spec.source.archive is not None
    }


class _Archiver:
    def __init__(self, job: str, config: DrkitConfig, metrics: Metrics, own: AofArchiveMetrics) -> None:
        self.job, self.config, self.metrics, self.own = job, config, metrics, own

    def on_round(self, covered: float, docs: list[dict[str, Any]]) -> None:
        self.own.round(covered, docs)
        self.metrics.ops.archived(self.job, "aof", covered)

    def run(self, stop: threading.Event) -> None:
        from ..sources.redis import ops  # the [redis] extra, imported when a job needs it

        spec = self.config.job(self.job)
        source = spec.source
        assert isinstance(source, RedisSource) and source.archive is not None and source.aof_dir is not None
        follow = ops.Follow(source.archive.interval, stop=stop, on_round=self.on_round)
        # the index loaded: an AOF rewrite's new base repeats what is stored, deduplicated against it
        repo, _ = open_job_repository(self.config, spec)
        try:
            ops.aof_archive(repo, source.aof_dir, self.job, follow, self._report, target=redis_target(source))
        finally:
            repo.close()

    def _report(self, doc: dict[str, Any]) -> None:
        log.debug("archived %s [%d+%d]", doc["file"], doc["offset"], doc["length"], extra={"job": self.job})
        if doc.get("ts_enabled") is False:
            log.warning(
                "aof-timestamp-enabled is off (or was, since the last round): no point in time is "
                "restorable inside %s [%d+%d]",
                doc["file"],
                doc["offset"],
                doc["length"],
                extra={"job": self.job},
            )


def _loop(archiver: _Archiver, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            archiver.run(stop)
        except Exception as exc:  # noqa: BLE001 - the thread must outlive any failure
            archiver.own.failed()
            log.error(
                "AOF archiver of job %s stopped: %s; starting it again in %.0f s",
                archiver.job,
                _error_text(exc),
                RETRY,
                extra={"job": archiver.job},
            )
        stop.wait(RETRY)


class AofArchivers(WorkerThreads):
    """The daemon's AOF archiver threads; ``stop`` stops each after its current round."""

    def __init__(self, config: DrkitConfig, metrics: Metrics, registry: CollectorRegistry) -> None:
        super().__init__(STOP_TIMEOUT)
        jobs = archived_jobs(config)
        families = AofArchiveFamilies(registry) if jobs else None
        for name, spec in sorted(jobs.items()):
            assert families is not None and isinstance(spec.source, RedisSource)
            archiver = _Archiver(name, config, metrics, families.bind(name, spec.source.name))
            self.add(_loop, (archiver,), f"drkit-aof-archive-{name}")


__all__ = ["AofArchivers", "archived_jobs"]
