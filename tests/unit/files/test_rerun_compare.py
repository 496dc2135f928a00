"""A re-run against its parent snapshot (the walk's compare path): what it may take from the parent unread
(a file's content, an entry's extended attributes, a whole directory's tree blob) and what must make it
look again. Each change is checked through the restore against the source with rsync (treediff.py),
never through drkit's own tree alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tmpfs import can_mount_tmpfs, small_tmpfs
from treediff import rsync_diff

from drkit.repository import snapshots
from drkit.repository.pack import BLOB_TREE
from drkit.repository.reader import read_blob
from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.repository.writer import BlobWriter
from drkit.sources.files import Selection, filereads
from drkit.sources.files.ops import BackupRequest, BackupResult, backup_files, restore_files
from drkit.sources.files.xattrs import READ_AS as XATTRS_READ_AS


def _tree(root: Path) -> Path:
    src = root / "src"
    for d in ("a/b/c", "a/e", "f"):
        (src / d).mkdir(parents=True)
    for i, d in enumerate(("a", "a/b", "a/b/c", "a/e", "f", "f", "")):
        (src / d / f"file{i}").write_bytes(os.urandom(1000 + i) * 3)
    (src / "a" / "b" / "link").symlink_to("../file0")
    try:
        os.setxattr(src / "a" / "file0", "user.kept", b"v1")
        os.setxattr(src / "a" / "b", "user.dir", b"d")
    except OSError:
        pytest.skip("no user xattrs on this file system")
    _next_ctime_tick(src)
    return src


def _next_ctime_tick(src: Path) -> None:
    """Until the file-system clock has moved past every ctime in ``src``: a change from now on gives an
    entry another ctime (within one tick of the coarse clock it may not: why a parent's reads after a
    change in the same tick are trusted only as far as restic's and Borg's are)."""
    newest = max(os.lstat(p).st_ctime_ns for p in [src, *src.rglob("*")])
    probe = src.parent / "tick-probe"
    while True:
        probe.write_bytes(b"")
        if os.lstat(probe).st_ctime_ns > newest:
            probe.unlink()
            return


def _backup(repo: Repository, src: Path) -> BackupResult:
    return backup_files(repo, BackupRequest(paths=[str(src)]))


def _restored_equal(repo: Repository, snap: Snapshot, src: Path, out: Path) -> None:
    restore_files(repo, snap, str(out), Selection())
    assert rsync_diff(src, out / src.name) == []


def _trees_written(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The tree blobs handed to the writer from now on (stored, or found already stored)."""
    trees: list[bytes] = []
    real = BlobWriter.add_blob

    def noting(self: BlobWriter, blob_type: int, data: bytes) -> bytes:
        if blob_type == BLOB_TREE:
            trees.append(data)
        return real(self, blob_type, data)

    monkeypatch.setattr(BlobWriter, "add_blob", noting)
    return trees


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The entries whose extended attributes are listed (each ``llistxattr`` of the walk)."""
    calls: list[str] = []
    real = os.listxattr

    def noting(path: Any, *args: Any, **kwargs: Any) -> list[str]:
        calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "listxattr", noting)
    return calls


def test_an_unchanged_rerun_lists_no_attributes_and_writes_no_tree(
    repo: Repository, tmp_path: Path, listed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: every entry's attributes were listed (one ``llistxattr`` through /proc each) and every
    directory's tree encoded and hashed again, though the parent snapshot held the same."""
    src = _tree(tmp_path)
    first = _backup(repo, src).snapshot
    assert len(listed) == sum(1 for _ in src.rglob("*")) + 1
    listed.clear()
    trees = _trees_written(monkeypatch)
    again = _backup(repo, src).snapshot
    # the path given is listed unless its device's file system is known already (no directory to ask it)
    assert listed in ([], [str(src)]) and trees == []
    assert again.root["tree"] == first.root["tree"]
    assert again.meta[XATTRS_READ_AS] == os.geteuid()
    _restored_equal(repo, again, src, tmp_path / "out")


