"""``SnapshotFilter``: restic's filter semantics (hosts: any; tag groups: all of one group; paths: all)."""

from __future__ import annotations

from drkit.repository.snapshots import Snapshot, SnapshotFilter


def _snap(
    host: str = "h1", tags: tuple[str, ...] = (), paths: tuple[str, ...] | None = None, kind: str = "files"
) -> Snapshot:
    root = {"type": "tree", "tree": "0" * 64, "paths": list(paths)} if paths is not None else {"type": "stream"}
    return Snapshot(source_kind=kind, source_name="n", root=root, host=host, tags=list(tags))


def test_empty_filter_matches_everything() -> None:
    assert not SnapshotFilter.of()
    assert SnapshotFilter.of().matches(_snap())


def test_hosts_any_tags_groups_paths_all_kind() -> None:
    snap = _snap("h1", ("a", "b"), ("/x", "/y"))
    assert SnapshotFilter.of(hosts=("h2", "h1")).matches(snap)
    assert not SnapshotFilter.of(hosts=("h2",)).matches(snap)
    assert SnapshotFilter.of(tags=("a,b",)).matches(snap)
    assert not SnapshotFilter.of(tags=("a,c",)).matches(snap)
    assert SnapshotFilter.of(tags=("a,c", "b")).matches(snap)
    assert SnapshotFilter.of(paths=("/x", "/y/")).matches(snap)
    assert not SnapshotFilter.of(paths=("/x", "/z")).matches(snap)
    assert not SnapshotFilter.of(paths=("/x",)).matches(_snap(kind="stdin"))
    assert not SnapshotFilter.of(source_kind="postgres").matches(snap)
    assert SnapshotFilter.of(tags=("a",), source_kind="files").describe() == "tags a; source files"


def test_an_empty_tag_value_selects_untagged_snapshots_not_all() -> None:
    """`forget --keep-last 1 --tag "$UNSET"` must not widen to every snapshot: '' is restic's "no tags"."""
    untagged, tagged = _snap(), _snap(tags=("a",))
    for value in ("", ","):
        match = SnapshotFilter.of(tags=(value,))
        assert match and match.matches(untagged) and not match.matches(tagged)
    assert SnapshotFilter.of(tags=("", "a")).matches(tagged)
    assert SnapshotFilter.of(tags=("",)).describe() == "tags (none)"
