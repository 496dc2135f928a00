"""A Backend wrapper that retries ``Transient`` failures with exponential backoff and jitter.

Only transient errors are retried; a NotFound or AccessDenied is final at once. The final error is the
last one raised, which already names the backend and key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from .base import Backend, Data, ObjectInfo, PutOptions, read_range
from .errors import Transient

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    initial: float = 0.2
    maximum: float = 10.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """Defaults, or ``DRKIT_RETRY_ATTEMPTS`` attempts (at least 1)."""
        import os

        raw = os.environ.get("DRKIT_RETRY_ATTEMPTS")
        return cls(attempts=max(1, int(raw))) if raw and raw.isdigit() else cls()


class RetryingBackend:
    """Retries every call of the wrapped backend on ``Transient``. Streams are retried only when
    they can be rewound (``seek``), which is what the repository hands in."""

    def __init__(self, inner: Backend, policy: RetryPolicy | None = None) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy.from_env()
        self.display = inner.display
        self.capabilities = inner.capabilities

    def _call(self, fn: Callable[[], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception_type(Transient),
            stop=stop_after_attempt(self.policy.attempts),
            wait=wait_random_exponential(multiplier=self.policy.initial, max=self.policy.maximum),
            reraise=True,
        )
        return retrying(fn)

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
            if once[0]:  # a consumed one-shot stream cannot be sent again
                raise Transient("stream cannot be rewound for a retry", backend=self.display)
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
