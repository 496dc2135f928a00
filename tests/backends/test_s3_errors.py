"""S3 failures become the neutral errors, fast, in one line, without credentials (real SeaweedFS)."""

from __future__ import annotations

import io
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from storage_backends import (
    AccessDenied,
    AlreadyExists,
    Backend,
    BackendError,
    ContainerMissing,
    NotFound,
    ObjectLocked,
    PutOptions,
    Transient,
    Unreachable,
    open_backend,
)
from storage_backends.s3 import translate

pytestmark = pytest.mark.integration

WRONG_SECRET = "wrong-secret-7d2e0b9c"


def _all_calls(backend: Backend) -> list[tuple[str, object]]:
    return [
        ("put", lambda: backend.put("k", b"data")),
        ("put_if_absent", lambda: backend.put_if_absent("k2", b"data")),
        ("get", lambda: backend.get("k").read()),
        ("get_range", lambda: backend.get_range("k", 0, 4)),
        ("list", lambda: list(backend.list())),
    ]


def _assert_clean(exc: BaseException, *secrets: str) -> None:
    text = str(exc)
    assert "\n" not in text and text.strip() == text, text
    for secret in secrets:
        assert secret not in text


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_endpoint_fails_fast(seaweedfs_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seaweedfs_server.apply_env(monkeypatch)
    dead = f"http://127.0.0.1:{_free_port()}"  # bound then released: nothing listens there
    backend = open_backend(f"s3://nobody-home/p?endpoint={dead}&region=us-east-1")
    for name, call in _all_calls(backend) + [
        ("stat", lambda: backend.stat("k")),
        ("delete", lambda: backend.delete("k")),
    ]:
        started = time.monotonic()
        with pytest.raises(Unreachable) as info:
            call()  # type: ignore[operator]
        assert time.monotonic() - started < 15, f"{name} took too long to give up"
        _assert_clean(info.value, seaweedfs_server.secret_key)
        assert "s3://nobody-home/p" in str(info.value)


@pytest.mark.parametrize("field", ["secret", "access_key"])
def test_wrong_credentials_are_access_denied(seaweedfs_server, monkeypatch, field) -> None:  # type: ignore[no-untyped-def]
    bucket = seaweedfs_server.make_bucket("drkit-errors")
    if field == "secret":
        seaweedfs_server.apply_env(monkeypatch, AWS_SECRET_ACCESS_KEY=WRONG_SECRET)
    else:
        seaweedfs_server.apply_env(monkeypatch, AWS_ACCESS_KEY_ID="no-such-identity")
    backend = open_backend(seaweedfs_server.url(bucket, "denied"))
    for name, call in _all_calls(backend) + [
        ("stat", lambda: backend.stat("k")),
        ("delete", lambda: backend.delete("k")),
    ]:
        with pytest.raises(AccessDenied) as info:
            call()  # type: ignore[operator]
        _assert_clean(info.value, WRONG_SECRET, seaweedfs_server.secret_key)
        assert backend.display in str(info.value), name


def test_no_credentials_at_all_is_access_denied(seaweedfs_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seaweedfs_server.apply_env(monkeypatch)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    backend = open_backend(seaweedfs_server.url("drkit-errors", "anon"))
    with pytest.raises(AccessDenied) as info:
        backend.put("k", b"x")
    _assert_clean(info.value)


def test_missing_bucket_is_container_missing(seaweedfs_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seaweedfs_server.apply_env(monkeypatch)
    backend = open_backend(seaweedfs_server.url(f"absent-{uuid.uuid4().hex[:8]}", "p"))
    for name, call in _all_calls(backend) + [("delete", lambda: backend.delete("k"))]:
        with pytest.raises(ContainerMissing) as info:
            call()  # type: ignore[operator]
        _assert_clean(info.value, seaweedfs_server.secret_key)
        assert "absent-" in str(info.value), name
    # HEAD responses carry no error body, so a missing bucket there looks like a missing key
    with pytest.raises(NotFound):
        backend.stat("k")


def test_put_if_absent_past_one_part_stays_atomic(seaweedfs_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Past one part, put_if_absent is still a single conditional PUT (spooled), never a multipart
    upload: SeaweedFS 4.48 lets several racing conditional CompleteMultipartUpload calls all win."""
    seaweedfs_server.apply_env(monkeypatch)
    bucket = seaweedfs_server.make_bucket("drkit-errors")
    backend = open_backend(seaweedfs_server.url(bucket, f"big-{uuid.uuid4().hex[:8]}"))
    size = (16 << 20) + 12345
    for round_ in range(2):
        key, barrier, winners = f"race-{round_}", threading.Barrier(4), list[int]()

        def contend(n: int, key: str = key, barrier: threading.Barrier = barrier, winners: list[int] = winners) -> None:
            body = io.BytesIO(bytes([n]) * size)
            barrier.wait()
            try:
                backend.put_if_absent(key, body)
                winners.append(n)
            except AlreadyExists:
                pass

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(contend, range(4)))
        assert len(winners) == 1, f"{len(winners)} writers won the race for {key}"
        assert backend.stat(key).size == size
        assert backend.get_range(key, size - 3, 10) == bytes([winners[0]]) * 3
        assert backend.get_range(key, size, 10) == b""


def test_retention_is_set_when_object_lock_asked(seaweedfs_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seaweedfs_server.apply_env(monkeypatch)
    bucket = seaweedfs_server.make_bucket("drkit-locked", object_lock=True)
    prefix = f"lock-{uuid.uuid4().hex[:8]}"
    backend = open_backend(seaweedfs_server.url(bucket, prefix, object_lock="true"))
    assert backend.capabilities.object_lock
    until = datetime.now(UTC) + timedelta(days=1)
    backend.put("kept", b"keep me", PutOptions(retain_until=until))
    head = seaweedfs_server.client().head_object(Bucket=bucket, Key=f"{prefix}/kept")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert abs((head["ObjectLockRetainUntilDate"] - until).total_seconds()) < 2
    with pytest.raises(ClientError):  # the protected version itself cannot be removed
        seaweedfs_server.client().delete_object(Bucket=bucket, Key=f"{prefix}/kept", VersionId=head["VersionId"])


def _client_error(code: str, status: int, message: str = "msg") -> ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutObject")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "message", "kind"),
    [
        ("SlowDown", 503, "Please reduce your request rate.", Transient),
        ("InternalError", 500, "We encountered an internal error.", Transient),
        ("Whatever", 502, "Bad Gateway", Transient),
        ("404", 404, "Not Found", NotFound),
        ("NoSuchBucket", 404, "The specified bucket does not exist", ContainerMissing),
        ("403", 403, "Forbidden", AccessDenied),
        ("PreconditionFailed", 412, "At least one of the pre-conditions failed", AlreadyExists),
        ("InvalidRequest", 400, "Object is under retention\nand cannot be deleted", ObjectLocked),
        ("AccessDenied", 403, "Access Denied because object protected by object lock.", ObjectLocked),
        ("MalformedXML", 400, "bad", BackendError),
    ],
)
def test_error_mapping(code: str, status: int, message: str, kind: type[BackendError]) -> None:
    err = translate(_client_error(code, status, message), "s3://bucket/prefix", "some/key")
    assert type(err) is kind
    _assert_clean(err)
    assert str(err).startswith("s3://bucket/prefix key 'some/key': ")
