"""Logical backups: ``pg_dump -Fc -Z0`` (uncompressed, so chunks deduplicate from day to day)
streamed into the repository plus ``pg_dumpall --globals-only`` (roles, tablespaces), one bundle
snapshot with parts ``dump`` and ``globals``. A tool that exits non-zero vetoes the snapshot.

Restore: globals through psql (roles that already exist are kept), ``CREATE DATABASE`` with the
recorded owner, encoding and locale, then ``pg_restore --jobs N`` from a temporary file (parallel
restore needs a seekable archive)."""

from __future__ import annotations

import io
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.streams import BundleWriter, SourceRef, restore_part
from .conn import PgConn
from .errors import PostgresError
from .process import Spawned, query, redact, run, scalar

KIND = "postgres"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _database_facts(conn: PgConn, dbname: str) -> dict[str, str]:
    rows = query(conn, "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype "
                       f"FROM pg_database WHERE datname = {quote_literal(dbname)}")
    if not rows:
        raise PostgresError(f"database {dbname!r} does not exist on {conn.display}")
    owner, encoding, collate, ctype = rows[0]
    return {"owner": owner, "encoding": encoding, "collate": collate, "ctype": ctype}


def backup_logical(repo: Repository, conn: PgConn, *, name: str | None = None, tags: list[str] | None = None,
                   progress: Callable[[int], None] | None = None) -> Snapshot:
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
        globals_sql = run("pg_dumpall", ["--globals-only", "-d", conn.dsn()], conn)
        bundle.add("globals", io.BytesIO(globals_sql))
        meta = {"mode": "logical", "database": dbname, "server": conn.display,
                "server_version": scalar(conn, "SHOW server_version"),
                "database_facts": _database_facts(conn, dbname)}
        return bundle.commit(SourceRef(KIND, name or dbname, list(tags or []), meta))


@dataclass(frozen=True)
class LogicalRestore:
    target: PgConn
    jobs: int = 2
    with_globals: bool = True
    tmp_dir: Path | None = None


def restore_logical(repo: Repository, snap: Snapshot, opts: LogicalRestore) -> str:
    """Restore into a new database ``opts.target.dbname``; returns its name."""
    target = opts.target
    dbname = target.dbname or snap.meta.get("database")
    if not dbname or snap.meta.get("mode") != "logical":
        raise PostgresError(f"snapshot {snap.short_id} is not a logical PostgreSQL backup")
    exists = query(target, f"SELECT 1 FROM pg_database WHERE datname = {quote_literal(dbname)}", dbname="postgres")
    if exists:
        raise PostgresError(f"database {dbname!r} already exists on {target.display}; refusing to restore over it")
    if opts.with_globals:
        _restore_globals(repo, snap, target)
    _create_database(target, dbname, snap.meta.get("database_facts", {}))
    with tempfile.NamedTemporaryFile(dir=opts.tmp_dir, prefix="drkit-pg-", suffix=".dump") as f:
        restore_part(repo, snap, "dump", cast(BinaryIO, f))
        f.flush()
        run("pg_restore", ["--jobs", str(max(1, opts.jobs)), "--exit-on-error", "-d", target.dsn(dbname), f.name],
            target)
    return dbname


def _restore_globals(repo: Repository, snap: Snapshot, target: PgConn) -> None:
    buf = io.BytesIO()
    restore_part(repo, snap, "globals", buf)
    proc = Spawned("psql", ["-X", "-q", "-d", target.dsn("postgres"), "-f", "-"], target,
                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        assert proc.proc.stdin is not None
        proc.proc.stdin.write(buf.getvalue())
        proc.proc.stdin.close()
        err = proc.finish()
    finally:
        proc.kill()
    problems = [ln for ln in err.decode(errors="replace").splitlines()
                if "ERROR:" in ln and "already exists" not in ln]
    if problems:
        raise PostgresError(redact(f"restoring roles failed: {problems[0].strip()}", target.secrets()))


def _create_database(target: PgConn, dbname: str, facts: dict[str, str]) -> None:
    sql = f"CREATE DATABASE {quote_ident(dbname)} TEMPLATE template0"
    if facts.get("owner"):
        sql += f" OWNER {quote_ident(facts['owner'])}"
    if facts.get("encoding"):
        sql += f" ENCODING {quote_literal(facts['encoding'])}"
    if facts.get("collate"):
        sql += f" LC_COLLATE {quote_literal(facts['collate'])} LC_CTYPE {quote_literal(facts['ctype'])}"
    run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", target.dsn("postgres"), "-c", sql], target)
