"""`drkit prune`: delete data no snapshot references; repack mostly-dead packs; safe while backups run."""

from __future__ import annotations

import functools
from dataclasses import asdict

import click

from ..core.durations import format_duration
from ..core.memory import tune_malloc
from ..ops.session import open_repository
from ..repository.prune import DEFAULT_GRACE, PruneOptions, PrunePlan
from ..repository.prune import prune as prune_repository
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .output import Meter, byte_meter, emit_json
from .params import DURATION, DURATION_HELP

# Prune's large temporaries (index objects of ~13 MB, the KDF's 64 MiB, a pack being repacked) are
# allocated once or twice each, not per chunk as in a backup: mapped and unmapped, they go back to the
# system when freed instead of staying in the heap (measured: 200 → 120 MB peak for a million blobs).
PRUNE_MALLOC = 1 << 20


@click.command("prune", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option("--dry-run", is_flag=True, help="Show what would be marked, deleted and repacked.")
@click.option(
    "--repack-below",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Repack packs whose live fraction is below this.",
)
@click.option(
    "--max-repack-size",
    "max_repack_mib",
    type=click.IntRange(0),
    default=None,
    metavar="MIB",
    help="Repack at most this many MiB of live data in one run.",
)
@click.option(
    "--grace",
    type=DURATION,
    default=format_duration(DEFAULT_GRACE),
    show_default=True,
    help="Delete packs marked by an earlier run once the mark is this old (and no lock from before "
    "it is left). 0: also delete what this run marks, if no other process holds a lock. "
    "DURATION: " + DURATION_HELP,
)
@click.option(
    "--orphan-age",
    type=click.FloatRange(0),
    default=3600.0,
    show_default=True,
    hidden=True,
    help="Seconds before an unindexed pack counts as left by an interrupted backup.",
)
@click.option(
    "--clock-skew",
    type=click.FloatRange(0),
    default=120.0,
    show_default=True,
    hidden=True,
    help="Seconds the clocks of the hosts using the repository may disagree.",
)
@click.option(
    "--reserve-mib",
    type=click.IntRange(0, 1 << 20),
    default=None,
    metavar="MIB",
    help="From now on keep a space reserve of this size (gives a repository made before drkit kept "
    "one a reserve; 0 removes it). Default: as it is.",
)
@click.option("--json", "as_json", is_flag=True)
def prune(  # noqa: PLR0913
    repo_ref: RepoRef,
    dry_run: bool,
    repack_below: float,
    max_repack_mib: int | None,
    grace: float,
    orphan_age: float,
    clock_skew: float,
    reserve_mib: int | None,
    as_json: bool,
) -> None:
    """Remove unreferenced data (after `drkit forget`) in two phases: this run marks unused packs and
    deletes those an earlier run marked, once the grace delay has passed. Backups may run meanwhile.
    A run with nothing new to mark or delete writes nothing: repeated prunes settle. On a full disk it
    runs in the room of the repository's space reserve (`init --reserve-mib`); `--grace 0` frees at once.
    On a terminal a progress line on stderr shows the repack: packs read of their known total, a bar,
    a percentage and an ETA."""
    options = PruneOptions(
        repack_below=repack_below,
        orphan_age=orphan_age,
        dry_run=dry_run,
        grace=grace,
        clock_skew=clock_skew,
        reserve=None if reserve_mib is None else reserve_mib << 20,
        max_repack_bytes=None if max_repack_mib is None else max_repack_mib << 20,
    )
    tune_malloc(trim_threshold=PRUNE_MALLOC, mmap_threshold=PRUNE_MALLOC)
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    with byte_meter("prune: reading snapshots", enabled=not as_json) as meter:
        plan = prune_repository(
            repo,
            options,
            progress=meter.advance if meter else None,
            on_total=functools.partial(_repack_phase, meter) if meter else None,
        )
    if as_json:
        emit_json({"dry_run": dry_run, **asdict(plan)})
        return
    _report(plan, dry_run)


def _repack_phase(meter: Meter, total: int) -> None:
    meter.restart("prune: repack")
    meter.set_total(total)


def _report(plan: PrunePlan, dry_run: bool) -> None:
    for pack_id, until in plan.locked_packs.items():
        click.echo(f"pack {pack_id[:16]} is locked until {until}; kept")
    verb = "would " if dry_run else ""
    click.echo(
        f"{plan.live_blobs} live blobs; {verb}mark {len(plan.delete_packs)} unused and "
        f"{len(plan.orphan_packs)} orphaned packs, {verb}repack {len(plan.repack_packs)} "
        f"({plan.bytes_marked / 1e6:.1f} MB marked)"
    )
    click.echo(
        f"{verb}delete {len(plan.deleted_packs)} packs, {plan.bytes_freed / 1e6:.1f} MB {verb}freed; "
        f"{len(plan.rescued_packs)} marked packs still needed, indexed again; "
        f"{plan.pending_marks} marks pending (grace {format_duration(plan.grace)})"
    )
    for line in plan.waiting:
        click.echo(line)
    if plan.temp_objects:
        click.echo(f"{verb}remove {plan.temp_objects} temp objects left by killed runs")
