"""The walk holds each directory on its path open (levels.py), at most ``held_dirs_max()`` of them: a
tree deeper than the open-file limit allows is backed up whole, the levels farthest up closed and
opened again on the way back (through ``..``, checked to be the same directory)."""

from __future__ import annotations

import os
import resource
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from files_fixtures import archive_tree
from treediff import rsync_diff

from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.repository.writer import BlobWriter
from drkit.sources.files import Archiver, Selection, backup, filereads
from drkit.sources.files.diff import walk
from drkit.sources.files.ops import ROOT_TYPE, SOURCE_KIND, restore_files
from drkit.sources.files.walker import Where, held_dirs_max

DEPTH = 300


@pytest.fixture
def low_fd_limit() -> Iterator[int]:
    """The soft open-file limit lowered to a little above what the process has open (restored after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = len(os.listdir("/proc/self/fd")) + 150
    if hard != resource.RLIM_INFINITY:
        low = min(low, hard)
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
    archiver, tree = archive_tree(repo, src, readers=readers)
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


def _walk_moving(
    repo: Repository, src: Path, monkeypatch: pytest.MonkeyPatch, moves: list[tuple[str, str]], readers: int
) -> tuple[str, list[str]]:
    """Two levels held open: once the walk read src/x/y/z/w/f (src/x/y and above closed), ``moves`` are
    made. No directory is left open after the walk."""
    (src / "x" / "y" / "z" / "w").mkdir(parents=True)
    (src / "x" / "y" / "z" / "w" / "f").write_bytes(b"deep")
    (src / "x" / "y" / "zz").write_bytes(b"after z, in y")
    (src / "x" / "y" / "zzd").mkdir()
    (src / "x" / "y" / "zzd" / "g").write_bytes(b"in a directory after z, in y")
    (src / "x" / "zz").write_bytes(b"after y, in x")
    monkeypatch.setattr(backup, "held_dirs_max", lambda: 2)

    def move(path: str, how: str) -> None:
        if path.endswith("/w/f"):
            for old, new in moves:
                os.rename(src / old, src / new)

    with BlobWriter(repo=repo) as writer:
        before = set(os.listdir("/proc/self/fd"))
        archiver = Archiver(repo=repo, writer=writer, readers=readers, on_read=move)
        try:
            tree = archiver.root([str(src)], None)
        finally:
            archiver.close()
        writer.flush()
    assert set(os.listdir("/proc/self/fd")) <= before  # no directory left open
    return tree, archiver.warnings


@pytest.mark.parametrize("readers", [0, 2])
@pytest.mark.parametrize("replaced", [False, True])
def test_a_closed_level_moved_meanwhile_is_not_walked_on(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers: int, replaced: bool
) -> None:
    """z is moved out of y and y itself away (``replaced``: another directory put at its name). Back in
    z, z's ``..`` is src and src/x/y is not y: y's entries after z are skipped (a warning); x is opened
    again by its path (y was not), found the same, and walked on."""
    src = tmp_path / "src"
    moves = [("x/y/z", "z-moved"), ("x/y", "y-moved")]
    if replaced:
        moves.append(("z-moved", "x/y"))  # z now at y's name
    tree, warnings = _walk_moving(repo, src, monkeypatch, moves, readers)
    assert warnings == [
        f"{src}/x/y: moved during the backup; its remaining entries are skipped",
        *([f"{src}/x/y: {backup.REPLACED}"] if replaced else []),  # gone is not replaced
    ]
    paths = [p for p, _ in walk(repo, tree)]
    assert "src/x/y/z/w/f" in paths and "src/x/zz" in paths and "src/x/y/zz" not in paths, paths
    assert not any(p.startswith("src/x/y/zzd") for p in paths), paths


@pytest.mark.parametrize("readers", [0, 2])
def test_a_closed_level_whose_child_moved_elsewhere_is_walked_on(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers: int
) -> None:
    """Only z is moved out of y (to src): z's ``..`` is then src, not y, but y is still at its name; it is
    opened again by its path, found the same, and walked on: its entries after z are in the snapshot,
    as for a tree shallow enough to stay open (z, walked before it moved, is no warning either)."""
    src = tmp_path / "src"
    tree, warnings = _walk_moving(repo, src, monkeypatch, [("x/y/z", "z-moved")], readers)
    assert warnings == []
    paths = [p for p, _ in walk(repo, tree)]
    assert "src/x/y/z/w/f" in paths and "src/x/zz" in paths and "src/x/y/zz" in paths, paths
    os.rename(src / "z-moved", src / "x" / "y" / "z")  # the tree as walked: restored, it is the same
    snap = Snapshot(source_kind=SOURCE_KIND, source_name=str(src), root={"type": ROOT_TYPE, "tree": tree})
    restore_files(repo, snap, str(tmp_path / "out"), Selection())
    assert rsync_diff(src, tmp_path / "out" / "src", "--omit-dir-times") == []  # the moves changed those


@pytest.mark.parametrize("fail", [False, True])
def test_no_directory_stays_open_after_the_walk(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail: bool
) -> None:
    """Every level's descriptor is closed when the walk ends, or fails half-way (``close``)."""
    src = _deep(tmp_path)
    monkeypatch.setattr(backup, "held_dirs_max", lambda: 16)

    def failing(path: str, how: str) -> None:
        if fail and path.endswith("/d" * 40 + "/f"):
            raise RuntimeError("store failed")

    with BlobWriter(repo=repo) as writer:
        before = sorted(os.listdir("/proc/self/fd"))
        archiver = Archiver(repo=repo, writer=writer, readers=2, on_read=failing)
        raised = False
        try:
            archiver.root([str(src)], None)
        except RuntimeError:
            raised = True
        finally:
            archiver.close()
        after = sorted(os.listdir("/proc/self/fd"))
        writer.flush()
    assert raised == fail and after == before


def test_a_level_closed_while_a_reader_reads_in_it_stays_open_for_that_read(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """src/zz is handed to a reader before the walk descends into src/d; the walk goes 50 levels deeper
    (8 held open) while that read is held, so src is closed for the walk: its descriptor stays open
    until the read ends, and the reader opens zz there (not in whatever directory got its number)."""
    src = _deep(tmp_path)
    (src / "zz").write_bytes(b"read while src is closed for the walk")
    monkeypatch.setattr(backup, "held_dirs_max", lambda: 8)
    started, release = threading.Event(), threading.Event()
    real = filereads.read_small

    def held(where: Where, *args: Any) -> filereads.FileRead:
        if where.name == "zz":
            started.set()
            assert release.wait(60)
        return real(where, *args)

    monkeypatch.setattr(filereads, "read_small", held)

    def on_read(path: str, how: str) -> None:
        if path == f"{src}/d/f":
            assert started.wait(60)  # zz's reader runs: src is closed with the read under way
        if path.endswith("/d" * 50 + "/f"):
            release.set()

    with BlobWriter(repo=repo) as writer:
        archiver = Archiver(repo=repo, writer=writer, readers=2, on_read=on_read)
        try:
            tree = archiver.root([str(src)], None)
        finally:
            release.set()
            archiver.close()
        writer.flush()
    assert archiver.warnings == []
    snap = Snapshot(source_kind=SOURCE_KIND, source_name=str(src), root={"type": ROOT_TYPE, "tree": tree})
    restore_files(repo, snap, str(tmp_path / "out"), Selection())
    assert rsync_diff(src, tmp_path / "out" / "src") == []
