"""Restore a dump into a server: into the backup's database name or a new one (``--database``).

A database that does not exist is created with the backup's character set and collation; an
existing *empty* one (no tables, views, routines, events) is used; one holding anything is
refused, so a restore never mixes with other data. The dump is streamed from the repository into
``mariadb --binary-mode`` (every blob verified as it is read). If the client fails, a database this
restore created is dropped again, and the error names what happened."""

from __future__ import annotations

from dataclasses import dataclass

from ...core import tracing
from ...core.errors import DrkitError
from ...core.printed import printable
from ...repository import snapshots
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.streams import restore_stream
from .conn import MysqlConn
from .dump import KIND
from .errors import MysqlError, MysqlUsage
from .process import query, quote_ident, quote_string, run, spawned

_HOLDS = (
    "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {db})"
    " + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {db})"
    " + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {db})"
)


@dataclass(frozen=True)
class RestoreOutcome:
    snapshot: Snapshot
    database: str
    created: bool  # False: restored into an existing empty database


def find_dump(repo: Repository, ref: str, name: str | None = None) -> Snapshot:
    """Snapshot ``ref`` (an id prefix, or ``latest``: the newest MySQL dump, of source ``name`` if given)."""
    if ref != "latest":
        snap = snapshots.find(repo.manifests, ref, source_kind=KIND)
    else:
        found = [
            s for s in snapshots.load_all(repo.manifests) if s.source_kind == KIND and name in (None, s.source_name)
        ]
        if not found:
            raise MysqlUsage("no MySQL snapshot in the repository" + (f" of source {name!r}" if name else ""))
        names = ", ".join(
            sorted({printable(s.source_name) for s in found})
        )  # without a name: the newest may be another's
        snapshots.refuse_several_sources(found, ref, f"give --name, one of: {names}; or a snapshot id")
        snap = found[-1]
        snapshots.refuse_past_damaged(repo.manifests, snap)
    if snap.meta.get("mode") != "logical" or snap.root.get("type") != "stream":
        raise MysqlUsage(f"snapshot {snap.short_id} is not a MySQL dump")
    return snap


def database_state(conn: MysqlConn, database: str) -> bool | None:
    """None: no such database; False: exists and is empty; True: holds something."""
    exists = query(
        conn, f"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {quote_string(database)}"
    )
    if exists[0][0] == "0":
        return None
    return query(conn, _HOLDS.format(db=quote_string(database)))[0][0] != "0"


def restore_dump(repo: Repository, snap: Snapshot, target: MysqlConn, database: str | None = None) -> RestoreOutcome:
    """Restore ``snap`` into ``database`` (default: the target URL's database, else the backup's)."""
    dbname = database or target.database or str(snap.meta.get("database", ""))
    if not dbname:
        raise MysqlUsage("give the database to restore into (--database or the URL's path)")
    with tracing.span("drkit.restore", **{"drkit.source_kind": KIND}), repo.lock(purpose="restore"):
        state = database_state(target, dbname)
        if state:
            raise MysqlUsage(
                f"database {dbname!r} on {target.display} is not empty: refusing to restore into it",
                hint="restore into a new database (--database NEW) or drop this one first",
            )
        if state is None:
            facts = snap.meta.get("database_facts", {})
            run(
                "client",
                target,
                [
                    "-e",
                    f"CREATE DATABASE {quote_ident(dbname)} CHARACTER SET "
                    f"{facts.get('charset', 'utf8mb4')} COLLATE "
                    f"{facts.get('collation', 'utf8mb4_general_ci')}",
                ],
            )
        try:
            _load(repo, snap, target, dbname)
        except (DrkitError, OSError) as exc:
            raise _failed(exc, target, dbname, created=state is None) from None
    return RestoreOutcome(snap, dbname, state is None)


def _load(repo: Repository, snap: Snapshot, target: MysqlConn, dbname: str) -> None:
    with spawned("client", target, ["--binary-mode", "--database", dbname], feed=True) as client:
        try:
            restore_stream(repo, snap, client.stdin)
        except BrokenPipeError:
            pass  # the client stopped reading: its exit status says why
        client.finish()


def _failed(exc: DrkitError | OSError, target: MysqlConn, dbname: str, *, created: bool) -> DrkitError:
    message = exc.message if isinstance(exc, DrkitError) else str(exc)
    if created:
        try:
            run("client", target, ["-e", f"DROP DATABASE {quote_ident(dbname)}"])
            message += f"; the new database {dbname!r} was dropped again"
        except MysqlError as drop:
            message += f"; the new database {dbname!r} holds a partial restore (not dropped: {drop.message})"
    else:
        message += f"; database {dbname!r} holds a partial restore"
    if isinstance(exc, DrkitError):  # same class, so the exit code stays (13 for damaged data)
        exc.message, exc.args = message, (message,)
        return exc
    return MysqlError(message)
