"""`drkit forget`: remove snapshots a retention policy does not keep."""

from __future__ import annotations

from dataclasses import asdict

import click

from ..core.durations import Duration
from ..ops.session import open_repository
from ..repository.snapshots import Snapshot, SnapshotFilter
from ..retention.forget import ForgetResult
from ..retention.forget import forget as forget_snapshots
from ..retention.policy import Policy
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .filters import snapshot_filter
from .output import emit_json
from .params import SPAN, SPAN_HELP


def _echo_archives(result: ForgetResult) -> None:
    """What the WAL archive and the AOF archive keep and lose with the snapshots."""
    verb = "would remove" if result.dry_run else "removed"
    wal, aof = result.wal, result.aof
    if wal is not None and (wal.removed or wal.locked):
        click.echo(f"WAL archive: {verb} {len(wal.removed)} files that end before {wal.horizon} (start of the "
                   f"oldest base backup kept); {wal.kept} kept")
        for name, until in wal.locked.items():
            click.echo(f"WAL file {name} is locked until {until}; kept")
    if aof is not None and (aof.removed or aof.locked):
        click.echo(f"AOF archive: {verb} {len(aof.removed)} segments older than every Redis snapshot kept; "
                   f"{aof.kept} kept")


def _policy(keep: dict[str, int], within: Duration | None, tags: tuple[str, ...]) -> Policy:
    return Policy(**keep, keep_within=within, keep_tags=frozenset(tags))


@click.command("forget", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option("--keep-last", type=click.IntRange(0), default=0)
@click.option("--keep-hourly", type=click.IntRange(0), default=0)
@click.option("--keep-daily", type=click.IntRange(0), default=0)
@click.option("--keep-weekly", type=click.IntRange(0), default=0)
@click.option("--keep-monthly", type=click.IntRange(0), default=0)
@click.option("--keep-yearly", type=click.IntRange(0), default=0)
@click.option("--keep-within", type=SPAN, default=None,
              help="Keep every snapshot taken within DURATION before the newest one: " + SPAN_HELP)
@click.option("--keep-tag", "keep_tags", multiple=True)
@snapshot_filter
@click.option("--dry-run", is_flag=True, help="Show what would be removed and why the rest is kept.")
@click.option("--json", "as_json", is_flag=True)
def forget(repo_ref: RepoRef, keep_within: Duration | None, keep_tags: tuple[str, ...], snap_filter: SnapshotFilter,
           dry_run: bool, as_json: bool, **keep: int) -> None:
    """Remove the snapshots the policy does not keep (each kept one says which rule keeps it).
    Data is freed by `drkit prune`."""
    policy = _policy(keep, keep_within, keep_tags)
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    result = forget_snapshots(repo, policy, source_kind=snap_filter.source_kind, dry_run=dry_run, match=snap_filter)
    if as_json:
        emit_json({"dry_run": dry_run, "locked": result.locked, "wal": result.wal and asdict(result.wal),
                   "aof_archive": result.aof and asdict(result.aof), "decisions": [
            {"id": d.snapshot.id, "time": d.snapshot.time, "keep": d.keep, "reasons": d.reasons}
            for d in result.decisions]})
        return
    for d in result.decisions:
        snap = d.snapshot
        assert isinstance(snap, Snapshot)
        verdict = "keep  " if d.keep else ("would remove" if dry_run else "remove")
        click.echo(f"{verdict:12} {snap.short_id}  {snap.time[:19]}  {snap.source_kind}:{snap.source_name}"
                   f"  {'; '.join(d.reasons)}")
    for snap_id, until in result.locked.items():
        click.echo(f"snapshot {snap_id[:8]} is locked until {until}; kept")
    _echo_archives(result)
    click.echo(f"{len(result.removed)} snapshots {'would be ' if dry_run else ''}removed, "
               f"{len(result.decisions) - len(result.removed)} kept")
