"""The MySQL source's errors."""

from __future__ import annotations

from ...core.errors import DrkitError, StorageError, UsageError


class MysqlError(DrkitError):
    """A client tool failed or the server refused (exit 1)."""


class MysqlUnreachable(StorageError):
    """The server cannot be reached or refuses the login (exit 14, as unreachable storage)."""


class MysqlUsage(UsageError):
    """Bad input: a snapshot that is not a MySQL dump, a target database that is not empty (exit 2)."""
