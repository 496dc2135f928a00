"""window_notes: forgetting the oldest base backup / Redis snapshot of a source moves its point-in-time
window (named, with the new start); the last one ends point-in-time recovery of that source; anything
else (a newer base, a logical dump, another source's snapshot) changes no window."""

from __future__ import annotations

import pytest

from drkit.repository.snapshots import Snapshot
from drkit.retention.windows import window_notes


def _pg(i: int, mode: str = "physical", name: str = "db") -> Snapshot:
    meta = {"mode": mode, "stop_time": f"2026-01-0{i}T00:05:00+00:00"} if mode == "physical" else {"mode": mode}
    return Snapshot(
        source_kind="postgres",
        source_name=name,
        root={},
        time=f"2026-01-0{i}T00:00:00+00:00",
        meta=meta,
        id=f"{i:02d}" * 32,
    )


def _redis(i: int, name: str = "cache") -> Snapshot:
    return Snapshot(
        source_kind="redis",
        source_name=name,
        root={},
        time=f"2026-01-0{i}T12:00:00+00:00",
        meta={"mode": "aof"},
        id=f"9{i}" * 32,
    )


def test_forgetting_the_oldest_base_moves_the_window() -> None:
    every = [_pg(1), _pg(2), _pg(3, "logical"), _redis(1)]
    [note] = window_notes(every, every[1:])
    assert note.startswith("PostgreSQL db: the point-in-time window now starts at 2026-01-02T00:05:00")
    assert "was 2026-01-01T00:05:00" in note and "0202020" in note


def test_forgetting_the_last_one_ends_point_in_time_recovery() -> None:
    every = [_pg(1), _redis(1), _redis(2)]
    notes = window_notes(every, [])
    assert len(notes) == 2
    assert notes[0].startswith("PostgreSQL db: no base backup left")
    assert notes[1].startswith("Redis cache: no snapshot left") and "no longer possible" in notes[1]


def test_other_forgets_change_no_window() -> None:
    every = [_pg(1), _pg(2), _pg(3, "logical"), _redis(1), _redis(2), _redis(3, "other"), _pg(4, name="other")]
    assert window_notes(every, [s for s in every if s.id not in {_pg(2).id, _pg(3, "logical").id, _redis(2).id}]) == []
    assert window_notes(every, every) == []


def test_windows_are_the_kinds_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Which snapshots start a window is asked of each kind (``HasRecoveryWindow``): a kind without it (mysql
    dumps) and a snapshot kind no plugin registers (stdin) have none; a kind declaring it gets notes in its
    own words, with no change here."""
    from drkit.retention import windows

    dump = Snapshot(
        source_kind="mysql",
        source_name="shop",
        root={},
        time="2026-01-01T00:00:00+00:00",
        meta={"mode": "logical"},
        id="aa" * 32,
    )
    stdin = Snapshot(source_kind="stdin", source_name="x", root={}, time="2026-01-01T00:00:00+00:00", id="bb" * 32)
    assert window_notes([dump, stdin], []) == []

    class Logs:
        window_label, window_unit = "MySQL", "dump"

        def window_start(self, snap: Snapshot) -> str | None:
            return snap.time

    monkeypatch.setattr(windows, "source_kind", lambda name: Logs())
    [note] = window_notes([dump, stdin], [stdin])
    assert note.startswith("MySQL shop: no dump left: point-in-time recovery of this source is no longer possible")
