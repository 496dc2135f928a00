"""The system canary: one heartbeat instant written into every component of a system in one step — a row
(PostgreSQL), a key (Redis), a file (file tree) — through each source's canary writer, under the canary
name ``system:<name>``. Restored, each component then proves what it holds: the newest heartbeat it has.
The oldest of those is the system's verified recovery point (every component holds at least that
instant's state); the spread between them is the skew as measured, not as claimed.

The instant is cut to whole milliseconds (Redis keeps milliseconds), so the three copies compare equal."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import DrkitConfig, JobConfig
from ..core import clock
from ..core.errors import DrkitError
from ..core.timespec import format_time
from ..sources.files import canary as files_canary
from ..sources.registry import HasHeartbeat, source_kind

if TYPE_CHECKING:
    import redis

    from ..sources.postgres.conn import PgConn

log = logging.getLogger("drkit.jobs")


def heartbeat_name(system: str) -> str:
    """The canary name a system's heartbeat is written under (job names cannot hold a colon)."""
    return f"system:{system}"


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


# -- reading a restored component's newest heartbeat ----------------------------------------------


def read_postgres(conn: PgConn, system: str, dbname: str | None = None) -> datetime | None:
    from ..sources.postgres import canary as pg_canary

    return pg_canary.read(conn, heartbeat_name(system), dbname)


def read_redis(client: redis.Redis, system: str) -> datetime | None:
    from ..sources.redis import facts as redis_facts

    millis = redis_facts.read_canary(client, heartbeat_name(system))
    return datetime.fromtimestamp(millis / 1000, UTC) if millis is not None else None


def read_files(restored: Path, first_path: str, system: str, *, started: datetime) -> datetime | None:
    """In a files restore under ``restored``: the heartbeat written into the source's first path, counted as
    at most the snapshot's start (``started``): a files snapshot is not atomic, so a heartbeat written while
    it ran may be captured while files read earlier are older than it; claiming the heartbeat's instant
    for the whole tree would make the system's verified point later than what the files hold."""
    at = files_canary.read(restored / (os.path.basename(first_path.rstrip("/")) or "root"), heartbeat_name(system))
    return min(at.astimezone(UTC), started.astimezone(UTC)) if at is not None else None
