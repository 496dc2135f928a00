"""Restored files' modes, checked by an independent oracle (rsync -aHAXS --dry-run --checksum
--itemize-changes printing nothing, and each mode read back with ``stat``), whatever the restoring
process's umask: a restored file is created with its final mode where nothing after the creation
would change it (``fetch.Writeout.final_mode``: no fchmod), else 0o600 and its mode set last. Each
mode is tried on an empty file, a small (buffered) and a large (``O_DIRECT``) one, and next to an
xattr, an ACL, and set-id and sticky bits (these must take the fchmod path)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from clirun import drkit
from treediff import rsync_diff

ENV = {"DRKIT_PASSWORD": "correct horse"}
MTIME_NS = 1_650_000_000_987_654_321
MODES = (0o000, 0o400, 0o444, 0o600, 0o604, 0o640, 0o644, 0o660, 0o666, 0o700, 0o755, 0o777, 0o1644, 0o4755, 0o2750)
pytestmark = pytest.mark.skipif(
    None in (shutil.which("rsync"), shutil.which("setfacl")), reason="needs rsync and setfacl (scripts/install.sh)"
)


def _ok(*args: str) -> None:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()


def _tree(root: Path) -> dict[str, int]:
    """Files of every mode and size kind; returns each file's expected mode."""
    src = root / "src"
    src.mkdir()
    want: dict[str, int] = {}
    large = os.urandom(3 << 20)  # >= DIRECT_FROM: the O_DIRECT writer
    for mode in MODES:
        for kind, data in (("empty", b""), ("small", f"mode {mode:o}\n".encode() * 50), ("large", large)):
            name = f"{kind}-{mode:04o}"
            (src / name).write_bytes(data)
            os.chmod(src / name, mode)
            want[name] = mode
    (src / "xattr-0644").write_text("x")
    os.setxattr(src / "xattr-0644", "user.k", b"v")
    (src / "acl-0640").write_text("a")
    subprocess.run(["setfacl", "-m", "u:nobody:r", str(src / "acl-0640")], check=True)
    os.chmod(src / "acl-0640", 0o640)
    want["xattr-0644"] = 0o644
    for p in [*src.iterdir(), src]:
        os.utime(p, ns=(MTIME_NS, MTIME_NS))
    return want


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o000, 0o002])
def test_modes_restored_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    want = _tree(tmp_path)
    src, repo, out = tmp_path / "src", str(tmp_path / "repo"), tmp_path / "out"
    _ok("init", "--repo", repo)
    _ok("backup", "files", str(src), "--repo", repo, "--quiet")
    old = os.umask(umask)  # the drkit process inherits it
    try:
        _ok("restore", "latest", "--target", str(out), "--repo", repo, "--special-files")
    finally:
        os.umask(old)
    assert rsync_diff(src, out / "src") == []
    got = {name: stat.S_IMODE(os.stat(out / "src" / name).st_mode) for name in want}
    assert got == want


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run drkit as another user")
def test_modes_restored_by_a_user_who_is_not_root() -> None:
    """Unprivileged: an unnamed file created 0o000 or 0o444 is still written and linked by its owner."""
    nobody = pwd.getpwnam("nobody")
    base = Path(tempfile.mkdtemp(prefix="drkit-modes-"))
    try:
        base.chmod(0o755)
        want = _tree(base)
        src, repo, out = base / "src", base / "repo", base / "out"
        _ok("init", "--repo", str(repo))
        _ok("backup", "files", str(src), "--repo", str(repo), "--quiet")
        out.mkdir()
        for p in [repo, *repo.rglob("*"), out]:
            os.chown(p, nobody.pw_uid, nobody.pw_gid)
        env = {**os.environ, **ENV, "HOME": "/nonexistent", "XDG_CACHE_HOME": "/nonexistent"}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
        argv = ["restore", "latest", "--target", str(out), "--repo", str(repo), "--special-files"]
        proc = subprocess.run(
            [sys.executable, "-m", "drkit.cli.main", *argv],
            user=nobody.pw_uid,
            group=nobody.pw_gid,
            extra_groups=[],
            umask=0o022,
            capture_output=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert proc.returncode in (0, 3), proc.stderr.decode()  # 3: root's trusted/ACL bits it may not set
        assert rsync_diff(src, out / "src", flags=("-rlptS",)) == []  # content, modes, mtimes (owner: nobody)
        got = {name: stat.S_IMODE(os.stat(out / "src" / name).st_mode) for name in want}
        assert got == want
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to restore owners")
def test_group_restored_as_root_into_a_setgid_directory(tmp_path: Path) -> None:
    """A file created in a setgid directory takes that directory's group, not the restoring process's:
    a file whose owner is the restoring user's (root:root here) must still be chowned back."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for name in ("f", "sub/g", "empty"):
        (src / name).write_bytes(b"x" * (name != "empty"))
        os.chown(src / name, 0, 0)
    for p in [*src.rglob("*"), src]:
        os.utime(p, ns=(MTIME_NS, MTIME_NS))
    repo, share = str(tmp_path / "repo"), tmp_path / "share"
    _ok("init", "--repo", repo)
    _ok("backup", "files", str(src), "--repo", repo, "--quiet")
    share.mkdir()
    os.chown(share, 0, pwd.getpwnam("nobody").pw_gid)  # a group that is not root's
    share.chmod(0o2775)
    _ok("restore", "latest", "--target", str(share), "--repo", repo)
    assert rsync_diff(src, share / "src") == []
    assert {p.name: p.stat().st_gid for p in (share / "src").rglob("*")} == {"f": 0, "sub": 0, "g": 0, "empty": 0}
