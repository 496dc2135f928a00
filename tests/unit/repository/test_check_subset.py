"""`check --read-data-subset`: the rotating form `today/m` picks group (day mod m) + 1, so a daily
check reads every pack within m days; the fixed and percentage forms are unchanged."""

from __future__ import annotations

import pytest

from drkit.core import clock
from drkit.core.errors import UsageError
from drkit.repository.check import _select, parse_subset

DAY = 86400.0


def test_today_rotates_through_every_group() -> None:
    packs = [f"{i:08x}" + "0" * 56 for i in range(0, 7000, 7)]  # ids spread over the groups
    seen: set[str] = set()
    groups = []
    try:
        for day in range(7):
            clock.set_clock(lambda day=day: 20_000 * DAY + day * DAY + 3600)
            subset = parse_subset("today/7")
            assert subset is not None and subset[0] == "group"
            groups.append(subset[1])
            seen.update(_select(packs, subset))
    finally:
        clock.set_clock(None)
    assert sorted(g[0] for g in groups) == [1, 2, 3, 4, 5, 6, 7]  # type: ignore[index]
    assert seen == set(packs)


def test_fixed_and_bad_subsets() -> None:
    assert parse_subset("2/5") == ("group", (2, 5))
    assert parse_subset("10%") == ("percent", 10.0)
    for bad in ("0/5", "6/5", "today/0", "yesterday/3", "x%", "120%"):
        with pytest.raises(UsageError):
            parse_subset(bad)
