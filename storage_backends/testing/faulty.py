"""A Backend wrapper that injects faults: for fault-injection tests and for users who want to see
how their setup behaves when storage misbehaves.

URL: ``faulty+<inner URL>`` with query parameters (removed before the inner backend sees them):

    error_rate=0.05          fraction of calls that fail with Transient (before doing anything)
    cut_rate=0.02            fraction of puts that read half their data, then fail (an upload cut half-way)
    timeout_rate=0.05        fraction of calls that time out: they hang for ``timeout_ms``, then fail with
                             Transient; half of them before the call reached the store (nothing done), half
                             after it was done (the reply was lost: a put is stored, a delete happened)
    timeout_ms=100           how long a timed-out call hangs (default 100)
    enospc_after_bytes=N     a full disk: once this process's puts have written N bytes, the next write
                             fails part-way with ENOSPC, and so does every later one. The data stream raises
                             ``OSError(ENOSPC)`` while the inner backend reads it, which for a local
                             directory is what a full disk does to its write (the inner backend translates
                             it to NoSpace and removes its temp file)
    latency_ms=5             added to every call
    seed=1                   makes the fault sequence repeatable

Faults are decided per call from one seeded generator, so a run is reproducible.
"""

from __future__ import annotations

import errno
import io
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TypeVar, cast

from .._urls import BackendURL
from ..base import Backend, Data, ObjectInfo, PutOptions, as_stream, read_range
from ..errors import Transient

T = TypeVar("T")

_FAULT_PARAMS = ("error_rate", "cut_rate", "timeout_rate", "timeout_ms", "enospc_after_bytes", "latency_ms", "seed")


@dataclass(frozen=True, kw_only=True)
class FaultPlan:
    error_rate: float = 0.0
    cut_rate: float = 0.0
    latency_ms: float = 0.0
    seed: int = 0
    timeout_rate: float = 0.0
    timeout_ms: float = 100.0
    enospc_after_bytes: int | None = None

    @classmethod
    def from_params(cls, params: dict[str, str]) -> FaultPlan:
        enospc = params.get("enospc_after_bytes")
        return cls(
            error_rate=float(params.get("error_rate", 0)),
            cut_rate=float(params.get("cut_rate", 0)),
            latency_ms=float(params.get("latency_ms", 0)),
            seed=int(params.get("seed", 0)),
            timeout_rate=float(params.get("timeout_rate", 0)),
            timeout_ms=float(params.get("timeout_ms", 100)),
            enospc_after_bytes=None if enospc is None else int(enospc),
        )


class FaultyBackend:
    def __init__(self, inner: Backend, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan
        self.display = f"faulty+{inner.display}"
        self.capabilities = inner.capabilities
        self._rng = random.Random(plan.seed)
        self._lock = threading.Lock()
        self.injected = 0
        self.written = 0  # bytes accepted by puts, for enospc_after_bytes

    @classmethod
    def from_url(cls, url: BackendURL) -> FaultyBackend:
        from .. import _load, known_schemes, parse_url

        inner_raw = url.raw.removeprefix("faulty+")
        base, _, query = inner_raw.partition("?")
        kept = "&".join(p for p in query.split("&") if p and p.split("=", 1)[0] not in _FAULT_PARAMS)
        inner_url = parse_url(f"{base}?{kept}" if kept else base)
        inner = _load(known_schemes()[inner_url.scheme]).from_url(inner_url)
        return cls(inner, FaultPlan.from_params(url.params))

    def _roll(self, rate: float) -> bool:
        if rate <= 0:  # draws nothing: a seed gives the same faults whichever other kinds are off
            return False
        with self._lock:
            hit = self._rng.random() < rate
            self.injected += hit
            return hit

    def _coin(self) -> bool:
        with self._lock:
            return self._rng.random() < 0.5

    def _call(self, what: str, key: str | None, fn: Callable[[], T]) -> T:
        """Latency, then an injected error, a timeout before the call, or a timeout after it."""
        if self.plan.latency_ms:
            time.sleep(self.plan.latency_ms / 1000)
        if self._roll(self.plan.error_rate):
            raise Transient(f"injected fault in {what}", backend=self.display, key=key)
        timeout = self._roll(self.plan.timeout_rate)
        if timeout and self._coin():
            self._time_out(what, key, "request")
        result = fn()
        if timeout:
            _discard(result)
            self._time_out(what, key, "reply")
        return result

    def _time_out(self, what: str, key: str | None, lost: str) -> None:
        time.sleep(self.plan.timeout_ms / 1000)
        raise Transient(
            f"injected fault: {what} timed out after {self.plan.timeout_ms:.0f} ms ({lost} lost)",
            backend=self.display,
            key=key,
        )

    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        self._call("put", key, lambda: self.inner.put(key, self._faulty_data(key, data), options))

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        self._call("put_if_absent", key, lambda: self.inner.put_if_absent(key, self._faulty_data(key, data), options))

    def _faulty_data(self, key: str, data: Data) -> Data:
        if self.plan.enospc_after_bytes is not None:
            body = as_stream(data).read()
            with self._lock:
                room = max(0, self.plan.enospc_after_bytes - self.written)
                self.written += min(room, len(body))
                full = room < len(body)
                self.injected += full
            if full:
                return _FailingStream.of(body[:room], OSError(errno.ENOSPC, "No space left on device"))
            data = body
        if not self._roll(self.plan.cut_rate):
            return data
        body = as_stream(data).read()
        cut = Transient("injected fault: upload cut half-way", backend=self.display, key=key)
        return _FailingStream.of(body[: len(body) // 2], cut)

    def get(self, key: str) -> BinaryIO:
        return self._call("get", key, lambda: self.inner.get(key))

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        return self._call("get_range", key, lambda: self.inner.get_range(key, offset, length))

    def read_range(self, key: str, offset: int, length: int, buf: memoryview) -> memoryview:
        return self._call("get_range", key, lambda: read_range(self.inner, key, offset, length, buf))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return iter(self._call("list", prefix or None, lambda: list(self.inner.list(prefix))))

    def stat(self, key: str) -> ObjectInfo:
        return self._call("stat", key, lambda: self.inner.stat(key))

    def delete(self, key: str) -> None:
        self._call("delete", key, lambda: self.inner.delete(key))

    def close(self) -> None:
        self.inner.close()


def _discard(result: object) -> None:
    close = getattr(result, "close", None)
    if callable(close):
        close()


class _FailingStream(io.RawIOBase):
    """Yields ``head``, then raises ``error``: an upload cut short, or a disk that filled up."""

    def __init__(self, head: bytes, error: Exception) -> None:
        self._head = io.BytesIO(head)
        self._error = error

    @classmethod
    def of(cls, head: bytes, error: Exception) -> BinaryIO:
        return cast(BinaryIO, cls(head, error))

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._head.readinto(b)
        if n:
            return n
        raise self._error
