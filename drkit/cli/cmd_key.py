"""`drkit key …` and `drkit unlock`."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click

from ..core import clock
from ..ops import keys as key_ops
from ..ops.secrets import PassphraseSource
from ..ops.session import open_repository
from ..repository.locks import LockInfo, list_locks, remove_locks, why_kept
from ..repository.storage_errors import storage_errors
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .output import emit_json

_NEW = click.option(
    "--new-password-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Read the new passphrase from this file (else DRKIT_NEW_PASSWORD or a prompt).",
)


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
        click.echo(
            f"{'*' if k.current else ' '} {k.id[:8]}  {k.created[:19]}  {k.username}@{k.host}"
            f"  generation {k.generation}"
        )


_JSON = click.option("--json", "as_json", is_flag=True, help='Print {"key_id"}: the key object added or removed.')


def _said(as_json: bool, key_id: str, line: str) -> None:
    if as_json:
        emit_json({"key_id": key_id})
    else:
        click.echo(f"{line} {key_id[:8]}")


@key.command("add")
@with_repo
@_NEW
@_JSON
def key_add(repo_ref: RepoRef, new_password_file: Path | None, as_json: bool) -> None:
    """Add a passphrase that opens the repository."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    _said(as_json, key_ops.add_key(repo, _new_secret(new_password_file)), "added key")


@key.command("remove")
@with_repo
@click.argument("key_id")
@_JSON
def key_remove(repo_ref: RepoRef, key_id: str, as_json: bool) -> None:
    """Remove a key object (not the one used to open the repository)."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    _said(as_json, key_ops.remove_key(repo, key_id), "removed key")


@key.command("passwd")
@with_repo
@_NEW
@_JSON
def key_passwd(repo_ref: RepoRef, new_password_file: Path | None, as_json: bool) -> None:
    """Replace the passphrase in use by a new one."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    _said(as_json, key_ops.change_passphrase(repo, _new_secret(new_password_file)), "passphrase changed; new key")


@key.command("rotate")
@with_repo
@click.option(
    "--new-password-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Protect the new key with this passphrase (else DRKIT_NEW_PASSWORD, else the current one).",
)
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
@click.option("--json", "as_json", is_flag=True, help='Print {"removed": [LOCK], "kept": [LOCK + "why"]}.')
def unlock(repo_ref: RepoRef, remove_all: bool, as_json: bool) -> None:
    """Remove stale locks: expired ones, and those of processes proven dead (same machine, boot and
    PID namespace as this one, process gone). A lock from another host, container or PID namespace
    is only removed once it expires (30 minutes without a refresh)."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    with storage_errors():
        removed = remove_locks(repo.backend, all_locks=remove_all)
        kept = list_locks(repo.backend)
    now = clock.now()
    if as_json:
        emit_json(
            {"removed": [_lock_doc(i) for i in removed], "kept": [{**_lock_doc(i), "why": why_kept(i)} for i in kept]}
        )
        return
    for info in removed:
        click.echo(f"removed {info.describe(now)}")
    for info in kept:
        click.echo(f"kept {info.describe(now)}: {why_kept(info)}")
    click.echo(f"{len(removed)} locks removed")


def _lock_doc(info: LockInfo) -> dict[str, object]:
    kind = "exclusive" if info.exclusive else "maintenance" if info.maintenance else "shared"
    return {
        "key": info.key,
        "kind": kind,
        "purpose": info.purpose,
        "host": info.host,
        "pid": info.pid,
        "username": info.username,
        "created": _iso(info.created),
        "expires": _iso(info.expires),
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()
