"""`drkit key …` and `drkit unlock`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..core import clock
from ..ops import keys as key_ops
from ..ops.secrets import PassphraseSource
from ..ops.session import open_repository
from ..repository.locks import list_locks, remove_locks, why_kept
from ..repository.storage_errors import storage_errors
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .output import emit_json

_NEW = click.option("--new-password-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
                    help="Read the new passphrase from this file (else DRKIT_NEW_PASSWORD or a prompt).")


def _new_secret(path: Path | None) -> str:
    """The new passphrase (registered as a secret, like every passphrase read)."""
    if path is None and os.environ.get("DRKIT_NEW_PASSWORD"):
        return PassphraseSource(env="DRKIT_NEW_PASSWORD").read()
    return PassphraseSource(file=path).read(confirm=True)


@click.group("key", epilog=EXIT_CODES_EPILOG)
def key() -> None:
    """Manage the passphrases (key objects) that open the repository."""


@key.command("list")
@with_repo
@click.option("--json", "as_json", is_flag=True)
def key_list(repo_ref: RepoRef, as_json: bool) -> None:
    """List key objects (never their contents)."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    keys = key_ops.list_keys(repo)
    if as_json:
        emit_json([vars(k) for k in keys])
        return
    for k in keys:
        click.echo(f"{'*' if k.current else ' '} {k.id[:8]}  {k.created[:19]}  {k.username}@{k.host}"
                   f"  generation {k.generation}")


@key.command("add")
@with_repo
@_NEW
def key_add(repo_ref: RepoRef, new_password_file: Path | None) -> None:
    """Add a passphrase that opens the repository."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    click.echo(f"added key {key_ops.add_key(repo, _new_secret(new_password_file))[:8]}")


@key.command("remove")
@with_repo
@click.argument("key_id")
def key_remove(repo_ref: RepoRef, key_id: str) -> None:
    """Remove a key object (not the one used to open the repository)."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    click.echo(f"removed key {key_ops.remove_key(repo, key_id)[:8]}")


@key.command("passwd")
@with_repo
@_NEW
def key_passwd(repo_ref: RepoRef, new_password_file: Path | None) -> None:
    """Replace the passphrase in use by a new one."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    click.echo(f"passphrase changed; new key {key_ops.change_passphrase(repo, _new_secret(new_password_file))[:8]}")


@key.command("rotate")
@with_repo
@click.option("--new-password-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Protect the new key with this passphrase (else DRKIT_NEW_PASSWORD, else the current one).")
@click.option("--json", "as_json", is_flag=True)
def key_rotate(repo_ref: RepoRef, new_password_file: Path | None, as_json: bool) -> None:
    """New encryption key for new data; old data stays readable. Every other passphrase is removed:
    re-add them with `drkit key add`. Re-encrypting old data: `drkit copy` into a new repository."""
    current = repo_ref.secret.read()  # once: a prompt or --password-command is not repeated
    repo = open_repository(repo_ref.url, current, load_index=False)
    fresh = new_password_file is not None or bool(os.environ.get("DRKIT_NEW_PASSWORD"))
    result = key_ops.rotate_key(repo, _new_secret(new_password_file) if fresh else current)
    if as_json:
        emit_json(vars(result))
        return
    click.echo(f"master key rotated (generation {result.generation}); new key {result.key_id[:8]}")
    for k in result.removed:
        click.echo(f"removed key {k[:8]} (re-add its passphrase with `drkit key add`)")
    for k in result.retired:
        click.echo(f"key {k[:8]} is locked and stays, retired: it no longer opens the repository")


@click.command("unlock", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option("--remove-all", is_flag=True, help="Remove every lock, live ones too (only when no drkit runs).")
def unlock(repo_ref: RepoRef, remove_all: bool) -> None:
    """Remove stale locks: expired ones, and those of processes proven dead (same machine, boot and
    PID namespace as this one, process gone). A lock from another host, container or PID namespace
    is only removed once it expires (30 minutes without a refresh)."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    with storage_errors():
        removed = remove_locks(repo.backend, all_locks=remove_all)
        kept = list_locks(repo.backend)
    now = clock.now()
    for info in removed:
        click.echo(f"removed {info.describe(now)}")
    for info in kept:
        click.echo(f"kept {info.describe(now)}: {why_kept(info)}")
    click.echo(f"{len(removed)} locks removed")
