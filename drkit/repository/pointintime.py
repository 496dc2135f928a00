"""Which snapshot holds the state at an instant T: the newest one that had *finished* by T.

A snapshot is read over a span of time, from its start (``time``) to its end (``end_time``): a file
tree file by file, a Redis RDB at some instant Redis forked for it, a dump within its transaction.
Only one that ended by T was read wholly at or before T; one still being taken at T may hold what
was written after T, so it is never taken for the state at T (``running_at`` names it: its ID
restores it). One rule for every source that picks a snapshot by time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from ..core.timespec import format_time
from .snapshots import Snapshot


def started(snap: Snapshot) -> datetime:
    return _aware(snap.time)


def finished(snap: Snapshot) -> datetime:
    """When every byte of ``snap`` had been read: its end (its start, for one that recorded none)."""
    return _aware(snap.end_time or snap.time)


def finished_by(snaps: Iterable[Snapshot], when: datetime) -> Snapshot | None:
    """The newest (by start) of ``snaps`` that had finished at or before ``when``; None: none had.
    Of equal starts, the last in the given order (``load_all``'s: a repair after its original)."""
    done = sorted((s for s in snaps if finished(s) <= when), key=started)  # stable
    return done[-1] if done else None


def running_at(snaps: Iterable[Snapshot], when: datetime, chosen: Snapshot | None) -> Snapshot | None:
    """The newest of ``snaps`` still being taken at ``when`` and started after ``chosen``: the one a
    restore at ``when`` passes over (None: none)."""
    running = sorted(
        (s for s in snaps if started(s) <= when < finished(s) and (chosen is None or started(s) > started(chosen))),
        key=started,
    )
    return running[-1] if running else None


def running_line(snap: Snapshot, point_in_time: str) -> str:
    """One line naming the snapshot ``running_at`` found, passed over at ``point_in_time``."""
    start, end = format_time(started(snap)), format_time(finished(snap))
    return (
        f"snapshot {snap.short_id} was still being taken at {point_in_time} (from {start} to {end}): it may hold "
        f"later changes, so it is not used; give its ID {snap.short_id} to restore it"
    )


def _aware(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)
