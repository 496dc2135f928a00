"""The system's verified recovery point from the newest heartbeat of each restored component: the oldest of
them (every component holds at least that instant), unproven when one component has none; the skew is their
spread. And the skew check of a system restore: a component further than allowed before T refuses it (exit 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drkit.jobs.system_heartbeat import Heartbeats
from drkit.jobs.system_plan import ComponentPlan, SkewTooLarge
from drkit.jobs.system_restore import check_skew

T = datetime(2026, 12, 7, 8, 0, 0, 500000, tzinfo=UTC)


def test_the_verified_point_is_the_oldest_newest_heartbeat() -> None:
    beats = Heartbeats({"db": T, "cache": T - timedelta(seconds=2), "files": T - timedelta(seconds=30)})
    assert beats.verified_point == T - timedelta(seconds=30)
    assert beats.skew_seconds == 30.0


def test_one_component_without_a_heartbeat_leaves_the_point_unproven() -> None:
    beats = Heartbeats({"db": T, "files": None})
    assert beats.verified_point is None and beats.skew_seconds is None
    assert Heartbeats({}).verified_point is None


def test_the_skew_check_names_each_component_too_far_before_the_target() -> None:
    plans = [
        ComponentPlan(job="db", kind="postgres", point=T, how="wal"),
        ComponentPlan(job="cache", kind="redis", point=T.replace(microsecond=0), how="aof"),
        ComponentPlan(job="files", kind="files", point=T - timedelta(minutes=5), how="snap"),
    ]
    check_skew("shop", plans, T, 300.0)  # exactly the allowance: accepted
    with pytest.raises(SkewTooLarge) as err:
        check_skew("shop", plans, T, 1.0)
    assert err.value.exit_code == 15
    assert "files (files) reaches 2026-12-07T07:55:00.500000Z, 300 s before" in err.value.message
    assert "cache" not in err.value.message and "db" not in err.value.message
