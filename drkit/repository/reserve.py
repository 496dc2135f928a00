"""The space reserve: room kept at ``init`` so that forget and prune still run on a full disk.

A repository on a disk that filled up (a backup grew the data until ENOSPC, or something outside drkit
filled the disk) used to be stuck: forget and prune could not write their lock object, so nothing
could ever free space. Now ``init`` writes a *reserve*, one object ``reserve/<target bytes>`` of
random bytes (random, so that a compressing or deduplicating filesystem cannot store it in less).
A maintenance lock (forget, prune) empties it (rewrites it with no bytes; deletes it only where not
even that fits) *before* it writes its lock object, and fills it again right *after* it deletes the
lock object (``MaintenanceLock``): every forget and prune has the reserve's room for its lock,
tombstone, index objects and mark; packs and snapshots it deletes come on top.

Filling it on a disk that is still full (a prune that only marked, within its grace delay) puts back as
much as fits, halving down to ``MIN_PIECE``; the key keeps the target size, so a later maintenance run
fills it whole once there is room. So does the next run after one that was killed and left it empty.
A run that empties nothing and gets no lock (it lost a race with another maintenance run, which holds
the room) fills nothing.

Repositories created before the reserve existed, or with ``--reserve-mib 0``, have none: a full disk
then fails the lock with exit 14 and a hint to free space outside the repository.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass

from storage_backends.base import Backend
from storage_backends.errors import AlreadyExists, BackendError, NoSpace

from ..core.errors import DrkitError, StorageError
from .locks import Lock

log = logging.getLogger(__name__)

RESERVE_PREFIX = "reserve/"
DEFAULT_RESERVE = 32 << 20  # local directories: room for ~500 000 index entries, a tombstone and a mark
MIN_PIECE = 64 << 10


@dataclass(frozen=True)
class Reserve:
    key: str
    target: int  # the size asked for at init (from the key)
    size: int  # what it holds now: less than target after a write-back that did not fit


def reserve_key(target: int) -> str:
    return f"{RESERVE_PREFIX}{target}"


def find(backend: Backend) -> Reserve | None:
    """The reserve, if the repository has one (an unparsable name under ``reserve/`` is ignored)."""
    for info in backend.list(RESERVE_PREFIX):
        name = info.key[len(RESERVE_PREFIX) :]
        if name.isdigit() and len(name) < 16:
            return Reserve(info.key, int(name), info.size)
    return None


class _RandomBytes(io.RawIOBase):
    """``size`` random bytes as a stream: a large reserve is never held in memory whole."""

    def __init__(self, size: int) -> None:
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = min(len(buf), self._left, 1 << 20)
        buf[:n] = os.urandom(n)
        self._left -= n
        return n


def write_reserve(backend: Backend, target: int) -> int:
    """(Re)write the reserve with ``target`` bytes, or as much as fits (halving down to ``MIN_PIECE``).
    Returns the bytes written: 0 when not even the smallest piece fits."""
    size = target
    while size > 0:
        try:
            backend.put(reserve_key(target), io.BufferedReader(_RandomBytes(size)))
            return size
        except NoSpace:
            if size <= MIN_PIECE:
                return 0
            size = max(MIN_PIECE, size // 2)
    return 0


def create_reserve(backend: Backend, target: int, *, required: bool = True) -> None:
    """At ``init``: the whole reserve, or a StorageError (exit 14) saying how to ask for less; a default
    reserve (not ``required``) that does not fit is left out with a warning: a small disk still gets a
    repository."""
    try:
        backend.put_if_absent(reserve_key(target), io.BufferedReader(_RandomBytes(target)))
    except AlreadyExists:
        return  # left by an init that failed after it: kept
    except NoSpace as exc:
        if not required:
            log.warning(
                "no room for the %d-byte space reserve: the repository has none (forget and prune on "
                "a full disk then need space freed outside it; `init --reserve-mib` asks for less)",
                target,
            )
            return
        raise StorageError(
            f"storage full: no room for the {target}-byte space reserve",
            hint="ask for a smaller one with --reserve-mib (0: none)",
        ) from exc


def storage_full(exc: BaseException) -> bool:
    """A DrkitError translated from the backend's NoSpace (storage_errors.py)."""
    return isinstance(exc, StorageError) and isinstance(exc.__cause__, NoSpace)


