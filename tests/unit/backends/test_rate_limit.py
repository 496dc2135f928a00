"""Bandwidth limits (storage_backends/_ratelimit.py): the shared token bucket, the wrapper's place in the
backend chain (absent when unlimited), the precedence of command line over config, and bodies that arrive
whole through the wrapper."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage_backends import Limits, RateLimitedBackend, RetryingBackend, configure_limits, open_backend
from storage_backends._ratelimit import CHUNK, TokenBucket, chosen_limits, shared_bucket


@pytest.fixture(autouse=True)
def _no_cli_limits() -> Iterator[None]:
    configure_limits(None, None)
    yield
    configure_limits(None, None)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_bucket_lets_the_burst_through_then_waits_for_the_debt() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, monotonic=clock.monotonic, sleep=clock.sleep)
    bucket.take(1000)  # the initial burst: one second's worth
    assert clock.slept == []
    bucket.take(500)
    assert clock.slept == [pytest.approx(0.5)]
    bucket.take(3000)  # more than the burst: waits for all of it
    assert clock.slept[-1] == pytest.approx(3.0)
    clock.now += 10  # idle: refills to the burst only, not to 10 s worth
    bucket.take(1500)
    assert clock.slept[-1] == pytest.approx(0.5)


def test_bucket_is_shared_by_threads(tmp_path: Path) -> None:
    rate = 1 << 20
    bucket = TokenBucket(rate)

    def work() -> None:
        for _ in range(8):
            bucket.take(64 << 10)  # 4 threads x 512 KiB = 2 MiB at 1 MiB/s, 1 s of burst

    started = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started >= (2 * rate - bucket.burst) / rate - 0.05  # lower bound only


def test_one_bucket_per_direction_and_rate() -> None:
    assert shared_bucket("upload", 4096) is shared_bucket("upload", 4096)
    assert shared_bucket("upload", 4096) is not shared_bucket("download", 4096)


def _chain(backend: object) -> list[type]:
    kinds = []
    while backend is not None:
        kinds.append(type(backend))
        backend = getattr(backend, "inner", None)
    return kinds


def test_unlimited_installs_no_wrapper(tmp_path: Path) -> None:
    chain = _chain(open_backend(str(tmp_path / "r")))
    assert RateLimitedBackend not in chain and chain[0] is RetryingBackend
    assert RateLimitedBackend not in _chain(open_backend(str(tmp_path / "r"), limits=Limits(0, 0)))


def test_limits_wrap_the_backend_under_the_retries(tmp_path: Path) -> None:
    backend = open_backend(str(tmp_path / "r"), limits=Limits.kib(64, None))
    assert _chain(backend)[:2] == [RetryingBackend, RateLimitedBackend]
    configure_limits(None, 8 << 10)
    limited = open_backend(str(tmp_path / "r"))
    assert _chain(limited)[1] is RateLimitedBackend
    assert limited.inner.limits == Limits(0, 8 << 10)  # type: ignore[attr-defined]


def test_command_line_wins_over_config_per_direction() -> None:
    configured = Limits.kib(100, 200)
    assert chosen_limits(configured) == Limits(100 << 10, 200 << 10)
    configure_limits(0, None)  # --limit-upload 0: unlimited although configured
    assert chosen_limits(configured) == Limits(0, 200 << 10)
    configure_limits(None, 5 << 10)
    assert chosen_limits(configured) == Limits(100 << 10, 5 << 10)
    assert chosen_limits(None) == Limits(0, 5 << 10)


class OneShot(io.RawIOBase):
    """A stream that cannot seek (a pipe)."""

    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        return self._src.readinto(b)


def test_bodies_pass_whole_through_the_wrapper(tmp_path: Path) -> None:
    big = hashlib.shake_256(b"x").digest(3 << 20)
    backend = open_backend(str(tmp_path / "r"), limits=Limits.kib(1 << 20, 1 << 20))  # fast: 1 GiB/s
    backend.put("a", big)
    backend.put("b", io.BufferedReader(OneShot(big)))
    backend.put_if_absent("c", memoryview(big)[5:])
    for key, want in (("a", big), ("b", big), ("c", big[5:])):
        with backend.get(key) as stream:
            assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(want).digest()
    assert backend.get_range("a", 7, 100) == big[7:107]
    buf = memoryview(bytearray(100))
    from storage_backends import read_range

    assert bytes(read_range(backend, "a", 9, 100, buf)) == big[9:109]


class Recorder:
    """Stands in for a bucket: records what is taken."""

    def __init__(self) -> None:
        self.taken = 0
        self.largest = 0

    def take(self, n: int) -> None:
        self.taken += n
        self.largest = max(self.largest, n)


class RereadingStore:
    """A backend that reads a body twice, as botocore does (checksum, seek back, send)."""

    display = "rereading"

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.capabilities = inner.capabilities  # type: ignore[attr-defined]
        self.got = b""

    def put(self, key: str, data: io.BufferedReader, options: object = None) -> None:
        start = data.tell()
        buf = bytearray(1 << 20)  # one big read for the checksum, as the S3 backend's next_part reads
        view, filled = memoryview(buf), 0
        while n := data.readinto(view[filled:]):
            filled += n
        hashlib.sha256(view[:filled])
        view.release()
        data.seek(start)
        self.got = data.read()


def test_a_body_read_twice_is_paid_once_and_left_open(tmp_path: Path) -> None:
    store = RereadingStore(open_backend(str(tmp_path / "r")).inner)  # type: ignore[attr-defined]
    limited = RateLimitedBackend(store, Limits(1 << 30, 0))  # type: ignore[arg-type]
    recorder = Recorder()
    limited._up = recorder  # type: ignore[assignment]
    body = io.BytesIO(b"x" * 300_000)
    limited.put("k", body)
    assert store.got == b"x" * 300_000 and recorder.taken == 300_000
    assert recorder.largest <= CHUNK  # paid in steps, not in one wait for the whole body
    assert not body.closed  # the caller's stream is the caller's to close


def test_downloads_are_paid_for(tmp_path: Path) -> None:
    backend = open_backend(str(tmp_path / "r"), limits=Limits(0, 1 << 30)).inner  # type: ignore[attr-defined]
    recorder = Recorder()
    backend._down = recorder
    backend.put("k", b"y" * 200_000)
    assert recorder.taken == 0  # no upload limit: puts pass straight through
    with backend.get("k") as stream:
        assert stream.read() == b"y" * 200_000
    assert recorder.taken == 200_000 and recorder.largest <= CHUNK
    assert backend.get_range("k", 10, 1000) == b"y" * 1000 and recorder.taken == 201_000
