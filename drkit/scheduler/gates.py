"""Per-repository gates: what the daemon runs one at a time on a repository.

drkit's repository locks let backups (shared) run beside a prune (maintenance lock), but a forget --
the retention step at the end of a job's backup -- takes a maintenance lock too, and two maintenance
locks conflict: a forget that meets a running prune fails at once (exit 11), failing the backup.
So the daemon queues, per repository, everything that takes a maintenance lock or reads the whole
repository: a prune, a check, a copy (on both repositories) and the retention step of a backup. A
backup never waits: when its repository's gate is busy its retention step is skipped with a warning,
as when another process holds the repository's lock, and the next run applies it (retention is
idempotent) -- a backup run kept open behind a long prune would make the scheduler skip the job's next
fires. Maintenance runs wait; a run waiting at a gate is logged once, naming the run holding it. Gates
are taken in name order, so two copies in opposite directions cannot deadlock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from ..core.errors import LockFailed

log = logging.getLogger("drkit.scheduler")


class GateBusy(LockFailed):
    """A gate taken without waiting was held by another run of this daemon."""


class RepositoryGates:
    """One lock per configured repository, and who holds it."""

    def __init__(self, repositories: list[str]) -> None:
        self._locks = {name: threading.Lock() for name in repositories}
        self._holders: dict[str, str] = {}
        self._guard = threading.Lock()

    def holder(self, repository: str) -> str | None:
        with self._guard:
            return self._holders.get(repository)

    @contextmanager
    def held(self, who: str, *repositories: str) -> Iterator[None]:
        """Hold the gates of ``repositories`` (waiting as long as it takes) for the run ``who``."""
        with ExitStack() as stack:
            for name in sorted(set(repositories)):
                stack.enter_context(self._one(who, name))
            yield

    @contextmanager
    def held_now(self, who: str, repository: str) -> Iterator[None]:
        """Hold the gate of ``repository`` for ``who`` if it is free; else raise :class:`GateBusy`."""
        if not self._locks[repository].acquire(blocking=False):
            holder = self.holder(repository) or "another run"
            raise GateBusy(f"repository {repository} is busy with {holder} (this daemon)")
        with self._holding(who, repository):
            yield

    @contextmanager
    def _one(self, who: str, repository: str) -> Iterator[None]:
        lock = self._locks[repository]
        if not lock.acquire(blocking=False):
            log.info(
                "%s waits for %s on repository %s",
                who,
                self.holder(repository) or "another run",
                repository,
                extra={"repository": repository, "waiting": who, "holder": self.holder(repository)},
            )
            lock.acquire()
        with self._holding(who, repository):
            yield

    @contextmanager
    def _holding(self, who: str, repository: str) -> Iterator[None]:
        """The gate's lock is acquired: record ``who`` holds it, release it at the end."""
        with self._guard:
            self._holders[repository] = who
        try:
            yield
        finally:
            with self._guard:
                self._holders.pop(repository, None)
            self._locks[repository].release()


__all__ = ["GateBusy", "RepositoryGates"]
