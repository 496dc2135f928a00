"""`drkit repair …`: rebuild what a damaged repository needs to back up and restore again."""

from __future__ import annotations

from dataclasses import asdict

import click

from ..core.errors import IntegrityError
from ..ops.session import open_repository
from ..repository.repair import RepairReport, repair_index
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .output import emit_json


@click.group("repair", epilog=EXIT_CODES_EPILOG)
def repair() -> None:
    """Repair a damaged repository (see docs/repository-safety.md)."""


@repair.command("index", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option("--dry-run", is_flag=True, help="Read the pack headers and report; write and delete nothing.")
@click.option("--json", "as_json", is_flag=True)
def repair_index_cmd(repo_ref: RepoRef, dry_run: bool, as_json: bool) -> None:
    """Rebuild the index from the packs' own headers, when index objects are lost, damaged, or name
    packs the storage lost (backups then fail with exit 13 and point here). Writes the new index,
    then removes the old index objects; takes an exclusive lock (no backup may run meanwhile).
    Blobs of a lost or damaged pack stay missing: `drkit check` names the snapshots that need them,
    and the next backup of the same data stores it anew."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    report = repair_index(repo, dry_run=dry_run)
    if as_json:
        emit_json(asdict(report))
        _raise_if_damaged(report)
        return
    for line in report.damaged_packs:
        click.echo(f"damaged: {line}", err=True)
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
        what = f"{n} damaged packs would be left out" if report.dry_run else f"index rebuilt without {n} damaged packs"
        raise IntegrityError(f"{what}; first: {first}", hint="`drkit check` names the snapshots that need their blobs")
