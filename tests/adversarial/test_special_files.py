"""Restores must not hand out privileges a snapshot carries unless asked: a files restore (as root above all)
creates no device node, FIFO or socket and sets no setuid, setgid or world-writable bit without
--special-files (each is a warning, exit 3); with it, the tree comes back exactly (rsync -aHAXS, devices
included). The base-backup unpacker never sets those bits and refuses device nodes and FIFOs."""

from __future__ import annotations

import hashlib
import io
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from hostile_kit import DRKIT, ENV, ok, run, same_tree

from drkit.core.errors import IntegrityError
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.repository.streams import BundleWriter, SourceRef
from drkit.sources.postgres.physical import extract_base
from storage_backends.testing.memory import MemoryBackend

ROOT = os.geteuid() == 0
MTIME_NS = 1_700_000_000_000_000_000
FILES = {"setuid": 0o4755, "setgid": 0o2711, "both": 0o6777, "world-writable": 0o666, "plain": 0o640}
DIRS = {"open-dir": 0o777, "tmp": 0o1777, "shared": 0o2775}


def _tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name, mode in FILES.items():
        (src / name).write_text(f"#!/bin/sh\necho {name}\n")
        os.chmod(src / name, mode)
    for name, mode in DIRS.items():
        (src / name).mkdir()
        (src / name / "f").write_text(name)
        os.chmod(src / name, mode)
    os.mkfifo(src / "fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "socket"))
    if ROOT:
        os.mknod(src / "mem-like", stat.S_IFCHR | 0o666, os.makedev(1, 1))
        os.mknod(src / "disk-like", stat.S_IFBLK | 0o660, os.makedev(8, 0))
    for p in sorted(src.rglob("*"), reverse=True):
        os.utime(p, ns=(MTIME_NS, MTIME_NS), follow_symlinks=False)
    os.utime(src, ns=(MTIME_NS, MTIME_NS))
    return src


def _expected(src: Path, dst: Path) -> None:
    """What the default restore must give, made by rsync without devices or specials, then chmod."""
    subprocess.run(["rsync", "-aHAXS", "--no-D", f"{src}/", f"{dst}/"], check=True)
    for name, mode in FILES.items():
        os.chmod(dst / name, mode & ~0o6002)
    os.chmod(dst / "open-dir", 0o775)  # world-writable without the sticky bit; tmp (1777) and shared keep theirs


def _backed_up(tmp_path: Path) -> tuple[Path, Path]:
    src, repo = _tree(tmp_path), tmp_path / "repo"
    ok("init", "--repo", str(repo))
    ok("backup", "files", str(src), "--repo", str(repo), "--quiet")
    return src, repo


def test_default_restore_creates_no_special_file_and_no_privileged_mode(tmp_path: Path) -> None:
    src, repo = _backed_up(tmp_path)
    out = tmp_path / "out"
    proc = run("restore", "latest", "--target", str(out), "--repo", str(repo))
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "src/setuid: setuid bit cleared (mode 4755 restored as 0755; --special-files keeps it)" in proc.stderr
    assert "src/fifo: FIFO not restored (--special-files creates it)" in proc.stderr
    specials = 4 if ROOT else 2
    assert f"{specials} device nodes, FIFOs or sockets not restored" in proc.stderr
    assert "5 setuid, setgid or world-writable modes or file capabilities restricted" in proc.stderr  # 4 files, dir
    expected = tmp_path / "expected"
    _expected(src, expected)
    same_tree(expected, out / "src")
    for path in (out / "src").rglob("*"):
        mode = path.lstat().st_mode
        assert stat.S_ISREG(mode) or stat.S_ISDIR(mode), path
        assert not mode & (stat.S_ISUID | stat.S_ISGID) or stat.S_ISDIR(mode), path


def test_special_files_flag_restores_the_tree_exactly(tmp_path: Path) -> None:
    src, repo = _backed_up(tmp_path)
    ok("restore", "latest", "--target", str(tmp_path / "out"), "--repo", str(repo), "--special-files")
    same_tree(src, tmp_path / "out" / "src")  # rsync -aHAXS: devices (numbers), FIFOs, sockets, modes
    if ROOT:
        assert (tmp_path / "out" / "src" / "mem-like").lstat().st_rdev == os.makedev(1, 1)


def test_existing_special_file_is_left_alone_not_deleted_as_extra(tmp_path: Path) -> None:
    """A FIFO the snapshot has but the restore does not create: what the target holds there stays, even with
    --delete (it is not an entry the snapshot lacks)."""
    _, repo = _backed_up(tmp_path)
    out = tmp_path / "out"
    (out / "src").mkdir(parents=True)
    os.mkfifo(out / "src" / "fifo")
    proc = run("restore", "latest", "--target", str(out), "--repo", str(repo), "--overwrite", "always", "--delete")
    assert proc.returncode == 3, proc.stderr
    assert stat.S_ISFIFO((out / "src" / "fifo").lstat().st_mode)


def _base_backup(members: list[tarfile.TarInfo], data: dict[str, bytes]) -> tuple[Repository, object]:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for info in members:
            payload = data.get(info.name)
            if payload is not None:
                info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    out.seek(0)
    repo = Repository.init(MemoryBackend(), "pw", RepoConfig(pack_size=1 << 20))
    with BundleWriter(repo) as bundle:
        bundle.add("base", out)
        return repo, bundle.commit(SourceRef("postgres", "c", meta={"mode": "physical"}))


def _member(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, 1_700_000_000
    return info


def test_base_backup_sets_no_setuid_setgid_sticky_or_world_write(tmp_path: Path) -> None:
    """A crafted base backup (written with the key) asking for 04777 and friends: the data directory gets
    the permission bits alone, owner and group only for writing. Before: 04777 was set as it was."""
    data = {"bin/shell": b"#!/bin/sh\nexec sh\n", "base/1/1259": os.urandom(9000), "PG_VERSION": b"15\n"}
    members = [
        _member("bin", tarfile.DIRTYPE, 0o2777),
        _member("bin/shell", tarfile.REGTYPE, 0o4777),
        _member("base", tarfile.DIRTYPE, 0o1777),
        _member("base/1", tarfile.DIRTYPE, 0o700),
        _member("base/1/1259", tarfile.REGTYPE, 0o6640),
        _member("PG_VERSION", tarfile.REGTYPE, 0o600),
    ]
    repo, snap = _base_backup(members, data)
    extract_base(repo, snap, tmp_path)  # type: ignore[arg-type]
    want = {"bin": 0o775, "bin/shell": 0o775, "base": 0o775, "base/1": 0o700, "base/1/1259": 0o640, "PG_VERSION": 0o600}
    got = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.lstat().st_mode) for p in tmp_path.rglob("*")}
    assert got == want, {k: oct(v) for k, v in got.items()}
    for name, payload in data.items():  # content through an independent hash
        assert hashlib.sha256((tmp_path / name).read_bytes()).digest() == hashlib.sha256(payload).digest()


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_base_backup_with_a_device_node_or_fifo_is_refused(tmp_path: Path, kind: bytes) -> None:
    node = _member("dev-node", kind, 0o666)
    node.devmajor, node.devminor = 1, 1
    repo, snap = _base_backup([_member("PG_VERSION", tarfile.REGTYPE, 0o600), node], {"PG_VERSION": b"15\n"})
    with pytest.raises(IntegrityError, match="not handled"):
        extract_base(repo, snap, tmp_path)  # type: ignore[arg-type]
    assert not (tmp_path / "dev-node").exists()


