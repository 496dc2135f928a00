"""The fast check of snapshot documents (``snapshots.doc_ok``) against the pydantic model it stands in
for (``snapshot_schema``): for every field, values of every JSON type and malformed times, both must
take the same decision (the fast one must never accept what the model refuses), and a document that
passes gives the same ``Snapshot`` either way."""

from __future__ import annotations

from typing import Any

import pytest

from drkit.core.errors import IntegrityError
from drkit.repository.snapshot_schema import validated
from drkit.repository.snapshots import Snapshot, doc_ok

BASE = {
    "source_kind": "files",
    "source_name": "src",
    "root": {"type": "tree", "tree": "00" * 32},
    "time": "2026-12-07T04:00:00+00:00",
    "host": "h",
}
# times a crafted document may hold that drkit never writes: naive ("forget" compared it with aware
# times: TypeError), empty, or out of UTC's range ("snapshots": OverflowError)
_BAD_TIMES = ["2026-12-07T04:00:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+01:00"]
_ANY: list[Any] = [None, True, 0, 1.5, "", "x", [], ["a"], [1], {}, {"a": 1}, {1: "a"}]
CASES: dict[str, list[Any]] = {
    "source_kind": _ANY,
    "source_name": _ANY,
    "root": _ANY,
    "host": _ANY,
    "tags": _ANY,
    "parent": _ANY,
    "stats": _ANY,
    "meta": _ANY,
    "unknown": _ANY,
    "time": [*_ANY, "2026-12-07T04:00:00+00:00", "2026-12-07", "yesterday", "2026-13-01T00:00:00", " ", *_BAD_TIMES],
    "end_time": ["2026-12-07T04:00:00.123456+00:00", "", "nope", 5, *_BAD_TIMES],
}


def _schema(doc: Any) -> dict[str, Any] | None:
    try:
        return validated(doc)
    except ValueError:
        return None


@pytest.mark.parametrize("field", sorted(CASES))
def test_fast_check_decides_like_the_schema(field: str) -> None:
    for value in CASES[field]:
        doc = {**BASE, field: value}
        fields = _schema(doc)
        assert doc_ok(doc) == (fields is not None), (field, value)
        if fields is not None:
            assert Snapshot.from_doc("ab" * 32, doc) == Snapshot(id="ab" * 32, **fields)


@pytest.mark.parametrize("missing", ["source_kind", "source_name", "root"])
def test_a_required_field_missing_is_refused_by_both(missing: str) -> None:
    doc = {k: v for k, v in BASE.items() if k != missing}
    assert not doc_ok(doc) and _schema(doc) is None
    with pytest.raises(IntegrityError, match=f"malformed document \\({missing}: Field required"):
        Snapshot.from_doc("ab" * 32, doc)


def test_not_an_object_is_refused() -> None:
    for doc in ([1], "x", None):
        assert not doc_ok(doc) and _schema(doc) is None


@pytest.mark.parametrize(
    ("field", "value"), [*(("time", t) for t in [*_BAD_TIMES, ""]), *(("end_time", t) for t in _BAD_TIMES)]
)
def test_a_naive_empty_or_out_of_range_time_is_a_malformed_document(field: str, value: str) -> None:
    """Such a time passed both checks, then ended ``forget`` or ``snapshots`` as an internal error
    (exit 1) instead of a refused document (exit 13). (An empty end time is fine: see CASES.)"""
    with pytest.raises(IntegrityError, match=f"malformed document \\({field}: "):
        Snapshot.from_doc("ab" * 32, {**BASE, field: value})
