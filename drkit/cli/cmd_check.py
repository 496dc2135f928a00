"""`drkit check`: verify the repository's structure, and optionally every (or a sample of) blob."""

from __future__ import annotations

import click

from ..core.errors import IntegrityError
from ..core.metrics import check_registry, push, write_check_metric
from ..ops.check import check as run_check
from ..ops.session import open_repository
from ..repository.check import CheckReport, parse_subset
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .output import byte_meter, emit_json


@click.command("check", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option(
    "--read-data",
    is_flag=True,
    help="Download and verify every blob of every pack, every archived AOF segment and every archived WAL file.",
)
@click.option(
    "--read-data-subset",
    default=None,
    metavar="N%|n/m|today/m",
    help="Verify only a subset of packs, AOF segments and WAL files: a random N%, group n of m, or "
    "today/m (the day picks the group: a daily check reads everything every m days).",
)
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--prom-file",
    default=None,
    metavar="FILE",
    help="Write drkit_repository_check_success in node_exporter textfile format.",
)
@click.option(
    "--pushgateway",
    default=None,
    metavar="URL",
    help="Push drkit_repository_check_success to a Prometheus Pushgateway (a CronJob's pod is not "
    "scraped); a user name in the URL, its password in DRKIT_PUSHGATEWAY_PASSWORD.",
)
def check(
    repo_ref: RepoRef,
    read_data: bool,
    read_data_subset: str | None,
    as_json: bool,  # noqa: PLR0913
    prom_file: str | None,
    pushgateway: str | None,
) -> None:
    """Check the repository; exit 13 naming every damaged object.

    \b
    Always: index, packs, snapshots, archived AOF segment records (their blobs indexed), and the
    WAL archive: no missing segment inside any base backup's recovery window (a gap is an error
    naming the missing segments and the base backups it cuts short).
    With --read-data (or --read-data-subset): every selected pack, archived AOF segment and archived
    WAL file is downloaded, decrypted and verified; damage is named by object (WAL file name; AOF
    file, byte range and source).
    Junk or damaged key, index, snapshot and other document objects (ones that fail authentication, are
    malformed or are larger than drkit writes) are skipped with a warning by the other commands, which
    go on without them; check lists each one as an error (docs/threat-model.md)."""
    parse_subset(read_data_subset)  # validate before any work
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    with repo.lock(purpose="check"), byte_meter("check: packs", enabled=not as_json) as meter:
        report = run_check(
            repo,
            read_data=read_data or bool(read_data_subset),
            subset=read_data_subset,
            progress=meter.advance if meter else None,
            on_total=meter.set_total if meter else None,
            on_wal=(lambda: meter.restart("check: archived WAL")) if meter else None,
        )
    if prom_file:
        write_check_metric(prom_file, repo.backend.display, ok=report.ok)
    if pushgateway:
        registry = check_registry(repo.backend.display, ok=report.ok)
        push(registry, pushgateway, group="repository-check", job="drkit_check")
    if as_json:
        emit_json(
            {
                "ok": report.ok,
                "errors": report.errors,
                "unreferenced_packs": report.unreferenced_packs,
                "packs_checked": report.packs_checked,
                "blobs_checked": report.blobs_checked,
                "snapshots_checked": report.snapshots_checked,
                "documents_checked": report.documents_checked,
                "segments_read": report.segments_read,
                "stale_temp_objects": report.stale_temps,
                "space_reserve": report.reserve and {"bytes": report.reserve.size, "target": report.reserve.target},
            }
        )
    else:
        for line in report.errors:
            click.echo(f"error: {line}", err=True)
        if report.unreferenced_packs:
            click.echo(
                f"{len(report.unreferenced_packs)} unreferenced packs (from interrupted backups; "
                "`drkit prune` removes them)"
            )
        if report.stale_temps:
            click.echo(
                f"{report.stale_temps} temp objects left by killed runs (over an hour old; `drkit prune` removes them)"
            )
        if report.reserve is not None and report.reserve.size < report.reserve.target:
            click.echo(
                f"space reserve holds {report.reserve.size} of {report.reserve.target} bytes (the storage was "
                "full; the next forget or prune with room restores it)"
            )
        click.echo(
            f"{report.snapshots_checked} snapshots, {report.packs_checked} packs, {report.blobs_checked} blobs "
            f"and {report.segments_read} archived WAL files and AOF segments read: "
            f"{'no errors' if report.ok else 'ERRORS FOUND'}"
        )
    if not report.ok:
        raise IntegrityError(f"check found {len(report.errors)} errors; first: {report.errors[0]}", hint=_hint(report))


def _hint(report: CheckReport) -> str:
    if any(mark in e for e in report.errors for mark in ("damaged pack", "does not match its id")):
        return (
            "damaged pack data: `drkit repair index --read-data` leaves the damaged blobs out of the index, then a "
            "new backup of the same data stores them anew (older snapshots restore again once it has); `drkit "
            "repair snapshots` drops what snapshots need and cannot get, `drkit forget ID` removes one"
        )
    return (
        "lost or damaged index objects, or packs missing from the storage: `drkit repair index` rebuilds the index "
        "from the packs; then `drkit repair snapshots` drops what snapshots need and cannot get, `drkit forget ID` "
        "removes one"
    )
