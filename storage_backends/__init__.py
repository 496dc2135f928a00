"""Pluggable object stores for drkit.

``open_backend(url)`` picks a backend class by URL scheme: the built-in ``file``, ``s3`` and ``gs``,
plus any class registered under the entry-point group ``drkit.storage_backends`` (scheme = entry
point name). A backend class provides ``from_url(url: BackendURL) -> Backend``.

The test-only backends (``memory://``, ``faulty+…``) exist only while ``DRKIT_TEST_BACKENDS=1`` is set
(the test suite sets it): a user who types ``memory://`` gets "unknown storage scheme", not a
repository that vanishes when the process ends.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

from ._ratelimit import Limits, RateLimitedBackend, chosen_limits, configure_limits
from ._retry import DEFAULT_WINDOW, RetryingBackend, RetryPolicy, configure_retry
from ._urls import BackendURL, parse_url
from .base import (
    Backend,
    Capabilities,
    LeavesTemps,
    ObjectInfo,
    PutOptions,
    read_range,
    temp_store,
    validate_key,
    warm_up,
)
from .errors import (
    AccessDenied,
    AlreadyExists,
    BackendError,
    ContainerMissing,
    InvalidURL,
    NoSpace,
    NotFound,
    ObjectLocked,
    Transient,
    UnknownScheme,
    Unreachable,
)

ENTRY_POINT_GROUP = "drkit.storage_backends"

_BUILTIN = {
    "file": "storage_backends.local:LocalBackend",
    "s3": "storage_backends.s3:S3Backend",
    "gs": "storage_backends.gcs:GCSBackend",
}
TEST_BACKENDS_ENV = "DRKIT_TEST_BACKENDS"
_TESTING = {
    "memory": "storage_backends.testing.memory:MemoryBackend",
    "faulty+file": "storage_backends.testing.faulty:FaultyBackend",
    "faulty+s3": "storage_backends.testing.faulty:FaultyBackend",
    "faulty+gs": "storage_backends.testing.faulty:FaultyBackend",
}


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)


def _builtin_schemes() -> dict[str, str]:
    table = dict(_BUILTIN)
    if os.environ.get(TEST_BACKENDS_ENV) == "1":
        table.update(_TESTING)
    return table


def known_schemes() -> dict[str, str]:
    """scheme → "module:Class", built-ins first, then plugins (a plugin may not shadow a built-in)."""
    # imported here: importlib.metadata (with email and zipfile) and the scan of every installed
    # distribution's entry points cost ~20-30 ms of start-up that a built-in scheme never needs
    from importlib.metadata import entry_points

    table = _builtin_schemes()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        table.setdefault(ep.name, ep.value)
    return table


def open_backend(url: str, *, retry: RetryPolicy | None = None, limits: Limits | None = None) -> Backend:
    """Open the backend for ``url`` (a bare path means a local directory), wrapped in retries
    (``retry``, else ``RetryPolicy.from_env()``: see _retry.py) and, under them, in bandwidth limits
    (``configure_limits``'s, else ``limits``; none at all when unlimited: see _ratelimit.py)."""
    parsed = parse_url(url)
    # a built-in is found without reading any package metadata (no plugin may shadow one)
    target = _builtin_schemes().get(parsed.scheme)
    if target is None:
        table = known_schemes()
        target = table.get(parsed.scheme)
        if target is None:
            known = ", ".join(sorted(s for s, t in table.items() if ".testing." not in t))
            raise UnknownScheme(f"unknown storage scheme {parsed.scheme!r} (known: {known})")
    cls = _load(target)
    try:
        backend: Backend = cls.from_url(parsed)
    except ValueError as exc:  # backends refuse a URL they cannot use with ValueError (display form only)
        raise InvalidURL(str(exc) or f"invalid storage URL {parsed.display}") from None
    chosen = chosen_limits(limits)
    if chosen:
        backend = RateLimitedBackend(backend, chosen)
    return RetryingBackend(backend, retry)


def display_url(url: str) -> str:
    """``url`` with credentials taken out (user info, secret parameters, user info inside parameter
    values such as ``endpoint=``): the only form of a storage URL drkit prints, logs or serves."""
    try:
        return parse_url(url).display
    except ValueError:
        return "<unparseable storage URL>"


__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "Backend",
    "BackendError",
    "BackendURL",
    "Capabilities",
    "ContainerMissing",
    "InvalidURL",
    "Limits",
    "RateLimitedBackend",
    "ENTRY_POINT_GROUP",
    "NoSpace",
    "NotFound",
    "LeavesTemps",
    "TEST_BACKENDS_ENV",
    "ObjectInfo",
    "ObjectLocked",
    "PutOptions",
    "RetryPolicy",
    "RetryingBackend",
    "DEFAULT_WINDOW",
    "Transient",
    "UnknownScheme",
    "Unreachable",
    "configure_limits",
    "configure_retry",
    "display_url",
    "known_schemes",
    "open_backend",
    "parse_url",
    "read_range",
    "temp_store",
    "warm_up",
    "validate_key",
]
