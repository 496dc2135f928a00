"""Files restores checked by an independent oracle, through the CLI: after every restore mode,
``rsync -aHAXS --dry-run --checksum --itemize-changes --numeric-ids SRC/ DST/`` (content, mode,
owner, nanosecond mtimes, hard links, symlinks, xattrs, ACLs) must print nothing, and each sparse
file must hold no more data than its source (SEEK_DATA/SEEK_HOLE; rsync does not compare
allocation). Modes: into an empty directory (local and S3 repositories), into a non-empty one
with each --overwrite/--delete, by --point-in-time, from a read-only source, and a source backed
up by a user who does not own it."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import DRKIT, drkit, drkit_as_nobody, one_line_error
from treediff import data_bytes, rsync_diff

ENV = {"DRKIT_PASSWORD": "correct horse"}
MTIME_NS = 1_700_000_000_123_456_789
ROOT = os.geteuid() == 0
NEEDS = [shutil.which(tool) for tool in ("rsync", "setfacl")]
pytestmark = pytest.mark.skipif(None in NEEDS, reason="needs rsync and setfacl (scripts/install.sh: rsync, acl)")


def _ok(*args: str) -> bytes:
    if args[0] == "restore":  # the oracle compares everything the snapshot has: special files and modes too
        args = (*args, "--special-files")
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def assert_same(src: Path, dst: Path) -> None:
    assert rsync_diff(src, dst, "--delete") == []  # --delete: an entry the source lacks is a difference too
    for path in src.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size > 1 << 16:
            twin = dst / path.relative_to(src)
            assert data_bytes(twin) <= data_bytes(path), path
            assert os.stat(twin).st_blocks <= os.stat(path).st_blocks + 16, path  # + extent blocks


def _sparse(path: Path, size: int, every: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)
        for off in range(every // 3, size, every):
            f.seek(off)
            f.write(os.urandom(3000))


def make_tree(root: Path, *, privileged: bool = ROOT) -> Path:
    """Every kind of entry and attribute drkit keeps (owner, trusted.* and security.* as root)."""
    src = root / "src"
    (src / "docs" / "deep").mkdir(parents=True)
    (src / "acl-dir").mkdir()
    (src / "empty").mkdir()
    (src / "docs" / "a.txt").write_text("alpha\n" * 3000)
    (src / "docs" / "deep" / "b.bin").write_bytes(os.urandom(200_000))
    (src / "exec.sh").write_text("#!/bin/sh\necho hi\n")
    (src / "zero").write_bytes(b"")
    (src / "link").symlink_to("docs/a.txt")
    (src / "dangling").symlink_to("../nowhere")
    os.link(src / "docs" / "a.txt", src / "hard")
    os.mkfifo(src / "fifo")
    _special_entries(src, privileged)
    _sparse(src / "sparse-small", 900_000, 100_000)  # buffered writer
    _sparse(src / "sparse-large", 24 << 20, 3 << 20)  # O_DIRECT writer
    _sparse(src / "disk-image", 96 << 20, 30 << 20)  # holes longer than a chunk: zero chunks not read (sparse.py)
    with open(src / "tail-hole", "wb") as f:
        f.write(os.urandom(5000))
        f.truncate(5 << 20)
    os.setxattr(src / "docs" / "a.txt", "user.mime", b"text/plain")
    os.setxattr(src / "docs", "user.dir", b"\x00\x01binary")
    os.setxattr(src / "sparse-large", "user.big", os.urandom(3000))
    subprocess.run(["setfacl", "-m", "u:nobody:r,g:nogroup:rw", str(src / "exec.sh")], check=True)
    subprocess.run(["setfacl", "-m", "u:nobody:rx", "-d", "-m", "u:nobody:r", str(src / "acl-dir")], check=True)
    if privileged:
        os.setxattr(src / "docs" / "deep" / "b.bin", "trusted.tag", b"t")
        os.setxattr(src / "zero", "security.drkit-test", b"s")
        nobody = pwd.getpwnam("nobody")
        os.chown(src / "docs" / "deep" / "b.bin", nobody.pw_uid, nobody.pw_gid)
        os.chown(src / "link", nobody.pw_uid, 4242, follow_symlinks=False)
    os.chmod(src / "exec.sh", 0o750)
    os.chmod(src / "docs" / "a.txt", 0o640)
    os.chmod(src / "empty", 0o711)
    for p in sorted(src.rglob("*"), reverse=True):  # directories after their entries
        os.utime(p, ns=(MTIME_NS, MTIME_NS + 7), follow_symlinks=False)
    return src


def _special_entries(src: Path, privileged: bool) -> None:
    """What a restore creates only with --special-files: sockets, devices, setuid/setgid/world-writable modes."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "socket"))
    for name, mode in (("setuid", 0o4755), ("setgid", 0o2711), ("world-writable", 0o666), ("both", 0o6777)):
        (src / name).write_text(f"#!/bin/sh\necho {name}\n")
        os.chmod(src / name, mode)
    for name, mode in (("shared", 0o2775), ("tmp", 0o1777), ("open-dir", 0o777)):
        (src / name).mkdir()
        (src / name / "inside").write_text(name)
        os.chmod(src / name, mode)
    if privileged:
        os.mknod(src / "null-like", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(src / "loop-like", stat.S_IFBLK | 0o660, os.makedev(7, 200))


@pytest.fixture(params=["local", "s3"])
def repo_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "local":
        return str(tmp_path / "repo")
    server = request.getfixturevalue("seaweedfs_server")
    server.apply_env(monkeypatch)
    return str(server.url(server.make_bucket("drkit-oracle"), f"files-{os.getpid()}-{id(tmp_path)}"))


def test_restore_into_an_empty_directory(tmp_path: Path, repo_url: str) -> None:
    """Before: xattrs and ACLs were dropped and sparse files came back allocated."""
    src = make_tree(tmp_path)
    _ok("init", "--repo", repo_url)
    _ok("backup", "files", str(src), "--repo", repo_url, "--quiet")
    _ok("restore", "latest", "--target", str(tmp_path / "out"), "--repo", repo_url)
    assert_same(src, tmp_path / "out" / "src")


def _changed(src: Path) -> None:
    """A second state of the tree: modified, added and removed entries, changed attributes."""
    (src / "docs" / "a.txt").write_text("alpha v2\n" * 2000)
    (src / "new.txt").write_text("new\n")
    (src / "zero").unlink()
    os.setxattr(src / "docs", "user.dir", b"v2")
    subprocess.run(["setfacl", "-b", str(src / "exec.sh")], check=True)
    for p in (src / "docs" / "a.txt", src / "new.txt", src / "docs", src):
        os.utime(p, ns=(MTIME_NS + 10**9, MTIME_NS + 10**9))


def _two_snapshots(tmp_path: Path) -> tuple[str, Path, Path, str]:
    """repo, source in its second state, a copy of its first state (taken by rsync), the first snapshot's
    end: --point-in-time restores the newest snapshot finished by then."""
    repo = str(tmp_path / "repo")
    src = make_tree(tmp_path)
    first_state = tmp_path / "first-state"
    subprocess.run(["rsync", "-aHAXS", "--numeric-ids", f"{src}/", f"{first_state}/"], check=True)
    _ok("init", "--repo", repo)
    first = json.loads(_ok("backup", "files", str(src), "--repo", repo, "--json"))
    _changed(src)
    _ok("backup", "files", str(src), "--repo", repo, "--quiet")
    times = {s["id"]: s["end_time"] for s in json.loads(_ok("snapshots", "--repo", repo, "--json"))}
    return repo, src, first_state, times[first["snapshot"]]


def test_restore_by_point_in_time(tmp_path: Path) -> None:
    repo, src, first_state, first_time = _two_snapshots(tmp_path)
    _ok("restore", "files", "--point-in-time", first_time, "--target", str(tmp_path / "out"), "--repo", repo)
    assert_same(first_state, tmp_path / "out" / "src")
    _ok("restore", "files", "latest", "--target", str(tmp_path / "out2"), "--repo", repo)
    assert_same(src, tmp_path / "out2" / "src")


def _stray(out: Path) -> None:
    (out / "stray.txt").write_text("not in any snapshot\n")
    (out / "docs" / "stray-dir").mkdir()
    (out / "docs" / "stray-dir" / "x").write_text("x")


@pytest.mark.parametrize("overwrite", ["always", "if-changed", "if-newer", "never"])
def test_restore_into_a_non_empty_directory(tmp_path: Path, overwrite: str) -> None:
    """The target holds the first snapshot's restore plus stray entries; the second snapshot is
    restored over it. Before: no policy existed and old and new files were silently mixed."""
    repo, src, first_state, first_time = _two_snapshots(tmp_path)
    out = tmp_path / "out"
    _ok("restore", "files", "--point-in-time", first_time, "--target", str(out), "--repo", repo)
    _stray(out / "src")
    before = rsync_diff(first_state, out / "src", "--delete")
    refused = drkit("restore", "latest", "--target", str(out), "--repo", repo, env=ENV)
    assert refused.returncode == 2 and "--overwrite" in refused.stderr.decode(), refused.stderr.decode()
    assert "already holds" in one_line_error(refused)
    assert rsync_diff(first_state, out / "src", "--delete") == before  # nothing was written
    _ok("restore", "latest", "--target", str(out), "--repo", repo, "--overwrite", overwrite, "--delete")
    if overwrite in ("always", "if-changed"):
        assert_same(src, out / "src")
        assert rsync_diff(src, out / "src", "--delete") == []  # the stray entries went too
    else:  # entries of the first state that are not older than the snapshot's stay as they were
        changed = {line.split(" ", 1)[1].strip() for line in rsync_diff(src, out / "src", "--delete")}
        assert changed == KEPT[overwrite], changed
        assert (out / "src" / "new.txt").read_text() == "new\n" and not (out / "src" / "stray.txt").exists()


# what rsync still finds different: directories keep their own metadata under if-newer and never;
# exec.sh lost its ACL in the second state with an unchanged mtime, so if-newer keeps it too
KEPT = {"if-newer": {"./", "docs/", "exec.sh"}, "never": {"./", "docs/", "exec.sh", "docs/a.txt", "hard"}}


def test_always_without_delete_keeps_and_reports_stray_entries(tmp_path: Path) -> None:
    repo, src, first_state, first_time = _two_snapshots(tmp_path)
    out = tmp_path / "out"
    _ok("restore", "files", "--point-in-time", first_time, "--target", str(out), "--repo", repo)
    _stray(out / "src")
    proc = drkit("restore", "latest", "--target", str(out), "--repo", repo, "--delete", env=ENV)
    assert proc.returncode == 2 and "--delete needs an --overwrite" in one_line_error(proc)
    proc = drkit(
        "restore", "latest", "--target", str(out), "--repo", repo, "--overwrite", "always", "--special-files", env=ENV
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert "3 entries not in the snapshot left in place" in proc.stderr.decode()  # "zero" is gone since
    assert rsync_diff(src, out / "src", delete=False) == []  # the strays are kept: checked next
    leftover = {line.split(" ", 1)[1].strip() for line in rsync_diff(src, out / "src", "--delete")}
    assert leftover == {"zero", "stray.txt", "docs/stray-dir/", "docs/stray-dir/x"}, leftover


def test_read_only_source(tmp_path: Path) -> None:
    src = make_tree(tmp_path)
    for p in [src, *src.rglob("*")]:
        if not p.is_symlink():
            os.chmod(p, os.stat(p).st_mode & ~0o222)
    try:
        repo = str(tmp_path / "repo")
        _ok("init", "--repo", repo)
        _ok("backup", "files", str(src), "--repo", repo, "--quiet")
        _ok("restore", "latest", "--target", str(tmp_path / "out"), "--repo", repo)
        assert_same(src, tmp_path / "out" / "src")
        assert not os.stat(tmp_path / "out" / "src" / "docs").st_mode & 0o222
    finally:
        for p in [src, *src.rglob("*")]:
            if not p.is_symlink():
                os.chmod(p, os.stat(p).st_mode | 0o200)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory other users can reach (pytest's tmp_path sits under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="drkit-oracle-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _as_nobody(*args: str) -> subprocess.CompletedProcess[bytes]:
    return drkit_as_nobody(*args, env=ENV)


@pytest.mark.skipif(not ROOT, reason="needs root to run drkit as another user")
def test_tree_owned_by_another_user_backed_up_as_nobody(open_dir: Path) -> None:
    """A world-readable tree of root's, backed up by `nobody` (no trusted.* for it to see), restored by root."""
    tmp_path = open_dir
    src = make_tree(tmp_path, privileged=False)
    for p in [src, *src.rglob("*")]:
        if not p.is_symlink():
            os.chmod(p, os.stat(p).st_mode | (0o055 if p.is_dir() else 0o044))
    repo = tmp_path / "repo"
    repo.mkdir()
    os.chown(repo, pwd.getpwnam("nobody").pw_uid, -1)
    proc = _as_nobody("init", "--repo", str(repo))
    assert proc.returncode == 0, proc.stderr.decode()
    proc = _as_nobody("backup", "files", str(src), "--repo", str(repo), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["warnings"] == []
    _ok("restore", "latest", "--target", str(tmp_path / "out"), "--repo", str(repo))
    assert_same(src, tmp_path / "out" / "src")


@pytest.mark.skipif(not ROOT, reason="needs root to set trusted.* xattrs and run drkit as another user")
def test_xattr_the_restoring_user_cannot_set_is_a_warning_and_exit_3(open_dir: Path) -> None:
    tmp_path = open_dir
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("content\n")
    os.chmod(src / "f", 0o644)
    os.setxattr(src / "f", "trusted.only-root", b"1")
    os.setxattr(src / "f", "user.fine", b"2")
    repo = tmp_path / "repo"
    _ok("init", "--repo", str(repo))
    _ok("backup", "files", str(src), "--repo", str(repo), "--quiet")
    nobody = pwd.getpwnam("nobody").pw_uid
    for p in [repo, *repo.rglob("*")]:
        os.chown(p, nobody, -1)
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, nobody, -1)
    proc = _as_nobody("restore", "latest", "--target", str(out), "--repo", str(repo))
    err = proc.stderr.decode()
    assert proc.returncode == 3, err
    assert "trusted.only-root not restored" in err and "Traceback" not in err
    assert (out / "src" / "f").read_text() == "content\n"
    assert os.getxattr(out / "src" / "f", "user.fine") == b"2"


def test_a_killed_restore_leaves_no_partial_file_under_a_snapshot_name(tmp_path: Path) -> None:
    """Issue 20: a killed restore left truncated files under their final names. Files are now
    written unnamed (O_TMPFILE) and linked to their names when complete (where the file system has
    no O_TMPFILE: at temporary names, renamed when complete, and removed by the next restore), so a
    restore killed while writing a file leaves nothing of it."""
    repo = str(tmp_path / "repo")
    src = tmp_path / "src"
    src.mkdir()
    big = os.urandom(64 << 20)
    (src / "big.bin").write_bytes(big)
    _ok("init", "--repo", repo)
    _ok("backup", "files", str(src), "--repo", repo, "--quiet")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*DRKIT, "restore", "latest", "--target", str(out), "--repo", repo],
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while proc.poll() is None and not _writing_in(proc.pid, out / "src"):  # the file is being written
            time.sleep(0.001)
    finally:
        proc.kill()
    assert proc.wait() == -9, "the restore finished before it could be killed"
    assert not (out / "src" / "big.bin").exists() or (out / "src" / "big.bin").read_bytes() == big
    assert [p.name for p in (out / "src").iterdir()] in ([], ["big.bin"])  # nothing partial, no leftover
    _ok("restore", "latest", "--target", str(out), "--repo", repo, "--overwrite", "always", "--delete")
    assert rsync_diff(src, out / "src", "--delete") == []


def _writing_in(pid: int, directory: Path) -> bool:
    """Whether process ``pid`` or one of its worker processes (``fetch``'s process path) holds a file
    in ``directory`` open (unnamed: ``DIR/#INODE (deleted)``)."""
    return any(_holds_in(p, directory) for p in [pid, *_children(pid)])


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _holds_in(pid: int, directory: Path) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(f"{directory}/"):
                return True
        except OSError:
            continue
    return False


def test_restore_into_a_directory_with_a_default_acl(tmp_path: Path) -> None:
    """What the restore creates inherits the target's default ACL; the restored entries must end with
    their own ACLs (none, for most), as rsync -A would leave them."""
    src = make_tree(tmp_path)
    repo = str(tmp_path / "repo")
    _ok("init", "--repo", repo)
    _ok("backup", "files", str(src), "--repo", repo, "--quiet")
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["setfacl", "-d", "-m", "u:nobody:rwx,g:nogroup:rwx", str(out)], check=True)
    _ok("restore", "latest", "--target", str(out), "--repo", repo)
    assert_same(src, out / "src")


def test_restores_after_key_rotate_copy_to_s3_and_prune(
    tmp_path: Path, seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repository's own maintenance must not change what a restore gives: each snapshot restored
    after `key rotate` (old data under the old key, new data under the new), from an S3 copy made by
    `drkit copy` (re-chunked, re-encrypted), and after `forget` + `prune --grace 0` (the kept snapshot's
    data repacked or left alone) equals its source state, by rsync."""
    repo, src, first_state, first_time = _two_snapshots(tmp_path)
    _ok("key", "rotate", "--repo", repo)
    (src / "after-rotate.bin").write_bytes(os.urandom(300_000))  # sealed under the new key
    os.utime(src, ns=(MTIME_NS + 2 * 10**9, MTIME_NS + 2 * 10**9))
    _ok("backup", "files", str(src), "--repo", repo, "--quiet")
    _ok("restore", "files", "--point-in-time", first_time, "--target", str(tmp_path / "rotated"), "--repo", repo)
    assert_same(first_state, tmp_path / "rotated" / "src")

    seaweedfs_server.apply_env(monkeypatch)
    s3 = str(seaweedfs_server.url(seaweedfs_server.make_bucket("drkit-oracle-copy"), f"copy-{id(tmp_path)}"))
    _ok("init", "--repo", s3)
    from_env = {**ENV, "DRKIT_FROM_PASSWORD": ENV["DRKIT_PASSWORD"]}
    proc = drkit("copy", "--from-repo", repo, "--to-repo", s3, env=from_env)
    assert proc.returncode == 0, proc.stderr.decode()
    _ok("restore", "files", "--point-in-time", first_time, "--target", str(tmp_path / "copied-first"), "--repo", s3)
    assert_same(first_state, tmp_path / "copied-first" / "src")
    _ok("restore", "latest", "--target", str(tmp_path / "copied-latest"), "--repo", s3)
    assert_same(src, tmp_path / "copied-latest" / "src")

    _ok("forget", "--keep-last", "1", "--repo", repo)
    _ok("prune", "--grace", "0", "--repo", repo)
    _ok("check", "--read-data", "--repo", repo)
    _ok("restore", "latest", "--target", str(tmp_path / "pruned"), "--repo", repo)
    assert_same(src, tmp_path / "pruned" / "src")
