"""Inputs that crashed drkit ("internal error", exit 1): each is now one line and its documented code."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_kit import ENV, backup, ok, one_line, run, same_tree
from tmpfs import can_mount_tmpfs
from tmpfs import small_tmpfs as mounted


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo, src = tmp_path / "repo", tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(4 << 20))
    ok("init", "--repo", str(repo))
    backup(repo, src)
    proc = subprocess.run(
        [*__import__("hostile_kit").DRKIT, "backup", "stdin", "--repo", str(repo), "--name", "s", "--json"],
        input=os.urandom(3 << 20),
        capture_output=True,
        env={**os.environ, **ENV},
    )
    assert proc.returncode == 0, proc.stderr
    return repo


def _stream_id(repo: Path) -> str:
    snaps = json.loads(ok("snapshots", "--repo", str(repo), "--json"))
    return str(next(s["id"] for s in snaps if s["source_kind"] != "files"))


def test_restore_to_a_missing_directory(repo: Path, tmp_path: Path) -> None:
    line = one_line(
        run("restore", _stream_id(repo), "--to", str(tmp_path / "nonexistent" / "dir" / "x"), "--repo", str(repo)), 2
    )
    assert "No such file or directory" in line


@pytest.mark.parametrize("command", [("restore", "latest"), ("restore", "files", "latest")])
def test_restore_target_is_a_file(repo: Path, tmp_path: Path, command: tuple[str, ...]) -> None:
    target = tmp_path / "afile"
    target.write_text("not a directory\n")
    assert "cannot restore" in one_line(run(*command, "--target", str(target), "--repo", str(repo)), 2)
    assert target.read_text() == "not a directory\n"


@pytest.mark.parametrize("within", ["99999999999y", "5000y"])
def test_keep_within_beyond_any_date(repo: Path, within: str) -> None:
    """Once an OverflowError ("internal error"); now a duration reaching before year 1 keeps everything
    (or, were it refused, would be one line and exit 2)."""
    proc = run("forget", "--keep-within", within, "--repo", str(repo), "--dry-run")
    if proc.returncode == 0:
        assert "0 snapshots would be removed, 2 kept" in proc.stdout, proc.stdout
    else:
        assert "duration" in one_line(proc, 2)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    if (why := can_mount_tmpfs()) is not None:
        pytest.skip(why)
    with mounted(tmp_path / "small", 1, mode="1777") as mount:
        yield mount


def test_restore_target_disk_full(repo: Path, tmp_path: Path, small_tmpfs: Path) -> None:
    line = one_line(run("restore", "latest", "--target", str(small_tmpfs / "out"), "--repo", str(repo)), 14)
    assert "restore target full" in line
    leftovers = [p for p in (small_tmpfs / "out").rglob("*") if p.is_file()]
    assert leftovers == [], leftovers  # the unfinished file was removed
    line = one_line(run("restore", _stream_id(repo), "--to", str(small_tmpfs / "s.bin"), "--repo", str(repo)), 14)
    assert "restore target full" in line
    assert list(small_tmpfs.glob("*.bin")) == [] and list(small_tmpfs.glob(".*partial")) == []
    ok("restore", "latest", "--target", str(tmp_path / "roomy"), "--repo", str(repo))  # and with room: identical
    same_tree(tmp_path / "src", tmp_path / "roomy" / "src")
