"""`drkit mount` through the CLI as a subprocess: the mounted snapshot equals its source by an independent
oracle (rsync -aHAX --checksum: content, modes, owners, nanosecond mtimes, hard links, symlinks, FIFOs,
xattrs and ACLs); a large file reads whole and at random offsets byte-identical; damaged data reads as EIO,
never as other bytes; SIGTERM and `fusermount3 -u` both unmount and end it; a bad mount point is refused
with nothing mounted. Skipped where FUSE is missing (scripts/install.sh installs fuse3; drkit[mount])."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from clirun import DRKIT, drkit, one_line_error
from treediff import rsync_diff

ENV = {"DRKIT_PASSWORD": "correct horse"}
MTIME_NS = 1_700_000_000_123_456_789


def _fuse_ready() -> bool:
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError):
        return False
    return os.access("/dev/fuse", os.R_OK | os.W_OK) and shutil.which("fusermount3") is not None


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not _fuse_ready(), reason="needs /dev/fuse, fusermount3 (fuse3) and mfusepy (drkit[mount])"),
    pytest.mark.skipif(None in (shutil.which("rsync"), shutil.which("setfacl")), reason="needs rsync and acl"),
]


def _ok(*args: str) -> bytes:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def _tree(root: Path) -> Path:
    src = root / "src"
    (src / "app" / "deep" / "er").mkdir(parents=True)
    (src / "empty").mkdir()
    for i in range(30):
        (src / "app" / f"m{i}.py").write_text(f"v = {i}\n" * (i * 40))
    (src / "big.bin").write_bytes(hashlib.shake_256(b"big").digest(12 << 20))  # many chunks, several packs
    (src / "app/deep/er/café ü.txt").write_text("crème\n")
    (src / "link").symlink_to("app/m1.py")
    (src / "dangling").symlink_to("nowhere")
    os.link(src / "app/m2.py", src / "hard")
    os.mkfifo(src / "fifo")
    os.chmod(src / "app/m3.py", 0o640)
    os.setxattr(src / "app/m4.py", "user.note", b"bin\xff\x00ary")
    os.setxattr(src / "app", "user.dir", b"on a directory")
    subprocess.run(["setfacl", "-m", "u:1234:r", str(src / "app/m5.py")], check=True)
    os.chown(src / "app/m6.py", 1234, 5678)
    for p in [*src.rglob("*"), src]:
        os.utime(p, ns=(MTIME_NS, MTIME_NS), follow_symlinks=False)
    return src


@contextmanager
def mounted(repo: str, mnt: Path, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """`drkit mount` running until the block ends; never leaves a mount or a process behind."""
    mnt.mkdir(exist_ok=True)
    log = mnt.parent / "mount.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [*DRKIT, "mount", str(mnt), "--repo", repo, *extra],
            env={**os.environ, **ENV},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 120  # generous: 2 cores shared by many test runs
        while not os.path.ismount(mnt):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "not mounted within 120 s"
            time.sleep(0.05)
        yield proc
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)
        if proc.poll() is None:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[str, Path, str]:
    repo, src = str(tmp_path / "repo"), _tree(tmp_path)
    _ok("init", "--repo", repo, "--pack-size-mib", "1")
    snap = json.loads(_ok("backup", "files", str(src), "--repo", repo, "--json", "--tag", "nightly"))["snapshot"]
    return repo, src, snap


def test_mounted_snapshot_equals_its_source(backed_up: tuple[str, Path, str], tmp_path: Path) -> None:
    repo, src, snap = backed_up
    mnt = tmp_path / "mnt"
    with mounted(repo, mnt) as proc:
        assert sorted(os.listdir(mnt)) == ["hosts", "ids", "snapshots", "tags"]
        assert os.listdir(mnt / "ids") == [snap[:8]]
        host = os.uname().nodename
        for via in ("ids/" + snap[:8], "snapshots/latest", f"hosts/{host}/latest", "tags/nightly/latest"):
            assert rsync_diff(src, mnt / via / "src", flags=("-aHAX",)) == [], via
        inside = mnt / "ids" / snap[:8] / "src"
        big = (src / "big.bin").read_bytes()
        assert hashlib.sha256((inside / "big.bin").read_bytes()).digest() == hashlib.sha256(big).digest()
        rnd = random.Random(7)
        with open(inside / "big.bin", "rb", buffering=0) as f:
            for _ in range(200):  # reads across chunk boundaries and past the end
                off, n = rnd.randrange(len(big) + 10), rnd.choice([1, 4095, 65536, 1 << 20])
                f.seek(off)
                assert f.read(n) == big[off : off + n], (off, n)
        with pytest.raises(OSError) as exc:
            (inside / "new").write_text("x")
        assert exc.value.errno == errno.EROFS
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        assert proc.wait(timeout=60) == 0
    assert not os.path.ismount(mnt) and os.listdir(mnt) == []


def test_damaged_blob_reads_as_eio_and_sigterm_unmounts(backed_up: tuple[str, Path, str], tmp_path: Path) -> None:
    from drkit.ops.session import open_repository
    from drkit.repository import snapshots
    from drkit.repository.format import pack_key
    from drkit.sources.files.diff import lookup

    repo_url, src, snap_id = backed_up
    repo = open_repository(repo_url, ENV["DRKIT_PASSWORD"])
    snap = snapshots.find(repo.manifests, snap_id)
    found = lookup(repo, snap.root["tree"], "/src/big.bin")
    assert found is not None
    blob = bytes.fromhex(found[1].content[3])
    loc = repo.index.get(blob)
    assert loc is not None
    pack = Path(repo_url) / pack_key(loc.pack_id)
    data = bytearray(pack.read_bytes())
    data[loc.offset + loc.length // 2] ^= 0x40
    pack.write_bytes(bytes(data))

    big = (src / "big.bin").read_bytes()
    mnt = tmp_path / "mnt"
    with mounted(repo_url, mnt) as proc:
        got = b""
        with open(mnt / "ids" / snap_id[:8] / "src" / "big.bin", "rb", buffering=0) as f:
            with pytest.raises(OSError) as exc:
                while part := f.read(1 << 16):
                    got += part
        assert exc.value.errno == errno.EIO
        assert 0 < len(got) < len(big) and big.startswith(got)  # never a wrong byte
        rest = mnt / "ids" / snap_id[:8] / "src" / "app"
        assert rsync_diff(src / "app", rest, flags=("-aHAX",)) == []  # the rest still reads
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143  # 128 + SIGTERM, as every command a signal stops
        assert not os.path.ismount(mnt)
        assert "drkit: error: stopped by SIGTERM" in (tmp_path / "mount.log").read_text()


def test_bad_mount_points_are_refused(backed_up: tuple[str, Path, str], tmp_path: Path) -> None:
    repo, _, _ = backed_up
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    (tmp_path / "file").write_text("x")
    for where in ("full", "file", "missing"):
        proc = drkit("mount", str(tmp_path / where), "--repo", repo, env=ENV)
        assert proc.returncode == 2, proc.stderr
        one_line_error(proc)
        assert not os.path.ismount(tmp_path / where)


def test_a_damaged_newer_manifest_leaves_no_latest_link(backed_up: tuple[str, Path, str], tmp_path: Path) -> None:
    """`ls latest` and the restores refuse (exit 13) when the newest snapshot's manifest is damaged; the mount's
    `latest` links named the older snapshot instead, said only by a skipped-manifest warning. They are left out
    (said on stderr); the intact snapshot is still under ids/ and its time."""
    repo, src, first = backed_up
    (src / "app/m1.py").write_text("newer\n")
    newer = json.loads(_ok("backup", "files", str(src), "--repo", repo, "--json", "--tag", "nightly"))["snapshot"]
    (Path(repo) / "snapshots" / newer).write_bytes(b"damaged in the bucket")
    assert drkit("ls", "latest", "--repo", repo, env=ENV).returncode == 13  # what the mount must agree with
    mnt = tmp_path / "mnt"
    with mounted(repo, mnt):
        assert os.listdir(mnt / "ids") == [first[:8]]
        for group in ("snapshots", f"hosts/{os.uname().nodename}", "tags/nightly"):
            names = os.listdir(mnt / group)
            assert len(names) == 1 and "latest" not in names, (group, names)
            assert os.readlink(mnt / group / names[0]).endswith(f"ids/{first[:8]}")
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
    assert "no `latest` links" in (tmp_path / "mount.log").read_text()
