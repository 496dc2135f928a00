"""``caps.read_capped``: objects read with a limit, whole however the store's stream splits its reads."""

from __future__ import annotations

import io
from typing import Any

import pytest

from drkit.repository.caps import ObjectTooLarge, read_capped
from storage_backends.testing.memory import MemoryBackend


class _Trickle(io.RawIOBase):
    """A raw stream returning at most 1000 bytes a read, like an HTTP body."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        chunk = self._data.read(min(len(b), 1000))
        b[: len(chunk)] = chunk
        return len(chunk)


class _TrickleBackend(MemoryBackend):
    def get(self, key: str) -> Any:
        with super().get(key) as f:
            return _Trickle(f.read())


def test_read_capped_reads_a_trickling_stream_whole() -> None:
    backend = _TrickleBackend()
    data = bytes(range(256)) * 100
    backend.put("index/x", data)
    assert read_capped(backend, "index/x", len(data)) == data
    with pytest.raises(ObjectTooLarge, match="larger than"):
        read_capped(backend, "index/x", len(data) - 1)
