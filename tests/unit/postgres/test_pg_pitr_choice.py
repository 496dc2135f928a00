"""Choosing a base backup for a recovery target; recovery settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from drkit.core.errors import UsageError
from drkit.repository.snapshots import Snapshot
from drkit.sources.postgres.errors import TargetUnreachable
from drkit.sources.postgres.pitr import Target, choose_base, parse_time, recovery_settings
from drkit.sources.postgres.wal import Window, parse_lsn

SEG = 16 << 20


def _base(sid: str, stop_time: str, stop_lsn: str) -> Snapshot:
    return Snapshot(
        source_kind="postgres",
        source_name="c",
        root={},
        id=sid,
        meta={"mode": "physical", "stop_time": stop_time, "stop_lsn": stop_lsn, "start_lsn": stop_lsn},
    )


BASES = [
    _base("a" * 64, "2026-11-22T08:00:00+00:00", "0/3000000"),
    _base("b" * 64, "2026-11-22T12:00:00+00:00", "0/9000000"),
]


def _win(s: Snapshot) -> Window:
    return Window(
        start_lsn=parse_lsn(s.meta["start_lsn"]),
        stop_lsn=parse_lsn(s.meta["stop_lsn"]),
        end_lsn=0x20000000,
        last_segment=None,
        end_time=datetime(2026, 11, 22, 14, tzinfo=UTC),
    )


def test_time_target_picks_newest_base_ending_before() -> None:
    assert choose_base(BASES, Target("time", "2026-11-22 10:00:00+00"), _win).id == "a" * 64
    assert choose_base(BASES, Target("time", "2026-11-22 13:00:00Z"), _win).id == "b" * 64
    with pytest.raises(TargetUnreachable, match="older than every base backup"):
        choose_base(BASES, Target("time", "2026-11-22 07:00:00+00"), _win)
    with pytest.raises(TargetUnreachable, match="beyond the archived WAL"):
        choose_base(BASES, Target("time", "2026-11-22 15:00:00+00"), _win)


def test_lsn_target_checks_archive_end() -> None:
    assert choose_base(BASES, Target("lsn", "0/5000000"), _win).id == "a" * 64
    with pytest.raises(TargetUnreachable, match="beyond the archived WAL"):
        choose_base(BASES, Target("lsn", "1/0"), _win)


def test_no_base_backup_is_clear() -> None:
    with pytest.raises(TargetUnreachable, match="no physical"):
        choose_base([], Target(), _win)


def test_times_need_a_zone() -> None:
    with pytest.raises(UsageError):
        parse_time("2026-11-22 10:00:00")
    assert parse_time("2026-11-22 10:00:00+01").utcoffset() is not None


def test_settings() -> None:
    s = recovery_settings(Target("name", "before-upgrade"), "drkit pg wal-fetch %f %p")
    assert s["recovery_target_name"] == "before-upgrade" and s["recovery_target_action"] == "promote"
    assert s["archive_mode"] == "off"
    assert "recovery_target_action" not in recovery_settings(Target(), "x", keep_archiving=True)


def test_recovery_target_time_is_written_the_way_postgresql_reads_it() -> None:
    """PostgreSQL refuses `recovery_target_time = '...Z'` at start-up: it gets a numeric UTC offset."""
    for spelling in (
        "2026-12-06T23:59:03.867949Z",
        "2026-12-07 00:59:03.867949+01:00",
        "2026-12-06T23:59:03.867949+0000",
    ):
        s = recovery_settings(Target("time", spelling), "drkit pg wal-fetch %f %p")
        assert s["recovery_target_time"] == "2026-12-06 23:59:03.867949+00"
