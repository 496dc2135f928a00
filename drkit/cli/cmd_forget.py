"""`drkit forget`: remove snapshots a retention policy does not keep, or the snapshots named by id."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from ..core.durations import Duration
from ..core.errors import UsageError
from ..ops.session import open_repository
from ..repository.snapshots import Snapshot, SnapshotFilter
from ..retention.forget import ForgetResult
from ..retention.forget import forget as forget_snapshots
from ..retention.forget_ids import ForgetIdsResult, forget_ids
from ..retention.policy import Policy
from ..sources.archives import archive_specs, forget_lines
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .filters import snapshot_filter
from .output import emit_json
from .params import SPAN, SPAN_HELP


def _echo_archives(result: ForgetResult | ForgetIdsResult) -> None:
    """What each continuous-log archive (WAL, AOF, binary logs …) keeps and loses with the snapshots."""
    verb = "would remove" if result.dry_run else "removed"
    for spec in archive_specs():
        plan = result.archives.get(spec.label)
        for line in forget_lines(spec, plan, verb) if plan is not None else []:
            click.echo(line)


def _archives_json(result: ForgetResult | ForgetIdsResult) -> dict[str, Any]:
    """Each archive's plan under its key (``wal``, ``aof_archive`` …; null: its source kind not considered)."""
    return {
        spec.forget_as: asdict(result.archives[spec.label]) if spec.label in result.archives else None
        for spec in archive_specs()
    }


def _echo_windows(notes: list[str]) -> None:
    for note in notes:
        click.echo(f"point-in-time: {note}")


def _forget_named(repo_ref: RepoRef, ids: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    result = forget_ids(repo, ids, dry_run=dry_run)
    if as_json:
        emit_json(
            {
                "dry_run": dry_run,
                **_archives_json(result),
                "windows": result.windows,
                "snapshots": [
                    {
                        "id": n.id,
                        "removed": n.locked_until is None,
                        "damaged": n.snapshot is None,
                        "locked_until": n.locked_until,
                        "time": n.snapshot and n.snapshot.time,
                        "source": n.snapshot and f"{n.snapshot.source_kind}:{n.snapshot.source_name}",
                    }
                    for n in result.named
                ],
            }
        )
        return
    for n in result.named:
        what = (
            "damaged (unreadable)"
            if n.snapshot is None
            else f"{n.snapshot.time[:19]}  {n.snapshot.source_kind}:{n.snapshot.source_name}"
        )
        verdict = "would remove" if dry_run else "remove"
        if n.locked_until is not None:
            verdict, what = "keep  ", f"{what}  locked until {n.locked_until}"
        click.echo(f"{verdict:12} {n.id[:8]}  {what}")
    _echo_windows(result.windows)
    _echo_archives(result)
    click.echo(
        f"{len(result.removed)} snapshots {'would be ' if dry_run else ''}removed, "
        f"{len(result.named) - len(result.removed)} kept (object lock)"
    )


def _policy(keep: dict[str, Any]) -> Policy:
    """The policy of the --keep-* options (``keep_within``: a Duration, ``keep_tags``: the tags)."""
    within: Duration | None = keep.pop("keep_within")
    tags: tuple[str, ...] = keep.pop("keep_tags")
    return Policy(**keep, keep_within=within, keep_tags=frozenset(tags))


@click.command("forget", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("snapshot_ids", nargs=-1, metavar="[ID]...")
@click.option("--keep-last", type=click.IntRange(0), default=0)
@click.option("--keep-hourly", type=click.IntRange(0), default=0)
@click.option("--keep-daily", type=click.IntRange(0), default=0)
@click.option("--keep-weekly", type=click.IntRange(0), default=0)
@click.option("--keep-monthly", type=click.IntRange(0), default=0)
@click.option("--keep-yearly", type=click.IntRange(0), default=0)
@click.option(
    "--keep-within",
    type=SPAN,
    default=None,
    help="Keep every snapshot taken within DURATION before the newest one: " + SPAN_HELP,
)
@click.option("--keep-tag", "keep_tags", multiple=True)
@snapshot_filter
@click.option("--dry-run", is_flag=True, help="Show what would be removed and why the rest is kept.")
@click.option("--json", "as_json", is_flag=True)
def forget(
    repo_ref: RepoRef,
    snapshot_ids: tuple[str, ...],
    snap_filter: SnapshotFilter,
    dry_run: bool,
    as_json: bool,
    **keep: Any,
) -> None:
    """Remove the snapshots the policy does not keep (each kept one says which rule keeps it; only among
    the snapshots the filter selects), or the snapshots named by ID (unique id prefixes, damaged snapshots
    included; not combined with a policy or a filter). Archived logs follow the snapshots kept (WAL the
    PostgreSQL base backups, AOF the Redis snapshots, binary logs the MySQL --pitr dumps), and a
    point-in-time window that changes is named. Data is freed by
    `drkit prune`. On a full disk both run in the room of the repository's space reserve
    (`init --reserve-mib`)."""
    policy = _policy(keep)
    if snapshot_ids:
        if not policy.is_empty() or snap_filter:
            raise UsageError(
                "give snapshot IDs or a policy (--keep-*) with filters (--source, --host, --tag, --path), not both"
            )
        _forget_named(repo_ref, snapshot_ids, dry_run, as_json)
        return
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    result = forget_snapshots(repo, policy, source_kind=snap_filter.source_kind, dry_run=dry_run, match=snap_filter)
    if as_json:
        emit_json(
            {
                "dry_run": dry_run,
                "locked": result.locked,
                "windows": result.windows,
                **_archives_json(result),
                "decisions": [
                    {"id": d.snapshot.id, "time": d.snapshot.time, "keep": d.keep, "reasons": d.reasons}
                    for d in result.decisions
                ],
            }
        )
        return
    for d in result.decisions:
        snap = d.snapshot
        assert isinstance(snap, Snapshot)
        verdict = "keep  " if d.keep else ("would remove" if dry_run else "remove")
        click.echo(
            f"{verdict:12} {snap.short_id}  {snap.time[:19]}  {snap.source_kind}:{snap.source_name}"
            f"  {'; '.join(d.reasons)}"
        )
    for snap_id, until in result.locked.items():
        click.echo(f"snapshot {snap_id[:8]} is locked until {until}; kept")
    _echo_windows(result.windows)
    _echo_archives(result)
    click.echo(
        f"{len(result.removed)} snapshots {'would be ' if dry_run else ''}removed, "
        f"{len(result.decisions) - len(result.removed)} kept"
    )
