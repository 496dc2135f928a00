"""Bandwidth limits (``--limit-upload`` / ``--limit-download``, KiB/s as restic names them) for every backend.

``RateLimitedBackend`` wraps the backend itself (under the retry wrapper, so a retried upload is paid for
again: its bytes cross the wire again). It charges the bytes of put bodies as the backend reads them, and
the bytes of ``get`` streams and ranged reads as they arrive; nothing is buffered to be limited (a body is
read through, chunk by chunk, by the backend as usual). ``list``, ``stat`` and ``delete`` are not limited.

One bucket per direction serves every thread and every backend of the process (``copy`` opens two), so
``--connections 16`` does not multiply the limit. A bucket starts full with one second's worth of bytes
(``BURST_SECONDS``): moving N bytes takes at least N / rate - 1 s.

A body the backend reads twice (botocore reads a seekable body once for its checksum, seeks back and sends
it) is charged once per attempt: only bytes past the furthest position read so far are charged.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from ._s3io import View
from .base import Backend, Data, ObjectInfo, PutOptions, read_range

BURST_SECONDS = 1.0
CHUNK = 64 << 10  # bytes of a body paid for at a time
KIB = 1024


@dataclass(frozen=True)
class Limits:
    """Bytes per second up and down; 0: unlimited."""

    upload: int = 0
    download: int = 0

    @classmethod
    def kib(cls, upload: int | None, download: int | None) -> Limits:
        return cls((upload or 0) * KIB, (download or 0) * KIB)

    def __bool__(self) -> bool:
        return bool(self.upload or self.download)


class TokenBucket:
    """A thread-safe byte bucket. Hand-written (about 20 lines) because the libraries do not fit: aiolimiter
    is asyncio only, pyrate-limiter counts requests in windows (a weight of megabytes per call is not its
    model), token-bucket (0.4) has not been released since 2019 and does not block. A caller may take more
    than is there: it waits until its debt is repaid, and callers after it wait behind that debt, so all
    threads together never exceed ``rate`` beyond the initial burst."""

    def __init__(
        self, rate: int, *, monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = rate * BURST_SECONDS
        self._monotonic, self._sleep = monotonic, sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = monotonic()

    def take(self, n: int) -> None:
        """Take ``n`` bytes' worth, waiting for them if the bucket is short."""
        if n <= 0:
            return
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate) - n
            self._last = now
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


_buckets: dict[tuple[str, int], TokenBucket] = {}
_buckets_lock = threading.Lock()


def shared_bucket(direction: str, rate: int) -> TokenBucket:
    """The process's bucket for ``direction`` ("upload", "download") at ``rate`` bytes/s."""
    with _buckets_lock:
        bucket = _buckets.get((direction, rate))
        if bucket is None:
            bucket = _buckets[(direction, rate)] = TokenBucket(rate)
        return bucket


_override: list[int | None] = [None, None]  # bytes/s up, down; None: not given on the command line


def configure_limits(upload: int | None, download: int | None) -> None:
    """The command line's ``--limit-upload`` / ``--limit-download`` in bytes/s (0: unlimited; None: not
    given, the repository's configured limit applies): each wins over the config for every backend opened
    from now on in this process."""
    _override[:] = [upload, download]


def chosen_limits(configured: Limits | None) -> Limits:
    """Per direction: the command line's limit where given, else ``configured``'s, else unlimited."""
    base = configured or Limits()
    up, down = _override
    return Limits(base.upload if up is None else up, base.download if down is None else down)


class _Throttled(io.RawIOBase):
    """A stream whose reads are paid for from ``bucket``: new bytes only (see the module doc)."""

    def __init__(self, inner: BinaryIO, bucket: TokenBucket, *, owns: bool) -> None:
        self._inner, self._bucket, self._owns = inner, bucket, owns  # owns: closing closes ``inner`` (a get)
        self._pos = inner.tell() if inner.seekable() else 0
        self._paid_to = self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._inner.seekable()

    def _pay(self, n: int) -> None:
        self._pos += n
        if self._pos > self._paid_to:
            self._bucket.take(self._pos - self._paid_to)
            self._paid_to = self._pos

    def readinto(self, b: Any) -> int:
        """At most ``CHUNK`` bytes a call (a caller's 16 MiB buffer is filled in steps), so each wait is
        short and the bytes flow evenly instead of in one burst after one long wait."""
        view = memoryview(b).cast("B")[:CHUNK]
        readinto = getattr(self._inner, "readinto", None)
        if readinto is not None:
            n = readinto(view) or 0
        else:
            data = self._inner.read(len(view))
            n = len(data)
            view[:n] = data
        self._pay(n)
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = self._inner.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed and self._owns:
            self._inner.close()
        super().close()


def _as_stream(data: Data) -> BinaryIO:
    if isinstance(data, bytes | bytearray | memoryview):
        return cast(BinaryIO, View(data))  # read in place, not copied
    return data


class RateLimitedBackend:
    """Limits the bytes of the wrapped backend's bodies (see the module doc); other calls pass through."""

    def __init__(self, inner: Backend, limits: Limits) -> None:
        self.inner = inner
        self.limits = limits
        self.display = inner.display
        self.capabilities = inner.capabilities
        self._up = shared_bucket("upload", limits.upload) if limits.upload else None
        self._down = shared_bucket("download", limits.download) if limits.download else None

    def _body(self, data: Data) -> Data:
        if self._up is None:
            return data
        return cast(BinaryIO, io.BufferedReader(_Throttled(_as_stream(data), self._up, owns=False), CHUNK))

    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        self.inner.put(key, self._body(data), options)

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        self.inner.put_if_absent(key, self._body(data), options)

    def get(self, key: str) -> BinaryIO:
        stream = self.inner.get(key)
        if self._down is None:
            return stream
        return cast(BinaryIO, io.BufferedReader(_Throttled(stream, self._down, owns=True), CHUNK))

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        data = self.inner.get_range(key, offset, length)
        if self._down is not None:
            self._down.take(len(data))
        return data

    def read_range(self, key: str, offset: int, length: int, buf: memoryview) -> memoryview:
        view = read_range(self.inner, key, offset, length, buf)
        if self._down is not None:
            self._down.take(len(view))
        return view

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def stat(self, key: str) -> ObjectInfo:
        return self.inner.stat(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def close(self) -> None:
        self.inner.close()
