"""Backend-neutral errors.

    BackendError                 any failure of a storage call; names the backend (display form) and key
     ├── NotFound                the key does not exist
     ├── AlreadyExists           put_if_absent found the key taken
     ├── AccessDenied            credentials rejected or not allowed
     ├── ContainerMissing        the bucket / base directory does not exist
     ├── Unreachable             the endpoint cannot be reached (DNS, refused, TLS)
     ├── ObjectLocked            object lock / retention forbids the change
     ├── NoSpace                 the store is full
     └── Transient               worth retrying: 5xx, throttling, timeouts, resets

Messages never contain credentials: backends build them from the display URL only.
"""

from __future__ import annotations


class BackendError(Exception):
    """A storage call failed. ``str()`` is one line naming the backend and the key."""

    def __init__(self, message: str, *, backend: str = "", key: str | None = None) -> None:
        self.message = message
        self.backend = backend
        self.key = key
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.backend
        if self.key is not None:
            where = f"{where} key {self.key!r}" if where else f"key {self.key!r}"
        return f"{where}: {self.message}" if where else self.message


class NotFound(BackendError):
    pass


class AlreadyExists(BackendError):
    pass


class AccessDenied(BackendError):
    pass


class ContainerMissing(BackendError):
    pass


class Unreachable(BackendError):
    pass


class ObjectLocked(BackendError):
    pass


class NoSpace(BackendError):
    pass


class Transient(BackendError):
    pass


class UnknownScheme(BackendError):
    """The URL names no registered backend."""


class InvalidURL(BackendError):
    """The URL is not one its backend can use (no bucket, a bad parameter): a usage error."""


__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "BackendError",
    "ContainerMissing",
    "InvalidURL",
    "NoSpace",
    "NotFound",
    "ObjectLocked",
    "Transient",
    "UnknownScheme",
    "Unreachable",
]
