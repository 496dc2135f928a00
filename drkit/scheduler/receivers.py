"""WAL receivers run by the daemon: one thread per physical PostgreSQL job with ``receive`` in its
source, each doing what ``drkit pg receive`` does (``sources/postgres/ops_receive.py``) until the daemon stops.

A receiver that fails (the server is down at start, a wrong password, the repository unreachable,
a spool it cannot write: any failure, else the thread would die and streaming stop for good) is
logged and started again after ``RETRY`` seconds; its ``drkit_pg_receive_up`` stays 0 meanwhile,
which the metrics show."""

from __future__ import annotations

import functools
import logging
import threading

from prometheus_client import CollectorRegistry

from ..config import DrkitConfig, JobConfig, PostgresSource
from ..core.receivemetrics import ReceiveFamilies, ReceiveMetrics
from ..jobs.connect import open_job_repository, pg_conn
from ..sources.postgres import ops_receive as pgreceive
from .runs import _error_text
from .workers import WorkerThreads

RETRY = 30.0  # seconds before a failed receiver starts again
STOP_TIMEOUT = 60.0
log = logging.getLogger("drkit.scheduler")


def _report(job: str, text: str) -> None:
    """A line of the receiver: its ``warning: ...`` lines (a failed sync, a restart) at WARNING."""
    level = logging.WARNING if text.startswith("warning: ") else logging.INFO
    log.log(level, "%s", text, extra={"job": job})


def _run(job: str, config: DrkitConfig, spec: JobConfig, metrics: ReceiveMetrics, stop: threading.Event) -> None:
    source = spec.source
    assert isinstance(source, PostgresSource) and source.receive is not None
    rec = source.receive
    req = pgreceive.ReceiveRequest(
        spool=rec.spool_dir, slot=rec.slot, interval=rec.interval, stop=stop, report=functools.partial(_report, job)
    )
    while not stop.is_set():
        try:
            repo, _ = open_job_repository(config, spec, load_index=False)
            try:
                pgreceive.receive(repo, pg_conn(source), req, metrics)
            finally:
                repo.close()
        except Exception as exc:  # noqa: BLE001 - the thread must outlive any failure (a spool it cannot read, a bug)
            log.error(
                "WAL receiver of job %s stopped: %s; starting it again in %.0f s",
                job,
                _error_text(exc),
                RETRY,
                extra={"job": job},
            )
        stop.wait(RETRY)


class Receivers(WorkerThreads):
    """The daemon's WAL receiver threads; ``stop``: pg_receivewal writes what it has, a last sync stores it."""

    def __init__(self, config: DrkitConfig, registry: CollectorRegistry) -> None:
        super().__init__(STOP_TIMEOUT)
        jobs = {
            name: spec
            for name, spec in config.jobs.items()
            if isinstance(spec.source, PostgresSource) and spec.source.receive is not None
        }
        families = ReceiveFamilies(registry) if jobs else None
        for name, spec in sorted(jobs.items()):
            assert families is not None and isinstance(spec.source, PostgresSource) and spec.source.receive
            metrics = families.bind(name, spec.source.receive.slot)
            self.add(_run, (name, config, spec, metrics), f"drkit-pgreceive-{name}")


__all__ = ["Receivers"]
