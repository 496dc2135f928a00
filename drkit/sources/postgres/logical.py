"""Logical backups: ``pg_dump -Fc -Z0`` (uncompressed, so chunks deduplicate from day to day)
streamed into the repository plus ``pg_dumpall --globals-only`` (roles, tablespaces), one bundle
snapshot with parts ``dump`` and ``globals``. A tool that exits non-zero vetoes the snapshot.

Restore (``targetdb``, ``roles``): into a new database drkit creates with the recorded owner,
encoding and locale, or into an existing *empty* database (how a dump of ``postgres`` restores);
a database holding anything is refused. Then ``pg_restore --jobs N`` from a temporary file
(parallel restore needs a seekable archive). If pg_restore fails, a database this restore created
is dropped again. The globals are replayed only when asked (``with_globals``), and then only for
roles and tablespaces the target lacks: existing roles are never changed."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.streams import BundleWriter, SourceRef, restore_part
from . import targetdb
from .conn import PgConn
from .errors import PostgresError
from .process import Spawned, run
from .roles import GlobalsOutcome, restore_globals
from .sql import rows, scalar

KIND = "postgres"


def _database_facts(conn: PgConn, dbname: str) -> dict[str, str]:
    found = rows(
        conn,
        "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype "
        "FROM pg_database WHERE datname = %s",
        (dbname,),
    )
    if not found:
        raise PostgresError(f"database {dbname!r} does not exist on {conn.display}")
    owner, encoding, collate, ctype = (str(v) for v in found[0])
    return {"owner": owner, "encoding": encoding, "collate": collate, "ctype": ctype}


def backup_logical(
    repo: Repository,
    conn: PgConn,
    *,
    name: str | None = None,
    tags: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Snapshot:
    """Dump ``conn.dbname`` and the cluster's globals into one snapshot."""
    dbname = conn.dbname
    if not dbname:
        raise PostgresError("a logical backup needs a database name (in the URL or --dbname)")
    with BundleWriter(repo, progress=progress) as bundle:
        dump = Spawned("pg_dump", ["-Fc", "-Z0", "-d", conn.dsn()], conn)
        try:
            bundle.add("dump", cast(BinaryIO, dump.stdout))
            dump.finish()
        finally:
            dump.kill()
        globals_sql, with_passwords = _dump_globals(conn)
        bundle.add("globals", io.BytesIO(globals_sql))
        meta = {
            "mode": "logical",
            "database": dbname,
            "server": conn.display,
            "server_version": str(scalar(conn, "SHOW server_version")),
            "database_facts": _database_facts(conn, dbname),
            "globals_role_passwords": with_passwords,
        }
        return bundle.commit(SourceRef(KIND, name or dbname, list(tags or []), meta))


def _dump_globals(conn: PgConn) -> tuple[bytes, bool]:
    """The globals script, and whether it holds role passwords. A user who is not a superuser (the
    ``postgres`` user of a managed PostgreSQL such as Supabase) may not read ``pg_authid``: then
    the roles are dumped without their passwords (``--no-role-passwords``) rather than not at all."""
    try:
        return run("pg_dumpall", ["--globals-only", "-d", conn.dsn()], conn), True
    except PostgresError as exc:
        if "permission denied" not in exc.message or "pg_authid" not in exc.message:
            raise
    return run("pg_dumpall", ["--globals-only", "--no-role-passwords", "-d", conn.dsn()], conn), False


@dataclass(frozen=True)
class LogicalRestore:
    target: PgConn
    jobs: int = 2
    with_globals: bool = False
    tmp_dir: Path | None = None


@dataclass(frozen=True)
class LogicalOutcome:
    database: str
    into_existing: bool  # restored into an existing empty database (not created by drkit)
    globals: GlobalsOutcome | None  # None: the globals were not replayed


def restore_logical(repo: Repository, snap: Snapshot, opts: LogicalRestore) -> LogicalOutcome:
    """Restore into ``opts.target.dbname`` (default: the backup's database name)."""
    target = opts.target
    dbname = target.dbname or snap.meta.get("database")
    if not dbname or snap.meta.get("mode") != "logical":
        raise PostgresError(f"snapshot {snap.short_id} is not a logical PostgreSQL backup")
    facts: dict[str, str] = snap.meta.get("database_facts", {})
    encoding = targetdb.existing_encoding(target, dbname)
    if encoding is not None:
        targetdb.check_restorable_into(target, dbname, encoding, facts.get("encoding"))
    roles = _globals(repo, snap, target) if opts.with_globals else None
    if encoding is None:
        targetdb.create_database(target, dbname, facts)
    try:
        _pg_restore(repo, snap, target, dbname, opts)
    except PostgresError as exc:
        if encoding is None:
            targetdb.drop_database(target, dbname)
        raise _restore_failed(exc, dbname, created=encoding is None, with_globals=opts.with_globals) from None
    return LogicalOutcome(dbname, encoding is not None, roles)


def _pg_restore(repo: Repository, snap: Snapshot, target: PgConn, dbname: str, opts: LogicalRestore) -> None:
    with tempfile.NamedTemporaryFile(dir=opts.tmp_dir, prefix="drkit-pg-", suffix=".dump") as f:
        restore_part(repo, snap, "dump", cast(BinaryIO, f))
        f.flush()
        run(
            "pg_restore",
            ["--jobs", str(max(1, opts.jobs)), "--exit-on-error", "-d", target.dsn(dbname), f.name],
            target,
        )


def _restore_failed(exc: PostgresError, dbname: str, *, created: bool, with_globals: bool) -> PostgresError:
    after = (
        f"; the new database {dbname!r} was dropped again"
        if created
        else f"; database {dbname!r} holds a partial restore"
    )
    hint = exc.hint
    if "role" in exc.message and "does not exist" in exc.message and not with_globals:
        hint = "give --globals to create the backup's roles that the target lacks (existing roles are not changed)"
    return PostgresError(exc.message + after, hint=hint)


def _globals(repo: Repository, snap: Snapshot, target: PgConn) -> GlobalsOutcome:
    buf = io.BytesIO()
    restore_part(repo, snap, "globals", buf)
    try:
        script = buf.getvalue().decode()
    except UnicodeDecodeError:
        raise PostgresError(
            f"snapshot {snap.short_id}: the globals script is not UTF-8; not restoring roles",
            hint="restore without --globals and create the roles by hand",
        ) from None
    return restore_globals(target, script)
