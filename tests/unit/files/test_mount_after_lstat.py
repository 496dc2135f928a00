"""--one-file-system: a file system mounted on a directory after the walk ``lstat``ed it ahead (on the
root's file system then) and before it lists it: its files are not backed up."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from files_fixtures import archive_tree

from drkit.repository.repo import Repository
from drkit.sources.files import BackupOptions, backup, walkahead
from drkit.sources.files.diff import walk
from drkit.sources.files.readahead import Scanned
from drkit.sources.files.tree import Node
from drkit.sources.files.walker import Where


@pytest.fixture
def mount_later(tmp_path: Path) -> Iterator[list[Path]]:
    """Directories to mount a tmpfs on (the test asks); unmounted at the end."""
    mounted: list[Path] = []
    yield mounted
    for path in mounted:
        subprocess.run(["umount", str(path)], check=True, timeout=60)


@pytest.mark.parametrize(("readers", "opened_ahead"), [(0, False), (2, False), (2, True)])
def test_a_file_system_mounted_after_the_lstat_is_not_crossed(
    repo: Repository, tmp_path: Path, mount_later: list[Path], readers: int, opened_ahead: bool
) -> None:
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "f").write_bytes(b"walked first")
    if not opened_ahead:  # a's subdirectories (before f) take every place to open directories ahead
        for i in range(walkahead.PREPARED_MAX + 8):  # so b is opened when the walk reaches it, after f
            (src / "a" / f"d{i:02}").mkdir()
    (src / "b").mkdir()
    probe = subprocess.run(["mount", "-t", "tmpfs", "none", str(src / "b")], capture_output=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    subprocess.run(["umount", str(src / "b")], check=True, timeout=60)

    def mount(path: str, how: str) -> None:  # while the walk is in a, after it lstat-ed b (with readers)
        if path.endswith("/a/f"):
            subprocess.run(["mount", "-t", "tmpfs", "none", str(src / "b")], check=True, timeout=60)
            mount_later.append(src / "b")
            (src / "b" / "on-another-fs").write_bytes(b"not to be crossed into")

    options = BackupOptions(one_file_system=True)
    archiver, tree = archive_tree(repo, src, readers=readers, on_read=mount, options=options)
    paths = [path for path, _ in walk(repo, tree)]
    assert not any("on-another-fs" in p for p in paths), paths
    assert os.path.ismount(src / "b")
    if opened_ahead:  # opened (by descriptor) ahead of the walk, before the mount: that directory is walked
        assert archiver.warnings == [f"{src}/b: {backup.REPLACED}"]
    elif readers:  # lstat-ed ahead on the root's file system, another when listed
        assert archiver.warnings == [f"{src}/b: a file system was mounted here during the backup; not crossed"]
    else:
        assert archiver.warnings == [] and "src/b" not in paths


def test_without_one_file_system_a_directory_mounted_on_after_its_lstat_is_walked(
    repo: Repository, tmp_path: Path, mount_later: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The device check is --one-file-system's: without it, a directory opened ahead of the walk
    (walkahead.py) with a file system mounted on it since its ``lstat`` is walked, not refused."""
    src = tmp_path / "src"
    (src / "b").mkdir(parents=True)
    probe = subprocess.run(["mount", "-t", "tmpfs", "none", str(src / "b")], capture_output=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    subprocess.run(["umount", str(src / "b")], check=True, timeout=60)
    real_scan = walkahead.scan

    def scan_then_mount(where: Where, name: str, old: Node | None, *rest: Any) -> Scanned:
        s = real_scan(where, name, old, *rest)
        if where.path == f"{src}/b":
            subprocess.run(["mount", "-t", "tmpfs", "none", str(src / "b")], check=True, timeout=60)
            mount_later.append(src / "b")
            (src / "b" / "on-the-mount").write_bytes(b"walked: no --one-file-system")
        return s

    monkeypatch.setattr(walkahead, "scan", scan_then_mount)
    archiver, tree = archive_tree(repo, src, readers=2)
    paths = [path for path, _ in walk(repo, tree)]
    assert "src/b/on-the-mount" in paths, (paths, archiver.warnings)
    assert archiver.warnings == [f"{src}/b: {backup.REPLACED}"]  # another directory than its lstat saw
