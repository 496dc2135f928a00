"""A restore not run as root, into a target holding the read-only (0555) or closed (0000) directories
of an earlier restore of the same tree — re-running a restore with --overwrite --delete to bring a
copy up to date, as docs/files.md advises after a killed restore. It failed: "Permission denied"
(exit 2) writing into a 0555 directory, "cannot read directory … of the target" for a 0000 one.
Directories the restoring user owns are now opened to it while the restore works in them and get
the snapshot's mode (or, where the snapshot's metadata is not applied, their own) back, as rsync
does. Oracle: rsync -aHAXS --checksum --numeric-ids against the source."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import drkit, drkit_as_nobody
from treediff import rsync_diff

ENV = {"DRKIT_PASSWORD": "read-only-dirs"}
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run drkit as another user"),
    pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (scripts/install.sh)"),
]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="drkit-rodirs-", dir="/tmp"))  # tmp_path is 0700 root
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", str(path)], check=False)
        shutil.rmtree(path, ignore_errors=True)


def _as_nobody(*args: str) -> subprocess.CompletedProcess[bytes]:
    return drkit_as_nobody(*args, env=ENV)


def _give_to_nobody(root: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    for p in [root, *root.rglob("*")]:
        os.chown(p, nobody.pw_uid, nobody.pw_gid, follow_symlinks=False)


def _backup(repo: Path, src: Path) -> None:
    assert drkit("backup", "files", str(src), "--repo", str(repo), env=ENV).returncode == 0
    _give_to_nobody(repo)


def test_restore_again_into_read_only_and_closed_directories(open_dir: Path) -> None:
    src, repo, out = open_dir / "src", open_dir / "repo", open_dir / "out"
    (src / "ro").mkdir(parents=True)
    (src / "ro" / "f").write_text("read-only file\n")
    (src / "shut" / "inner").mkdir(parents=True)
    (src / "shut" / "inner" / "g").write_text("behind a 0000 directory\n")
    _give_to_nobody(src)
    for path, mode in ((src / "ro" / "f", 0o444), (src / "ro", 0o555), (src / "shut", 0o000)):
        os.chmod(path, mode)
    assert drkit("init", "--repo", str(repo), env=ENV).returncode == 0
    _backup(repo, src)
    out.mkdir()
    _give_to_nobody(out)
    first = _as_nobody("restore", "files", "latest", "--repo", str(repo), "--target", str(out))
    assert first.returncode == 0, first.stderr.decode()
    assert rsync_diff(src, out / "src") == []

    os.chmod(src / "ro", 0o755)  # the source moves on: a new file in each directory, one file changed
    (src / "ro" / "new").write_text("new\n")
    (src / "ro" / "f").chmod(0o644)
    (src / "ro" / "f").write_text("changed\n")
    (src / "shut" / "inner" / "h").write_text("new too\n")
    _give_to_nobody(src)
    os.chmod(src / "ro" / "f", 0o444)
    os.chmod(src / "ro", 0o555)
    _backup(repo, src)
    (out / "src" / "ro").chmod(0o755)  # and the copy holds an entry the snapshot does not have
    (out / "src" / "ro" / "stray").write_text("stray\n")
    (out / "src" / "ro").chmod(0o555)
    again = _as_nobody(
        "restore", "files", "latest", "--repo", str(repo), "--target", str(out), "--overwrite", "always", "--delete"
    )
    assert again.returncode == 0, again.stderr.decode()
    assert rsync_diff(src, out / "src") == []


def test_a_directory_keeping_its_own_metadata_gets_its_own_mode_back(open_dir: Path) -> None:
    """Under --overwrite never an existing directory keeps its metadata: opened for the restore, then closed."""
    src, repo, out = open_dir / "src", open_dir / "repo", open_dir / "out"
    (src / "ro").mkdir(parents=True)
    (src / "ro" / "f").write_text("f\n")
    _give_to_nobody(src)
    assert drkit("init", "--repo", str(repo), env=ENV).returncode == 0
    _backup(repo, src)
    (out / "src" / "ro").mkdir(parents=True)
    _give_to_nobody(out)
    (out / "src" / "ro").chmod(0o500)
    proc = _as_nobody("restore", "files", "latest", "--repo", str(repo), "--target", str(out), "--overwrite", "never")
    assert proc.returncode == 0, proc.stderr.decode()
    assert (out / "src" / "ro" / "f").read_text() == "f\n"
    assert (out / "src" / "ro").stat().st_mode & 0o7777 == 0o500
