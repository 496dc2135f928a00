"""A Backend wrapper that records every call: which, on which key, from which thread, when it started and
ended. For tests that count a command's storage round trips, and bench/request_trace.py.

``get`` reads the object whole before returning (its request ends there) and ``list`` pages through the
whole listing: a call's end is when its answer is in. Thread-safe (``list.append`` is atomic).

``Rounds`` makes the count of *sequential* round trips deterministic, with no timing in it: the test
says how many calls each round holds, and a call of round r is held until every call of round r has
arrived. Code that issues those calls together passes at once however loaded the machine is; code that
issues them one after another never completes the round: the first call waits out ``timeout`` (the
round is recorded as stalled, and the gate opens for good so the run can finish and the test fail).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from storage_backends import Backend, ObjectInfo, PutOptions, read_range


@dataclass
class Call:
    call: str
    key: str
    thread: str
    start: float
    end: float = 0.0
    nbytes: int | None = None


def _size(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None


def what(call: str, key: str) -> str:
    """``call`` and the kind of object: ``get config``, ``list keys``, ``list manifests/pending``..."""
    parts = key.split("/")
    return f"{call} {'/'.join(parts[:2]) if parts[0] == 'manifests' else parts[0]}"


class Rounds:
    """The gate of the module docstring: ``sizes[r]`` calls in round r; calls ``what`` names in ``free``
    (say ``put data``: how many pack uploads overlap depends on the machine) are not gated nor counted."""

    def __init__(self, sizes: list[int], *, free: frozenset[str] = frozenset(), timeout: float = 60.0) -> None:
        self.ends = [sum(sizes[: r + 1]) for r in range(len(sizes))]
        self.free, self.timeout = free, timeout
        self.arrived: list[str] = []  # ``what`` of each gated call, in arrival order
        self.stalled: list[int] = []  # rounds that never filled
        self._cond = threading.Condition()

    def enter(self, call: str, key: str) -> None:
        name = what(call, key)
        if name in self.free:
            return
        with self._cond:
            self.arrived.append(name)
            self._cond.notify_all()
            index = len(self.arrived) - 1
            r = next((r for r, end in enumerate(self.ends) if index < end), None)
            if r is None or self.stalled:  # more calls than the rounds hold, or the gate is open
                return
            if not self._cond.wait_for(lambda: len(self.arrived) >= self.ends[r] or bool(self.stalled), self.timeout):
                self.stalled.append(r)
                self._cond.notify_all()

    def by_round(self) -> list[list[str]]:
        """The calls of each round, sorted (their order within a round is the machine's)."""
        starts = [0, *self.ends]
        out = [sorted(self.arrived[a:b]) for a, b in zip(starts, self.ends, strict=False)]
        if len(self.arrived) > self.ends[-1]:
            out.append(sorted(self.arrived[self.ends[-1] :]))
        return out


class RecordingBackend:
    """The Backend contract around ``inner``; each call appended to ``calls`` once it returns (after
    ``gate``, if given, let it through)."""

    def __init__(self, inner: Backend, calls: list[Call], gate: Rounds | None = None) -> None:
        self.inner = inner
        self.display = inner.display
        self.capabilities = inner.capabilities
        self.calls = calls
        self.gate = gate

    def __getattr__(self, name: str) -> Any:  # optional extras (list_temps, ...)
        return getattr(self.inner, name)

    def _run(self, call: str, key: str, nbytes: int | None, fn: Any) -> Any:
        if self.gate is not None:
            self.gate.enter(call, key)
        record = Call(call, key, threading.current_thread().name, time.monotonic(), nbytes=nbytes)
        try:
            return fn()
        finally:
            record.end = time.monotonic()
            self.calls.append(record)

    def put(self, key: str, data: Any, options: PutOptions | None = None) -> None:
        self._run("put", key, _size(data), lambda: self.inner.put(key, data, options))

    def put_if_absent(self, key: str, data: Any, options: PutOptions | None = None) -> None:
        self._run("put_if_absent", key, _size(data), lambda: self.inner.put_if_absent(key, data, options))

    def get(self, key: str) -> BinaryIO:
        def whole() -> BinaryIO:
            with self.inner.get(key) as stream:
                return io.BytesIO(stream.read())

        result: BinaryIO = self._run("get", key, None, whole)
        return result

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        result: bytes = self._run("get_range", key, length, lambda: self.inner.get_range(key, offset, length))
        return result

    def read_range(self, key: str, offset: int, length: int, buf: memoryview) -> memoryview:
        result: memoryview = self._run(
            "get_range", key, length, lambda: read_range(self.inner, key, offset, length, buf)
        )
        return result

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        listed: list[ObjectInfo] = self._run("list", prefix, None, lambda: list(self.inner.list(prefix)))
        return iter(listed)

    def stat(self, key: str) -> ObjectInfo:
        result: ObjectInfo = self._run("stat", key, None, lambda: self.inner.stat(key))
        return result

    def delete(self, key: str) -> None:
        self._run("delete", key, None, lambda: self.inner.delete(key))

    def close(self) -> None:
        self.inner.close()


def sequential(calls: list[Call]) -> list[Call]:
    """The calls during which no other call was in flight, in start order."""
    ordered = sorted(calls, key=lambda c: c.start)
    alone = []
    for i, c in enumerate(ordered):
        if not any(o.start < c.end and c.start < o.end for j, o in enumerate(ordered) if j != i):
            alone.append(c)
    return alone
