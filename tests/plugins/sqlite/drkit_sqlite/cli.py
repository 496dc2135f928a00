"""``drkit backup sqlite DATABASE`` and ``drkit restore sqlite [SNAPSHOT] --to FILE``, built on the CLI
host drkit hands in (``drkit.sources.registry.CliHost``): the same repository options, exit codes and
embedded default repository as drkit's own commands, without importing drkit's CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from drkit.sources.registry import CliHost


def commands(host: CliHost) -> dict[str, click.Command]:
    return {"backup": _backup_command(host), "restore": _restore_command(host)}


def _backup_command(host: CliHost) -> click.Command:
    @click.command("sqlite", epilog=host.epilog)
    @host.with_repo
    @click.argument("database", type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--name", default=None, help="Source name recorded in the snapshot (default: the file's stem).")
    @click.option("--tag", "tags", multiple=True)
    @click.option("--json", "as_json", is_flag=True, help='Print {"snapshot", "size"}.')
    def backup_sqlite(repo_ref: Any, database: Path, name: str | None, tags: tuple[str, ...], as_json: bool) -> None:
        """Back up an SQLite database file: a consistent copy taken with SQLite's online backup API
        while other connections keep writing, stored as one stream snapshot."""
        from .database import backup_database

        repo = host.open_repo(repo_ref, create=True)
        try:
            snap = backup_database(repo, database, name=name or database.stem, tags=list(tags))
        finally:
            repo.close()
        if as_json:
            host.emit_json({"snapshot": snap.id, "size": snap.root["size"]})
        else:
            host.echo(f"snapshot {snap.short_id} saved: {snap.root['size']} bytes of {database}")

    return backup_sqlite


def _restore_command(host: CliHost) -> click.Command:
    @click.command("sqlite", epilog=host.epilog)
    @host.with_repo
    @click.argument("snapshot", default="latest")
    @click.option("--to", "to", required=True, type=click.Path(path_type=Path), help="The new database file.")
    @click.option("--name", default=None, help="With `latest`: the newest backup of this source name.")
    def restore_sqlite(repo_ref: Any, snapshot: str, to: Path, name: str | None) -> None:
        """Restore an SQLite backup into a new file (an existing one is refused, exit 2). The file
        appears only once every block was verified and ``PRAGMA integrity_check`` passed (else exit 13)."""
        from .database import find_backup, restore_database

        repo = host.open_repo(repo_ref)
        try:
            snap = find_backup(repo, snapshot, name)
            written = restore_database(repo, snap, to)
        finally:
            repo.close()
        host.echo(f"restored snapshot {snap.short_id}: {written} bytes to {to}", err=True)

    return restore_sqlite
