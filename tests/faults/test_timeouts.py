"""Timeouts and cut uploads (issue 10). The faulty wrapper's timeouts lose either the request or the
reply; drkit's retries must cope with both — including a lock create whose reply was lost, which used
to fail the command with exit 11 ("object already exists") — and a backup through 5 % timeouts and 5 %
cut uploads completes and restores identical, on a local directory and on S3. The 5 % *errors* case is
tests/faults/test_injected_errors.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from faultkit import Target
from timeouts import flaky_roundtrip

from drkit.repository.locks import Lock, list_locks
from storage_backends import RetryingBackend, RetryPolicy, Transient, open_backend
from storage_backends.base import Backend, Capabilities, Data, ObjectInfo, PutOptions
from storage_backends.testing.faulty import FaultyBackend
from storage_backends.testing.memory import MemoryBackend

pytestmark = pytest.mark.fault


def test_timeouts_lose_the_request_or_the_reply(tmp_path: Path) -> None:
    backend = open_backend(f"faulty+file://{tmp_path}/s?timeout_rate=1&timeout_ms=1&seed=3")
    faulty = backend.inner  # type: ignore[attr-defined]  # the retry wrapper
    assert isinstance(faulty, FaultyBackend)
    stored = 0
    for i in range(40):
        with pytest.raises(Transient, match="timed out after 1 ms"):
            faulty.put(f"k{i}", b"data")
        stored += (tmp_path / "s" / f"k{i}").exists()
    assert 8 < stored < 32  # about half were done before their reply was lost
    assert faulty.injected == 40


class _LoseFirstLockReply:
    """Stores the first lock object, then reports a timeout, as a store whose reply was lost does."""

    def __init__(self, inner: Backend) -> None:
        self.inner, self.display, self.capabilities = inner, "lossy", Capabilities()
        self.lost = 0

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        self.inner.put_if_absent(key, data, options)
        if key.startswith("locks/") and not self.lost:
            self.lost += 1
            raise Transient("timed out (reply lost)", backend=self.display, key=key)

    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        self.inner.put(key, data, options)

    def get(self, key: str) -> BinaryIO:
        return self.inner.get(key)

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        return self.inner.get_range(key, offset, length)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def stat(self, key: str) -> ObjectInfo:
        return self.inner.stat(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("exclusive", [False, True])
def test_lock_create_whose_reply_was_lost_is_ours(exclusive: bool) -> None:
    lossy = _LoseFirstLockReply(MemoryBackend())
    backend = RetryingBackend(lossy, RetryPolicy(attempts=3, initial=0.001, maximum=0.01))
    with Lock(backend, exclusive=exclusive, purpose="test") as lock:
        assert lossy.lost == 1
        assert [info.key for info in list_locks(backend)] == [lock.key]
    assert list_locks(backend) == []


def test_backup_through_timeouts_and_cut_uploads(any_repo: Target, tmp_path: Path) -> None:
    report = flaky_roundtrip(any_repo, tmp_path / "work")
    print(report.summary())
    assert report.ok, "\n".join(report.problems)
