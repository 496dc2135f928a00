"""One run of a scheduled thing -- a backup, a restore drill or a canary heartbeat -- with its log
lines, metrics and state record. A failed run is one log line (a traceback only at debug level) and
a metric; it never raises into the scheduler.

``backup_with_metrics`` is also what ``drkit job run --prom-file/--pushgateway`` calls, so a
one-shot run and the daemon record the same metrics the same way.
"""

from __future__ import annotations

import importlib
import logging
import threading
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage_backends import open_backend
from storage_backends.errors import BackendError

from ..config import DrkitConfig
from ..core import clock, tracing
from ..core.errors import DrkitError
from ..core.extras import missing_extra
from ..core.metrics import Metrics
from ..jobs import JobOutcome, run_backup_job, run_heartbeat
from ..jobs.notify import RunEvent, notify
from .gates import RepositoryGates
from .maintenance import Maintainer
from .plan import MAINTENANCE, Kind
from .startup import drill_finished_at
from .state import RunState

log = logging.getLogger("drkit.scheduler")


def repository_size(url: str) -> int:
    """Bytes in every object of the repository at ``url`` (one listing)."""
    backend = open_backend(url)
    try:
        return sum(info.size for info in backend.list(""))
    finally:
        backend.close()


def measure_repository(config: DrkitConfig, name: str, metrics: Metrics) -> None:
    """Set ``drkit_repository_size_bytes`` for repository ``name``; a failure is only logged."""
    try:
        metrics.repository_measured(name, repository_size(config.repositories[name].url))
    except (BackendError, OSError) as exc:
        log.warning("could not measure repository %s: %s", name, exc, extra={"repository": name})


def backup_with_metrics(
    config: DrkitConfig, name: str, metrics: Metrics, retention_gate: AbstractContextManager[object] | None = None
) -> JobOutcome:
    """``run_backup_job`` recorded in ``metrics``: on failure the failure is counted, then re-raised.
    The last success is the new snapshot's end time, as the daemon reads it back at start-up."""
    t0 = clock.monotonic()
    try:
        outcome = run_backup_job(config, name, retention_gate=retention_gate)
    except BaseException:
        metrics.backup_failed(name, duration_s=clock.monotonic() - t0)
        metrics.ops.backup_last_failure.labels(name).set(clock.now())
        raise
    oldest, newest = outcome.window or (None, None)
    metrics.backup_succeeded(
        name,
        finished_at=newest or clock.now(),
        duration_s=outcome.seconds,
        bytes_added=outcome.bytes_added,
        skipped=outcome.skipped,
    )
    metrics.ops.recovery_window(name, oldest=oldest, newest=newest)
    metrics.ops.retention_ran(name, applied=outcome.retention_applied, at=clock.now())
    measure_repository(config, config.job(name).repository, metrics)
    return outcome


