"""Every expected failure is a ``DrkitError``; the CLI maps its ``exit_code`` and prints one line.

    DrkitError (1)                       run did not finish
     ├── UsageError (2)                  bad arguments or configuration
     ├── PartialBackup (3)               snapshot written, some items skipped (a warning, not a crash)
     ├── PartialRestore (3)              restore finished, some items (or their xattrs) not restored
     ├── RepositoryMissing (10)          no repository at that URL
     ├── RepositoryExists (10)           init over an existing repository
     ├── LockFailed (11)                 a conflicting lock is held
     ├── WrongPassword (12)              no key opens with that passphrase, or no passphrase given
     ├── IntegrityError (13)             damaged data found; nothing bad was written
     ├── StorageError (14)               unreachable, access denied, bucket missing, disk full
     ├── SkewTooLarge (15)               a system's component cannot get close enough to the point in time
     ├── TargetMissed (20)               a drill's RPO/RTO target was missed
     └── VerificationFailed (21)         a drill's check failed

Messages never contain secrets: they name URLs by their display form and objects by key.
"""

from __future__ import annotations


class DrkitError(Exception):
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(DrkitError):
    exit_code = 2


class PartialBackup(DrkitError):
    exit_code = 3


class PartialRestore(DrkitError):
    """A restore that finished but could not restore every item (or every item's xattrs)."""

    exit_code = 3


class RepositoryMissing(DrkitError):
    exit_code = 10


class RepositoryExists(DrkitError):
    exit_code = 10


class LockFailed(DrkitError):
    exit_code = 11


class LockLost(LockFailed):
    """A lock this process held was lost (not refreshed for its lifetime): unlike a busy repository,
    the work under it may be half done and another process may have taken over."""


class WrongPassword(DrkitError):
    exit_code = 12


class IntegrityError(DrkitError):
    exit_code = 13


class MissingBlob(IntegrityError):
    """A blob something references is in no index object loaded (missing data, or an index object
    written since the index was loaded)."""


class StorageError(DrkitError):
    exit_code = 14


class TargetMissed(DrkitError):
    exit_code = 20


class VerificationFailed(DrkitError):
    exit_code = 21


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "error: the run did not finish",
    2: "usage or configuration error",
    3: "partial: snapshot written (or restore finished), some items skipped or restricted",
    10: "repository missing (or already exists, for init)",
    11: "lock not acquired",
    12: "wrong passphrase or no key",
    13: "integrity error: damaged data found, restore refused bad data",
    14: "storage unreachable, access denied, bucket missing or full",
    15: "system restore refused: a component cannot get within the allowed skew of the point in time",
    20: "drill target (RPO/RTO) missed",
    21: "drill verification failed",
    129: "stopped by SIGHUP (lock released, temp objects removed)",
    130: "interrupted (Ctrl-C); 128+N for signal N",
    141: "standard output's reader went away (`| head`): stopped quietly",
    143: "stopped by SIGTERM, e.g. a Kubernetes pod stopping (lock released, temp objects removed)",
}

__all__ = [
    "EXIT_CODES",
    "DrkitError",
    "IntegrityError",
    "LockFailed",
    "LockLost",
    "PartialBackup",
    "RepositoryExists",
    "RepositoryMissing",
    "StorageError",
    "TargetMissed",
    "UsageError",
    "VerificationFailed",
    "WrongPassword",
]
