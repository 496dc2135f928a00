"""A read started on a thread of its own as a lock object is written, alongside the listing of the other
locks (one round trip, not two): taken once the lock is held; stopped and waited for when the lock is
refused, so nothing reads the repository on after the refusal's error line."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

T = TypeVar("T")


class Stopped(Exception):
    """Raised by a read ahead that saw ``Ahead.stop`` set: its result is not wanted."""


class Ahead(Generic[T]):
    def __init__(self) -> None:
        self.stop = threading.Event()  # the read checks it between its steps (``check``)
        self._future: Future[T] | None = None

    def start(self, fn: Callable[[threading.Event], T]) -> None:
        pool = ThreadPoolExecutor(1, thread_name_prefix="drkit-ahead")
        self._future = pool.submit(fn, self.stop)
        pool.shutdown(wait=False)  # not ``with``: that would wait for ``fn``; the thread ends with it

    def take(self) -> T | None:
        """The read's result (waiting for it), or None if none was started."""
        future, self._future = self._future, None
        return future.result() if future is not None else None

    def cancel(self) -> None:
        """Stop the read at its next step and wait for it (its result or failure is dropped)."""
        self.stop.set()
        future, self._future = self._future, None
        if future is not None:
            wait([future])


def check(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise Stopped
