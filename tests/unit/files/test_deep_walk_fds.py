"""The walk holds each directory on its path open (levels.py), at most ``held_dirs_max()`` of them: a
tree deeper than the open-file limit allows is backed up whole, the levels farthest up closed and
opened again on the way back (through ``..``, checked to be the same directory)."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest
from treediff import rsync_diff

from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.repository.writer import BlobWriter
from drkit.sources.files import Archiver, Selection, backup
from drkit.sources.files.diff import walk
from drkit.sources.files.ops import ROOT_TYPE, SOURCE_KIND, restore_files
from drkit.sources.files.walker import held_dirs_max

DEPTH = 300


@pytest.fixture
def low_fd_limit() -> Iterator[int]:
    """The soft open-file limit lowered to a little above what the process has open (restored after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = len(os.listdir("/proc/self/fd")) + 150
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        yield low
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _deep(root: Path) -> Path:
    here = src = root / "src"
    for i in range(DEPTH):
        here.mkdir()
        (here / "f").write_bytes(b"level %d\n" % i)
        here = here / "d"
    return src


def _backup(repo: Repository, src: Path, readers: int) -> tuple[str, list[str]]:
    with BlobWriter(repo=repo) as writer:
        archiver = Archiver(repo=repo, writer=writer, readers=readers)
        try:
            tree = archiver.root([str(src)], None)
        finally:
            archiver.close()
        writer.flush()
    return tree, archiver.warnings


@pytest.mark.parametrize("readers", [0, 2])
def test_a_tree_deeper_than_the_open_file_limit_is_backed_up_whole(
    repo: Repository, tmp_path: Path, low_fd_limit: int, readers: int
) -> None:
    src = _deep(tmp_path)
    assert held_dirs_max() < DEPTH < low_fd_limit * 2  # deeper than the levels held open
    tree, warnings = _backup(repo, src, readers)
    assert warnings == []
    snap = Snapshot(source_kind=SOURCE_KIND, source_name=str(src), root={"type": ROOT_TYPE, "tree": tree})
    restore_files(repo, snap, str(tmp_path / "out"), Selection())
    assert rsync_diff(src, tmp_path / "out" / "src") == []


@pytest.mark.parametrize("readers", [0, 2])
def test_a_closed_level_moved_meanwhile_is_not_walked_on(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers: int
) -> None:
    """Two levels held open: while the walk is in src/x/y/z/w, src/x/y and above are closed; z is then
    moved out of y. Back in z, y's ``..`` is src: not y, whose entries after z are skipped (a warning);
    x is opened again by its path (y never was), found the same, and walked on. With readers, y's
    directories after z may have been opened ahead (walkahead.py): given up with y, closed."""
    src = tmp_path / "src"
    (src / "x" / "y" / "z" / "w").mkdir(parents=True)
    (src / "x" / "y" / "z" / "w" / "f").write_bytes(b"deep")
    (src / "x" / "y" / "zz").write_bytes(b"after z, in y")
    (src / "x" / "y" / "zzd").mkdir()
    (src / "x" / "y" / "zzd" / "g").write_bytes(b"in a directory after z, in y")
    (src / "x" / "zz").write_bytes(b"after y, in x")
    monkeypatch.setattr(backup, "held_dirs_max", lambda: 2)

    def move(path: str, how: str) -> None:
        if path.endswith("/w/f"):
            os.rename(src / "x" / "y" / "z", src / "z-moved")

    with BlobWriter(repo=repo) as writer:
        before = set(os.listdir("/proc/self/fd"))
        archiver = Archiver(repo=repo, writer=writer, readers=readers, on_read=move)
        try:
            tree = archiver.root([str(src)], None)
        finally:
            archiver.close()
        writer.flush()
    assert archiver.warnings == [f"{src}/x/y: moved during the backup; its remaining entries are skipped"]
    assert set(os.listdir("/proc/self/fd")) <= before  # no directory left open
    paths = [p for p, _ in walk(repo, tree)]
    assert "src/x/y/z/w/f" in paths and "src/x/zz" in paths and "src/x/y/zz" not in paths, paths
    assert not any(p.startswith("src/x/y/zzd") for p in paths), paths
