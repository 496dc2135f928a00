"""Which --pitr dump a point-in-time restore starts from. By time, the dump must be older than the
target on the *server's* clock (the clock binary-log times use): with drkit's host clock behind the
server's, a dump that drkit saw end before the target can hold changes made after it -- starting
from it would silently restore a later state."""

from __future__ import annotations

from datetime import UTC, datetime

from drkit.repository.snapshots import Snapshot
from drkit.sources.mysql.pitr import Point, _before


def _dump(end_time: str, server_time_after: str | None, file: str = "binlog.000004", pos: int = 900) -> Snapshot:
    binlog: dict[str, object] = {"file": file, "position": pos}
    if server_time_after is not None:
        binlog["server_time_after"] = server_time_after
    return Snapshot(
        source_kind="mysql", source_name="shop", root={"type": "stream"}, end_time=end_time, meta={"binlog": binlog}
    )


TARGET = Point(time=datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC))


def test_time_choice_uses_the_servers_clock() -> None:
    # drkit's clock says 11:59:58, the server's said 12:00:03 when the dump was done: not before noon
    assert not _before(_dump("2026-12-07T11:59:58+00:00", "2026-12-07T12:00:03.000000+00:00"), TARGET)
    # drkit's clock ahead of the server's: the server's time decides the other way too
    assert _before(_dump("2026-12-07T12:00:05+00:00", "2026-12-07T11:59:59.900000+00:00"), TARGET)


def test_a_dump_without_the_servers_time_falls_back_to_its_end_time() -> None:
    assert _before(_dump("2026-12-07T11:59:58+00:00", None), TARGET)
    assert not _before(_dump("2026-12-07T12:00:01+00:00", None), TARGET)


def test_position_choice_compares_log_number_then_position() -> None:
    assert _before(_dump("", None, "binlog.000004", 900), Point.parse_position("binlog.000004:900"))
    assert not _before(_dump("", None, "binlog.000004", 901), Point.parse_position("binlog.000004:900"))
    assert _before(_dump("", None, "binlog.000009", 99999), Point.parse_position("binlog.000010:4"))
