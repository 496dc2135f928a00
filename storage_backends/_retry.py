"""A Backend wrapper that retries failed calls with exponential backoff and jitter, for a time window.

A call failing with ``Transient`` (5xx, throttling, timeouts, resets) is retried until it succeeds or
``RetryPolicy.window`` seconds (default 5 min) have passed since its first attempt; then the last error
is raised, which names the backend and key (never a credential: backends build messages from the
display URL). Waits grow exponentially with full jitter, capped at ``RetryPolicy.maximum`` (30 s), and
the last one is cut to what remains of the window. Each retry logs one warning naming the backend, the
key and the error.

``Unreachable`` (connection refused, DNS, TLS) is retried like ``Transient`` only once the store has
answered a call of this process: a store that restarts during a run is waited for, while a wrong endpoint,
or a store that is down when the run starts, fails at once (exit 14) instead of after the whole window.
Every other error (NotFound, AccessDenied, NoSpace, ...) is final at once.

``DRKIT_RETRY_ATTEMPTS=N`` also caps the attempts of one call (tests, impatient scripts); the window
comes from ``configure_retry`` (the CLI's ``--retry-for``), else the caller's policy, else the default.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_random_exponential

from .base import Backend, Data, ObjectInfo, PutOptions, read_range
from .errors import BackendError, Transient, Unreachable

T = TypeVar("T")
DEFAULT_WINDOW = 300.0
log = logging.getLogger("storage_backends.retry")


@dataclass(frozen=True)
class RetryPolicy:
    window: float = DEFAULT_WINDOW  # seconds a failing call is retried for, from its first attempt
    attempts: int | None = None  # at most this many attempts too (None: the window alone)
    initial: float = 0.5  # the first wait is up to this; each later one up to twice the previous
    maximum: float = 30.0  # no wait is longer

    @classmethod
    def from_env(cls, window: float | None = None) -> RetryPolicy:
        """The window set by ``configure_retry``, else ``window``, else the default; attempts capped by
        ``DRKIT_RETRY_ATTEMPTS`` (at least 1) when set."""
        raw = os.environ.get("DRKIT_RETRY_ATTEMPTS", "")
        attempts = max(1, int(raw)) if raw.isdigit() else None
        chosen = _override[0] if _override[0] is not None else window
        return cls(window=DEFAULT_WINDOW if chosen is None else max(0.0, chosen), attempts=attempts)


_override: list[float | None] = [None]


def configure_retry(window: float | None) -> None:
    """Set the retry window of every backend opened from now on in this process (the command line's
    ``--retry-for``, which wins over a repository's configured ``retry_for``); None: back to defaults."""
    _override[0] = window


class RetryingBackend:
    """Retries every call of the wrapped backend (see the module doc). Streams are retried only when
    they can be rewound (``seek``), which is what the repository hands in."""

    def __init__(
        self,
        inner: Backend,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy.from_env()
        self.display = inner.display
        self.capabilities = inner.capabilities
        self._sleep, self._monotonic = sleep, monotonic
        self._answered = threading.Event()  # the store answered a call: Unreachable is an outage now
        self._backoff = wait_random_exponential(multiplier=self.policy.initial, max=self.policy.maximum)

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, Transient):
            return True
        return isinstance(exc, Unreachable) and self._answered.is_set()

    def _call(self, fn: Callable[[], T]) -> T:
        """``fn``'s first attempt runs bare: tenacity's machinery costs ~20 µs a call (a re-run of a files
        backup reads one tree blob a directory, each a local read of ~15 µs); if it fails, its error is the
        first attempt of the retrying below, which goes on exactly as if it had made that attempt itself."""
        started = self._monotonic()
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - handed to the retrying, which decides as before
            return self._retried(fn, started, exc)
        self._answered.set()
        return result

    def _retried(self, fn: Callable[[], T], started: float, first: Exception) -> T:
        policy = self.policy
        failed = [first]

        def attempt() -> T:
            if failed:
                raise failed.pop()  # the bare attempt's error, as the first attempt
            return fn()

        def stop(state: RetryCallState) -> bool:
            capped = policy.attempts is not None and state.attempt_number >= policy.attempts
            return capped or self._monotonic() - started >= policy.window

        def wait(state: RetryCallState) -> float:
            left = policy.window - (self._monotonic() - started)
            return max(0.0, min(self._backoff(state), left))

        retrying = Retrying(
            retry=retry_if_exception(self._retryable),
            stop=stop,
            wait=wait,
            before_sleep=self._warn(started),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            result = retrying(attempt)
        except BackendError as exc:
            if not isinstance(exc, Unreachable):
                self._answered.set()  # the store said something (a 404, a 503): it is there
            raise
        self._answered.set()
        return result

    def _warn(self, started: float) -> Callable[[RetryCallState], None]:
        window = self.policy.window

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            waited = self._monotonic() - started
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            log.warning(
                "storage call failed (attempt %d, %.0f s of %.0f s): %s; retrying in %.1f s",
                state.attempt_number,
                waited,
                window,
                error,
                wait,
            )

        return before_sleep

    def _rewinding(self, data: Data) -> Callable[[], Data]:
        if isinstance(data, bytes | bytearray | memoryview):
            return lambda: data
        if data.seekable():
            start = data.tell()

            def rewind() -> Data:
                data.seek(start)
                return data

            return rewind
        once = [False]

        def single() -> Data:
            if once[0]:  # a consumed one-shot stream cannot be sent again: final, not retried
                raise BackendError("upload failed and its stream cannot be rewound for a retry", backend=self.display)
            once[0] = True
            return data

        return single

    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        src = self._rewinding(data)
        self._call(lambda: self.inner.put(key, src(), options))

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        src = self._rewinding(data)
        self._call(lambda: self.inner.put_if_absent(key, src(), options))

    def get(self, key: str) -> BinaryIO:
        return self._call(lambda: self.inner.get(key))

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        return self._call(lambda: self.inner.get_range(key, offset, length))

    def read_range(self, key: str, offset: int, length: int, buf: memoryview) -> memoryview:
        return self._call(lambda: read_range(self.inner, key, offset, length, buf))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return iter(self._call(lambda: list(self.inner.list(prefix))))

    def stat(self, key: str) -> ObjectInfo:
        return self._call(lambda: self.inner.stat(key))

    def delete(self, key: str) -> None:
        self._call(lambda: self.inner.delete(key))

    def close(self) -> None:
        self.inner.close()