def test_a_files_drill_verifies_what_the_default_restore_makes(tmp_path: Path) -> None:
    """A drill restores with the default (no special files, restricted modes) and checks exactly that: its
    verification passes on a faithful default restore and fails once a restricted bit reappears."""
    from drkit.sources.files import Selection
    from drkit.sources.files.drills.verify import verify_files
    from drkit.sources.files.ops import BackupRequest, backup_files, restore_files

    src = _tree(tmp_path)
    repo = Repository.init(MemoryBackend(), "pw", RepoConfig(pack_size=1 << 20))
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    stats = restore_files(repo, snap, str(tmp_path / "out"), Selection())
    assert stats.specials_skipped == (4 if ROOT else 2) and stats.modes_restricted == 5
    checks = {c.name: c for c in verify_files(repo, snap.root["tree"], tmp_path / "out")}
    assert all(c.ok for c in checks.values()), {n: c.detail for n, c in checks.items()}
    os.chmod(tmp_path / "out" / "src" / "setuid", 0o4755)
    checks = {c.name: c for c in verify_files(repo, snap.root["tree"], tmp_path / "out")}
    assert not checks["files.metadata"].ok and "setuid" in checks["files.metadata"].detail


@pytest.mark.skipif(not ROOT, reason="needs root to make device nodes and run drkit as another user")
def test_device_nodes_a_non_root_restore_cannot_make_are_warnings(tmp_path: Path) -> None:
    """Before, a non-root restore skipped device nodes without a word and exited 0."""
    base = Path(tempfile.mkdtemp(prefix="drkit-special-"))
    try:
        base.chmod(0o755)
        src, repo = _backed_up(base)
        nobody = pwd.getpwnam("nobody")
        out = base / "out"
        out.mkdir()
        for p in [out, repo, *repo.rglob("*")]:
            os.chown(p, nobody.pw_uid, -1)
        proc = subprocess.run(
            [*DRKIT, "restore", "latest", "--target", str(out), "--repo", str(repo), "--special-files"],
            user=nobody.pw_uid,
            group=nobody.pw_gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=300,
            env={
                **os.environ,
                **ENV,
                "HOME": "/nonexistent",
                "XDG_CACHE_HOME": "/nonexistent",
                "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            },
        )
        assert proc.returncode == 3, proc.stderr
        assert "src/mem-like: character device not restored: Operation not permitted" in proc.stderr
        assert stat.S_ISFIFO((out / "src" / "fifo").lstat().st_mode)  # a FIFO needs no privilege
        assert not (out / "src" / "disk-like").exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_files_drill_in_a_container_checks_what_the_default_restore_makes(tmp_path: Path) -> None:
    """``--sandbox docker``'s files.container check compares the container's view with the same expectation
    as files.metadata (it compared with the raw snapshot: every drill of a tree holding a FIFO, a setuid or a
    world-writable file failed). The container's script runs here on the host (same code, no engine)."""
    import json
    import sys

    from drkit.sources.files import Selection
    from drkit.sources.files.drills.listing import compare_listing
    from drkit.sources.files.drills.sandbox import SCRIPT
    from drkit.sources.files.drills.verify import verify_files
    from drkit.sources.files.ops import BackupRequest, backup_files, restore_files

    src, out = _tree(tmp_path), tmp_path / "out"
    repo = Repository.init(MemoryBackend(), "pw", RepoConfig(pack_size=1 << 20))
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    restore_files(repo, snap, str(out), Selection())
    digests: dict[str, str] = {}
    assert all(c.ok for c in verify_files(repo, snap.root["tree"], out, digests))

    def view() -> list[str]:
        listing = tmp_path / "listing.jsonl"
        script = SCRIPT.replace('"/restore"', repr(str(out))).replace('"/out/listing.jsonl"', repr(str(listing)))
        subprocess.run([sys.executable, "-c", script], check=True)
        entries = {e["p"]: e for e in map(json.loads, listing.read_text().splitlines())}
        return compare_listing(repo, snap.root["tree"], entries, digests)

    assert view() == []
    os.chmod(out / "src" / "setuid", 0o4755)
    assert view() == ["src/setuid: mode 0o4755 != 0o755"]
    os.chmod(out / "src" / "setuid", 0o755)
    os.mkfifo(out / "src" / "fifo")
    assert view() == ["src/fifo: in the container, not in the snapshot"]


CAP_NET_RAW_EP = bytes.fromhex("0100000200200000000000000000000000000000")  # VFS_CAP_REVISION_2, +ep


@pytest.mark.skipif(not ROOT, reason="setting security.capability needs root (CAP_SETFCAP)")
def test_file_capabilities_need_special_files_like_setuid(tmp_path: Path) -> None:
    """security.capability (``setcap cap_net_raw+ep``) hands out privilege as setuid does: a default restore
    as root leaves it off (a warning, exit 3), --special-files restores it. Before: set silently, exit 0."""
    src, repo = tmp_path / "src", tmp_path / "repo"
    src.mkdir()
    (src / "ping").write_text("#!/bin/sh\n")
    os.chmod(src / "ping", 0o755)
    os.setxattr(src / "ping", "security.capability", CAP_NET_RAW_EP)
    (src / "plain").write_text("x")
    os.setxattr(src / "plain", "user.note", b"kept")
    ok("init", "--repo", str(repo))
    ok("backup", "files", str(src), "--repo", str(repo), "--quiet")
    proc = run("restore", "latest", "--target", str(tmp_path / "out"), "--repo", str(repo))
    assert proc.returncode == 3, proc.stderr
    assert "src/ping: file capabilities (security.capability) not restored" in proc.stderr
    ping = tmp_path / "out" / "src" / "ping"
    assert "security.capability" not in os.listxattr(ping)
    assert subprocess.run(["getcap", str(ping)], capture_output=True, text=True, check=True).stdout == ""
    assert os.getxattr(tmp_path / "out" / "src" / "plain", "user.note") == b"kept"
    ok("restore", "latest", "--target", str(tmp_path / "all"), "--repo", str(repo), "--special-files")
    assert os.getxattr(tmp_path / "all" / "src" / "ping", "security.capability") == CAP_NET_RAW_EP