def test_metadata_only_changes_reach_the_new_snapshot(repo: Repository, tmp_path: Path, listed: list[str]) -> None:
    src = _tree(tmp_path)
    first = _backup(repo, src).snapshot
    os.chmod(src / "a" / "b" / "file1", 0o600)
    os.setxattr(src / "a" / "b" / "c" / "file2", "user.added", b"new")
    os.setxattr(src / "a" / "file0", "user.kept", b"v2")  # same name and length, another value
    os.removexattr(src / "a" / "b", "user.dir")
    os.chown(src / "f" / "file4", os.getuid(), os.getgid())  # a chown to the same owner: only the ctime
    if shutil.which("setfacl"):
        subprocess.run(["setfacl", "-m", "u:12345:r", str(src / "f" / "file5")], check=True)
        subprocess.run(["setfacl", "-d", "-m", "u:12345:rx", str(src / "a" / "e")], check=True)
    listed.clear()
    second = _backup(repo, src).snapshot
    assert second.root["tree"] != first.root["tree"]
    assert {os.path.basename(p) for p in listed} >= {"file1", "file2", "file0", "b", "file4"}
    _restored_equal(repo, second, src, tmp_path / "out")


def test_content_changed_with_size_and_mtime_put_back_is_read_again(repo: Repository, tmp_path: Path) -> None:
    """``touch -r``: the same size and mtime, another content; only the ctime tells."""
    src = _tree(tmp_path)
    _backup(repo, src)
    path = src / "a" / "b" / "c" / "file2"
    st = os.stat(path)
    path.write_bytes(os.urandom(st.st_size))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.stat(path).st_size, os.stat(path).st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    second = _backup(repo, src).snapshot
    assert (second.stats["files_read"], second.stats["files_changed"]) == (1, 1)
    _restored_equal(repo, second, src, tmp_path / "out")


def _rewrite_while_read(monkeypatch: pytest.MonkeyPatch, name: str, put_back_mtime: bool) -> None:
    """``name`` is rewritten (same size) right after its bytes are read, before the reader's last
    ``fstat``: the snapshot holds the old bytes; with ``put_back_mtime`` its mtime is set back, so that
    nothing but the ctime says it changed."""
    real = filereads.read_all

    def rewriting(fd: int, size: int) -> bytes:
        data = real(fd, size)
        path = os.readlink(f"/proc/self/fd/{fd}")
        if os.path.basename(path) == name:
            st = os.stat(path)
            with open(path, "r+b") as f:
                f.write(os.urandom(st.st_size))
            if put_back_mtime:
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        return data

    monkeypatch.setattr(filereads, "read_all", rewriting)


@pytest.mark.parametrize("put_back_mtime", [False, True])
def test_a_file_rewritten_while_read_is_read_again_by_the_next_run(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, put_back_mtime: bool
) -> None:
    """Before: the node kept the times of the reader's last ``fstat``, after the rewrite, so every later
    run found the file unchanged and kept the bytes read before it: a snapshot that restores content
    the file no longer had, with no warning (the first run's warning, if any, was the only one)."""
    src = _tree(tmp_path)
    (src / "a" / "e" / "file3").write_bytes(b"new " * 500)  # new: read in the first run
    _next_ctime_tick(src)
    with monkeypatch.context() as m:
        _rewrite_while_read(m, "file3", put_back_mtime)
        first = _backup(repo, src)
    assert bool(first.warnings) is not put_back_mtime  # the mtime put back: no run can tell during the read
    second = _backup(repo, src).snapshot
    assert second.stats["files_read"] == 1
    _restored_equal(repo, second, src, tmp_path / "out")


