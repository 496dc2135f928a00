"""`drkit backup …`: one subcommand per source."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..ops.keyahead import start_key_derivation
from ..ops.secrets import PassphraseSource
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .lazy import SourceGroup
from .output import byte_progress, emit_json, quiet

if TYPE_CHECKING:
    from ..repository.repo import Repository


@click.group("backup", cls=SourceGroup, epilog=EXIT_CODES_EPILOG)
def backup() -> None:
    """Take a backup into the repository."""


@backup.command("stdin", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option("--name", required=True, help="Source name recorded in the snapshot.")
@click.option(
    "--stdin-from-command",
    "command",
    default=None,
    metavar="CMD",
    help="Back up this command's output; a non-zero exit writes no snapshot.",
)
@click.option("--tag", "tags", multiple=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def stdin(repo_ref: RepoRef, name: str, command: str | None, tags: tuple[str, ...], as_json: bool) -> None:
    """Back up standard input (or a command's output) as one stream snapshot."""
    secret: PassphraseSource | str = repo_ref.secret
    if not repo_ref.is_default:  # the key is derived while the backup's modules load (ops/keyahead.py)
        secret = start_key_derivation(repo_ref.url, repo_ref.secret)
    from ..ops.backup_stdin import backup_stdin

    repo = open_session(repo_ref, secret)
    with byte_progress(f"backup {name}", enabled=not as_json) as progress:
        snap = backup_stdin(repo, name, tags=list(tags), command=command, progress=progress)
    if as_json:
        emit_json(
            {
                "snapshot": snap.id,
                "time": snap.time,
                "end_time": snap.end_time,
                "size": snap.root["size"],
                "stats": snap.stats,
            }
        )
    elif not quiet():
        st = snap.stats
        click.echo(
            f"snapshot {snap.short_id} saved: {snap.root['size']} bytes, "
            f"{st['new_bytes']} new, {st['stored_bytes']} stored in {st['packs']} packs"
        )


def open_session(ref: RepoRef, passphrase: PassphraseSource | str | None = None) -> Repository:
    """The repository to back up into; the embedded default is created on first use. ``passphrase``: already
    read (by ``start_key_derivation``), else ``ref.secret`` is read."""
    from ..ops.session import open_or_create_default, open_repository

    if not ref.is_default:
        return open_repository(ref.url, ref.secret if passphrase is None else passphrase)
    repo, created = open_or_create_default(ref.url, ref.secret)
    if created:
        click.echo(f"created drkit repository {repo.config.id[:8]} at {repo.backend.display}", err=True)
    return repo
