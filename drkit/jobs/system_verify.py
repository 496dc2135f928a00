"""What a restored component of a system proves: the newest system heartbeat in its data, read from the
restored server (PostgreSQL and Redis, once started) or the restored tree. Reading is best effort: a
component whose heartbeat cannot be read reports none, which leaves the system's verified point unproven."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..config import DrkitConfig, FilesSource, PostgresSource, RedisSource
from ..core.errors import DrkitError
from .connect import pg_conn
from .system_heartbeat import read_files, read_postgres, read_redis

if TYPE_CHECKING:
    from ..sources.redis.conn import RedisTarget
    from .system_plan import ComponentPlan

log = logging.getLogger("drkit.jobs")


class Restored(Protocol):
    """Where a component was restored: its directory and, once started, its server's port."""

    target: str
    port: int | None


def read_heartbeat(
    config: DrkitConfig, system: str, plan: ComponentPlan, out: Restored, server: RedisTarget | None = None
) -> datetime | None:
    """``server``: the running Redis server the component was loaded into (else it is in ``out.target``)."""
    source = config.job(plan.job).source
    try:
        if isinstance(source, FilesSource):
            return read_files(Path(out.target), source.paths[0], system, started=plan.point)
        if isinstance(source, RedisSource) and server is not None:  # loaded into a running server
            return _redis_url(server, system)
        if out.port is None:  # not started: nothing to ask
            return None
        if isinstance(source, PostgresSource):
            return _postgres(source, Path(out.target), out.port, system)
        if isinstance(source, RedisSource):
            return _redis(out.port, system)
    except (DrkitError, OSError) as exc:
        log.warning("system heartbeat not read", extra={"job": plan.job, "error": getattr(exc, "message", str(exc))})
    return None


def _postgres(source: PostgresSource, data_dir: Path, port: int, system: str) -> datetime | None:
    """Through the restored server's own socket (in its data directory), as the job's user."""
    from ..sources.postgres.conn import PgConn

    conn = pg_conn(source)
    local = PgConn(
        host=str(data_dir), port=port, user=conn.user, dbname=conn.dbname, password=conn.password, options=conn.options
    )
    return read_postgres(local, system)


def _redis_url(server: RedisTarget, system: str) -> datetime | None:
    from ..sources.redis.conn import connected, resolve

    with connected(resolve(server)) as client:
        return read_redis(client, system)


def _redis(port: int, system: str) -> datetime | None:
    import redis

    try:
        with redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=10) as client:
            return read_redis(client, system)
    except redis.RedisError as exc:
        raise DrkitError(" ".join(str(exc).split())[:200]) from None
