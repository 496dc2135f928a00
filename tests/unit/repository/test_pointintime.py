"""The one rule for picking a snapshot by time (repository/pointintime.py): the newest that had
*finished* by T; one running at T is passed over and named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drkit.repository import pointintime
from drkit.repository.snapshots import Snapshot

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _snap(sid: str, start: int, end: int | None) -> Snapshot:
    at = lambda m: (T0 + timedelta(minutes=m)).isoformat()  # noqa: E731
    return Snapshot(
        id=sid * 8, source_kind="files", source_name="s", root={}, time=at(start), end_time=at(end) if end else ""
    )


def test_the_newest_finished_by_t_and_the_one_running_at_t() -> None:
    a, b, c = _snap("a", 0, 10), _snap("b", 20, 40), _snap("c", 30, 35)
    snaps = [a, b, c]
    at = lambda m: T0 + timedelta(minutes=m)  # noqa: E731
    assert pointintime.finished_by(snaps, at(9)) is None
    assert pointintime.running_at(snaps, at(9), None) is a
    assert pointintime.finished_by(snaps, at(10)) is a  # its end exactly: finished
    assert pointintime.finished_by(snaps, at(25)) is a and pointintime.running_at(snaps, at(25), a) is b
    assert pointintime.finished_by(snaps, at(36)) is c  # b started earlier, still running
    assert pointintime.running_at(snaps, at(36), c) is None  # b started before c: not newer
    assert pointintime.finished_by(snaps, at(40)) is c  # of two finished, the later start
    assert pointintime.running_at(snaps, at(40), c) is None


def test_a_snapshot_without_an_end_time_counts_as_finished_at_its_start() -> None:
    old = _snap("o", 5, None)
    assert pointintime.finished_by([old], T0 + timedelta(minutes=5)) is old


def test_of_equal_starts_the_last_given_wins() -> None:
    first, repair = _snap("f", 0, 1), _snap("r", 0, 1)
    assert pointintime.finished_by([first, repair], T0 + timedelta(minutes=2)) is repair
