"""The source kinds' continuous workers in the daemon (WAL streaming, AOF archiving …): each kind with
jobs in the config that declares ``HasDaemonWorkers`` (``drkit/sources/daemonworkers.py``) hands its
workers; each runs in its own thread until the daemon stops.

A worker that fails (the server down at start, a wrong password, the repository unreachable, a spool it
cannot write: any failure, else the thread would die and the worker stop for good) is logged and started
again after its ``retry`` seconds; its kind's metrics show it down meanwhile."""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry

from ..config import DrkitConfig, JobConfig
from ..core.metrics import Metrics
from ..sources.daemonworkers import DaemonContext, DaemonWorker, HasDaemonWorkers
from ..sources.registry import source_kind
from .runs import _error_text
from .workers import WorkerThreads

STOP_TIMEOUT = 60.0
log = logging.getLogger("drkit.scheduler")


def jobs_by_kind(config: DrkitConfig) -> dict[str, dict[str, JobConfig]]:
    found: dict[str, dict[str, JobConfig]] = {}
    for name, spec in config.jobs.items():
        found.setdefault(spec.source.kind, {})[name] = spec
    return found


def daemon_workers(config: DrkitConfig, metrics: Metrics, registry: CollectorRegistry) -> list[DaemonWorker]:
    """Every worker the configured jobs' kinds declare (loads each configured kind, no other)."""
    ctx = DaemonContext(config=config, registry=registry, archived=metrics.ops.archived)
    workers: list[DaemonWorker] = []
    for kind, jobs in sorted(jobs_by_kind(config).items()):
        plugin = source_kind(kind)
        if isinstance(plugin, HasDaemonWorkers):
            workers.extend(plugin.daemon_workers(jobs, ctx))
    return workers


def run_worker(worker: DaemonWorker, stop: threading.Event) -> None:
    """The thread of one worker: its runs until ``stop``, each failure logged and the run started again."""
    while not stop.is_set():
        try:
            worker.run(stop)
        except Exception as exc:  # noqa: BLE001 - the thread must outlive any failure (a spool it cannot read, a bug)
            worker.failed()
            log.error(
                "%s of job %s stopped: %s; starting it again in %.0f s",
                worker.what,
                worker.job,
                _error_text(exc),
                worker.retry,
                extra={"job": worker.job},
            )
        stop.wait(worker.retry)


class KindWorkers(WorkerThreads):
    """The daemon's worker threads; ``stop`` sets their shared event and joins each."""

    def __init__(self, config: DrkitConfig, metrics: Metrics, registry: CollectorRegistry) -> None:
        super().__init__(STOP_TIMEOUT)
        for worker in daemon_workers(config, metrics, registry):
            self.add(run_worker, (worker,), worker.thread)


__all__ = ["KindWorkers", "daemon_workers", "run_worker"]