def heartbeat_with_metrics(config: DrkitConfig, name: str, metrics: Metrics) -> None:
    """``run_heartbeat`` counted in ``metrics`` by result; a failure is re-raised."""
    try:
        run_heartbeat(config, name)
    except BaseException:
        metrics.heartbeat_finished(name, success=False)
        raise
    metrics.heartbeat_finished(name, success=True)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ImportError) and (missing := missing_extra(exc)) is not None:
        exc = missing  # a drill of a PostgreSQL or Redis job on an install without its extra
    if isinstance(exc, DrkitError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _load_run_drill() -> Any:
    """``drkit.drills.runner.run_drill``, imported when a drill is due (the drills package loads
    sandboxes and their dependencies: the daemon should start without them)."""
    return importlib.import_module("drkit.drills.runner").run_drill


@dataclass(frozen=True)
class _Active:
    job: str
    kind: Kind


class Runner:
    """Runs scheduled work, at most ``max_concurrent`` at a time, and knows what is running."""

    def __init__(self, config: DrkitConfig, metrics: Metrics, state: RunState, maintainer: Maintainer) -> None:
        self.config = config
        self.metrics = metrics
        self.state = state
        self.maintainer = maintainer
        self.gates = RepositoryGates(sorted(config.repositories))
        self._slots = threading.BoundedSemaphore(config.scheduler.max_concurrent)
        self._stopping = threading.Event()
        self._changed = threading.Condition()
        self._active: dict[str, _Active] = {}

    # -- shutdown -------------------------------------------------------------------------------
    def stop_accepting(self) -> None:
        """Runs not yet started are skipped from now on; running ones go on."""
        self._stopping.set()

    def running(self) -> list[str]:
        with self._changed:
            return sorted(f"{a.job}:{a.kind}" for a in self._active.values())

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every running run to end; True when none is left."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._active, timeout=max(0.0, timeout))

    # -- one run --------------------------------------------------------------------------------
    def run(self, job: str, kind: Kind) -> None:
        """Entry point for the scheduler's worker threads."""
        if self._skipped(job, kind):
            return
        with self._slots:
            if self._skipped(job, kind):
                return
            run_id = uuid.uuid4().hex[:12]
            started = clock.utcnow()
            self._begin(run_id, job, kind)
            try:
                self._run_logged(job, kind, run_id)
            finally:
                self._end(run_id)
                self._record(f"{job}:{kind}", started)

    def fire_skipped(self, schedule: str) -> None:
        """The scheduler did not start ``schedule`` (``<job>:<kind>``): its previous run still runs (a
        backup's retention step waiting at its repository's gate behind a prune, check or copy)."""
        job, _, kind = schedule.rpartition(":")
        log.warning(
            "%s of %s not started: its previous run is still running (running: %s)",
            kind,
            job,
            ", ".join(self.running()) or "-",
            extra={"job": job, "kind": kind},
        )
        self.metrics.ops.runs_skipped.labels(schedule).inc()

    def _skipped(self, job: str, kind: Kind) -> bool:
        if self._stopping.is_set():
            log.info("%s of %s not started: shutting down", kind, job, extra={"job": job, "kind": kind})
        return self._stopping.is_set()

    def _begin(self, run_id: str, job: str, kind: Kind) -> None:
        with self._changed:
            self._active[run_id] = _Active(job, kind)

    def _end(self, run_id: str) -> None:
        with self._changed:
            self._active.pop(run_id, None)
            self._changed.notify_all()

    def _record(self, key: str, started: datetime) -> None:
        try:
            self.state.record(key, started)
        except OSError as exc:
            log.error("cannot write scheduler state %s: %s", self.state.path, exc.strerror)

    def _run_logged(self, job: str, kind: Kind, run_id: str) -> None:
        fields: dict[str, Any] = {"job": job, "kind": kind, "run_id": run_id}
        with tracing.span(f"drkit.scheduled.{kind}", **{"drkit.job": job, "drkit.run_id": run_id}) as span:
            log.info("%s started", kind, extra=fields)
            t0 = clock.monotonic()
            try:
                if kind in MAINTENANCE:
                    done = self._maintain(job, kind)
                else:
                    done = {
                        "backup": self._backup,
                        "drill": self._drill,
                        "heartbeat": self._heartbeat,
                        "system-heartbeat": self._system_heartbeat,
                        "system-drill": self._system_drill,
                    }[kind](job)
            except Exception as exc:  # noqa: BLE001 - a failed run is logged and counted; the daemon goes on
                span.fail(exc)
                self._failed(kind, exc, {**fields, "duration_s": round(clock.monotonic() - t0, 3)})
                notify(
                    self.config,
                    RunEvent(
                        name=job,
                        kind=kind,
                        outcome="failure",
                        error=_error_text(exc),
                        details={"run_id": run_id, "duration_s": round(clock.monotonic() - t0, 3)},
                    ),
                )
                return
            # a partial backup (entries skipped, exit 3 of `job run`) wrote its snapshot but is no success
            partial = bool(done.get("skipped"))
            outcome = "partial" if partial else "success"
            ended = {**fields, **done, "outcome": outcome, "duration_s": round(clock.monotonic() - t0, 3)}
            log.log(
                logging.WARNING if partial else logging.INFO,
                "%s %s",
                kind,
                "partial" if partial else "finished",
                extra=ended,
            )
            notify(
                self.config,
                RunEvent(
                    name=job,
                    kind=kind,
                    outcome=outcome,
                    error=None,
                    details={k: v for k, v in ended.items() if k not in ("job", "kind", "outcome")},
                ),
            )

    def _maintain(self, repository: str, kind: Kind) -> dict[str, Any]:
        spec = self.config.repositories[repository].copy_to
        involved = [repository, spec.to] if kind == "copy" and spec is not None else [repository]
        with self.gates.held(f"{kind} of {repository}", *involved):
            try:
                return self.maintainer.run(repository, kind)
            finally:
                for name in involved if kind != "check" else ():  # prune and copy change what is stored
                    measure_repository(self.config, name, self.metrics)

    def _failed(self, kind: Kind, exc: Exception, fields: dict[str, Any]) -> None:
        if kind in ("drill", "system-drill"):  # backups, heartbeats and maintenance count their own failures
            self.metrics.drill_finished(fields["job"], success=False)
        debug = log.isEnabledFor(logging.DEBUG) and not isinstance(exc, DrkitError)
        log.error(
            "%s failed: %s",
            kind,
            _error_text(exc),
            exc_info=exc if debug else None,
            extra={**fields, "error": _error_text(exc)},
        )

    def _backup(self, job: str) -> dict[str, Any]:
        gate = self.gates.held_now(f"retention of {job}", self.config.job(job).repository)
        outcome = backup_with_metrics(self.config, job, self.metrics, retention_gate=gate)
        for warning in outcome.warnings:
            log.warning("backup warning: %s", warning, extra={"job": job, "snapshot_id": outcome.snapshot_id})
        return {
            "snapshot_id": outcome.snapshot_id,
            "bytes_added": outcome.bytes_added,
            "forgotten": outcome.forgotten,
            "skipped": outcome.skipped,
        }

    def _drill(self, job: str) -> dict[str, Any]:
        try:
            run_drill = _load_run_drill()
        except ImportError as exc:
            raise DrkitError(f"restore drills are not available in this installation ({exc})") from None
        result = run_drill(self.config, job, sandbox=self.config.job(job).drill.sandbox)
        self._drill_measured(job, result)
        return {"snapshot_id": getattr(result, "snapshot_id", "")}

    def _drill_measured(self, name: str, result: Any) -> None:
        """A drill's figures under ``name`` (a job, or a system: its drkit_job label); a failed one raises."""
        self.metrics.drill_measured(
            name,
            rto=result.rto_seconds,
            rpo_catalog=result.rpo_catalog_seconds,
            rpo_verified=result.rpo_verified_seconds,
            succeeded_at=drill_finished_at(result) if result.success else None,
        )
        if not result.success:  # counted as a failure by _failed
            raise DrkitError(f"drill did not pass: {result.error or 'a check or target failed'}")
        self.metrics.drill_finished(name, success=True)

    def _system_drill(self, system: str) -> dict[str, Any]:
        """`drkit drill --system`: the system's result is measured under the system's name, as
        `drill --system --prom-file` writes it; each component's result is stored in its job's history."""
        try:
            run_system_drill = importlib.import_module("drkit.drills.system").run_system_drill
        except ImportError as exc:
            raise DrkitError(f"restore drills are not available in this installation ({exc})") from None
        results = run_system_drill(self.config, system, sandbox=self.config.system(system).drill.sandbox)
        self._drill_measured(system, results[0])
        return {"components": {r.job: r.success for r in results[1:]}}

    def _heartbeat(self, job: str) -> dict[str, Any]:
        heartbeat_with_metrics(self.config, job, self.metrics)
        return {}

    def _system_heartbeat(self, system: str) -> dict[str, Any]:
        from ..jobs.system_heartbeat import write_system_heartbeat

        at = write_system_heartbeat(self.config, system)
        self.metrics.ops.system_heartbeat.labels(system).set(at.timestamp())
        return {"at": at.isoformat()}


__all__ = ["Runner", "backup_with_metrics", "heartbeat_with_metrics", "measure_repository", "repository_size"]
