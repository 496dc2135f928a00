"""The storage contract every backend fulfils.

A backend stores opaque objects under ``/``-separated keys. It promises:
- read-after-write: a completed ``put`` is visible to ``get``, ``stat`` and ``list`` at once;
- atomic puts: a reader sees the whole old object, the whole new one, or none; never a part;
- ``put_if_absent`` is an atomic create: of several concurrent callers exactly one wins, the others
  get ``AlreadyExists``;
- large objects stream: ``put`` accepts a readable stream and ``get`` returns one, so nothing
  buffers a whole multi-GiB object in memory;
- errors are the neutral ones of ``storage_backends.errors``; ``delete`` of a missing key succeeds.

Keys are validated by ``validate_key``: relative, ASCII letters, digits and ``/._-`` only, no empty,
``.`` or ``..`` segments.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable

Data = bytes | bytearray | memoryview | BinaryIO

_KEY_RE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    mtime: datetime
    retain_until: datetime | None = None  # object lock / retention end, where ``stat`` can report it


@dataclass(frozen=True)
class PutOptions:
    """Per-call variations; backends ignore what they do not support (see Capabilities)."""

    retain_until: datetime | None = None  # object lock / retention, where supported
    lock_mode: str | None = None  # "governance" or "compliance"; None: the backend's default
    private: bool = False  # readable by its owner only where the store has file modes (local: 0600)


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    atomic_create: bool = True
    object_lock: bool = False
    max_connections: int = 8
    bounded_space: bool = False  # can fill up (a local disk): drkit init keeps a space reserve there
    remote: bool = True  # behind a network (round trips): drkit keeps more requests in flight


@runtime_checkable
class Backend(Protocol):
    """Eight calls; everything else (retries, faults, rate limits) wraps them."""

    display: str
    capabilities: Capabilities

    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None: ...

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None: ...

    def get(self, key: str) -> BinaryIO: ...

    def get_range(self, key: str, offset: int, length: int) -> bytes: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def stat(self, key: str) -> ObjectInfo: ...

    def delete(self, key: str) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class LeavesTemps(Protocol):
    """Optional, beside the eight calls: a backend that writes objects through temporary names, which a
    writer killed mid-write leaves behind (the local directory's ``.tmp-*`` files). ``list`` never
    shows them; these two calls list them (keys relative to the root, with mtimes) and remove one."""

    def list_temps(self) -> Iterator[ObjectInfo]: ...

    def delete_temp(self, key: str) -> None: ...


def temp_store(backend: object) -> LeavesTemps | None:
    """The backend itself or the one it wraps (``inner``, as the retry and retention wrappers do) that
    implements ``LeavesTemps``; None if none does (object stores: an upload is atomic)."""
    return next((layer for layer in _layers(backend) if isinstance(layer, LeavesTemps)), None)


def _layers(backend: object) -> Iterator[object]:
    """The backend, then each one it wraps (``inner``: the retry, rate-limit and retention wrappers),
    at most eight deep."""
    layer: object | None = backend
    for _ in range(8):
        if layer is None:
            return
        yield layer
        layer = getattr(layer, "inner", None)


def warm_up(backend: object) -> None:
    """Let the backend open the connections its next requests will use, in the background, where it can
    (``warm_up`` on the backend or one it wraps: S3); a no-op for any other. For a caller about to spend
    a while computing (the key derivation) before sending several requests at once. Never raises: a hint
    must not fail the command (a plugin's own ``warm_up`` may want arguments; a thread may not start);
    only the error's type is logged (its text may name an endpoint)."""
    for layer in _layers(backend):
        method = getattr(type(layer), "warm_up", None)
        if callable(method):
            try:
                method(layer)
            except Exception as exc:  # noqa: BLE001 - best effort (docstring)
                logging.getLogger("storage_backends").debug("warm-up skipped: %s", type(exc).__name__)
            return


def read_range(backend: Backend, key: str, offset: int, length: int, buf: memoryview) -> memoryview:
    """``length`` bytes of ``key`` from ``offset`` (fewer at the object's end), read into ``buf`` (at
    least ``length`` bytes) where the backend can, else ``get_range``'s own bytes.

    An optional fast path beside the eight calls: a backend or wrapper with a ``read_range`` method
    of this signature may fill ``buf`` and return a view of it (the local directory ``preadv``s into
    it, so a restore reuses one buffer per thread instead of allocating and faulting in a new one per
    read). For any other backend the result is a view of ``get_range``'s bytes: nothing is copied.
    Plugins need not implement it. The caller checks the length it got.
    """
    method = getattr(backend, "read_range", None)
    if method is not None:
        return memoryview(method(key, offset, length, buf))
    return memoryview(backend.get_range(key, offset, length))


def validate_key(key: str) -> str:
    """Return ``key`` if it is a valid object key, else raise ``ValueError``."""
    if not _KEY_RE.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"invalid object key {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """A list prefix: empty, or a key, optionally ending in ``/``."""
    if prefix:
        validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def as_stream(data: Data) -> BinaryIO:
    """Wrap bytes-like data in a stream; pass streams through."""
    import io

    if isinstance(data, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(data))
    return data


__all__ = [
    "Backend",
    "Capabilities",
    "Data",
    "ObjectInfo",
    "PutOptions",
    "as_stream",
    "validate_key",
    "validate_prefix",
]
