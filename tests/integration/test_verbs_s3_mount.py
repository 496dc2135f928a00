"""Issue #26's backup selection and mount against a real S3 server (SeaweedFS): `backup files --dry-run`
leaves every object as it was (keys, sizes, mtimes, content) and predicts the real run; `drkit mount` of an
S3 repository equals the source by rsync -aHAX --checksum."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit
from test_mount import _fuse_ready, _tree, mounted
from treediff import rsync_diff

from storage_backends import open_backend

ENV = {"DRKIT_PASSWORD": "correct horse"}  # as test_mount's `mounted`
pytestmark = [pytest.mark.integration, pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync")]


def _ok(*args: str) -> bytes:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def _objects(url: str) -> dict[str, tuple[int, str, str]]:
    backend = open_backend(url)
    try:
        return {
            o.key: (o.size, o.mtime.isoformat(), hashlib.sha256(backend.get(o.key).read()).hexdigest())
            for o in backend.list("")
        }
    finally:
        backend.close()


@pytest.fixture
def s3_url(seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    seaweedfs_server.apply_env(monkeypatch)
    return str(seaweedfs_server.url(seaweedfs_server.make_bucket("drkit-verbs"), uuid.uuid4().hex[:10]))


def test_dry_run_on_s3_changes_no_object(s3_url: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a").write_bytes(hashlib.shake_256(b"a").digest(3 << 20))
    (src / "b").write_text("b\n")
    _ok("init", "--repo", s3_url)
    _ok("backup", "files", str(src), "--repo", s3_url)
    (src / "c").write_bytes(os.urandom(100_000))
    before = _objects(s3_url)
    dry = json.loads(_ok("backup", "files", str(src), "--repo", s3_url, "--dry-run", "--json"))
    assert _objects(s3_url) == before
    real = json.loads(_ok("backup", "files", str(src), "--repo", s3_url, "--json"))
    for key in ("files_new", "files_unchanged", "new_bytes", "new_blobs", "bytes_read"):
        assert dry[key] == real[key], key
    assert (dry["files_new"], dry["files_unchanged"]) == (1, 2)


@pytest.mark.skipif(not _fuse_ready(), reason="needs /dev/fuse, fusermount3 (fuse3) and mfusepy (drkit[mount])")
@pytest.mark.skipif(shutil.which("setfacl") is None, reason="needs acl")
def test_mount_an_s3_repository(s3_url: str, tmp_path: Path) -> None:
    src = _tree(tmp_path)
    _ok("init", "--repo", s3_url)
    snap = json.loads(_ok("backup", "files", str(src), "--repo", s3_url, "--json"))["snapshot"]
    with mounted(s3_url, tmp_path / "mnt") as proc:
        assert rsync_diff(src, tmp_path / "mnt" / "ids" / snap[:8] / "src", flags=("-aHAX",)) == []
        assert rsync_diff(src, tmp_path / "mnt" / "snapshots" / "latest" / "src", flags=("-aHAX",)) == []
        proc.terminate()
        assert proc.wait(timeout=60) == 143
