"""Which earlier target copy a source snapshot is (ops/copy_tags.copy_of): the copy made of it, or, when the
snapshot it was made of has gone from the source (retagged into this one), a copy found by the original id.
A copy of a snapshot still in the source is never matched to another source snapshot through a shared
original id (an interrupted `drkit tag`, or a `repair snapshots` that kept its original's meta): that made
copy retag the one target copy to each one's tags in turn, every run."""

from __future__ import annotations

from drkit.ops.copy_tags import Copies, copy_of
from drkit.repository.snapshots import Snapshot


def _snap(snap_id: str, **meta: object) -> Snapshot:
    return Snapshot(source_kind="files", source_name="/src", root={"type": "tree"}, id=snap_id, meta=dict(meta))


def _copies(*copies: Snapshot) -> Copies:
    found = Copies()
    for c in copies:
        found.made_of.setdefault(c.meta["copy_of"]["snapshot"], c)
        for key in (c.meta["copy_of"].get("original"), c.meta.get("original")):
            if key:
                found.by_original.setdefault(key, c)
    return found


def test_a_retagged_source_snapshot_finds_the_copy_of_its_former_id() -> None:
    copy = _snap("c1", copy_of={"repository": "r", "snapshot": "s0", "original": "s0"})
    retagged = _snap("s1", original="s0")
    assert copy_of(_copies(copy), retagged, {"s1"}) is copy


def test_a_copy_of_a_snapshot_still_in_the_source_stands_for_that_one_only() -> None:
    copy = _snap("c1", copy_of={"repository": "r", "snapshot": "s0", "original": "s0"})
    both = {"s0", "s1"}  # an interrupted tag left the old document and the new one
    assert copy_of(_copies(copy), _snap("s0"), both) is copy
    assert copy_of(_copies(copy), _snap("s1", original="s0"), both) is None  # before: the same copy


def test_a_repair_is_not_its_originals_copy() -> None:
    copy = _snap("c1", original="s0", copy_of={"repository": "r", "snapshot": "s1", "original": "s0"})
    repair = _snap("r1", original="s0", repaired_from="s1")  # its original forgotten (--forget)
    assert copy_of(_copies(copy), repair, {"r1"}) is None  # copied as itself, not the copy retagged `repaired`
    retagged_repair = _snap("r2", original="s0", repaired_from="s1")
    repair_copy = _snap("c2", original="s0", repaired_from="s1", copy_of={"repository": "r", "snapshot": "r1"})
    assert copy_of(_copies(repair_copy), retagged_repair, {"r2"}) is repair_copy
