"""`drkit prune`: delete data no snapshot references; repack mostly-dead packs."""

from __future__ import annotations

from dataclasses import asdict

import click

from ..ops.session import open_repository
from ..repository.prune import PruneOptions
from ..repository.prune import prune as prune_repository
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .output import emit_json


@click.command("prune", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option("--dry-run", is_flag=True, help="Show what would be deleted and repacked.")
@click.option("--repack-below", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Repack packs whose live fraction is below this.")
@click.option("--max-repack-size", "max_repack_mib", type=click.IntRange(0), default=None, metavar="MIB",
              help="Repack at most this many MiB of live data in one run.")
@click.option("--orphan-age", type=click.FloatRange(0), default=3600.0, show_default=True, hidden=True,
              help="Seconds before an unindexed pack counts as left by an interrupted backup.")
@click.option("--json", "as_json", is_flag=True)
def prune(repo_ref: RepoRef, dry_run: bool, repack_below: float, max_repack_mib: int | None,
          orphan_age: float, as_json: bool) -> None:
    """Remove unreferenced data (after `drkit forget`), holding an exclusive lock."""
    options = PruneOptions(repack_below=repack_below, orphan_age=orphan_age, dry_run=dry_run,
                           max_repack_bytes=None if max_repack_mib is None else max_repack_mib << 20)
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    plan = prune_repository(repo, options)
    if as_json:
        emit_json({"dry_run": dry_run, **asdict(plan)})
        return
    for pack_id, until in plan.locked_packs.items():
        click.echo(f"pack {pack_id[:16]} is locked until {until}; kept")
    verb = "would " if dry_run else ""
    click.echo(f"{plan.live_blobs} live blobs; {verb}delete {len(plan.delete_packs)} unused and "
               f"{len(plan.orphan_packs)} orphaned packs, {verb}repack {len(plan.repack_packs)}; "
               f"{plan.bytes_freed / 1e6:.1f} MB {verb}freed")
