"""`drkit copy`: replicate snapshots into a second repository."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..core.errors import UsageError
from ..ops.copy import copy_between
from ..ops.secrets import PassphraseSource
from ..sources.archives import archive_specs
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .output import byte_meter, emit_json

_SOURCE_OPTIONS = (
    click.option(
        "--from-password-command",
        default=None,
        envvar="DRKIT_FROM_PASSWORD_COMMAND",
        help="Run this command for the source passphrase.",
    ),
    click.option(
        "--from-password-file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        envvar="DRKIT_FROM_PASSWORD_FILE",
        help="Read the source passphrase from this file.",
    ),
    click.option("--from-repo", required=True, metavar="URL", help="The repository to copy from."),
)


def _with_source(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--from-repo and its passphrase options (else DRKIT_FROM_PASSWORD), folded into ``source``."""

    @functools.wraps(fn)
    def wrapper(
        *args: Any, from_repo: str, from_password_file: Path | None, from_password_command: str | None, **kwargs: Any
    ) -> Any:
        secret = PassphraseSource(
            from_password_file,
            from_password_command,
            env=None if from_password_file or from_password_command else "DRKIT_FROM_PASSWORD",
        )
        return fn(*args, source=RepoRef(from_repo, secret), **kwargs)

    wrapped: Callable[..., Any] = wrapper
    for option in _SOURCE_OPTIONS:
        wrapped = option(wrapped)
    return wrapped


@click.command("copy", epilog=EXIT_CODES_EPILOG)
@_with_source
@with_repo
@click.option(
    "--to-repo",
    default=None,
    metavar="URL",
    help="The repository to copy into (else --repo / DRKIT_REPOSITORY); create it with `drkit init`.",
)
@click.option("--snapshot", "refs", multiple=True, metavar="ID", help="Copy only these snapshots (default: all).")
@click.option("--json", "as_json", is_flag=True)
def copy(source: RepoRef, repo_ref: RepoRef, to_repo: str | None, refs: tuple[str, ...], as_json: bool) -> None:
    """Copy snapshots into a second repository (its passphrase: --password-file, --password-command or
    DRKIT_PASSWORD), re-encrypting them and uploading only data it lacks.

    On a terminal a progress line on stderr counts the content bytes to convert (known before the
    first is read): a bar, a percentage and an ETA.

    An archived WAL file the target already holds under the same name with other content (two clusters
    archiving into one repository?) is never overwritten: everything else is copied, then the copy
    fails with exit code 13 naming those files."""
    if to_repo is None and repo_ref.is_default:
        raise UsageError("give the target repository with --to-repo URL")
    with byte_meter("copy", enabled=not as_json) as meter:
        result = copy_between(
            (source.url, source.secret, None),
            (to_repo or repo_ref.url, repo_ref.secret, None),
            list(refs),
            progress=meter.advance if meter else None,
            on_total=meter.set_total if meter else None,
        )
    specs = archive_specs()
    if as_json:  # each archive's count also under its own key (wal_files, aof_segments …)
        emit_json({**asdict(result), **{spec.copy_as: result.archives.get(spec.label, 0) for spec in specs}})
        return
    for src, dst in result.copied.items():
        click.echo(f"copied {src[:8]} -> {dst[:8]}")
    for src, dst in result.present.items():
        if src in result.retagged:
            click.echo(
                f"retagged {src[:8]} (copied earlier as {dst[:8]}; its new tags carried over: "
                f"now {result.retagged[src][:8]})"
            )
        else:
            click.echo(f"present {src[:8]} (copied earlier as {dst[:8]})")
    for src, why in result.tags_kept.items():
        click.echo(f"warning: the new tags of {src[:8]} were not carried over: {why}; run the copy again", err=True)
    s = result.stats
    click.echo(
        f"{len(result.copied)} snapshots copied, {len(result.present)} already present; {s.new_blobs} new "
        f"blobs in {s.packs} packs ({s.stored_bytes / 1e6:.1f} MB); {result.documents} documents"
        + "".join(f", {result.archives.get(spec.label, 0)} {spec.nouns}" for spec in specs)
    )
