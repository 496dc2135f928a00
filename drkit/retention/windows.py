"""What forgetting snapshots does to the point-in-time windows (pure).

Archived WAL follows the PostgreSQL base backups kept and archived AOF the Redis snapshots kept
(``forget``): when the oldest base backup (or Redis snapshot) of a source goes, the earliest instant
that source can be recovered to moves forward, and the archive before it is removed. When the last
one goes, point-in-time recovery of that source is no longer possible at all (its archive is kept,
like WAL before a first base backup). Each note says which, per source, in one line. Which snapshots
start a window, and from when, each kind says (the registry's ``HasRecoveryWindow``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..repository.snapshots import Snapshot
from ..sources.registry import HasRecoveryWindow, kind_names, source_kind

Kind = tuple[str, HasRecoveryWindow]  # a kind's name, and the kind


def _oldest(snaps: Sequence[Snapshot], kind: Kind, name: str) -> Snapshot | None:
    found = [s for s in _starts(snaps, kind) if s.source_name == name]
    return min(found, key=lambda s: (s.time, s.id)) if found else None


def _starts(snaps: Sequence[Snapshot], kind: Kind) -> list[Snapshot]:
    """The kind's snapshots that start a window."""
    return [s for s in snaps if s.source_kind == kind[0] and kind[1].window_start(s) is not None]


def _windowed(snaps: Sequence[Snapshot]) -> list[Kind]:
    """The kinds of ``snaps`` that have windows, by name (a snapshot kind no plugin registers has none)."""
    names = sorted({s.source_kind for s in snaps} & set(kind_names()))
    return [(name, kind) for name in names if isinstance(kind := source_kind(name), HasRecoveryWindow)]


def window_notes(before: Sequence[Snapshot], after: Sequence[Snapshot]) -> list[str]:
    """One line per source whose point-in-time window changes when ``before`` becomes ``after``."""
    notes = []
    for kind in _windowed(before):
        label, what, start_of = kind[1].window_label, kind[1].window_unit, kind[1].window_start
        for name in sorted({s.source_name for s in _starts(before, kind)}):
            was = _oldest(before, kind, name)
            now = _oldest(after, kind, name)
            assert was is not None
            start = str(start_of(was))[:19]
            if now is None:
                notes.append(
                    f"{label} {name}: no {what} left: point-in-time recovery of this source is no longer "
                    f"possible (was from {start}, {what} {was.short_id}; its archive is kept)"
                )
            elif now.id != was.id:
                notes.append(
                    f"{label} {name}: the point-in-time window now starts at {str(start_of(now))[:19]} "
                    f"({what} {now.short_id}), was {start} ({what} {was.short_id}); the archive before it "
                    "is removed"
                )
    return notes
