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
    rows = [
        (
            s.short_id,
            format_time(datetime.fromisoformat(s.time)),
            s.host,
            ",".join(s.tags),  # time with its
            f"{s.source_kind}:{s.source_name}",
            _human(snapshot_size(s)),
        )
        for s in found
    ]  # zone: --point-in-time
    header = ("ID", "TIME", "HOST", "TAGS", "SOURCE", "SIZE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)] + [row[-1].rjust(widths[-1])]
        click.echo("  ".join(cells).rstrip())
    click.echo(f"{len(found)} snapshots")


def snapshot_size(snap: snaps.Snapshot) -> int | None:
    """Bytes a restore of ``snap`` gives: a stream's size, a bundle's parts', a files snapshot's files'."""
    root = snap.root
    if root.get("type") == "bundle" and isinstance(root.get("parts"), dict):
        sizes = [p.get("size") for p in root["parts"].values() if isinstance(p, dict)]
        ints = [x for x in sizes if isinstance(x, int)]
        return sum(ints) if sizes and len(ints) == len(sizes) else None
    size = root.get("size") if "size" in root else snap.stats.get("total_bytes")
    return size if isinstance(size, int) else None


def _human(size: int | None) -> str:
    if size is None:
        return "?"
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):  # noqa: B007 - the last one is kept
        if value < 1024 or unit == "PiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
