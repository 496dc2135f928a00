"""`drkit check`: verify the repository's structure, and optionally every (or a sample of) blob."""

from __future__ import annotations

import click

from ..core.errors import IntegrityError
from ..core.metrics import write_check_metric
from ..ops.session import open_repository
from ..repository.check import check_repository, parse_subset
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .output import emit_json


@click.command("check", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option("--read-data", is_flag=True, help="Download and verify every blob of every pack.")
@click.option("--read-data-subset", default=None, metavar="N%|n/m", help="Verify only a subset of packs.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--prom-file", default=None, metavar="FILE",
              help="Write drkit_repository_check_success in node_exporter textfile format.")
def check(repo_ref: RepoRef, read_data: bool, read_data_subset: str | None, as_json: bool,  # noqa: PLR0913
          prom_file: str | None) -> None:
    """Check the repository; exit 13 naming every damaged object.

    Junk or damaged key, index, snapshot and other document objects (ones that fail authentication, are
    malformed or are larger than drkit writes) are skipped with a warning by the other commands, which go
    on without them; check lists each one as an error (docs/threat-model.md)."""
    parse_subset(read_data_subset)  # validate before any work
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    with repo.lock(purpose="check"):
        report = check_repository(repo, read_data=read_data or bool(read_data_subset), subset=read_data_subset)
    if prom_file:
        write_check_metric(prom_file, repo.backend.display, ok=report.ok)
    if as_json:
        emit_json({"ok": report.ok, "errors": report.errors, "unreferenced_packs": report.unreferenced_packs,
                   "packs_checked": report.packs_checked, "blobs_checked": report.blobs_checked,
                   "snapshots_checked": report.snapshots_checked})
    else:
        for line in report.errors:
            click.echo(f"error: {line}", err=True)
        if report.unreferenced_packs:
            click.echo(f"{len(report.unreferenced_packs)} unreferenced packs (from interrupted backups; "
                       "`drkit prune` removes them)")
        click.echo(f"{report.snapshots_checked} snapshots, {report.packs_checked} packs and "
                   f"{report.blobs_checked} blobs read: {'no errors' if report.ok else 'ERRORS FOUND'}")
    if not report.ok:
        raise IntegrityError(f"check found {len(report.errors)} errors; first: {report.errors[0]}")
