"""The system canary: one heartbeat instant written into every component of a system in one step — a row
(PostgreSQL), a key (Redis), a file (file tree) — through each source's canary writer, under the canary
name ``system:<name>``. Restored, each component then proves what it holds: the newest heartbeat it has.
The oldest of those is the system's verified recovery point (every component holds at least that
instant's state); the spread between them is the skew as measured, not as claimed.

Each kind writes it (the registry's ``HasHeartbeat``) and reads it back from a restored component
(``HasHeartbeatRead``, ``system_verify``). The instant is cut to whole milliseconds (Redis keeps
milliseconds), so every copy compares equal."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..config import DrkitConfig, JobConfig
from ..core import clock
from ..core.errors import DrkitError
from ..core.timespec import format_time
from ..sources.registry import HasHeartbeat, source_kind
from ..sources.system import heartbeat_name

__all__ = ["Heartbeats", "heartbeat_name", "write_system_heartbeat"]

log = logging.getLogger("drkit.jobs")


def write_system_heartbeat(config: DrkitConfig, name: str) -> datetime:
    """Write one instant into every component of system ``name`` (in parallel); the instant. A
    component that cannot be written to is an error naming it, after the others were written."""
    system = config.system(name)
    now = clock.utcnow()
    at = now - timedelta(microseconds=now.microsecond % 1000)
    with ThreadPoolExecutor(len(system.jobs), thread_name_prefix="drkit-heartbeat") as pool:
        failed = [f for f in pool.map(lambda j: _write(config.job(j), j, name, at), system.jobs) if f]
    if failed:
        raise DrkitError(
            f"system {name}: heartbeat {format_time(at)} not written to " + "; ".join(failed),
            hint="a component without it makes the system's verified recovery point older",
        )
    log.info("system heartbeat written", extra={"system": name, "at": format_time(at)})
    return at


def _write(job: JobConfig, job_name: str, system: str, at: datetime) -> str | None:
    key, source = heartbeat_name(system), job.source
    try:
        kind = source_kind(source.kind)
        if not isinstance(kind, HasHeartbeat):
            return f"{job_name}: a {source.kind} source takes no system heartbeat yet"
        kind.write_heartbeat(source, key, at)
    except (DrkitError, OSError) as exc:
        return f"{job_name}: {getattr(exc, 'message', None) or exc}"
    return None


@dataclass(frozen=True)
class Heartbeats:
    """The newest system heartbeat found in each restored component (None: none found)."""

    found: dict[str, datetime | None]

    @property
    def verified_point(self) -> datetime | None:
        """The newest heartbeat every component holds: the oldest of their newest; None if one has none."""
        values = list(self.found.values())
        return None if not values or None in values else min(v for v in values if v is not None)

    @property
    def skew_seconds(self) -> float | None:
        """How far apart the components' newest heartbeats are (None unless every component has one)."""
        values = [v for v in self.found.values() if v is not None]
        if not values or len(values) != len(self.found):
            return None
        return round((max(values) - min(values)).total_seconds(), 3)
