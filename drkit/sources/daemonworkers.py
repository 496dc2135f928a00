"""Continuous workers a source kind runs inside the daemon (``drkit daemon``): a kind whose jobs stream or
archive logs between backups (PostgreSQL's ``receive``, Redis's AOF ``archive``) declares
:class:`HasDaemonWorkers`; the daemon starts one thread per worker, logs a failed run and starts it again
after the worker's ``retry``, and stops them all on shutdown. No worker code lives in the scheduler."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["DaemonContext", "DaemonWorker", "HasDaemonWorkers"]


def _nothing() -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class DaemonContext:
    """What the daemon hands a kind's workers."""

    config: Any  # the whole DrkitConfig (a worker opens its job's repository with it)
    registry: Any  # the daemon's prometheus CollectorRegistry: a kind registers its own metric families here
    archived: Callable[[str, str, float | None], None]  # (job, archive label, newest archived unix time): freshness


@dataclass(frozen=True, kw_only=True)
class DaemonWorker:
    """One job's continuous worker. ``run(stop)`` works until ``stop`` is set; when it raises (any failure:
    the thread must outlive it), the daemon logs ``"{what} of job {job} stopped: …"``, calls ``failed`` and
    runs it again after ``retry`` seconds."""

    job: str
    what: str  # "WAL receiver": in log lines
    thread: str  # the thread's name
    run: Callable[[threading.Event], None]
    retry: float
    failed: Callable[[], None] = _nothing


@runtime_checkable
class HasDaemonWorkers(Protocol):
    def daemon_workers(self, jobs: dict[str, Any], ctx: DaemonContext) -> list[DaemonWorker]:
        """The workers of ``jobs`` (job name → JobConfig, every job of this kind in the daemon's config); called
        once per daemon, so a kind creates its metric families once, and only when a worker needs them."""
        ...