def test_an_attribute_set_between_the_scan_and_the_read_reaches_the_next_snapshot(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attributes are listed when the entry is ``lstat``ed, its bytes read later (by a reader, ahead):
    the ctime kept must be the one seen before the listing, or a change in between is never seen."""
    src = _tree(tmp_path)
    (src / "f" / "late").write_bytes(b"late" * 100)
    _next_ctime_tick(src)
    real = filereads.read_all

    def setting(fd: int, size: int) -> bytes:
        path = os.readlink(f"/proc/self/fd/{fd}")
        if os.path.basename(path) == "late":
            os.setxattr(path, "user.late", b"set while backed up")
        return real(fd, size)

    with monkeypatch.context() as m:
        m.setattr(filereads, "read_all", setting)
        _backup(repo, src)
    second = _backup(repo, src).snapshot
    _restored_equal(repo, second, src, tmp_path / "out")


def test_attributes_are_listed_again_after_a_run_that_failed_to_read_one(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listed: list[str]
) -> None:
    src = _tree(tmp_path)
    real = os.getxattr

    def failing(path: Any, name: str, *args: Any, **kwargs: Any) -> bytes:
        if name == "user.kept":
            raise OSError(5, "Input/output error")
        return real(path, name, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(os, "getxattr", failing)
        first = _backup(repo, src)
    assert first.warnings and XATTRS_READ_AS not in first.snapshot.meta
    listed.clear()
    second = _backup(repo, src).snapshot
    assert len(listed) == sum(1 for _ in src.rglob("*")) + 1
    assert second.meta[XATTRS_READ_AS] == os.geteuid()
    _restored_equal(repo, second, src, tmp_path / "out")


@pytest.mark.parametrize("read_as", [None, "other user"])
def test_a_parent_whose_attributes_may_be_incomplete_is_not_trusted_for_them(
    repo: Repository, tmp_path: Path, listed: list[str], read_as: str | None
) -> None:
    """A parent written by a drkit that kept no attributes (or by another user, who may list fewer:
    ``trusted.*`` is listed to root only) says nothing about them: each entry is listed again."""
    src = _tree(tmp_path)
    first = _backup(repo, src).snapshot
    meta = {k: v for k, v in first.meta.items() if k != XATTRS_READ_AS}
    if read_as is not None:
        meta[XATTRS_READ_AS] = os.geteuid() + 1
    doc = {**first.to_doc(), "meta": meta}
    older = snapshots.save(repo.manifests, Snapshot.from_doc("", doc))
    repo.manifests.delete(snapshots.KIND, first.id)
    listed.clear()
    second = _backup(repo, src).snapshot
    assert second.parent == older.id
    assert len(listed) == sum(1 for _ in src.rglob("*")) + 1
    _restored_equal(repo, second, src, tmp_path / "out")


def test_a_deep_change_writes_the_trees_above_it_and_reuses_the_others(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _tree(tmp_path)
    first = _backup(repo, src).snapshot
    (src / "a" / "b" / "c" / "new").write_bytes(b"x")
    written = _trees_written(monkeypatch)
    second = _backup(repo, src).snapshot
    assert second.root["tree"] != first.root["tree"]
    assert len(written) == 5  # c, b, a, src and the synthetic root: not a/e, f
    _restored_equal(repo, second, src, tmp_path / "out")


def test_a_parent_tree_holding_a_field_this_version_does_not_know_is_not_reused(
    repo: Repository, tmp_path: Path
) -> None:
    """A newer drkit may write a field this one drops when it decodes the tree: the nodes compare equal,
    but the parent's blob says more than this run saw, so it is written anew."""
    src = _tree(tmp_path)
    first = _backup(repo, src).snapshot
    root = json.loads(read_blob(repo, bytes.fromhex(first.root["tree"])))
    top = json.loads(read_blob(repo, bytes.fromhex(root["nodes"][0]["subtree"])))
    top["nodes"][0]["flags_from_the_future"] = 1
    with BlobWriter(repo=repo) as writer:
        crafted = writer.add_blob(BLOB_TREE, json.dumps(top).encode()).hex()
        root["nodes"][0]["subtree"] = crafted
        crafted_root = writer.add_blob(BLOB_TREE, json.dumps(root).encode()).hex()
        writer.flush()
    newer = snapshots.save(
        repo.manifests, Snapshot.from_doc("", {**first.to_doc(), "root": {**first.root, "tree": crafted_root}})
    )
    repo.manifests.delete(snapshots.KIND, first.id)
    second = _backup(repo, src).snapshot
    assert second.parent == newer.id
    assert second.root["tree"] == first.root["tree"] != crafted_root
    _restored_equal(repo, second, src, tmp_path / "out")


def _can_drop_sys_admin() -> bool:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    with open("/proc/self/status") as f:
        eff = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    return bool(eff & (1 << 21))  # CAP_SYS_ADMIN: trusted.* is listed to it only


@pytest.mark.skipif(not _can_drop_sys_admin(), reason="needs root with CAP_SYS_ADMIN and setpriv")
def test_a_parent_read_by_root_without_cap_sys_admin_is_not_trusted_for_attributes(tmp_path: Path) -> None:
    """The kernel lists ``trusted.*`` to CAP_SYS_ADMIN only, not to a uid: root in a container without it
    (docker's default) sees none, and no error. A run by full root after such a parent must list again,
    or the snapshot keeps missing every ``trusted.*`` attribute (overlayfs' upper dirs, glusterfs) with
    exit 0 until each entry's ctime changes."""
    from clirun import DRKIT

    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_bytes(b"hello")
    try:
        os.setxattr(src / "sub" / "f", "trusted.kept", b"important")
    except OSError:
        pytest.skip("no trusted xattrs on this file system")
    _next_ctime_tick(src)
    (tmp_path / "pw").write_text("pw")
    env = {**os.environ, "DRKIT_REPOSITORY": str(tmp_path / "repo"), "DRKIT_PASSWORD_FILE": str(tmp_path / "pw")}
    drop = ["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", "--"]
    for argv in ([*DRKIT, "init"], [*drop, *DRKIT, "backup", "files", str(src)], [*DRKIT, "backup", "files", str(src)]):
        proc = subprocess.run(argv, env=env, capture_output=True, check=False, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode()
    out = tmp_path / "out"
    proc = subprocess.run([*DRKIT, "restore", "files", "latest", "--target", str(out)], env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    assert rsync_diff(src, out / "src") == []


def test_on_a_file_system_not_known_to_update_the_ctime_every_entry_is_listed(
    repo: Repository, tmp_path: Path, listed: list[str]
) -> None:
    """On tmpfs (older kernels kept the ctime on a trusted.* or security.* change; FUSE and network file
    systems are alike: their ctime is another's) an unchanged entry's attributes are listed every run."""
    if (why := can_mount_tmpfs()) is not None:
        pytest.skip(why)
    with small_tmpfs(tmp_path / "mnt", 16) as mnt:
        src = _tree(mnt)
        _backup(repo, src)
        listed.clear()
        again = _backup(repo, src).snapshot
        assert len(listed) == sum(1 for _ in src.rglob("*")) + 1
        os.setxattr(src / "a" / "file0", "user.kept", b"v2")
        _restored_equal(repo, _backup(repo, src).snapshot, src, tmp_path / "out")
    assert again.meta[XATTRS_READ_AS] == os.geteuid()


def test_a_device_number_once_btrfs_is_not_trusted_on_the_tmpfs_given_it_after(
    repo: Repository, tmp_path: Path, listed: list[str]
) -> None:
    """Anonymous device numbers (0:N) are handed out again after an unmount: a process that ran a backup
    of a Btrfs (its ctime trusted) must not trust the ctime of the tmpfs (or FUSE, NFS) later given the
    same number. Before: the device's answer was kept for the process's life (the daemon's: days)."""
    if (why := can_mount_tmpfs()) is not None:
        pytest.skip(why)
    if shutil.which("mkfs.btrfs") is None:
        pytest.skip("no mkfs.btrfs")
    image, mnt = tmp_path / "btrfs.img", tmp_path / "mnt"
    with open(image, "wb") as f:
        f.truncate(200 << 20)
    if subprocess.run(["mkfs.btrfs", "-q", str(image)], capture_output=True).returncode != 0:
        pytest.skip("mkfs.btrfs failed")
    mnt.mkdir()
    if subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a loop device")
    try:
        src = _tree(mnt)
        dev = os.stat(src).st_dev
        _backup(repo, src)
        _backup(repo, src)  # the device's file system asked (Btrfs: trusted)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
    holders: list[Path] = []  # tmpfs mounts holding the lower free numbers until one is given ``dev``
    try:
        for i in range(8):
            with_dev = tmp_path / f"hold{i}"
            with_dev.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(with_dev)], check=True)
            holders.append(with_dev)
            if os.stat(with_dev).st_dev == dev:
                break
        else:
            pytest.skip("the device number was not handed out again")
        src = _tree(holders[-1])
        _backup(repo, src)
        listed.clear()
        _backup(repo, src)
        assert len(listed) == sum(1 for _ in src.rglob("*")) + 1  # tmpfs: every entry listed
    finally:
        for held in holders:
            subprocess.run(["umount", "-l", str(held)], capture_output=True)
