"""``drkit schedule run``: the long-running daemon.

APScheduler (a ``BackgroundScheduler`` with a thread pool of ``scheduler.max_concurrent`` workers)
fires each job's backup, drill and heartbeat on their cron triggers, one run per job and kind at a
time (``max_instances=1``), missed fire times coalesced into one run (``coalesce=True``,
``misfire_grace_time=scheduler.misfire_grace``). APScheduler forgets everything when the process
stops, so ``last_run.json`` in the state directory remembers when each run last started; a run that
fell due while the daemon was down (within ``misfire_grace``) runs once at start-up.

SIGTERM or SIGINT: ``/readyz`` turns 503, nothing new starts, and running runs get
``scheduler.shutdown_grace`` to finish -- each releases its repository lock as it ends -- then the
process exits 0. A second signal, or the deadline passing, ends the process at once with exit 1: the
lock object of a backup cut short that way stays in the repository until it is stale (its pid is gone
on this host, or it expires after 30 minutes elsewhere), and ``drkit unlock`` removes it. The
backup's snapshot is never half-written: packs and index come before the snapshot object.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry

from .. import __version__
from ..config import DrkitConfig
from ..core import clock
from ..core.errors import DrkitError
from ..core.metrics import Metrics, new_registry
from ..jobs import has_retention
from .archives import ARCHIVE_REFRESH, archiving_repositories, refresh_archives
from .health import READY_CHECK_INTERVAL, HealthServer, Readiness
from .kindworkers import KindWorkers
from .maintenance import Maintainer, MaintenanceState
from .plan import ScheduledRun, missed_run, scheduled_runs
from .runs import Runner, measure_repository
from .startup import read_histories, restore_local
from .state import RunState, default_state_dir

log = logging.getLogger("drkit.scheduler")

_POLL = 0.2
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class DaemonOptions:
    state_dir: Path | None = None  # default: $XDG_STATE_HOME/drkit or ~/.local/state/drkit
    port: int | None = None  # default: the config's http.port; 0 picks a free port
    ready_interval: float = READY_CHECK_INTERVAL
    hard_exit: bool = True  # when the shutdown grace passes, end the process at once (os._exit)


class _StopSignals:
    """Counts SIGTERM/SIGINT; the handler only sets fields (nothing that takes a lock)."""

    def __init__(self) -> None:
        self.count = 0
        self.name = ""
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in _STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.name = self.name or signal.Signals(signum).name

    def wait(self) -> None:
        while not self.count:
            time.sleep(_POLL)


def owed_runs(plan: list[ScheduledRun], state: RunState, now: datetime, grace: float) -> dict[str, datetime]:
    """Runs that fell due while the daemon was down: key → the missed fire time."""
    owed = {}
    for run in plan:
        last = state.last(run.key)
        if last is not None and (missed := missed_run(run.cron, last, now, grace)) is not None:
            owed[run.key] = missed
    return owed


def _scheduler(config: DrkitConfig) -> BackgroundScheduler:
    return BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(config.scheduler.max_concurrent)},
        job_defaults={
            "max_instances": 1,
            "coalesce": True,
            "misfire_grace_time": max(1, int(config.scheduler.misfire_grace)),
        },
        timezone=UTC,
    )


def _add_runs(
    scheduler: BackgroundScheduler, runner: Runner, plan: list[ScheduledRun], owed: dict[str, datetime]
) -> None:
    now = clock.utcnow()
    # a fire the scheduler drops (max_instances 1) was only in APScheduler's own log: a backup not taken
    scheduler.add_listener(lambda event: runner.fire_skipped(event.job_id), EVENT_JOB_MAX_INSTANCES)
    for run in plan:
        extra: dict[str, Any] = {"next_run_time": now} if run.key in owed else {}
        scheduler.add_job(runner.run, run.trigger(), args=(run.job, run.kind), id=run.key, name=run.key, **extra)
        if run.key in owed:
            log.info(
                "%s of %s missed while the daemon was down (due %s): running it now",
                run.kind,
                run.job,
                owed[run.key].isoformat(),
                extra={"job": run.job, "kind": run.kind},
            )


def _log_schedule(scheduler: BackgroundScheduler) -> None:
    for job in scheduler.get_jobs():
        when = job.next_run_time.isoformat() if job.next_run_time else "never"
        log.info("scheduled %s: next run %s", job.id, when, extra={"schedule_id": job.id, "next_run": when})


def _drain(runner: Runner, signals: _StopSignals, grace: float) -> bool:
    """Wait for running runs to end within ``grace`` (or until a second signal); True when they did."""
    deadline = clock.monotonic() + grace
    while not runner.wait_idle(min(_POLL, max(0.0, deadline - clock.monotonic()))):
        if signals.count > 1 or clock.monotonic() >= deadline:
            return False
    return True


def _stop(runner: Runner, scheduler: BackgroundScheduler, signals: _StopSignals, grace: float) -> int:
    running = runner.running()
    log.info(
        "%s received: stopping; %s",
        signals.name or "stop",
        f"waiting up to {grace:g}s for {', '.join(running)}" if running else "nothing running",
        extra={"running": running},
    )
    runner.stop_accepting()
    scheduler.shutdown(wait=False)
    if _drain(runner, signals, grace):
        log.info("stopped")
        return 0
    log.error(
        "stopping without waiting for %s: their repository locks stay until stale "
        "(`drkit unlock` removes them); no partial snapshot is written",
        ", ".join(runner.running()),
        extra={"running": runner.running()},
    )
    return 1


def _prepare(config: DrkitConfig, state_dir: Path, *, read: bool = True) -> tuple[CollectorRegistry, Runner]:
    """The metrics (as far as the state directory and, with ``read``, the repositories tell them) and the
    runner."""
    registry, metrics = new_registry(version=__version__)
    for name, job in config.jobs.items():
        metrics.register_job(name, rpo=job.targets.rpo, rto=job.targets.rto)
        if has_retention(job):
            metrics.ops.watch_retention(name, since=clock.now())
    try:
        maintainer = Maintainer(config, metrics, MaintenanceState(state_dir))
        restore_local(config, metrics, maintainer, clock.utcnow())
    except OSError as exc:
        raise DrkitError(
            f"cannot write the scheduler state in {state_dir}: {exc.strerror}", hint="pass a writable --state-dir"
        ) from None
    if read:
        _read_repositories(config, metrics)
    return registry, Runner(config, metrics, RunState(state_dir), maintainer)


def _read_repositories(config: DrkitConfig, metrics: Metrics) -> None:
    """Each repository's history and size: slow on a large or hanging storage (S3 waits minutes for an
    endpoint that accepts and never answers), so the daemon reads them with /healthz already answering --
    before, a liveness probe restarted it over and over -- and before any run starts."""
    read_histories(config, metrics)
    for name in sorted(config.repositories):
        measure_repository(config, name, metrics)


def run_daemon(
    config: DrkitConfig, options: DaemonOptions | None = None, on_listening: Callable[[str, int], None] | None = None
) -> int:
    """Run until SIGTERM/SIGINT; 0 after a graceful stop, 1 when runs were cut short.
    ``on_listening(host, port)`` is called once the HTTP endpoints are up."""
    options = options or DaemonOptions()
    registry, runner = _prepare(config, options.state_dir or default_state_dir(), read=False)
    workers = KindWorkers(config, runner.metrics, registry)  # the kinds' own: WAL streaming, AOF archiving …
    state = runner.state
    readiness = Readiness({name: repo.url for name, repo in config.repositories.items()}, options.ready_interval)
    port = config.http.port if options.port is None else options.port
    server = HealthServer(config.http.host, port, registry, readiness)
    plan, now = scheduled_runs(config), clock.utcnow()
    owed = owed_runs(plan, state, now, config.scheduler.misfire_grace)
    try:
        state.baseline([run.key for run in plan], now)
    except OSError as exc:
        raise DrkitError(
            f"cannot write the scheduler state {state.path}: {exc.strerror}", hint="pass a writable --state-dir"
        ) from None
    scheduler = _scheduler(config)
    _add_runs(scheduler, runner, plan, owed)
    if archiving_repositories(config):  # wal-push and `redis archive` run outside the daemon: read their archives
        scheduler.add_job(
            refresh_archives,
            "interval",
            seconds=ARCHIVE_REFRESH,
            args=(config, runner.metrics),
            id="archive-freshness",
            name="archive-freshness",
        )
    signals = _StopSignals()
    signals.install()
    try:
        server.start()
        readiness.start()
        _read_repositories(config, runner.metrics)
        scheduler.start()
        workers.start()
        host, bound = server.address
        log.info(
            "scheduler started: %d scheduled runs; listening on http://%s:%d",
            len(plan),
            host,
            bound,
            extra={"state_dir": str(state.path.parent), "port": bound},
        )
        if not plan and not workers.threads:
            log.warning(
                "no job has a schedule, drill.schedule, canary.heartbeat, receive or archive (nor a system "
                "a heartbeat or drill.schedule): nothing will run"
            )
        _log_schedule(scheduler)
        if on_listening is not None:
            on_listening(host, bound)
        signals.wait()
        readiness.shutting_down()
        code = _stop(runner, scheduler, signals, config.scheduler.shutdown_grace)
    finally:
        workers.stop()
        readiness.stop()
        server.stop()
        signals.restore()
    if code and options.hard_exit:
        logging.shutdown()
        os._exit(code)  # worker threads still run backups; waiting for them is what the grace was for
    return code


__all__ = ["DaemonOptions", "owed_runs", "run_daemon"]
