"""Apply a retention policy: delete the manifests of the snapshots it does not keep.

Forgetting removes only snapshot manifests; the data they referenced stays until ``prune`` removes
what no remaining snapshot needs. It holds a maintenance lock (no other forget or prune runs, backups
may), and writes a tombstone with the forgotten snapshots' roots before deleting them: a running
backup may have read one as its parent, and prune keeps their data while it may (FORMAT.md §13). In
an immutable repository a snapshot whose manifest is still under retention (object lock) is kept,
and the decision says until when.

Point-in-time material follows the snapshots kept: of every continuous-log archive a source plugin
declares (``sources.archives``: WAL, AOF, binary logs …) what no kept snapshot needs is removed after
the snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..repository import snapshots as snaps
from ..repository.format import snapshot_key
from ..repository.immutability import Trimming, when
from ..repository.marks import write_tombstone
from ..repository.repo import Repository
from ..sources.archives import held_snapshots, plan_archives, remove_archives
from .policy import Decision, Policy, select
from .windows import window_notes


@dataclass(kw_only=True)
class ForgetResult:
    decisions: list[Decision]
    dry_run: bool
    locked: dict[str, str] = field(default_factory=dict)  # snapshot id → retention end (kept)
    archives: dict[str, Trimming] = field(default_factory=dict)  # archive label → its plan (sources.archives)
    windows: list[str] = field(default_factory=list)  # point-in-time windows that change (windows.py)

    @property
    def removed(self) -> list[Decision]:
        return [d for d in self.decisions if not d.keep]


def _hold_locked(repo: Repository, result: ForgetResult) -> None:
    """A snapshot the policy drops but whose manifest is locked is kept, with the reason."""
    for d in result.removed:
        until = repo.locked_until(snapshot_key(d.snapshot.id))
        if until is not None:
            d.keep, d.reasons = True, [f"locked until {when(until)}"]
            result.locked[d.snapshot.id] = when(until)


def _hold_needed(result: ForgetResult, every: list[snaps.Snapshot]) -> None:
    """A snapshot the policy drops that a kept one replays in its point-in-time window (an archive's
    older form: a log stored as a snapshot, in a group of its own) is kept, with the reason."""
    gone = {d.snapshot.id for d in result.removed}
    held = held_snapshots([s for s in every if s.id not in gone], every)
    for d in result.removed:
        if d.snapshot.id in held:
            d.keep, d.reasons = True, ["needed by a kept snapshot's point-in-time window"]


def forget(
    repo: Repository,
    policy: Policy,
    *,
    source_kind: str | None = None,
    source_name: str | None = None,
    dry_run: bool = False,
    match: snaps.SnapshotFilter | None = None,
) -> ForgetResult:
    """Decide for every snapshot (optionally of one source kind or name, or those ``match`` selects); delete
    the forgotten ones."""
    with repo.lock(maintenance=not dry_run, purpose="forget"):
        every = snaps.load_all(repo.manifests)
        found = [
            s
            for s in every
            if source_kind in (None, s.source_kind)
            and source_name in (None, s.source_name)
            and (not match or match.matches(s))
        ]
        result = ForgetResult(decisions=select(found, policy), dry_run=dry_run)
        _hold_locked(repo, result)
        _hold_needed(result, every)
        gone = {d.snapshot.id for d in result.removed}
        kept = [s for s in every if s.id not in gone]
        result.windows = window_notes(every, kept)
        result.archives = plan_archives(repo, kept, lambda kind: source_kind in (None, kind))
        if not dry_run:
            if gone:  # the tombstone first: prune must see the roots as long as a backup may use them
                write_tombstone(repo.manifests, [(s.id, s.root) for s in every if s.id in gone])
            for snap_id in gone:  # snapshots first: an interruption leaves extra log, never a snapshot without it
                repo.manifests.delete(snaps.KIND, snap_id)
            remove_archives(repo, result.archives)
    return result
