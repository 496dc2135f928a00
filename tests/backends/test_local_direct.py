"""The local directory writes a large object from a page-aligned buffer with O_DIRECT (a pack: no copy
into the page cache and no write-back of it by the fsync), and falls back to ordinary writes wherever
O_DIRECT is refused; the bytes stored are the same either way."""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import random
import subprocess
from pathlib import Path

import pytest

import storage_backends.local as local
from storage_backends import NoSpace
from storage_backends.local import LocalBackend

pytestmark = pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="no O_DIRECT on this platform")

SIZE = (3 << 20) + 1234  # a length that is not a multiple of the block size: an aligned head and a tail


def _payload() -> bytes:
    return random.Random(25).randbytes(SIZE)


def _aligned(data: bytes) -> memoryview:
    """A view of an anonymous memory map holding ``data``: page-aligned, like a pack's buffer."""
    buf = mmap.mmap(-1, len(data) + 4096)
    buf[: len(data)] = data
    return memoryview(buf)[: len(data)]


def _record_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Each ``os.write`` of the backend: (bytes written, whether O_DIRECT was set on the descriptor)."""
    writes: list[tuple[int, bool]] = []
    real_write = os.write

    def write(fd: int, data: memoryview) -> int:
        direct = bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)
        n = real_write(fd, data)
        writes.append((n, direct))
        return n

    monkeypatch.setattr(local.os, "write", write)
    return writes


def _stored(backend: LocalBackend, key: str) -> bytes:
    with backend.get(key) as f:
        return f.read()


def test_a_large_object_in_an_aligned_buffer_is_written_past_the_page_cache(
    o_direct_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = LocalBackend(o_direct_dir / "store")
    writes = _record_writes(monkeypatch)
    data = _payload()
    backend.put("data/ab/pack", _aligned(data))
    direct = sum(n for n, d in writes if d)
    assert direct == SIZE - SIZE % 4096  # the aligned head, with O_DIRECT
    assert sum(n for n, d in writes if not d) == SIZE % 4096  # the tail through the page cache
    assert _stored(backend, "data/ab/pack") == data
    assert not list((o_direct_dir / "store" / "data" / "ab").glob(".tmp-*"))


def test_an_unaligned_buffer_is_written_through_the_page_cache(tmp_path: Path) -> None:
    """A bytes object's data, or a view starting one byte into a buffer, is never page-aligned: the
    kernel refuses O_DIRECT (EINVAL) and the whole object takes the ordinary path."""
    backend = LocalBackend(tmp_path / "store")
    data = _payload()
    backend.put("a", data)
    backend.put("b", memoryview(bytearray(b"x" + data))[1:])
    backend.put("c", _aligned(b"y" + data)[1:])
    assert _stored(backend, "a") == _stored(backend, "b") == _stored(backend, "c") == data


def test_a_filesystem_without_o_direct_gets_ordinary_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fcntl = fcntl.fcntl

    def refusing(fd: int, cmd: int, arg: int = 0) -> int:
        if cmd == fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(errno.EINVAL, "O_DIRECT not supported")
        return real_fcntl(fd, cmd, arg)

    monkeypatch.setattr(local.fcntl, "fcntl", refusing)
    backend = LocalBackend(tmp_path / "store")
    writes = _record_writes(monkeypatch)
    data = _payload()
    backend.put("k", _aligned(data))
    assert writes and not any(d for _, d in writes)
    assert _stored(backend, "k") == data


def test_a_small_object_is_not_written_with_o_direct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = LocalBackend(tmp_path / "store")
    writes = _record_writes(monkeypatch)
    data = _payload()[: 64 << 10]
    backend.put("small", _aligned(data))
    assert writes and not any(d for _, d in writes)
    assert _stored(backend, "small") == data


def test_a_full_disk_during_a_direct_write_is_no_space(o_direct_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only EINVAL means "not this way": any other failure of the O_DIRECT write is the put's error
    (ENOSPC: NoSpace), and no temp file stays behind."""
    real_write = os.write

    def full(fd: int, data: memoryview) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(local.os, "write", full)
    backend = LocalBackend(o_direct_dir / "store")
    with pytest.raises(NoSpace):
        backend.put("data/cd/pack", _aligned(_payload()))
    assert not list((o_direct_dir / "store").rglob(".tmp-*"))
    assert not (o_direct_dir / "store" / "data" / "cd" / "pack").exists()


def test_a_real_filesystem_without_o_direct_stores_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A ramfs (no O_DIRECT at all, like tmpfs before Linux 6.6): fcntl refuses the flag, and the
    object goes through the page cache whole. Not simulated: a real mount (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a ramfs needs root")
    mnt = tmp_path / "ramfs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "ramfs", "ramfs", str(mnt)], check=True)
    request.addfinalizer(lambda: subprocess.run(["umount", str(mnt)], check=True))
    backend = LocalBackend(mnt / "store")
    writes = _record_writes(monkeypatch)
    data = _payload()
    backend.put("data/ef/pack", _aligned(data))
    backend.put_if_absent("data/ef/other", _aligned(data))
    assert sum(n for n, _ in writes) == 2 * SIZE and not any(d for _, d in writes)
    assert _stored(backend, "data/ef/pack") == _stored(backend, "data/ef/other") == data
    assert not list(mnt.rglob(".tmp-*"))
