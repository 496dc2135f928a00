"""Translate backend-neutral storage errors into drkit errors, at the repository boundary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from storage_backends import errors as be

from ..core.errors import DrkitError, IntegrityError, LockFailed, RepositoryMissing, StorageError

T = TypeVar("T")

_LABELS: dict[type[be.BackendError], str] = {
    be.Unreachable: "storage unreachable",
    be.AccessDenied: "access denied",
    be.ContainerMissing: "bucket or directory missing",
    be.NoSpace: "storage full",
    be.ObjectLocked: "object locked",
    be.Transient: "storage failed after retries",
}

_HINTS: dict[type[be.BackendError], str] = {
    be.Unreachable: "check the endpoint URL, the network and that the server is running",
    be.AccessDenied: "check the credentials (environment, profile or ADC) and the bucket policy",
    be.ContainerMissing: "create the bucket first, or check its name and region",
    be.NoSpace: (
        "free space: `drkit forget`, then `drkit prune --grace 0` (both run on a full disk, using the "
        "repository's space reserve), or enlarge the storage; a failed backup leaves no snapshot"
    ),
    be.ObjectLocked: "the object is under retention (object lock); it can be removed after it expires",
}


def translate(exc: be.BackendError) -> DrkitError:
    """A one-line DrkitError for a backend error; the message names backend and key, never secrets."""
    if isinstance(exc, be.NotFound):
        return IntegrityError(f"missing object: {exc}")
    if isinstance(exc, be.AlreadyExists):
        return LockFailed(str(exc))
    if isinstance(exc, be.UnknownScheme | be.InvalidURL):
        err = StorageError(str(exc))
        err.exit_code = 2
        return err
    label = _LABELS.get(type(exc), "storage error")
    return StorageError(f"{label}: {exc}", hint=_HINTS.get(type(exc)))


@contextmanager
def storage_errors() -> Iterator[None]:
    """Re-raise backend errors as DrkitErrors within the block."""
    try:
        yield
    except be.BackendError as exc:
        raise translate(exc) from exc


def call(fn: Callable[[], T]) -> T:
    with storage_errors():
        return fn()


__all__ = ["RepositoryMissing", "call", "storage_errors", "translate"]
