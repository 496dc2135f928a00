"""`drkit stats`: restore size, stored data and ratios, per snapshot and for the selection."""

from __future__ import annotations

import click

from ..ops.session import open_repository
from ..ops.stats import MODES, stats
from ..repository.snapshots import SnapshotFilter
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .filters import snapshot_filter
from .output import emit_json


@click.command("stats", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("refs", nargs=-1, metavar="[SNAPSHOT...]")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="restore-size",
    show_default=True,
    help="restore-size: what a restore writes (reads trees only); raw-data: also the unique "
    "blobs as stored, uncompressed, and the dedup and compression ratios (reads the index).",
)
@snapshot_filter
@click.option("--json", "as_json", is_flag=True)
def stats_cmd(repo_ref: RepoRef, refs: tuple[str, ...], mode: str, snap_filter: SnapshotFilter, as_json: bool) -> None:
    """Sizes of the given snapshots (default: every snapshot the filter selects), each and together. A
    hard-linked file counts once; `total` counts a blob shared by several snapshots once."""
    repo = open_repository(repo_ref.url, repo_ref.secret)
    result = stats(repo, list(refs), mode, snap_filter)
    if as_json:
        emit_json(
            {
                "mode": mode,
                "total": result.total.to_doc(mode),
                "snapshots": [
                    {"id": s.id, "source": f"{s.source_kind}:{s.source_name}", **sizes.to_doc(mode)}
                    for s, sizes in result.each
                ],
            }
        )
        return
    for snap, sizes in result.each:
        doc = sizes.to_doc(mode)
        doc.pop("snapshots")
        click.echo(
            f"{snap.short_id}  {snap.source_kind}:{snap.source_name}  " + "  ".join(f"{k}={v}" for k, v in doc.items())
        )
    total = result.total.to_doc(mode)
    click.echo("total  " + "  ".join(f"{k}={v}" for k, v in total.items()))
    if result.total.missing_blobs:
        click.echo(
            f"warning: {result.total.missing_blobs} referenced blobs are in no index object; run `drkit check`",
            err=True,
        )
