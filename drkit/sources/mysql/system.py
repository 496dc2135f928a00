"""A MySQL job as a component of a system (``systems:`` in drkit.yaml), through the registry's protocols
alone (no upper layer is imported):

- planned (``HasSystemPlan``): the newest dump of the job's source that *ended* at or before the target T;
  its point is its start (``--single-transaction`` reads one consistent state taken after it began), so the
  component never holds anything after T;
- restored (``HasSystemRestore``, ``HasServerLoad``): loaded into a running server, ``--into
  JOB=mysql://USER@HOST:PORT/DATABASE`` (the password in ``DRKIT_MYSQL_PASSWORD``), a new or empty
  database checked before any component is written; a directory is refused (a dump restores into a server);
- heartbeats (``HasHeartbeat``, ``HasHeartbeatRead``): the system's instant as a canary row, read back from
  the database it was loaded into.

Binary logs are not replayed to T here: the component's skew is how long before T its dump began."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.timespec import format_time
from ...repository import pointintime, snapshots
from ..registry import RestoredComponent
from ..system import ComponentPlan, heartbeat_name
from .conn import MysqlConn, password_from
from .dump import KIND
from .errors import MysqlUsage
from .facts import read_canary
from .restore import database_state, restore_dump

if TYPE_CHECKING:
    from ...repository.repo import Repository


def plan(repo: Repository, job: str, name: str, target: datetime) -> ComponentPlan:
    """The newest dump of source ``name`` that ended at or before ``target``."""
    dumps = [
        s
        for s in snapshots.load_all(repo.manifests)
        if s.source_kind == KIND and s.source_name == name and s.meta.get("mode") == "logical"
    ]
    snap = pointintime.finished_by(dumps, target)
    if snap is None:
        raise MysqlUsage(f"job {job}: no MySQL dump of {name!r} ended at or before {format_time(target)}")
    # a damaged manifest stored after it started and by T (plus the longest dump seen: a dump that ended by
    # T is stored a little later) may be a newer dump that ended by T: exit 13 (--skip-damaged), as the
    # files and PostgreSQL components refuse; one stored later cannot be, and does not block T
    longest = max((_utc(s.end_time) - _utc(s.time) for s in dumps if s.end_time), default=timedelta(0))
    store = repo.manifests
    snapshots.refuse_damaged_until(
        store,
        snap,
        target + longest,
        format_time(target),
        possible=lambda key: snapshots.could_match(store, key, None, KIND, name),
    )
    return ComponentPlan(
        job=job,
        kind=KIND,
        point=_utc(snap.time),
        how=f"MySQL dump {snap.short_id}",
        snapshot=snap.id,
        until=_utc(snap.end_time or snap.time),
    )


def load_target(url: str) -> MysqlConn:
    """The server and database ``url`` names, reachable and with that database new or empty."""
    conn = MysqlConn.from_url(url)
    database = conn.database
    if not database:
        raise MysqlUsage(f"--into …={url.split('?')[0]}: name the database to load into in the URL's path")
    conn = conn.with_password(password_from())
    if database_state(conn, database):
        raise MysqlUsage(
            f"database {database!r} on {conn.display} is not empty: refusing to restore into it",
            hint="load into a new database (another name in the URL) or drop this one first",
        )
    return conn


def restore(component: Any) -> None:
    """Load the planned dump into the server ``load_target`` checked (``component``: the jobs layer's)."""
    if isinstance(component.target, Path):
        raise MysqlUsage(
            f"{component.plan.job}: a MySQL component is loaded into a running server, not a directory",
            hint=f"give --into {component.plan.job}=mysql://USER@HOST:PORT/DATABASE",
        )
    repo = component.repository()
    try:
        restore_dump(repo, snapshots.find(repo.manifests, component.plan.snapshot), component.target)
    finally:
        repo.close()


def read_heartbeat(system: str, restored: RestoredComponent) -> datetime | None:
    server = restored.server
    if not isinstance(server, MysqlConn) or not server.database:
        return None
    return read_canary(server, server.database, heartbeat_name(system))


def _utc(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)
