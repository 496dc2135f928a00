"""The files backup's walk opens the next directories ahead (walkahead.py) so the reader threads always
have files queued: every file the walk reads goes to a reader first (the first file of a directory
too), a directory's files before the walk enters it; a tree of many small directories restores the
same; a directory opened ahead and never entered (a level given up) releases what it held."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
from files_fixtures import archive_tree
from treediff import rsync_diff

from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.sources.files import Selection, backup, levels, readahead, walkahead
from drkit.sources.files.diff import walk
from drkit.sources.files.ops import ROOT_TYPE, SOURCE_KIND, restore_files
from drkit.sources.files.tree import FILE
from drkit.sources.files.walker import Where


def _small_dirs(src: Path, dirs: int, files: int, seed: int = 25) -> None:
    """``dirs`` directories of ``files`` small files each, some nested, with hard links and symlinks."""
    rng = random.Random(seed)
    for d in range(dirs):
        sub = src / f"d{d:03}" if d % 4 else src / f"d{d - d % 8:03}x" / f"n{d:03}"
        sub.mkdir(parents=True, exist_ok=True)
        for f in range(files):
            (sub / f"f{f}").write_bytes(rng.randbytes(rng.choice((0, 1, 300, 5_000, 70_000))))
        if d % 5 == 0:
            (sub / "link").symlink_to("f0")
        if d % 7 == 0 and d:
            os.link(sub / "f1", src / f"hard{d:03}")


def _assert_restores_the_same(repo: Repository, tree: str, src: Path, out: Path) -> None:
    restore_files(
        repo,
        Snapshot(source_kind=SOURCE_KIND, source_name=str(src), root={"type": ROOT_TYPE, "tree": tree}),
        str(out),
        Selection(),
    )
    assert rsync_diff(src, out / src.name) == []


def test_the_first_file_of_every_directory_goes_to_a_reader(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted, not timed: whether a reader started a file before the walk reached it depends on the
    load; whether the walk handed it over first does not. Before, the first file of each directory
    was taken by the walk before any of that directory's files were handed over."""
    src = tmp_path / "src"
    _small_dirs(src, 24, 3)
    taken: dict[str, bool] = {}  # each file the walk reads: handed to a reader before
    real_take = readahead.Readers.take

    def noting_take(self: readahead.Readers, s: readahead.Scanned) -> object:
        if s.node is not None and s.node.links == 1:  # the first name of a hard link: the walk reads it
            taken[os.path.relpath(s.path, src)] = s.read is not None
        return real_take(self, s)

    entered: dict[str, list[bool]] = {}  # each directory the walk enters: its files handed over by then
    real_push = levels.Levels.push

    def noting_push(self: levels.Levels, level: levels.Level) -> None:
        files = [s for s in level.ahead if s.node is not None and s.node.type == FILE and s.node.links == 1]
        entered[os.path.relpath(level.where.path, src)] = [s.read is not None for s in files]
        real_push(self, level)

    monkeypatch.setattr(readahead.Readers, "take", noting_take)
    monkeypatch.setattr(levels.Levels, "push", noting_push)
    monkeypatch.setattr(backup, "held_dirs_max", lambda: 1024)  # all 27 directories opened ahead, whatever
    # the open-file limit (a low one opens fewer ahead: those are handed over once the walk is in them)
    archiver, _ = archive_tree(repo, src, readers=2)
    assert archiver.warnings == []
    firsts = [p for p in taken if p.endswith("/f0")]
    assert len(firsts) == 24 and len(taken) == 24 * 3 - len(range(7, 24, 7))
    assert [p for p, handed in taken.items() if not handed] == []
    below = {p: handed for p, handed in entered.items() if p != "."}  # the top one: entered before any scan
    assert len(below) == 24 + 3  # and the three parents of the nested ones
    assert {p: h for p, h in below.items() if not all(h)} == {}
    assert sum(len(h) for h in below.values()) == 24 * 3 - len(range(7, 24, 7))  # hard links: not handed


