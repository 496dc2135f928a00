"""window_notes: forgetting the oldest base backup / Redis snapshot of a source moves its point-in-time
window (named, with the new start); the last one ends point-in-time recovery of that source; anything
else (a newer base, a logical dump, another source's snapshot) changes no window."""

from __future__ import annotations

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
