"""`drkit … postgres` commands: `backup postgres` and `restore postgres`; the `pg` group is in
``cmd_pg``."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ...cli.cmd_backup import open_session
from ...cli.common import RepoRef, skip_damaged_option, with_repo
from ...cli.epilog import EXIT_CODES_EPILOG
from ...cli.output import byte_progress, emit_json, quiet
from ...cli.params import TIME, TIME_HELP
from ...core.errors import UsageError
from ...ops.session import open_repository
from . import Target, connection, localbase, ops
from .localbase import LocalOptions
from .logical import LogicalRestore
from .pitr import TARGET_KINDS

_CONN_OPTIONS = (
    click.option(
        "--dsn",
        default=None,
        metavar="URL",
        help="libpq URL, e.g. postgresql://user@host:5432/db (a password in it is used, never printed).",
    ),
    click.option("--host", default=None),
    click.option("--port", type=int, default=None),
    click.option("--user", default=None),
    click.option("--dbname", default=None),
    click.option(
        "--db-password-file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        envvar="DRKIT_PG_PASSWORD_FILE",
        help="Database password file (else PGPASSWORD or PGPASSFILE).",
    ),
)


def with_conn(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: the connection options, folded into ``conn``."""

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        dsn: str | None,
        host: str | None,
        port: int | None,
        user: str | None,
        dbname: str | None,
        db_password_file: Path | None,
        **kwargs: Any,
    ) -> Any:
        conn = connection(dsn, host=host, port=port, user=user, dbname=dbname, password_file=db_password_file)
        return fn(*args, conn=conn, **kwargs)

    wrapped: Callable[..., Any] = wrapper
    for option in _CONN_OPTIONS:
        wrapped = option(wrapped)
    return wrapped


@click.command("postgres", epilog=EXIT_CODES_EPILOG)
@with_repo
@with_conn
@click.option("--logical", is_flag=True, help="pg_dump of one database plus globals, instead of a base backup.")
@click.option("--name", default=None, help="Source name (default: the database, or cluster-<system id>).")
@click.option("--tag", "tags", multiple=True)
@click.option(
    "--archive-timeout",
    type=click.FloatRange(min=0),
    default=ops.ARCHIVE_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="Physical: wait at most this long for the backup's WAL to be archived "
    "(0: do not wait). Past it the snapshot stays, and the command exits 1.",
)
@click.option(
    "--method",
    type=click.Choice(["pg_basebackup", "local"]),
    default="pg_basebackup",
    show_default=True,
    help="Physical: stream the cluster through pg_basebackup (works from any host), or copy the data "
    "directory here, between pg_backup_start and pg_backup_stop (on the database host; incremental).",
)
@click.option(
    "--type",
    "backup_type",
    type=click.Choice(localbase.TYPES),
    default=None,
    help="--method local: incr (default) takes files unchanged since the previous local base backup from "
    "it unread (size, mtime, ctime, inode; one changed within 3 s of that backup's start is read); full "
    "reads every file.",
)
@click.option(
    "--checksum",
    is_flag=True,
    help="--method local: read every file, even unchanged ones (only new chunks are stored).",
)
@click.option(
    "--pgdata",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="--method local: the data directory (default: the server's data_directory).",
)
@click.option("--json", "as_json", is_flag=True)
def backup_postgres(  # noqa: PLR0913
    repo_ref: RepoRef,
    conn: Any,
    logical: bool,
    name: str | None,
    tags: tuple[str, ...],
    archive_timeout: float,
    method: str,
    **out: Any,
) -> None:
    """Back up PostgreSQL: a physical base backup (default) or a logical dump (--logical).

    A base backup ends once the WAL from its start to its stop point is in the repository's WAL
    archive (forcing a WAL switch if needed), so `drkit pg windows` lists it as recoverable at once.
    With --method local drkit copies the data directory itself and always waits for that WAL (it is
    not in the copy; --archive-timeout 0 means the default). See docs/postgres-physical.md."""
    as_json = out["as_json"]
    local = _local_options(logical, method, out["backup_type"], out["checksum"], out["pgdata"])
    repo = open_session(repo_ref)
    with byte_progress(f"backup postgres {conn.display}", enabled=not as_json) as progress:
        snap = ops.backup_postgres(
            repo,
            conn,
            logical_mode=logical,
            name=name,
            tags=list(tags),
            progress=progress,
            archive_timeout=archive_timeout,
            local=local,
        )
    st = snap.stats
    if as_json:
        emit_json({"snapshot": snap.id, "time": snap.time, "end_time": snap.end_time, "meta": snap.meta, "stats": st})
    elif not quiet():
        click.echo(
            f"snapshot {snap.short_id} saved: {st['bytes_read']} bytes, {st['new_bytes']} new, "
            f"{st['stored_bytes']} stored"
        )


