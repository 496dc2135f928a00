"""Spans around storage calls, sampled: one call in N of a repository's backend (get, get_range, put,
put_if_absent, list, stat, delete) becomes a ``drkit.storage.<call>`` span with its key, bytes and outcome.

Off unless tracing is on (``core/tracing.py``): then ``traced`` returns the backend itself, so a run without
``OTEL_*`` pays nothing, not even a wrapper. ``DRKIT_TRACE_STORAGE_RATIO`` (0 to 1, default 0.01) sets the share
of calls traced, 0 none: a backup makes thousands of calls, and a span for each would cost more than the
trace tells. Sampling is systematic (every N-th call, N = round(1 / ratio)), not random, so a run's span count
is predictable. A call made by an upload or download worker thread (no current span there) is parented to the
span that was current when the repository was opened, so it stays in the run's trace.

``get`` returns a stream: its span covers opening it, not reading it. A listing's span ends when the listing
is exhausted or abandoned, with the number of objects it yielded.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any, BinaryIO

from storage_backends import Backend, ObjectInfo, PutOptions, read_range

from ..core import tracing
from ..core.errors import UsageError

RATIO_ENV = "DRKIT_TRACE_STORAGE_RATIO"
DEFAULT_RATIO = 0.01


def storage_ratio() -> float:
    """``DRKIT_TRACE_STORAGE_RATIO`` as a share of calls (0 to 1); unset: ``DEFAULT_RATIO``."""
    text = os.environ.get(RATIO_ENV, "").strip()
    if not text:
        return DEFAULT_RATIO
    try:
        ratio = float(text)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise UsageError(
            f"{RATIO_ENV}={text[:20]!r} is not a share of calls between 0 and 1",
            hint=f"e.g. {RATIO_ENV}=0.01 traces one storage call in 100, 1 every call, 0 none",
        )
    return ratio


def traced(backend: Backend) -> Backend:
    """``backend`` with sampled spans around its calls when tracing is on and the ratio is above 0; else
    ``backend`` itself."""
    if not tracing.enabled():
        return backend
    ratio = storage_ratio()
    if ratio <= 0.0:
        return backend
    return TracedBackend(backend, every=max(1, round(1.0 / ratio)), parent=tracing.context())


class TracedBackend:
    """The Backend contract; every ``every``-th call in a ``drkit.storage.<call>`` span."""

    def __init__(self, inner: Backend, *, every: int, parent: object | None) -> None:
        self.inner = inner
        self.display = inner.display
        self.capabilities = inner.capabilities
        self._every, self._parent = every, parent
        self._calls = itertools.count(1)  # next() on a count is atomic under the GIL: no lock

    def __getattr__(self, name: str) -> Any:  # optional extras of the wrapped backend (list_temps, ...)
        return getattr(self.inner, name)

    def _span(self, call: str, key: str, **attributes: Any) -> Any:
        if next(self._calls) % self._every:
            return tracing.NO_SPAN
        return tracing.leaf_span(
            f"drkit.storage.{call}",
            self._parent,
            **{
                "drkit.storage.backend": self.display,
                "drkit.storage.key": key,
                "drkit.storage.sample_every": self._every,
                **attributes,
            },
        )

    def put(self, key: str, data: Any, options: PutOptions | None = None) -> None:
        with self._span("put", key, **{"drkit.storage.bytes": _size(data)}):
            self.inner.put(key, data, options)

    def put_if_absent(self, key: str, data: Any, options: PutOptions | None = None) -> None:
        with self._span("put_if_absent", key, **{"drkit.storage.bytes": _size(data)}):
            self.inner.put_if_absent(key, data, options)

    def get(self, key: str) -> BinaryIO:
        with self._span("get", key):
            return self.inner.get(key)

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        with self._span("get_range", key, **{"drkit.storage.bytes": length}):
            return self.inner.get_range(key, offset, length)

    def read_range(self, key: str, offset: int, length: int, buf: memoryview) -> memoryview:
        with self._span("get_range", key, **{"drkit.storage.bytes": length}):
            return read_range(self.inner, key, offset, length, buf)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self._listing(self._span("list", prefix), prefix)

    def _listing(self, span: Any, prefix: str) -> Iterator[ObjectInfo]:
        count = 0
        with span:
            for info in self.inner.list(prefix):
                count += 1
                yield info
            span.set(**{"drkit.storage.objects": count})

    def stat(self, key: str) -> ObjectInfo:
        with self._span("stat", key):
            return self.inner.stat(key)

    def delete(self, key: str) -> None:
        with self._span("delete", key):
            self.inner.delete(key)

    def close(self) -> None:
        self.inner.close()


def _size(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:  # a stream: its size is not known up front
        return None


__all__ = ["DEFAULT_RATIO", "RATIO_ENV", "TracedBackend", "storage_ratio", "traced"]
