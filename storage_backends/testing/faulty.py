"""A Backend wrapper that injects faults: for fault-injection tests and for users who want to see
how their setup behaves when storage misbehaves.

URL: ``faulty+<inner URL>`` with query parameters (removed before the inner backend sees them):

    error_rate=0.05   fraction of calls that fail with Transient (before doing anything)
    cut_rate=0.02     fraction of puts that read half their data, then fail (an upload cut half-way)
    latency_ms=5      added to every call
    seed=1            makes the fault sequence repeatable

Faults are decided per call from one seeded generator, so a run is reproducible.
"""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .._urls import BackendURL
from ..base import Backend, Data, ObjectInfo, PutOptions, as_stream
from ..errors import Transient

_FAULT_PARAMS = ("error_rate", "cut_rate", "latency_ms", "seed")


@dataclass(frozen=True)
class FaultPlan:
    error_rate: float = 0.0
    cut_rate: float = 0.0
    latency_ms: float = 0.0
    seed: int = 0


class FaultyBackend:
    def __init__(self, inner: Backend, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan
        self.display = f"faulty+{inner.display}"
        self.capabilities = inner.capabilities
        self._rng = random.Random(plan.seed)
        self._lock = threading.Lock()
        self.injected = 0

    @classmethod
    def from_url(cls, url: BackendURL) -> FaultyBackend:
        from .. import _load, known_schemes, parse_url

        plan = FaultPlan(
            error_rate=float(url.params.get("error_rate", 0)), cut_rate=float(url.params.get("cut_rate", 0)),
            latency_ms=float(url.params.get("latency_ms", 0)), seed=int(url.params.get("seed", 0)),
        )
        inner_raw = url.raw.removeprefix("faulty+")
        base, _, query = inner_raw.partition("?")
        kept = "&".join(p for p in query.split("&") if p and p.split("=", 1)[0] not in _FAULT_PARAMS)
        inner_url = parse_url(f"{base}?{kept}" if kept else base)
        inner = _load(known_schemes()[inner_url.scheme]).from_url(inner_url)
        return cls(inner, plan)

    def _roll(self, rate: float) -> bool:
        with self._lock:
            hit = self._rng.random() < rate
            self.injected += hit
            return hit

    def _before(self, what: str, key: str | None) -> None:
        if self.plan.latency_ms:
            time.sleep(self.plan.latency_ms / 1000)
        if self._roll(self.plan.error_rate):
            raise Transient(f"injected fault in {what}", backend=self.display, key=key)

    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        self._before("put", key)
        self.inner.put(key, self._maybe_cut(key, data), options)

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        self._before("put_if_absent", key)
        self.inner.put_if_absent(key, self._maybe_cut(key, data), options)

    def _maybe_cut(self, key: str, data: Data) -> Data:
        if not self._roll(self.plan.cut_rate):
            return data
        return _CutStream(as_stream(data), self.display, key)

    def get(self, key: str) -> BinaryIO:
        self._before("get", key)
        return self.inner.get(key)

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        self._before("get_range", key)
        return self.inner.get_range(key, offset, length)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self._before("list", prefix or None)
        return self.inner.list(prefix)

    def stat(self, key: str) -> ObjectInfo:
        self._before("stat", key)
        return self.inner.stat(key)

    def delete(self, key: str) -> None:
        self._before("delete", key)
        self.inner.delete(key)

    def close(self) -> None:
        self.inner.close()


class _CutStream(io.RawIOBase):
    """Yields the first half of a stream, then fails like a dropped connection."""

    def __init__(self, src: BinaryIO, backend: str, key: str) -> None:
        body = src.read()
        self._half = io.BytesIO(body[: len(body) // 2])
        self._backend = backend
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._half.readinto(b)
        if n:
            return n
        raise Transient("injected fault: upload cut half-way", backend=self._backend, key=self._key)
