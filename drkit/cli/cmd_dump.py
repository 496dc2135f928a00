"""`drkit dump SNAPSHOT PATH`: a file to standard output, or a directory as a tar or zip archive."""

from __future__ import annotations

import sys

import click

from ..core.errors import PartialRestore, UsageError
from ..core.fileio import binary_stdout
from ..ops.dump import dump
from ..ops.session import open_repository
from ..repository.snapshots import SnapshotFilter
from ..sources.files.dump import ARCHIVES
from ..sources.files.ops import backup_skipped, skipped_line
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .filters import snapshot_filter
from .output import quiet_broken_pipe


@click.command("dump", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("snapshot")
@click.argument("path")
@click.option(
    "--archive",
    type=click.Choice(ARCHIVES),
    default=None,
    help="Archive format (default: a regular file as its bytes, anything else as tar).",
)
@snapshot_filter
def dump_cmd(repo_ref: RepoRef, snapshot: str, path: str, archive: str | None, snap_filter: SnapshotFilter) -> None:
    """Write PATH of a files snapshot to standard output: a regular file's bytes, or a directory (`/`: the whole
    snapshot) as a tar (pax: owners, modes, ns mtimes, hard links, xattrs) or zip archive. Every blob is verified
    before its bytes are written; damage ends the dump with exit 13. A reader that stops early (`| head`) ends
    it quietly (exit 141, as SIGPIPE would). A directory of a snapshot whose backup skipped or half-read entries
    (it exited 3) lacks them: a warning naming them, exit 3 (docs/files.md)."""
    if sys.stdout.isatty():
        raise UsageError("refusing to write a snapshot's bytes to a terminal", hint="redirect or pipe: > FILE, | tar x")
    repo = open_repository(repo_ref.url, repo_ref.secret)
    with quiet_broken_pipe():
        snap, warnings, archived = dump(repo, snapshot, path, binary_stdout(), archive=archive, match=snap_filter)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    skipped = backup_skipped(snap) if archived else 0  # a directory of a partial backup lacks what it skipped
    if skipped:
        click.echo(f"warning: {skipped_line(snap)}", err=True)
    if warnings or skipped:
        raise PartialRestore(
            f"{len(warnings)} entries left out of the archive"
            if warnings
            else f"archive written, but the backup of snapshot {snap.short_id} skipped or half-read {skipped} entries",
            hint="see the warnings above",
        )