def test_a_tree_of_many_small_directories_restores_the_same(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _small_dirs(src, 300, 4, seed=7)  # many more directories than are opened ahead at once
    archiver, tree = archive_tree(repo, src, readers=2)
    assert archiver.warnings == []
    assert (archiver.stats.files_new, archiver.stats.files_unchanged) == (300 * 4, len(range(7, 300, 7)))
    _assert_restores_the_same(repo, tree, src, tmp_path / "out")


def test_the_directories_opened_ahead_stay_bounded(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never more than ``max`` directories open ahead, and none left open once the walk is done."""
    src = tmp_path / "src"
    _small_dirs(src, 120, 2)
    most = [0]
    real_prepare = walkahead.Ahead.prepare

    def noting_prepare(self: walkahead.Ahead, level: levels.Level) -> None:
        real_prepare(self, level)
        most[0] = max(most[0], self.prepared)

    monkeypatch.setattr(walkahead.Ahead, "prepare", noting_prepare)
    before = set(os.listdir("/proc/self/fd"))
    archiver, _ = archive_tree(repo, src, readers=2)
    assert most[0] == archiver._ahead.max > 0  # PREPARED_MAX, or less under a low RLIMIT_NOFILE
    assert archiver._ahead.prepared == 0
    assert set(os.listdir("/proc/self/fd")) <= before


def test_a_directory_opened_ahead_in_a_level_given_up_is_closed(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """src/x/y holds z (30 levels deep) and zzd; zzd is opened ahead before the walk enters z. While the
    walk is at the bottom of z, y (closed by then: 24 levels held) has z moved out of it and is itself
    replaced by a new directory of that name: neither `..` nor the path reopens the y that was walked, so
    y's remaining entries are given up (levels.py): zzd, opened ahead, is closed, never walked."""
    src = tmp_path / "src"
    deep = src / "x" / "y" / "z"
    for i in range(30):
        deep = deep / f"l{i:02}"
    deep.mkdir(parents=True)
    (deep / "f").write_bytes(b"deep")
    (src / "x" / "y" / "zzd").mkdir()
    (src / "x" / "y" / "zzd" / "g").write_bytes(b"in a directory after z, in y")
    monkeypatch.setattr(backup, "held_dirs_max", lambda: 24)  # 3 directories opened ahead at most
    opened: list[str] = []
    real_open = walkahead.Ahead.open

    def noting_open(self: walkahead.Ahead, where: Where, *args: Any) -> levels.Level:
        opened.append(os.path.relpath(where.path, src))
        return real_open(self, where, *args)

    monkeypatch.setattr(walkahead.Ahead, "open", noting_open)

    def move(path: str, how: str) -> None:
        if path.endswith("/l29/f"):
            os.rename(src / "x" / "y" / "z", src / "z-moved")
            os.rename(src / "x" / "y", src / "y-old")
            (src / "x" / "y").mkdir()

    before = set(os.listdir("/proc/self/fd"))
    archiver, tree = archive_tree(repo, src, readers=2, on_read=move)
    assert "x/y/zzd" in opened  # opened ahead (the walk never entered it)
    assert archiver.warnings == [
        f"{src}/x/y: moved during the backup; its remaining entries are skipped",
        f"{src}/x/y: moved or replaced while being backed up; the snapshot holds the directory that was walked",
    ]
    assert archiver._ahead.prepared == 0
    assert set(os.listdir("/proc/self/fd")) <= before
    paths = [p for p, _ in walk(repo, tree)]
    assert "src/x/y/z/" + "/".join(f"l{i:02}" for i in range(30)) + "/f" in paths
    assert not any(p.startswith("src/x/y/zzd") for p in paths), paths


def test_the_files_queued_for_the_readers_stay_bounded_while_the_budget_is_full(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """src/a (a subtree of 300 small files) sorts before src/b0..b7, files that together exceed the
    read-ahead budget: they are handed over (scanned before a's files) until the budget is full, and the
    first that does not fit stays at the front of the queue until the walk comes back to src. The files
    of a, walked meanwhile, must not pile up behind it (before: every one of them stayed queued, so a
    subtree of a million files held a million entries)."""
    src = tmp_path / "src"
    for d in range(30):
        sub = src / "a" / f"d{d:02}"
        sub.mkdir(parents=True)
        for f in range(10):
            (sub / f"f{f}").write_bytes(b"%d" % (d * 10 + f))
    for i in range(8):
        (src / f"b{i}").write_bytes(bytes([i]) * (400 << 10))
    monkeypatch.setattr(readahead, "read_ahead_budget", lambda readers, params: 1 << 20)  # 2 of the b files
    monkeypatch.setattr(backup, "SCAN_AHEAD", 4)
    monkeypatch.setattr(walkahead, "SCAN_AHEAD", 4)
    monkeypatch.setattr(backup, "held_dirs_max", lambda: 16)  # 2 directories opened ahead at most
    most = [0]
    real_fill = readahead.Readers.fill

    def noting_fill(self: readahead.Readers, queue: Any) -> None:
        real_fill(self, queue)
        most[0] = max(most[0], len(queue))

    monkeypatch.setattr(readahead.Readers, "fill", noting_fill)
    archiver, tree = archive_tree(repo, src, readers=2)
    assert archiver.warnings == []
    assert archiver.stats.files_new == 308
    # scanned and not yet walked: 4 entries in each level on the walk's path and each opened ahead (3 + 2)
    assert 0 < most[0] <= 2 * (3 + 2) * 4 + 2 * 4
    _assert_restores_the_same(repo, tree, src, tmp_path / "out")


def test_large_directories_are_not_all_listed_ahead_at_once(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six sibling directories of 300 entries each, the names listed ahead capped at 100: one directory
    (listed whole) is opened ahead at a time, not all six (before: 1,800 names held, as six directories of
    a million entries would hold six million)."""
    src = tmp_path / "src"
    for d in range(6):
        sub = src / f"d{d}"
        sub.mkdir(parents=True)
        for f in range(300):
            (sub / f"f{f:03}").write_bytes(b"")
    monkeypatch.setattr(walkahead, "NAMES_AHEAD_MAX", 100, raising=False)
    most = [0]
    real_prepare = walkahead.Ahead.prepare

    def noting_prepare(self: walkahead.Ahead, level: levels.Level) -> None:
        real_prepare(self, level)
        most[0] = max(most[0], sum(len(lv.names) for lv in self._ready.values()))

    monkeypatch.setattr(walkahead.Ahead, "prepare", noting_prepare)
    archiver, tree = archive_tree(repo, src, readers=2)
    assert archiver.warnings == []
    assert archiver._ahead.max >= 6 and archiver.stats.files_new == 1800
    assert most[0] == 300  # one directory listed ahead (the cap is checked before opening the next)
    assert sorted(p for p, _ in walk(repo, tree) if p.endswith("/f299")) == [f"src/d{d}/f299" for d in range(6)]
