"""``drkit backup mysql``, ``drkit restore mysql`` and ``drkit mysql binlog-archive``, built on the CLI
host the registry hands in (``drkit.sources.registry.CliHost``), so they take the same repository
options as every command.

The MySQL password comes from DRKIT_MYSQL_PASSWORD or --mysql-password-file, never from an option
or the URL: it never appears in argv or output. A refused login or an unreachable server exits 14."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ...core.timespec import TIME_HELP, parse_time
from ..registry import CliHost
from .conn import MysqlConn, password_from
from .errors import MysqlUsage

_URL_HELP = "mysql://USER@HOST:PORT/DATABASE (or mariadb://; ?socket=PATH for a Unix socket)."


def _checked_time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """--point-in-time read by the one grammar while the options are parsed, so a time it refuses (no zone,
    epoch seconds, a fraction here) is refused before any work, with exit 2, as every other command's."""
    if value is not None:
        from .pitr import whole_second

        whole_second(parse_time(value))
    return value


def connect(url: str, password_file: Path | None) -> MysqlConn:
    return MysqlConn.from_url(url).with_password(password_from(password_file))


def _password_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--mysql-password-file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Read the MySQL password from this file (else DRKIT_MYSQL_PASSWORD).",
    )(fn)


def commands(host: CliHost) -> dict[str, click.Command]:
    group = click.Group("mysql", help="MySQL / MariaDB: the binary-log archive (docs/mysql.md).")
    group.add_command(_archive_command(host))
    group.add_command(_unneeded_command(host))
    return {"backup": _backup_command(host), "restore": _restore_command(host), "mysql": group}


def _backup_command(host: CliHost) -> click.Command:
    @click.command("mysql", epilog=host.epilog)
    @host.with_repo
    @click.option("--url", required=True, help=_URL_HELP)
    @_password_option
    @click.option("--name", default=None, help="Source name recorded in the snapshot (default: the database).")
    @click.option("--tag", "tags", multiple=True)
    @click.option(
        "--pitr",
        is_flag=True,
        help="Record the dump's binary-log position (--master-data=2; needs "
        "RELOAD), so point-in-time restores can start from this dump.",
    )
    @click.option("--json", "as_json", is_flag=True)
    def backup_mysql(  # noqa: PLR0913
        repo_ref: Any,
        url: str,
        mysql_password_file: Path | None,
        name: str | None,
        tags: tuple[str, ...],
        pitr: bool,
        as_json: bool,
    ) -> None:
        """Back up one MySQL / MariaDB database: a consistent logical dump (mariadb-dump
        --single-transaction --routines --events --triggers), stored as a stream snapshot."""
        from .dump import backup_dump

        conn = connect(url, mysql_password_file)
        repo = host.open_repo(repo_ref, create=True)
        try:
            snap = backup_dump(repo, conn, name=name, tags=list(tags), binlog_position=pitr)
        finally:
            repo.close()
        doc = {
            "snapshot": snap.id,
            "database": snap.meta["database"],
            "size": snap.root["size"],
            "binlog": snap.meta.get("binlog"),
        }
        if as_json:
            host.emit_json(doc)
        else:
            host.echo(f"snapshot {snap.short_id} saved: database {doc['database']}, {doc['size']} bytes")

    return backup_mysql


def _restore_command(host: CliHost) -> click.Command:
    @click.command("mysql", epilog=host.epilog)
    @host.with_repo
    @click.argument("snapshot", default="latest")
    @click.option("--url", required=True, help="The server to restore into: " + _URL_HELP)
    @click.option(
        "--database", default=None, help="Restore under this name (default: the URL's database, else the backup's)."
    )
    @_password_option
    @click.option(
        "--name",
        default=None,
        help="The source name: with `latest`, the newest dump of it; needed with --point-in-time / --stop-position.",
    )
    @click.option(
        "--point-in-time",
        "point_in_time",
        default=None,
        metavar="TIME",
        callback=_checked_time,
        help="Restore the state at TIME, in whole seconds (binary logs record no fraction): a --pitr dump "
        "before it plus the archived binary logs up to it. " + TIME_HELP,
    )
    @click.option(
        "--stop-position",
        default=None,
        metavar="FILE:POS",
        help="Like --point-in-time, up to this binary-log position (exact; as SHOW MASTER STATUS prints it).",
    )
    def restore_mysql(repo_ref: Any, snapshot: str, url: str, database: str | None, **opts: Any) -> None:
        """Restore a MySQL dump into a new or empty database (one holding anything is refused);
        a database the restore created is dropped again if the restore fails. With --point-in-time or
        --stop-position, binary logs archived by `drkit mysql binlog-archive` are replayed on top; a
        log another server wrote under the same --name (not the one the dump was taken in, or not
        continuing the log before it) is refused (exit 2) before anything is restored."""
        conn = connect(url, opts["mysql_password_file"])
        repo = host.open_repo(repo_ref)
        try:
            line = _restore(repo, conn, snapshot, database, opts)
        finally:
            repo.close()
        host.echo(line, err=True)

    return restore_mysql


