"""`drkit snapshots`: list snapshots."""

from __future__ import annotations

from datetime import datetime

import click

from ..core.timespec import format_time
from ..ops.session import open_repository
from ..repository import snapshots as snaps
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .filters import snapshot_filter
from .output import emit_json


@click.command("snapshots", epilog=EXIT_CODES_EPILOG)
@with_repo
@snapshot_filter
@click.option("--json", "as_json", is_flag=True)
def snapshots(repo_ref: RepoRef, snap_filter: snaps.SnapshotFilter, as_json: bool) -> None:
    """List the repository's snapshots, oldest first."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    found = [s for s in snaps.load_all(repo.manifests) if snap_filter.matches(s)]
    if as_json:
        emit_json([{"id": s.id, **s.to_doc()} for s in found])
        return
    click.echo(f"{'ID':10}{'TIME':28}{'HOST':16}{'SOURCE':24}{'SIZE':>14}")
    for s in found:
        size = s.root.get("size", "")
        when = format_time(datetime.fromisoformat(s.time))  # with its zone: `--point-in-time` takes it back
        click.echo(f"{s.short_id:10}{when:28}{s.host[:15]:16}"
                   f"{(s.source_kind + ':' + s.source_name)[:23]:24}{size:>14}")
    click.echo(f"{len(found)} snapshots")
