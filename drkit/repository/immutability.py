"""Immutability through Object Lock: a repository whose config says ``immutable_days = N`` writes every
object (packs, index, snapshots and other manifests, WAL, keys, config; never lock objects) with
retention until *now + N days*, and never deletes an object whose retention has not ended.

``RetainingBackend`` wraps the repository's backend to do both, so no write path can forget the
retention and no delete path can hide locked data: S3 answers a plain ``DeleteObject`` on a locked
object by adding a delete marker (the locked version survives, but drkit would no longer see the
object), so the check must happen here, before the call. ``locked_until`` is what prune and forget
ask first, to keep a locked object and say until when.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import BinaryIO

from storage_backends import Backend, NotFound, ObjectInfo, PutOptions
from storage_backends.base import Data, read_range
from storage_backends.errors import BackendError, ObjectLocked

from ..core import clock
from ..core.errors import StorageError, UsageError
from .format import RepoConfig

EXEMPT_PREFIXES = ("locks/",)  # rewritten and deleted by design; nothing to protect in them
_BUCKET_HINT = (
    "create the bucket with Object Lock enabled (S3: ObjectLockEnabledForBucket) or with "
    "per-object retention (GCS: --enable-per-object-retention)"
)


@dataclass(frozen=True)
class Retention:
    days: int
    mode: str  # governance | compliance

    @classmethod
    def of(cls, config: RepoConfig) -> Retention | None:
        return cls(config.immutable_days, config.lock_mode) if config.immutable_days > 0 else None

    def options(self) -> PutOptions:
        return PutOptions(retain_until=clock.utcnow() + timedelta(days=self.days), lock_mode=self.mode)


def when(moment: datetime) -> str:
    """A retention end for people: ``2026-11-24 16:56:07 UTC``."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class Trimming:
    """What a retention pass takes out of an archive (WAL files, AOF records): an item whose object
    is still under retention is kept, with the date its lock ends."""

    removed: list[str] = field(default_factory=list)
    kept: int = 0
    locked: dict[str, str] = field(default_factory=dict)  # item → retention end (kept)

    def keep(self) -> None:
        self.kept += 1

    def drop(self, item: str, locked_until: datetime | None) -> None:
        """Remove ``item``, unless its object is locked until ``locked_until``."""
        if locked_until is None:
            self.removed.append(item)
        else:
            self.locked[item] = when(locked_until)
            self.kept += 1


def locked_until(backend: Backend, key: str, retention: Retention) -> datetime | None:
    """When ``key``'s retention ends, if it has not yet (None: deletable, or missing). A backend that
    cannot report retention is assumed to hold the object N days from its modification time."""
    try:
        info = backend.stat(key)
    except NotFound:
        return None
    until = info.retain_until if backend.capabilities.object_lock else info.mtime + timedelta(days=retention.days)
    return until if until is not None and until > clock.utcnow() else None


def _exempt(key: str) -> bool:
    return key.startswith(EXEMPT_PREFIXES)


class RetainingBackend:
    """The Backend contract, with retention on every put and a locked-object check before every delete."""

    def __init__(self, inner: Backend, retention: Retention) -> None:
        self.inner = inner
        self.retention = retention
        self.display = inner.display
        self.capabilities = inner.capabilities

    def _options(self, key: str, options: PutOptions | None) -> PutOptions | None:
        if _exempt(key) or (options is not None and options.retain_until is not None):
            return options
        return (
            self.retention.options() if options is None else replace(self.retention.options(), private=options.private)
        )

    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        self.inner.put(key, data, self._options(key, options))

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        self.inner.put_if_absent(key, data, self._options(key, options))

    def get(self, key: str) -> BinaryIO:
        return self.inner.get(key)

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        return self.inner.get_range(key, offset, length)

    def read_range(self, key: str, offset: int, length: int, buf: memoryview) -> memoryview:
        return read_range(self.inner, key, offset, length, buf)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def stat(self, key: str) -> ObjectInfo:
        return self.inner.stat(key)

    def delete(self, key: str) -> None:
        if not _exempt(key):
            until = locked_until(self.inner, key, self.retention)
            if until is not None:
                raise ObjectLocked(f"locked until {when(until)}", backend=self.display, key=key)
        self.inner.delete(key)

    def close(self) -> None:
        self.inner.close()


def require_object_lock(backend: Backend) -> None:
    """``init --immutable-days`` on a store that cannot lock objects is a usage error."""
    if not backend.capabilities.object_lock:
        raise UsageError(
            f"{backend.display} cannot lock objects: --immutable-days needs an s3:// bucket with "
            "Object Lock or a gs:// bucket with object retention"
        )


def first_locked_write(backend: RetainingBackend, key: str, data: bytes, options: PutOptions | None = None) -> None:
    """Write the first object of a new immutable repository and prove the store kept its retention:
    a bucket without Object Lock either refuses the put or silently ignores the retention."""
    try:
        backend.put_if_absent(key, data, options)
    except BackendError as exc:
        raise StorageError(
            f"{backend.display} refused a write with object-lock retention ({exc.message})", hint=_BUCKET_HINT
        ) from exc
    if backend.inner.stat(key).retain_until is None:
        backend.inner.delete(key)
        raise StorageError(
            f"{backend.display} stored an object without the requested retention: the bucket has no object lock",
            hint=_BUCKET_HINT,
        )
