"""An in-memory Backend: for unit tests and plugin authors. Thread-safe; not persistent."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from .._urls import BackendURL
from ..base import Capabilities, Data, ObjectInfo, PutOptions, as_stream, validate_key, validate_prefix
from ..errors import AlreadyExists, NotFound

_STORES: dict[str, dict[str, tuple[bytes, datetime]]] = {}
_STORES_LOCK = threading.Lock()


class MemoryBackend:
    def __init__(self, name: str = "") -> None:
        with _STORES_LOCK:
            # memory://NAME shares one store per name within a process, so a CLI test can reopen it
            self._objects = _STORES.setdefault(name, {}) if name else {}
        self._lock = threading.Lock()
        self.display = f"memory://{name}"
        self.capabilities = Capabilities(remote=False)  # no round trips

    @classmethod
    def from_url(cls, url: BackendURL) -> MemoryBackend:
        return cls(url.netloc + ("/" + url.path if url.path else ""))

    def _read(self, data: Data) -> bytes:
        return as_stream(data).read()

    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        body = self._read(data)
        with self._lock:
            self._objects[validate_key(key)] = (body, datetime.now(UTC))

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        body = self._read(data)
        with self._lock:
            if validate_key(key) in self._objects:
                raise AlreadyExists("object already exists", backend=self.display, key=key)
            self._objects[key] = (body, datetime.now(UTC))

    def _body(self, key: str) -> bytes:
        with self._lock:
            try:
                return self._objects[validate_key(key)][0]
            except KeyError:
                raise NotFound("no such object", backend=self.display, key=key) from None

    def get(self, key: str) -> BinaryIO:
        return io.BytesIO(self._body(key))

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be >= 0")
        return self._body(key)[offset : offset + length]

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        with self._lock:
            items = sorted((k, len(v[0]), v[1]) for k, v in self._objects.items() if k.startswith(prefix))
        for key, size, mtime in items:
            yield ObjectInfo(key, size, mtime)

    def stat(self, key: str) -> ObjectInfo:
        with self._lock:
            try:
                body, mtime = self._objects[validate_key(key)]
            except KeyError:
                raise NotFound("no such object", backend=self.display, key=key) from None
        return ObjectInfo(key, len(body), mtime)

    def delete(self, key: str) -> None:
        with self._lock:
            self._objects.pop(validate_key(key), None)

    def close(self) -> None:
        return None
