"""`drkit repair …`: rebuild what a damaged repository needs to back up and restore again."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from ..core.errors import IntegrityError
from ..ops.session import open_repository
from ..repository.repair import RepairReport, repair_index
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .output import emit_json

if TYPE_CHECKING:
    from ..ops.repair_snapshots import SnapshotRepairReport


@click.group("repair", epilog=EXIT_CODES_EPILOG)
def repair() -> None:
    """Repair a damaged repository (see docs/repository-safety.md)."""


@repair.command("index", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option("--dry-run", is_flag=True, help="Read the pack headers and report; write and delete nothing.")
@click.option(
    "--read-data",
    is_flag=True,
    help="Read every pack whole and verify each blob, even a pack an intact old index object vouches for; "
    "blobs that fail are left out of the index (use it after `drkit check --read-data` found damage).",
)
@click.option("--json", "as_json", is_flag=True)
def repair_index_cmd(repo_ref: RepoRef, dry_run: bool, read_data: bool, as_json: bool) -> None:
    """Rebuild the index from the packs' own headers, when index objects are lost, damaged, or name
    packs the storage lost (backups then fail with exit 13 and point here). Writes the new index,
    then removes the old index objects; takes an exclusive lock (no backup may run meanwhile).
    A pack read whole (one no intact old index object vouches for; every pack with --read-data) is
    hashed against its name and each of its blobs verified: a blob that fails is left out of the index
    and listed as dropped (exit 13); so are the blobs of a pack whose header is damaged, as an intact old
    index object lists them (without --read-data they are kept unverified). Blobs of a lost pack stay
    missing: `drkit check` names the snapshots that need them, and the next backup of the same data
    stores them anew."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    report = repair_index(repo, dry_run=dry_run, read_data=read_data)
    if as_json:
        emit_json(asdict(report))
        _raise_if_damaged(report)
        return
    for line in report.damaged_packs:
        click.echo(f"damaged: {line}", err=True)
    for line in report.dropped_blobs:
        click.echo(f"dropped: {line}", err=True)
    for pack_id in report.kept_from_index:
        click.echo(
            f"pack {pack_id[:16]}: entries kept from an intact old index object "
            "(`drkit check --read-data` verifies its blobs)",
            err=True,
        )
    verb = "would write" if dry_run else "wrote"
    click.echo(
        f"{report.packs_indexed} packs ({report.blobs_indexed} blobs) indexed from their headers; "
        f"{verb} {len(report.written)} index objects, {'would remove' if dry_run else 'removed'} "
        f"{len(report.removed)} old ones; {report.pending_packs} packs left to pending prune marks"
    )
    for index_id in report.superseded:
        click.echo(f"index object {index_id[:16]} is under object lock: named superseded, readers skip it")
    _raise_if_damaged(report)


def _raise_if_damaged(report: RepairReport) -> None:
    """The index is rebuilt either way; damaged packs are damage found (exit 13), not a clean repair."""
    if report.damaged_packs:
        n, first = len(report.damaged_packs), report.damaged_packs[0]
        what = f"{n} damaged or misnamed packs" if report.dry_run else f"index rebuilt; {n} damaged or misnamed packs"
        raise IntegrityError(
            f"{what}; first: {first}",
            hint="`drkit check` names the snapshots that need their blobs; a new backup of the "
            "same data stores dropped or missing blobs anew",
        )


