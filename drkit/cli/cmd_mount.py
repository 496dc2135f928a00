"""`drkit mount MOUNTPOINT`: files snapshots as a read-only FUSE file system (drkit[mount] extra)."""

from __future__ import annotations

import signal

import click

from ..ops.mount import mount
from ..ops.session import open_repository
from ..repository.snapshots import SnapshotFilter
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .filters import snapshot_filter
from .signals import Stopped


@click.command("mount", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("mountpoint", type=click.Path())
@snapshot_filter
def mount_cmd(repo_ref: RepoRef, mountpoint: str, snap_filter: SnapshotFilter) -> None:
    """Show the snapshots (those FILTER selects) under MOUNTPOINT, read-only, until unmounted
    (`fusermount3 -u MOUNTPOINT`, Ctrl-C or SIGTERM): ids/ID/…, snapshots/TIME and latest (the newest of
    one source: none where several), hosts/HOST/TIME, tags/TAG/TIME. A files snapshot is its tree; a
    stream snapshot (Redis RDB, `backup stdin`) a directory with one file named after its source; a
    PostgreSQL logical dump, base backup or AOF directory one file per part (`dump`, `globals`, …), mode
    0400 for the mounting user. Files are read on demand and every block is verified: damaged data reads
    as an I/O error (EIO), never as wrong bytes. `--source files` shows the files snapshots only. Needs
    libfuse 3 (Debian: fuse3) and the drkit[mount] extra."""
    repo = open_repository(repo_ref.url, repo_ref.secret)

    def ready(count: int) -> None:
        click.echo(
            f"mounting {count} snapshots at {mountpoint} (read-only); "
            f"unmount with `fusermount3 -u {mountpoint}` or Ctrl-C",
            err=True,
        )

    signum = mount(repo, mountpoint, snap_filter, on_ready=ready)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    if signum is not None:
        raise Stopped(signum)  # unmounted, the lock released: exit 128 + N as any command a signal stops
