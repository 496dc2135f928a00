"""Planning runs (repository/runs.py ``plan_runs``): the grouping both restores use."""

from __future__ import annotations

import pytest

from drkit.repository import runs
from drkit.repository.index import Location


def loc(pack: str, offset: int, length: int = 100) -> Location:
    return Location(pack, 0, offset, length, length * 2)


def test_neighbours_share_a_run_and_a_repeat_is_one_blob_with_two_targets() -> None:
    pieces = [(b"a", loc("p1", 0), "f1@0"), (b"b", loc("p1", 100), "f1@200"),
              (b"b", loc("p1", 100), "f1@400"),  # the same blob back to back: read once
              (b"c", loc("p1", 300), "f2@0"),  # a gap of 100 bytes: still read through
              (b"a", loc("p1", 0), "f3@0")]  # seen before, but not back to back: a new run
    planned = list(runs.plan_runs(pieces))
    assert [[(b.id, b.targets) for b in run] for run in planned] == [
        [(b"a", ["f1@0"]), (b"b", ["f1@200", "f1@400"]), (b"c", ["f2@0"])],
        [(b"a", ["f3@0"])],
    ]


@pytest.mark.parametrize(("second", "joined"), [
    (loc("p2", 100), False),  # another pack
    (loc("p1", 100 + runs.MAX_GAP), True),  # a gap of exactly MAX_GAP
    (loc("p1", 100 + runs.MAX_GAP + 1), False),  # one byte more
    (loc("p1", 50), False),  # before the end of the run (out of pack order)
    (loc("p1", 100, runs.MAX_RUN - 100), True),  # the read reaches MAX_RUN exactly
    (loc("p1", 100, runs.MAX_RUN - 99), False),  # one byte past it
])
def test_a_blob_joins_only_close_after_the_run_in_its_pack(second: Location, joined: bool) -> None:
    planned = list(runs.plan_runs([(b"a", loc("p1", 0), 0), (b"b", second, 1)]))
    assert len(planned) == (1 if joined else 2)


def test_no_pieces_no_runs() -> None:
    assert list(runs.plan_runs([])) == []
