"""Disk full (issue 10): a backup that fills the disk fails with exit 14 and one `storage full` line, writes
no snapshot, and leaves a repository that checks clean, restores its earlier snapshots, and takes the
same backup once there is room. On a real small tmpfs when this process may mount one (root), and always
with injected ENOSPC (faulty+file://…?enospc_after_bytes=N). The engine is diskfull.py."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from diskfull import disk_full
from tmpfs import can_mount_tmpfs
from zygote import ForkServer

from storage_backends import NoSpace, open_backend

pytestmark = pytest.mark.fault


@pytest.mark.parametrize("mode", ["tmpfs", "injected"])
def test_backup_into_a_full_disk(mode: str, tmp_path: Path, fork_server: ForkServer) -> None:
    if mode == "tmpfs" and (why := can_mount_tmpfs()) is not None:
        pytest.skip(f"no real small filesystem: {why}")
    report = disk_full(tmp_path, fork_server, mode)
    print(report.summary())
    assert report.ok, f"{report.summary()}\n{report.problems}"
    assert "no space left on device" in report.error_line


def test_enospc_after_bytes_fails_the_write_that_crosses_the_limit(tmp_path: Path) -> None:
    backend = open_backend(f"faulty+file://{tmp_path}/s?enospc_after_bytes=1000")
    backend.put("a", b"x" * 600)
    with pytest.raises(NoSpace) as caught:
        backend.put("b", b"y" * 600)  # crosses the limit part-way
    assert isinstance(caught.value.__cause__, OSError) and caught.value.__cause__.errno == errno.ENOSPC
    with pytest.raises(NoSpace):
        backend.put("c", b"z")  # and the disk stays full
    backend.delete("a")
    assert [i.key for i in backend.list()] == []  # no partial object, no temp file listed
    assert not [p for p in (tmp_path / "s").rglob("*") if p.is_file()]
