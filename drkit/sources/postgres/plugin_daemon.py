"""The daemon's WAL receivers (``HasDaemonWorkers`` of the ``postgres`` kind): one worker per physical job
with ``receive`` in its source, each doing what ``drkit pg receive`` does (``ops_receive``) until the
daemon stops. A failed run (the server down at start, a wrong password, the repository unreachable, a spool
it cannot write) is logged by the daemon and started again after ``RETRY`` seconds; the job's
``drkit_pg_receive_up`` stays 0 meanwhile, which the metrics show."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ...config import JobConfig
from ...jobs.connect import open_job_repository
from ..daemonworkers import DaemonContext, DaemonWorker
from .config import PostgresSource
from .plugin_conn import pg_conn
from .receivemetrics import ReceiveFamilies, ReceiveMetrics

RETRY = 30.0  # seconds before a failed receiver starts again
log = logging.getLogger("drkit.scheduler")


def _report(job: str, text: str) -> None:
    """A line of the receiver: its ``warning: ...`` lines (a failed sync, a restart) at WARNING."""
    level = logging.WARNING if text.startswith("warning: ") else logging.INFO
    log.log(level, "%s", text, extra={"job": job})


class _Receiver:
    def __init__(self, job: str, config: Any, spec: JobConfig, metrics: ReceiveMetrics) -> None:
        self.job, self.config, self.spec, self.metrics = job, config, spec, metrics

    def run(self, stop: threading.Event) -> None:
        from . import ops_receive  # psycopg (the [postgres] extra): imported when a job streams

        source = self.spec.source
        assert isinstance(source, PostgresSource) and source.receive is not None
        rec = source.receive
        req = ops_receive.ReceiveRequest(
            rec.spool_dir, rec.slot, rec.interval, stop=stop, report=lambda text: _report(self.job, text)
        )
        repo, _ = open_job_repository(self.config, self.spec, load_index=False)
        try:
            ops_receive.receive(repo, pg_conn(source), req, self.metrics)
        finally:
            repo.close()


def receivers(jobs: dict[str, JobConfig], ctx: DaemonContext) -> list[DaemonWorker]:
    streaming = {
        name: (spec, spec.source.receive)
        for name, spec in jobs.items()
        if isinstance(spec.source, PostgresSource) and spec.source.receive is not None
    }
    families = ReceiveFamilies(ctx.registry) if streaming else None
    workers = []
    for name, (spec, receive) in sorted(streaming.items()):
        assert families is not None
        receiver = _Receiver(name, ctx.config, spec, families.bind(name, receive.slot))
        workers.append(
            DaemonWorker(job=name, what="WAL receiver", thread=f"drkit-pgreceive-{name}", run=receiver.run, retry=RETRY)
        )
    return workers
