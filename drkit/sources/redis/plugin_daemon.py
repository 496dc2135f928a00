"""The daemon's Redis AOF archivers (``HasDaemonWorkers`` of the ``redis`` kind): one worker per job with
``archive`` in its source, each doing what ``drkit redis aof-archive --url`` does (``ops.aof_archive``)
every ``archive.interval`` seconds until the daemon stops. Records are named after the job, like the job's
AOF snapshots, so a point-in-time restore of the job (or of its system) finds both.

Each round that succeeds sets the job's archive freshness (``drkit_archive_newest_timestamp_seconds`` with
kind ``aof``, read by ``DrkitArchiveStale``) and the archiver's own series (``aofmetrics``). A failed
run (the repository unreachable, the AOF directory gone) is logged by the daemon and started again after
``RETRY`` seconds, going on from what the repository records; ``drkit_redis_aof_archive_up`` stays 0
meanwhile."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ...config import JobConfig
from ...jobs.connect import open_job_repository
from ..daemonworkers import DaemonContext, DaemonWorker
from .aofmetrics import AofArchiveFamilies, AofArchiveMetrics
from .config import RedisSource
from .plugin_conn import redis_target

RETRY = 5.0  # seconds before a failed archiver starts again: the Redis RPO is in seconds
log = logging.getLogger("drkit.scheduler")


def archived_jobs(jobs: dict[str, JobConfig]) -> dict[str, JobConfig]:
    """The jobs whose AOF the daemon archives."""
    return {
        name: spec
        for name, spec in jobs.items()
        if isinstance(spec.source, RedisSource) and spec.source.archive is not None
    }


class Archiver:
    def __init__(
        self, job: str, config: Any, own: AofArchiveMetrics, archived: Callable[[str, str, float | None], None]
    ) -> None:
        self.job, self.config, self.own, self.archived = job, config, own, archived

    def on_round(self, covered: float, docs: list[dict[str, Any]]) -> None:
        self.own.round(covered, docs)
        self.archived(self.job, "aof", covered)

    def run(self, stop: threading.Event) -> None:
        from . import ops  # the [redis] extra, imported when a job needs it

        spec = self.config.job(self.job)
        source = spec.source
        assert isinstance(source, RedisSource) and source.archive is not None and source.aof_dir is not None
        follow = ops.Follow(interval=source.archive.interval, stop=stop, on_round=self.on_round, on_held=self.own.held)
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


def archivers(jobs: dict[str, JobConfig], ctx: DaemonContext) -> list[DaemonWorker]:
    chosen = archived_jobs(jobs)
    families = AofArchiveFamilies(ctx.registry) if chosen else None
    workers = []
    for name, spec in sorted(chosen.items()):
        assert families is not None and isinstance(spec.source, RedisSource)
        archiver = Archiver(name, ctx.config, families.bind(name, spec.source.name), ctx.archived)
        worker = DaemonWorker(
            job=name,
            what="AOF archiver",
            thread=f"drkit-aof-archive-{name}",
            run=archiver.run,
            retry=RETRY,
            failed=archiver.own.failed,
        )
        workers.append(worker)
    return workers
