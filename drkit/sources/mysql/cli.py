"""``drkit backup mysql`` and ``drkit restore mysql``, built on the CLI host the registry hands in
(``drkit.sources.registry.CliHost``), so they take the same repository options as every command.

The MySQL password comes from DRKIT_MYSQL_PASSWORD or --mysql-password-file, never from an option
or the URL: it never appears in argv or output. A refused login or an unreachable server exits 14."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..registry import CliHost
from .conn import MysqlConn, password_from

_PW_FILE = click.Path(path_type=Path, dir_okay=False)
_URL_HELP = "mysql://USER@HOST:PORT/DATABASE (or mariadb://; ?socket=PATH for a Unix socket)."


def connect(url: str, password_file: Path | None) -> MysqlConn:
    return MysqlConn.from_url(url).with_password(password_from(password_file))


def commands(host: CliHost) -> dict[str, click.Command]:
    return {"backup": _backup_command(host), "restore": _restore_command(host)}


def _backup_command(host: CliHost) -> click.Command:
    @click.command("mysql", epilog=host.epilog)
    @host.with_repo
    @click.option("--url", required=True, help=_URL_HELP)
    @click.option(
        "--mysql-password-file",
        type=_PW_FILE,
        default=None,
        help="Read the MySQL password from this file (else DRKIT_MYSQL_PASSWORD).",
    )
    @click.option("--name", default=None, help="Source name recorded in the snapshot (default: the database).")
    @click.option("--tag", "tags", multiple=True)
    @click.option("--json", "as_json", is_flag=True)
    def backup_mysql(
        repo_ref: Any,
        url: str,
        mysql_password_file: Path | None,
        name: str | None,
        tags: tuple[str, ...],
        as_json: bool,
    ) -> None:
        """Back up one MySQL / MariaDB database: a consistent logical dump (mariadb-dump
        --single-transaction --routines --events --triggers), stored as a stream snapshot."""
        from .dump import backup_dump

        conn = connect(url, mysql_password_file)
        repo = host.open_repo(repo_ref, create=True)
        try:
            snap = backup_dump(repo, conn, name=name, tags=list(tags))
        finally:
            repo.close()
        if as_json:
            host.emit_json({"snapshot": snap.id, "database": snap.meta["database"], "size": snap.root["size"]})
        else:
            host.echo(f"snapshot {snap.short_id} saved: database {snap.meta['database']}, {snap.root['size']} bytes")

    return backup_mysql


def _restore_command(host: CliHost) -> click.Command:
    @click.command("mysql", epilog=host.epilog)
    @host.with_repo
    @click.argument("snapshot", default="latest")
    @click.option("--url", required=True, help="The server to restore into: " + _URL_HELP)
    @click.option(
        "--database", default=None, help="Restore under this name (default: the URL's database, else the backup's)."
    )
    @click.option(
        "--mysql-password-file",
        type=_PW_FILE,
        default=None,
        help="Read the MySQL password from this file (else DRKIT_MYSQL_PASSWORD).",
    )
    @click.option("--name", default=None, help="With `latest`: the newest dump of this source name.")
    def restore_mysql(
        repo_ref: Any, snapshot: str, url: str, database: str | None, mysql_password_file: Path | None, name: str | None
    ) -> None:
        """Restore a MySQL dump into a new or empty database (one holding anything is refused);
        a database the restore created is dropped again if the restore fails."""
        from .restore import find_dump, restore_dump

        conn = connect(url, mysql_password_file)
        repo = host.open_repo(repo_ref)
        try:
            out = restore_dump(repo, find_dump(repo, snapshot, name), conn, database)
        finally:
            repo.close()
        how = "new database" if out.created else "existing empty database"
        host.echo(f"restored {out.snapshot.short_id} into {how} {out.database} on {conn.display}", err=True)

    return restore_mysql
