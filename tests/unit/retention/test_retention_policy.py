from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from drkit.core.durations import parse_calendar_duration
from drkit.core.errors import UsageError
from drkit.retention.policy import Policy, select


@dataclass
class Snap:
    id: str
    time: str
    host: str = "h"
    source_kind: str = "stdin"
    source_name: str = "db"
    tags: list[str] = field(default_factory=list)


def hourly(n: int, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> list[Snap]:
    return [Snap(f"s{i:04d}", (start + timedelta(hours=i)).isoformat()) for i in range(n)]


def kept(decisions) -> set[str]:  # type: ignore[no-untyped-def]
    return {d.snapshot.id for d in decisions if d.keep}


def test_empty_policy_keeps_everything() -> None:
    assert kept(select(hourly(5), Policy())) == {f"s{i:04d}" for i in range(5)}


def test_keep_last() -> None:
    decisions = select(hourly(10), Policy(keep_last=3))
    assert kept(decisions) == {"s0009", "s0008", "s0007"}
    reasons = {d.snapshot.id: d.reasons for d in decisions}
    assert reasons["s0009"] == ["last 1 of 3"] and reasons["s0006"] == []


def test_keep_daily_keeps_newest_of_each_day() -> None:
    snaps = hourly(24 * 5)  # five days, hourly
    assert kept(select(snaps, Policy(keep_daily=3))) == {"s0119", "s0095", "s0071"}


def test_weekly_monthly_yearly_and_union_with_reasons() -> None:
    snaps = [Snap(f"d{i:03d}", (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=i)).isoformat()) for i in range(400)]
    decisions = select(snaps, Policy(keep_last=1, keep_weekly=2, keep_monthly=2, keep_yearly=2))
    ids = kept(decisions)
    newest = "d399"  # 2026-02-04
    assert newest in ids
    by_id = {d.snapshot.id: d for d in decisions}
    assert set(by_id[newest].reasons) >= {"last 1 of 1", "weekly 1 of 2", "monthly 1 of 2", "yearly 1 of 2"}
    assert by_id["d396"].reasons == ["weekly 2 of 2"]  # Sunday 2026-02-01 ends the previous ISO week
    assert by_id["d395"].reasons == ["monthly 2 of 2"]  # Saturday 2026-01-31, newest of January
    assert by_id["d364"].reasons == ["yearly 2 of 2"]  # 2025-12-31
    assert ids == {"d399", "d396", "d395", "d364"}


def test_keep_within_and_tags_and_groups() -> None:
    snaps = hourly(48) + [Snap("other", datetime(2026, 1, 1, tzinfo=UTC).isoformat(), host="h2")]
    snaps[0].tags = ["keep-forever"]
    ids = kept(select(snaps, Policy(keep_within=parse_calendar_duration("6h"), keep_tags=frozenset({"keep-forever"}))))
    assert ids == {"s0000", "other"} | {f"s{i:04d}" for i in range(41, 48)}


@pytest.mark.parametrize(
    "text, start",
    [
        ("7d", datetime(2026, 3, 24, 12, tzinfo=UTC)),
        ("36h", datetime(2026, 3, 30, tzinfo=UTC)),
        ("1mo", datetime(2026, 2, 28, 12, tzinfo=UTC)),
        ("1y2d4h", datetime(2025, 3, 29, 8, tzinfo=UTC)),
    ],
)
def test_keep_within_counts_back_on_the_calendar(text: str, start: datetime) -> None:
    """`1mo` before 31 March is 28 February (a calendar month, as in restic), not 30 days before."""
    newest = datetime(2026, 3, 31, 12, tzinfo=UTC)
    snaps = [
        Snap("new", newest.isoformat()),
        Snap("edge", start.isoformat()),
        Snap("old", (start - timedelta(seconds=1)).isoformat()),
    ]
    assert kept(select(snaps, Policy(keep_within=parse_calendar_duration(text)))) == {"new", "edge"}


def test_parse_duration_rejects_garbage() -> None:
    for text in ("soon", "2m", "7"):
        with pytest.raises(UsageError):
            parse_calendar_duration(text)
