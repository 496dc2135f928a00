"""A directory replaced by a symlink after the walk ``lstat``ed it ahead (readahead.scan: up to
``SCAN_AHEAD`` entries, before the walk descends into an earlier sibling) and before the walk lists
it: the walk must not follow the symlink and back up what it points to as that directory's contents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from files_fixtures import archive_tree

from drkit.repository.repo import Repository
from drkit.sources.files import backup, walkahead
from drkit.sources.files.diff import walk


@pytest.mark.parametrize(("readers", "opened_ahead"), [(0, False), (2, False), (2, True)])
def test_a_directory_swapped_for_a_symlink_after_its_lstat_is_not_followed(
    repo: Repository, tmp_path: Path, readers: int, opened_ahead: bool
) -> None:
    src, outside = tmp_path / "src", tmp_path / "outside"
    (src / "a").mkdir(parents=True)
    (src / "a" / "f").write_bytes(b"walked first")
    if not opened_ahead:  # a's subdirectories (before f) take every place to open directories ahead
        for i in range(walkahead.PREPARED_MAX + 8):  # so b is opened when the walk reaches it, after f
            (src / "a" / f"d{i:02}").mkdir()
    (src / "b").mkdir()
    (src / "b" / "mine").write_bytes(b"b's own")
    outside.mkdir()
    (outside / "stolen").write_bytes(b"not in the tree")

    def swap(path: str, how: str) -> None:  # while the walk is in a, after it lstat-ed b (with readers)
        if path.endswith("/a/f"):
            os.rename(src / "b", tmp_path / "b-moved")
            (src / "b").symlink_to(outside)

    archiver, tree = archive_tree(repo, src, readers=readers, on_read=swap)
    paths = {path: node.type for path, node in walk(repo, tree)}
    assert not any("stolen" in p for p in paths), paths
    if opened_ahead:  # opened (by descriptor) ahead of the walk, before the swap: that directory is walked
        assert archiver.warnings == [f"{src}/b: {backup.REPLACED}"]
        assert paths.get("src/b/mine") == "file", paths
    elif readers:  # lstat-ed as a directory ahead, a symlink when listed
        assert archiver.warnings == [f"{src}/b: Not a directory"]
