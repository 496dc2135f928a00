"""A PARENT directory swapped for a symlink to another directory while the walk is inside it (after it
listed it, between an entry's ``lstat`` and its read, or before the ``lstat`` of the next ones): every
entry below is ``lstat``ed, opened and read relative to the descriptor of the directory the walk opened
(walker.Where), so the snapshot holds that directory's files, never the symlink target's under its
name. The directory no longer at its name is a warning (exit 3), as a file vanished during the walk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from files_fixtures import archive_tree
from treediff import rsync_diff

from drkit.core.errors import PartialBackup
from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.sources.files import Selection, backup, readahead, walkahead
from drkit.sources.files.ops import ROOT_TYPE, SOURCE_KIND, BackupRequest, backup_files, raise_if_partial, restore_files
from drkit.sources.files.walker import Where


def _trees(tmp_path: Path) -> tuple[Path, Path]:
    src, outside = tmp_path / "src", tmp_path / "outside"
    for root, what in ((src, b"own"), (outside, b"STOLEN")):
        (root / "d" / "sub").mkdir(parents=True)
        for name in ("a", "b", "sub/c"):
            (root / "d" / name).write_bytes(what + b" " + name.encode() + b"\n" * 100)
            os.setxattr(root / "d" / name, "user.origin", what)
    (src / "z").write_bytes(b"after d")
    return src, outside


def _swap_at(monkeypatch: pytest.MonkeyPatch, src: Path, outside: Path, trigger: str) -> None:
    """Right after the walk ``lstat``s ``trigger`` (before it or a reader opens it): src/d becomes a
    symlink to outside/d; the directory the walk is in moves to src/d-moved."""
    real_scan = readahead.scan

    def scan_then_swap(where: Where, name: str, old: object, *rest: Any) -> readahead.Scanned:
        s = real_scan(where, name, old, *rest)  # type: ignore[arg-type]
        if where.path == str(src / trigger):
            os.rename(src / "d", src.parent / "d-moved")
            (src / "d").symlink_to(outside / "d")
        return s

    monkeypatch.setattr(backup, "scan", scan_then_swap)
    monkeypatch.setattr(walkahead, "scan", scan_then_swap)  # the entries after the top path


def _swap_back(src: Path) -> None:
    """The tree as it was (the directory walked back at its name, src's times as the walk saw them)."""
    st = os.stat(src)
    (src / "d").unlink()
    os.rename(src.parent / "d-moved", src / "d")
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("readers", [0, 2])
@pytest.mark.parametrize("trigger", ["d/a", "d/sub/c"])  # the parent, the grandparent
def test_a_parent_swapped_for_a_symlink_is_not_followed(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers: int, trigger: str
) -> None:
    src, outside = _trees(tmp_path)
    mtime = os.stat(src).st_mtime_ns
    _swap_at(monkeypatch, src, outside, trigger)
    archiver, tree = archive_tree(repo, src, readers=readers)
    assert archiver.warnings == [f"{src}/d: {backup.REPLACED}"]
    _swap_back(src)
    os.utime(src, ns=(mtime, mtime))
    snap = Snapshot(source_kind=SOURCE_KIND, source_name=str(src), root={"type": ROOT_TYPE, "tree": tree})
    restore_files(repo, snap, str(tmp_path / "out"), Selection())
    assert rsync_diff(src, tmp_path / "out" / "src") == []  # the independent oracle: what the walk was in
    for path in (tmp_path / "out").rglob("*"):
        assert path.is_dir() or b"STOLEN" not in path.read_bytes(), path
    for name in ("a", "b", "sub/c"):
        assert os.getxattr(tmp_path / "out" / "src" / "d" / name, "user.origin") == b"own"


def test_the_backup_of_a_swapped_parent_is_partial(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, outside = _trees(tmp_path)
    _swap_at(monkeypatch, src, outside, "d/a")
    result = backup_files(repo, BackupRequest(paths=[str(src)]))
    assert result.warnings == [f"{src}/d: {backup.REPLACED}"]
    with pytest.raises(PartialBackup) as info:
        raise_if_partial(result)
    assert info.value.exit_code == 3
