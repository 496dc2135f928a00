"""`drkit find PATTERN`: entries of files snapshots matching a glob."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from ..ops.find import Found, Pattern, find
from ..ops.session import open_repository
from ..repository.snapshots import SnapshotFilter
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .filters import snapshot_filter
from .output import emit_json, printable


def _doc(f: Found) -> dict[str, Any]:
    mtime = datetime.fromtimestamp(f.node.mtime_ns / 1e9, UTC).isoformat()
    return {
        "snapshot": f.snapshot.id,
        "path": f.path,
        "type": f.node.type,
        "size": f.node.size,
        "mode": f.node.mode,
        "mtime": mtime,
    }


@click.command("find", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("pattern")
@click.option(
    "--snapshot",
    "refs",
    multiple=True,
    metavar="ID",
    help="Search this snapshot (id prefix or latest; repeatable). Default: every files snapshot.",
)
@click.option("--ignore-case", "-i", is_flag=True)
@snapshot_filter
@click.option("--json", "as_json", is_flag=True)
def find_cmd(
    repo_ref: RepoRef,
    pattern: str,
    refs: tuple[str, ...],
    ignore_case: bool,  # noqa: PLR0913
    snap_filter: SnapshotFilter,
    as_json: bool,
) -> None:
    """Find entries of files snapshots. PATTERN without `/` matches names (`*.conf`); with `/` the whole path,
    segment by segment (`/etc/*/*.conf`), `**` any number of directories (`/srv/**/config.yml`). Quote it."""
    match = Pattern(pattern, ignore_case)
    repo = open_repository(repo_ref.url, repo_ref.secret)
    found = find(repo, match, list(refs), snap_filter)
    if as_json:
        emit_json([_doc(f) for f in found])
        return
    current, count = "", 0
    for f in found:
        if f.snapshot.id != current:
            current = f.snapshot.id
            click.echo(f"snapshot {f.snapshot.short_id} of {f.snapshot.time[:19]} ({f.snapshot.source_name}):")
        doc = _doc(f)
        click.echo(f"  {doc['type']:8} {doc['size']:>12} {doc['mtime'][:19]}  {printable(f.path)}")
        count += 1
    click.echo(f"{count} entries found")
