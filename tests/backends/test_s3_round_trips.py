"""S3 puts cost one round trip: no ``Expect: 100-continue`` wait before the body (real SeaweedFS)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from storage_backends import open_backend
from storage_backends.s3 import S3Backend

pytestmark = pytest.mark.integration


def test_puts_send_their_body_at_once(seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pack or lock put waited a round trip for the server's 100 Continue (a sixth of a 16 MiB pack's
    upload at 60 ms); bodies under one part go at once now, and arrive whole."""
    seaweedfs_server.apply_env(monkeypatch)
    backend = open_backend(seaweedfs_server.url(seaweedfs_server.make_bucket("drkit-rt"), uuid.uuid4().hex[:8]))
    inner = backend.inner  # type: ignore[attr-defined]
    assert isinstance(inner, S3Backend)
    sent: list[tuple[str, bytes | None]] = []

    def capture(request: Any, **_: Any) -> None:
        if request.method == "PUT":
            sent.append((request.method, request.headers.get("Expect")))

    inner._client.meta.events.register("before-send", capture)  # after the backend's own s3 handler
    pack = bytearray(hashlib.shake_256(b"pack").digest(3 << 20))  # distinct bytes: any shift or gap shows
    backend.put("data/ab/pack", memoryview(pack)[1 << 20 :])  # a view of a buffer, not from its start
    backend.put("snapshots/one", b"snapshot")
    backend.put_if_absent("locks/one", b"lock")
    assert sent == [("PUT", None)] * 3
    assert backend.get("data/ab/pack").read() == bytes(pack[1 << 20 :])
    assert backend.get("snapshots/one").read() == b"snapshot"
    assert backend.get("locks/one").read() == b"lock"


def test_a_put_retried_after_failing_mid_body_sends_the_whole_body_again(
    seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small puts read the caller's buffer in place (_s3io.View); a put whose connection drops after part
    of the body went out is retried (the retry window) and must resend the body from its start."""
    from botocore.exceptions import ConnectionClosedError

    seaweedfs_server.apply_env(monkeypatch)
    backend = open_backend(seaweedfs_server.url(seaweedfs_server.make_bucket("drkit-rt"), uuid.uuid4().hex[:8]))
    inner = backend.inner  # type: ignore[attr-defined]
    failed: list[int] = []

    def drop_first(request: Any, **_: Any) -> None:
        if request.method == "PUT" and not failed:
            failed.append(len(request.body.read(100_000)))  # part of the body is gone when the link drops
            raise ConnectionClosedError(endpoint_url=request.url)

    inner._client.meta.events.register("before-send", drop_first)
    pack = bytearray(hashlib.shake_256(b"retried").digest(1 << 20))
    backend.put("data/cd/pack", memoryview(pack)[7:])
    assert failed == [100_000]  # the first attempt failed after reading into the body
    assert backend.get("data/cd/pack").read() == bytes(pack[7:])
