"""What forgetting snapshots does to the point-in-time windows (pure).

Archived WAL follows the PostgreSQL base backups kept and archived AOF the Redis snapshots kept
(``forget``): when the oldest base backup (or Redis snapshot) of a source goes, the earliest instant
that source can be recovered to moves forward, and the archive before it is removed. When the last
one goes, point-in-time recovery of that source is no longer possible at all (its archive is kept,
like WAL before a first base backup). Each note says which, per source, in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..repository.snapshots import Snapshot


def _oldest(snaps: Sequence[Snapshot], kind: str, name: str, pick: Callable[[Snapshot], bool]) -> Snapshot | None:
    found = [s for s in snaps if s.source_kind == kind and s.source_name == name and pick(s)]
    return min(found, key=lambda s: (s.time, s.id)) if found else None


def _from(s: Snapshot) -> str:
    """The earliest instant a snapshot recovers to: a base backup's end (its consistent point)."""
    return str(s.meta.get("stop_time") or s.end_time or s.time) if _is_base(s) else s.time


def _is_base(s: Snapshot) -> bool:
    return s.meta.get("mode") == "physical"


def _any(_s: Snapshot) -> bool:
    return True


_KINDS: tuple[tuple[str, str, str, Callable[[Snapshot], bool]], ...] = (
    ("postgres", "PostgreSQL", "base backup", _is_base),
    ("redis", "Redis", "snapshot", _any),
)


def window_notes(before: Sequence[Snapshot], after: Sequence[Snapshot]) -> list[str]:
    """One line per source whose point-in-time window changes when ``before`` becomes ``after``."""
    notes = []
    for kind, label, what, pick in _KINDS:
        names = sorted({s.source_name for s in before if s.source_kind == kind and pick(s)})
        for name in names:
            was = _oldest(before, kind, name, pick)
            now = _oldest(after, kind, name, pick)
            assert was is not None
            if now is None:
                notes.append(
                    f"{label} {name}: no {what} left: point-in-time recovery of this source is no longer "
                    f"possible (was from {_from(was)[:19]}, {what} {was.short_id}; its archive is kept)"
                )
            elif now.id != was.id:
                notes.append(
                    f"{label} {name}: the point-in-time window now starts at {_from(now)[:19]} ({what} "
                    f"{now.short_id}), was {_from(was)[:19]} ({what} {was.short_id}); the archive before it "
                    "is removed"
                )
    return notes
