"""Errors writing a restore target, as one-line DrkitErrors: a full disk is exit 14 (like a full
repository), a target that cannot be written where it was asked (no such directory, a file where a
directory must be, read-only, permission) is exit 2. Any other OSError stays a bug."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import StorageError, UsageError

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_UNUSABLE = frozenset(
    {
        errno.ENOENT,
        errno.ENOTDIR,
        errno.EEXIST,
        errno.EISDIR,
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENAMETOOLONG,
        errno.ELOOP,
    }
)


@contextmanager
def target_errors(target: str) -> Iterator[None]:
    """Translate an OSError raised while restoring into ``target``."""
    try:
        yield
    except OSError as exc:
        where = exc.filename if exc.filename is not None else target
        if exc.errno in _FULL:
            raise StorageError(
                f"restore target full: {where}: {exc.strerror}",
                hint="free space on the target (files written so far were removed)",
            ) from None
        if exc.errno in _UNUSABLE:
            raise UsageError(f"cannot restore to {target}: {where}: {exc.strerror}") from None
        raise