@repair.command("snapshots", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("snapshot_ids", nargs=-1, metavar="[ID]...")
@click.option(
    "--forget",
    "forget_originals",
    is_flag=True,
    help="Remove the original of each snapshot repaired (never a stream snapshot left unrepaired).",
)
@click.option(
    "--read-data",
    is_flag=True,
    help="Also read and verify every data blob (finds damage inside stored packs; reads all the data).",
)
@click.option("--dry-run", is_flag=True, help="Report what would be dropped; write and remove nothing.")
@click.option("--json", "as_json", is_flag=True)
def repair_snapshots_cmd(
    repo_ref: RepoRef,
    snapshot_ids: tuple[str, ...],
    forget_originals: bool,
    read_data: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Write new snapshots without the damaged parts of files snapshots (default: every snapshot): a
    directory or file that needs missing or damaged data is dropped whole (never truncated), the new
    snapshot is tagged `repaired` and records the original's id and the dropped paths. A stream snapshot
    (PostgreSQL, Redis, stdin) cannot be repaired: it is reported and left (`drkit forget ID` removes
    it). Run `drkit repair index` first when index objects are damaged. Exit 13 while any snapshot
    stays unrepairable."""
    from ..ops.repair_snapshots import repair_snapshots
    from ..retention.forget_ids import forget_ids

    repo = open_repository(repo_ref.url, repo_ref.secret)
    report = repair_snapshots(repo, snapshot_ids, dry_run=dry_run, read_data=read_data)
    originals = [o.snapshot.id for o in report.of("repaired")]
    kept: dict[str, str] = {}  # original id → until when its object lock keeps it
    if forget_originals and originals and not dry_run:
        kept = {n.id: n.locked_until for n in forget_ids(repo, originals).named if n.locked_until is not None}
    if as_json:
        emit_json(
            {
                "dry_run": dry_run,
                "forgot_originals": forget_originals and not dry_run and not kept,
                "originals_kept": [{"id": i, "locked_until": until} for i, until in kept.items()],
                "unreadable": report.unreadable,
                "snapshots": [
                    {
                        "id": o.snapshot.id,
                        "status": o.status,
                        "dropped": o.dropped,
                        "reason": o.reason,
                        "new_id": o.new_id,
                    }
                    for o in report.outcomes
                ],
            }
        )
    else:
        _echo_snapshot_repairs(report, forget_originals, kept)
    _raise_if_unrepairable(report)


def _echo_snapshot_repairs(report: SnapshotRepairReport, forgot: bool, kept: dict[str, str]) -> None:
    for o in report.of("repaired"):
        made = f"-> {o.new_id[:8]} (tagged repaired)" if o.new_id else "(dry run: nothing written)"
        click.echo(f"repaired     {o.snapshot.short_id}  {o.snapshot.time[:19]}  {len(o.dropped)} dropped  {made}")
        for line in o.dropped[:20]:
            click.echo(f"  dropped {line}")
        if len(o.dropped) > 20:
            click.echo(f"  … and {len(o.dropped) - 20} more (--json lists them)")
    for o in report.of("unrepairable"):
        click.echo(
            f"unrepairable {o.snapshot.short_id}  {o.snapshot.time[:19]}  {o.snapshot.source_kind}: {o.reason}; "
            f"left as it is (`drkit forget {o.snapshot.short_id}` removes it)",
            err=True,
        )
    for key in report.unreadable:
        click.echo(f"unreadable   {key}: left as it is (`drkit forget ID` removes it)", err=True)
    for original, until in kept.items():
        click.echo(
            f"warning: original {original[:8]} could not be removed: it is locked until {until} (object "
            f"lock, immutable repository); `drkit forget {original[:8]}` removes it after that",
            err=True,
        )
    verb = "would write" if report.dry_run else "wrote"
    removed = len(report.of("repaired")) - len(kept)
    gone = ""
    if forgot and not report.dry_run and report.of("repaired"):
        gone = "; originals removed" if not kept else f"; {removed} originals removed, {len(kept)} kept (locked)"
    click.echo(
        f"{len(report.outcomes)} snapshots checked: {len(report.of('intact'))} intact, "
        f"{verb} {len(report.of('repaired'))} repaired{gone}, "
        f"{len(report.of('unrepairable')) + len(report.unreadable)} unrepairable"
    )


def _raise_if_unrepairable(report: SnapshotRepairReport) -> None:
    left = [o.snapshot.short_id for o in report.of("unrepairable")]
    left += [key.rsplit("/", 1)[-1][:8] for key in report.unreadable]
    if left:
        raise IntegrityError(
            f"{len(left)} damaged snapshots cannot be repaired: {', '.join(left[:10])}",
            hint="restore what the data allows, or remove them with `drkit forget ID`",
        )