def _local_options(
    logical: bool, method: str, backup_type: str | None, checksum: bool, pgdata: Path | None
) -> LocalOptions | None:
    if method != "local" or logical:
        if backup_type is not None or checksum or pgdata is not None or (logical and method == "local"):
            raise click.UsageError("--type, --checksum and --pgdata go with --method local (a physical backup)")
        return None
    return LocalOptions(pgdata=pgdata, type=backup_type or "incr", checksum=checksum)


def _target(point_in_time: str | None, lsn: str | None, xid: str | None, name: str | None) -> Target:
    given = [(k, v) for k, v in zip(TARGET_KINDS, (point_in_time, lsn, xid, name), strict=False) if v]
    if len(given) > 1:
        raise click.UsageError("give at most one of --point-in-time, --target-lsn, --target-xid, --target-name")
    return Target(*given[0]) if given else Target("latest")


@click.command("postgres", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("snapshot", required=False)
@click.option(
    "--logical",
    is_flag=True,
    help="Restore a logical dump (the one SNAPSHOT names) into a new database, or an existing empty one "
    "(--target-dsn); the options of a physical restore (--point-in-time, --target-*, --base, --start…) are refused.",
)
@click.option(
    "--target-dsn",
    default=None,
    metavar="URL",
    help="Logical: server and database name (default: the "
    "backup's). A database that exists must be empty (e.g. `postgres` of a fresh cluster).",
)
@click.option("--jobs", type=click.IntRange(1, 64), default=2, show_default=True, help="Logical: pg_restore jobs.")
@click.option(
    "--globals/--no-globals",
    "with_globals",
    default=False,
    show_default=True,
    help="Logical: create the backup's roles and tablespaces that the target lacks. Existing roles are "
    "never changed (a rotated password or NOLOGIN stays); they are listed.",
)
@click.option(
    "--db-password-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    envvar="DRKIT_PG_PASSWORD_FILE",
    help="Logical: target database password file (else PGPASSWORD).",
)
@click.option(
    "--target-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Physical: the new data directory.",
)
@click.option("--point-in-time", type=TIME, default=None, help="Recover to TIME. " + TIME_HELP)
@click.option("--target-lsn", default=None)
@click.option("--target-xid", default=None)
@click.option("--target-name", default=None, help="A restore point made by pg_create_restore_point().")
@click.option(
    "--base",
    "base",
    default=None,
    metavar="SNAPSHOT",
    help="Physical: start from this base backup (default: chosen for the target; for --target-name and "
    "--target-xid the newest one that ends before the target's record in the archived WAL).",
)
@click.option("--start", is_flag=True, help="Start PostgreSQL on the result and wait until the target is reached.")
@click.option("--port", type=int, default=0, help="With --start: port (default: a free one).")
@click.option(
    "--os-user", default=None, help="Own and run the data directory as this user (default as root: postgres)."
)
@click.option("--keep-archiving", is_flag=True, help="Leave archive_mode as in the backup.")
@skip_damaged_option
@click.option("--json", "as_json", is_flag=True)
def restore_postgres(repo_ref: RepoRef, snapshot: str | None, **opts: Any) -> None:
    """Restore PostgreSQL: a logical dump into a new (or an existing empty) database, or a base backup plus WAL
    to a point in time.

    A logical restore changes no existing role: --globals only creates the backup's roles and tablespaces that the
    target lacks (see docs/postgres-logical.md)."""
    if opts["logical"]:
        _restore_logical(repo_ref, snapshot, opts)
        return
    if opts["target_dir"] is None:
        raise click.UsageError("give --target-dir DIR (physical restore) or --logical --target-dsn URL")
    target = _target(opts["point_in_time"], opts["target_lsn"], opts["target_xid"], opts["target_name"])
    if opts["base"] and snapshot and opts["base"] != snapshot:
        raise click.UsageError("give the base backup once: as SNAPSHOT or as --base")
    _restore_pitr(repo_ref, opts["base"] or snapshot, opts["target_dir"], target, opts)


# Options only a physical restore reads. With --logical they were ignored: `--logical --point-in-time T`
# restored the newest dump, taken after T, with exit 0. A dump is one instant, chosen by its SNAPSHOT id.
_PHYSICAL_ONLY = (
    ("point_in_time", "--point-in-time"),
    ("target_lsn", "--target-lsn"),
    ("target_xid", "--target-xid"),
    ("target_name", "--target-name"),
    ("base", "--base"),
    ("target_dir", "--target-dir"),
    ("start", "--start"),
    ("port", "--port"),
    ("os_user", "--os-user"),
    ("keep_archiving", "--keep-archiving"),
)


def _restore_logical(repo_ref: RepoRef, snapshot: str | None, opts: dict[str, Any]) -> None:
    given = [flag for key, flag in _PHYSICAL_ONLY if opts[key]]
    if given:
        raise UsageError(
            f"{given[0]} is for a physical restore (base backup + WAL), not --logical: a logical dump is "
            "restored as it was taken; pick the dump by its SNAPSHOT id (drkit snapshots --source postgres)"
        )
    if not opts["target_dsn"]:
        raise click.UsageError("--logical needs --target-dsn URL")
    repo = open_repository(repo_ref.url, repo_ref.secret)
    repo.manifests.past_damaged = opts["skip_damaged"]
    target_conn = connection(opts["target_dsn"], password_file=opts["db_password_file"])
    restore = LogicalRestore(target_conn, opts["jobs"], opts["with_globals"])
    snap, done = ops.restore_logical(repo, snapshot or "latest", restore)
    roles = done.globals
    if roles is not None and roles.kept_roles:
        click.echo(
            f"warning: {len(roles.kept_roles)} roles of the backup already exist on the target and were left "
            f"unchanged (not reverted to the backup): {', '.join(roles.kept_roles)}",
            err=True,
        )
    if roles is not None and roles.skipped:
        click.echo(
            f"warning: {roles.skipped} statements of the backup's globals were not recognised and were skipped",
            err=True,
        )
    where = "the existing empty database" if done.into_existing else "the new database"
    text = f"restored {snap.short_id} into {where} {done.database}"
    if roles is not None:
        text += f"; created {len(roles.created_roles)} roles: {', '.join(roles.created_roles) or '-'}"
    doc = {
        "snapshot": snap.id,
        "database": done.database,
        "into_existing": done.into_existing,
        "globals": None
        if roles is None
        else {
            "created_roles": roles.created_roles,
            "kept_roles": roles.kept_roles,
            "created_tablespaces": roles.created_tablespaces,
            "skipped_statements": roles.skipped,
        },
    }
    _report(doc, opts["as_json"], text)


def _restore_pitr(
    repo_ref: RepoRef, snapshot: str | None, target_dir: Path, target: Target, opts: dict[str, Any]
) -> None:
    os_user = opts["os_user"] or ("postgres" if os.geteuid() == 0 else None)
    notes: list[str] = []

    def note(text: str) -> None:  # printed at once: the choice is made before the long unpacking
        notes.append(text)
        click.echo(f"note: {text}", err=True)

    req = ops.PitrRequest(
        target=target,
        target_dir=target_dir,
        repo_url=repo_ref.url,
        secret=repo_ref.secret,
        snapshot=snapshot,
        start=opts["start"],
        port=opts["port"],
        os_user=os_user,
        keep_archiving=opts["keep_archiving"],
        explain=note,
    )
    if repo_ref.secret.file is None and not repo_ref.secret.command:
        click.echo(
            "warning: restore_command gets no passphrase source; the server needs DRKIT_PASSWORD in its "
            "environment (use --password-file to avoid that)",
            err=True,
        )
    repo = open_repository(repo_ref.url, repo_ref.secret)
    repo.manifests.past_damaged = opts["skip_damaged"]
    base, rec = ops.restore_pitr(repo, req)
    doc: dict[str, Any] = {
        "snapshot": base.id,
        "target": target.describe(),
        "target_dir": str(target_dir),
        "base_choice": notes,
    }
    text = f"restored base backup {base.short_id} to {target_dir}, recovery target {target.describe()}"
    if rec is not None:
        doc.update(port=rec.port, replay_lsn=rec.replay_lsn, reached=rec.reached)
        text += f"\nserver running on 127.0.0.1:{rec.port}; recovered to {rec.replay_lsn}\n" + "\n".join(rec.reached)
    _report(doc, opts["as_json"], text)


def _report(doc: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        emit_json(doc)
    else:
        click.echo(text)
