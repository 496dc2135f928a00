"""`restore files --include` / `--exclude GLOB` through the CLI, checked by oracles outside drkit.
Until now a partial restore was checked by the names it wrote (test_files_cli, the unit round trip),
never by content or metadata: a partial restore that wrote the wrong bytes, lost an xattr or ACL, or
broke a hard link passed. Here: each included directory equals its source by rsync -aHAXS --checksum
--delete; an included file equals its source by rsync (file to file); hard links between included
names are one inode, as in the source; a file whose other name is left out still gets its bytes;
the restore holds exactly the included paths and their parents (a walk of the source, not drkit's
listing); an --exclude glob leaves out just what rsync's own --exclude leaves out."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from clirun import drkit
from test_files_oracle import NEEDS, make_tree
from treediff import rsync_diff

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(None in NEEDS, reason="needs rsync and setfacl (scripts/install.sh: rsync, acl)"),
]

ENV = {"DRKIT_PASSWORD": "include-oracle"}


def _restore(repo: str, out: Path, *selection: str) -> None:
    proc = drkit(
        "restore", "files", "latest", "--target", str(out), "--repo", repo, "--special-files", *selection, env=ENV
    )
    assert proc.returncode == 0, proc.stderr.decode()


def _file_diff(src: Path, dst: Path) -> str:
    """rsync's itemised difference between two files (empty: same bytes, mode, owner, times, xattrs, ACLs)."""
    proc = subprocess.run(
        ["rsync", "-aAXS", "--dry-run", "--checksum", "--itemize-changes", "--numeric-ids", str(src), str(dst)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _entries(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[str, Path]:
    src = make_tree(tmp_path)
    repo = str(tmp_path / "repo")
    for args in (("init",), ("backup", "files", str(src), "--quiet")):
        proc = drkit(*args, "--repo", repo, env=ENV)
        assert proc.returncode == 0, proc.stderr.decode()
    return repo, src


def test_included_paths_equal_their_sources_and_nothing_else_is_written(
    tmp_path: Path, backed_up: tuple[str, Path]
) -> None:
    repo, src = backed_up
    out = tmp_path / "out"
    _restore(repo, out, "--include", "src/docs", "--include", "src/hard", "--include", "src/exec.sh")
    assert rsync_diff(src / "docs", out / "src" / "docs", "--delete") == []
    for name in ("hard", "exec.sh"):
        assert _file_diff(src / name, out / "src" / name) == "", name
    assert os.stat(src / "hard").st_ino == os.stat(src / "docs" / "a.txt").st_ino  # the source's link...
    assert os.stat(out / "src" / "hard").st_ino == os.stat(out / "src" / "docs" / "a.txt").st_ino  # ...kept
    wanted = {"src", "src/hard", "src/exec.sh", "src/docs"} | {f"src/docs/{p}" for p in _entries(src / "docs")}
    assert _entries(out) == wanted


def test_a_hard_link_whose_other_name_is_left_out_still_gets_its_bytes(
    tmp_path: Path, backed_up: tuple[str, Path]
) -> None:
    repo, src = backed_up
    out = tmp_path / "out"
    _restore(repo, out, "--include", "src/hard")
    assert _entries(out) == {"src", "src/hard"}
    assert _file_diff(src / "hard", out / "src" / "hard") == ""


def test_an_exclude_glob_leaves_out_what_rsync_leaves_out(tmp_path: Path, backed_up: tuple[str, Path]) -> None:
    repo, src = backed_up
    out = tmp_path / "out"
    _restore(repo, out, "--exclude", "*.bin", "--exclude", "sparse-*")
    assert rsync_diff(src, out / "src", "--delete", "--exclude=*.bin", "--exclude=sparse-*") == []
    left_out = {p for p in _entries(src) if p.endswith(".bin") or p.startswith("sparse-")}
    assert left_out and not left_out & _entries(out / "src")
