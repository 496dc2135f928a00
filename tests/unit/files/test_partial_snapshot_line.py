"""The warning for a snapshot of a partial backup reads its stats and meta defensively: a crafted count or list
never hides the warning, nor crashes it."""

from __future__ import annotations

from typing import Any

import pytest

from drkit.core.errors import PartialRestore
from drkit.repository.snapshots import Snapshot
from drkit.sources.files import RestoreStats
from drkit.sources.files.ops import backup_skipped, raise_if_partial_restore, skipped_line


def _snap(stats: dict[str, Any], meta: dict[str, Any] | None = None) -> Snapshot:
    return Snapshot(
        source_kind="files",
        source_name="src",
        root={"type": "tree", "tree": "00", "paths": ["/src"]},
        stats=stats,
        meta=meta or {},
        id="ab" * 32,
    )


@pytest.mark.parametrize(("count", "expected"), [(0, 0), (2, 2), ("2", 0), (True, 0), (-1, 0), (None, 0)])
def test_the_count_is_an_int_above_zero_or_nothing(count: object, expected: int) -> None:
    assert backup_skipped(_snap({"warnings": count})) == expected


def test_the_line_names_the_recorded_paths_and_how_many_more() -> None:
    snap = _snap({"warnings": 5}, {"backup_skipped": ["/src/a: Input/output error", "/src/b: changed while read"]})
    line = skipped_line(snap)
    assert "skipped or half-read 5 entries (/src/a, /src/b and 3 more)" in line and line.startswith("snapshot abab")
    assert "(" not in skipped_line(_snap({"warnings": 1}, {"backup_skipped": "not a list"})).split("entries")[1]


def test_a_restore_of_it_is_partial_even_when_every_item_restored() -> None:
    with pytest.raises(PartialRestore, match="its backup skipped or half-read 1 entries"):
        raise_if_partial_restore(_snap({"warnings": 1}), RestoreStats())
    raise_if_partial_restore(_snap({"warnings": 0}), RestoreStats())  # a whole snapshot: no error
