"""Entries of a snapshot whose names look like a killed restore's temporary files
(``.drkit-restore-PID-N``, that PID not running). Restoring into a target that holds them (a second
restore with --overwrite) removed them as leftovers before planning: the file was lost while the
restore said "nothing was written", a directory so named failed the restore (exit 1). They are now
restored like any entry; a real leftover (a regular file the snapshot does not have) is still
removed. Oracle: rsync -aHAXS --checksum against the source."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from clirun import drkit
from treediff import rsync_diff

ENV = {"DRKIT_PASSWORD": "tmp-names"}
DEAD = 999_999_999  # above any pid_max: no such process
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (scripts/install.sh)"),
]


def _restore(repo: str, target: Path, *extra: str) -> None:
    proc = drkit("restore", "files", "latest", "--repo", repo, "--target", str(target), *extra, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()


def _backed_up_and_restored(tmp_path: Path, src: Path) -> tuple[str, Path]:
    """``src`` backed up into a new repository and restored into ``target``: the repository, the target."""
    repo, target = str(tmp_path / "repo"), tmp_path / "target"
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    assert drkit("backup", "files", "--repo", repo, str(src), env=ENV).returncode == 0
    _restore(repo, target)
    return repo, target


@pytest.mark.parametrize("overwrite", ["always", "if-changed", "never"])
def test_entries_named_like_temporary_files_are_restored_again(tmp_path: Path, overwrite: str) -> None:
    src = tmp_path / "src"
    (src / f".drkit-restore-{DEAD}-1").mkdir(parents=True)
    (src / f".drkit-restore-{DEAD}-1" / "inner").write_text("inner\n")
    (src / f".drkit-restore-{DEAD}-2").write_text("a user's file\n")
    (src / "plain").write_text("plain\n")
    repo, target = _backed_up_and_restored(tmp_path, src)
    assert rsync_diff(src, target / "src") == []
    leftover = target / "src" / f".drkit-restore-{DEAD}-3"  # what a killed restore leaves: not in the snapshot
    leftover.write_text("half")
    _restore(repo, target, "--overwrite", overwrite)
    assert not leftover.exists()
    # under `never` an existing directory keeps its own metadata: its mtime moved when the leftover went
    assert rsync_diff(src, target / "src", *(["--omit-dir-times"] if overwrite == "never" else [])) == []


def test_a_refused_restore_leaves_a_file_named_like_a_temporary_one(tmp_path: Path) -> None:
    """Without --overwrite a restore over its own earlier result is refused, "nothing was written":
    the snapshot's file that looked like a leftover was deleted all the same."""
    src = tmp_path / "src"
    src.mkdir()
    (src / f".drkit-restore-{DEAD}-7").write_text("a user's file\n")
    (src / "plain").write_text("in the way\n")
    repo, target = _backed_up_and_restored(tmp_path, src)
    proc = drkit("restore", "files", "latest", "--repo", repo, "--target", str(target), env=ENV)
    assert proc.returncode == 2 and b"nothing was written" in proc.stderr
    assert rsync_diff(src, target / "src") == []
