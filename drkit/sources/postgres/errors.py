"""PostgreSQL source errors: one line each, never with a password in them."""

from __future__ import annotations

from ...core.errors import DrkitError, IntegrityError, UsageError


class PostgresError(DrkitError):
    """A client tool or the server failed (exit 1: the run did not finish)."""

    exit_code = 1


class WalMissing(DrkitError):
    """wal-fetch of a segment the archive does not hold (exit 1, as restore_command expects)."""

    exit_code = 1


class WalConflict(IntegrityError):
    """wal-push of a file whose name is archived with different content."""


class TargetUnreachable(UsageError):
    """A recovery target no base backup or archived WAL can reach (checked before writing anything)."""


__all__ = ["PostgresError", "TargetUnreachable", "WalConflict", "WalMissing"]