def _full_error(exc: DrkitError, freed: Reserve | None) -> StorageError:
    if freed is None:
        hint = (
            "this repository has no space reserve (created before drkit had one, or with --reserve-mib 0): "
            "free space on its disk outside the repository, then run `drkit forget` and `drkit prune --grace 0 "
            "--reserve-mib 32` (which gives it one)"
        )
    elif freed.size == 0:
        hint = (
            "the space reserve is empty: another forget or prune is using its room (wait for it to finish), or "
            "one was killed (`drkit unlock`, then run the command again: it refills the reserve)"
        )
    else:
        hint = (
            f"the {freed.size}-byte space reserve was released and is not enough: free space on the disk "
            "outside the repository, then run the command again"
        )
    err = StorageError(exc.message, hint=hint)
    err.__cause__ = exc.__cause__
    return err


class MaintenanceLock(Lock):
    """A maintenance lock that holds the space reserve for as long as it is held (module docstring)."""

    _freed: Reserve | None = None

    def acquire(self) -> None:
        self._freed = self._take_reserve()
        try:
            super().acquire()
        except DrkitError as exc:
            freed = self._freed
            self._give_back(held=False)
            if storage_full(exc):
                raise _full_error(exc, freed) from exc.__cause__
            raise
        except BaseException:
            self._give_back(held=False)
            raise

    def release(self) -> None:
        held = self.key is not None
        super().release()
        if held:  # after the lock object is gone: its room goes back to the reserve too
            self._give_back(held=True)

    def retarget(self, target: int) -> None:
        """Keep a reserve of ``target`` bytes from now on (0: none): filled when the lock is released. Gives
        a repository made before the reserve existed one (`drkit prune --reserve-mib`)."""
        old, self._freed = self._freed, Reserve(reserve_key(target), target, 0) if target > 0 else None
        if old is not None and old.key != reserve_key(target):
            self._backend.delete(old.key)

    def _take_reserve(self) -> Reserve | None:
        """Empty the reserve: an empty object keeps its name (and target) should this run be killed."""
        try:
            found = find(self._backend)
            if found is not None and found.size > 0:
                try:
                    self._backend.put(found.key, b"")
                except NoSpace:  # not even an empty file (no inode left): the name goes, the room comes
                    self._backend.delete(found.key)
        except BackendError as exc:  # the lock write that follows reports a storage that fails
            log.warning("could not release the space reserve: %s", exc)
            return None
        return found

    def _give_back(self, *, held: bool) -> None:
        freed, self._freed = self._freed, None
        if freed is None or (freed.size == 0 and not held):  # we emptied nothing and hold no lock
            return
        try:
            written = write_reserve(self._backend, freed.target)
            left = find(self._backend)
        except BackendError as exc:
            log.warning("could not write the space reserve back: %s", exc)
            return
        if 0 < written < freed.target:
            log.warning(
                "storage nearly full: wrote back %d of the space reserve's %d bytes (the rest once "
                "prune has freed space)",
                written,
                freed.target,
            )
        elif written == 0 and (left is None or left.size == 0):
            log.warning(
                "storage full: the space reserve could not be written back; free space (`drkit prune`, "
                "after the grace delay) and the next forget or prune restores it"
            )


class ReaderLock(Lock):
    """A shared lock for a reader (restore, check): on a full storage, where not even a lock object
    fits, it reads without one, with a warning, rather than refusing a restore. A prune that deletes a
    pack meanwhile makes the read fail (exit 13, every blob is verified); it never returns wrong bytes."""

    def acquire(self) -> None:
        try:
            super().acquire()
        except DrkitError as exc:
            if not storage_full(exc):
                raise
            log.warning(
                "storage full: no room for a lock object; reading without one (a prune running now "
                "could make this run fail, never return wrong data)"
            )
            if self.on_acquired is not None:
                self.on_acquired(self)