def _restore(repo: Any, conn: MysqlConn, snapshot: str, database: str | None, opts: dict[str, Any]) -> str:
    from .pitr import Point, restore_point
    from .restore import find_dump, restore_dump

    when, position, name = opts["point_in_time"], opts["stop_position"], opts["name"]
    if when is None and position is None:
        out = restore_dump(repo, find_dump(repo, snapshot, name), conn, database)
        how = "new database" if out.created else "existing empty database"
        return f"restored {out.snapshot.short_id} into {how} {out.database} on {conn.display}"
    if when is not None and position is not None:
        raise MysqlUsage("give --point-in-time or --stop-position, not both")
    if name is None or snapshot != "latest":
        raise MysqlUsage("a point-in-time restore picks its dump itself: give --name SOURCE and no SNAPSHOT")
    point = Point(time=parse_time(when)) if when is not None else Point.parse_position(position)
    out, logs = restore_point(repo, conn, name, point, database)
    return (
        f"restored {name} as of {point.describe()} into {out.database} on {conn.display}: dump "
        f"{out.snapshot.short_id} plus {logs} binary log(s)"
    )


def _archive_command(host: CliHost) -> click.Command:
    @click.command("binlog-archive", epilog=host.epilog)
    @host.with_repo
    @click.option("--url", required=True, help=_URL_HELP)
    @_password_option
    @click.option("--name", required=True, help="The source name the logs belong to (that of its --pitr dumps).")
    def binlog_archive(repo_ref: Any, url: str, mysql_password_file: Path | None, name: str) -> None:
        """Close the server's current binary log (FLUSH BINARY LOGS) and store every closed log the
        archive lacks in the repository's log archive. Run it often (cron): a point-in-time restore
        reaches as far as the last run. The logs follow the --pitr dumps kept (`drkit forget`). A
        server whose logs are not the archived ones under --name (another server, a replaced one) is
        refused (exit 13) before anything is stored: give each server its own --name."""
        from .binlog import archive_binlogs

        conn = connect(url, mysql_password_file)
        repo = host.open_repo(repo_ref, create=True)
        try:
            out = archive_binlogs(repo, conn, name)
        finally:
            repo.close()
        host.echo(f"archived {len(out.stored)} binary log(s); the archive covers until {out.covers_until}", err=True)

    return binlog_archive


def _unneeded_command(host: CliHost) -> click.Command:
    @click.command("binlog-unneeded", epilog=host.epilog)
    @host.with_repo
    @click.option("--name", required=True, help="The source name of the archived logs and their --pitr dumps.")
    def binlog_unneeded(repo_ref: Any, name: str) -> None:
        """Print the ids of binary logs stored the old way (mysql-binlog snapshots, by drkit before the
        log archive) older than the oldest --pitr dump of NAME (one per line): no point-in-time restore
        can use them. Forget them with `drkit forget $(drkit mysql binlog-unneeded --name NAME)`;
        `drkit prune` frees the space. With no --pitr dump of NAME, none is listed. Logs in the log
        archive need no list: `drkit forget` trims them with the --pitr dumps kept."""
        from .binlog import unneeded

        repo = host.open_repo(repo_ref)
        try:
            old = unneeded(repo, name)
        finally:
            repo.close()
        if old is None:
            host.echo(f"no --pitr dump of {name!r}: no archived log is called unneeded", err=True)
            return
        for snap in old:
            host.echo(snap.id)

    return binlog_unneeded
