"""The history id on disk: the file drkit keeps in a Redis AOF directory (``history`` says what it means).

**One copy of the directory, one history.** The file holds the id and, on a second line, where it was
written: the device, inode and birth time of the id file itself (``where dev=D ino=I born=NS``; no
``born`` where the file system keeps none). A directory copied to build another server (``cp``,
``rsync``, ``tar``, a file-level restore) carries the id but not its file: the copy's is a new one, with
a new inode and a birth time of its own (no copying tool sets one). The first drkit reading the copy
starts a NEW history there (a new id, fsynced, linked or renamed into place, one warning line saying
why), so the two servers never archive under one history. The inode and, where both are known, the
birth time are compared, never the device: its number is not stable for one file system (disk
enumeration order, LVM activation, a volume re-attached on another node, the anonymous devices of
btrfs, ZFS, NFS and overlay mounts), and a new history at each reboot or reschedule would refuse every
point of the current AOF group before it (two histories cover it) until ``--history`` is given; a
block-level clone keeps inode and birth time anyway. Nor the host name or machine-id (a drkit in a
container and one on the host read one directory). The same file across restarts, reboots,
reschedules and AOF rewrites keeps its place; a directory moved to another file system starts a new
history: safe (a restore refuses to cross histories, exit 2), only a point before the move then needs
``--history``. A file without the second line (an older drkit's) is taken as written here and its
place added (the id kept).

**A restore and the archiver never interleave.** A restore into the directory (``restoring``) takes an
exclusive ``flock`` on it, writes a marker (:data:`RESTORE_MARKER`, fsynced), removes the old id, writes
the restored files, and only then writes the new id and removes the marker. A reader (``reading``: an
archiver round, an AOF backup) holds a shared lock from reading the id until its pieces are stored, so
a restore waits for a round to end and no round reads the id before a restore and the files during
it; a round finding the marker (a restore running, or one that stopped half-way) archives nothing. The
lock is advisory and local: on a file system without ``flock`` the marker alone guards."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import os
import re
import struct
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ...core import clock
from ...core.fileio import fsync_dir
from .aof import MANIFEST_SUFFIX
from .errors import RedisSourceError

HISTORY_FILE = "drkit-history-id"
RESTORE_MARKER = "drkit-restore-in-progress"
_ID = re.compile(r"[0-9a-f]{12}")
_WHERE = re.compile(r"where dev=(\d+) ino=(\d+)(?: born=(\d+))?")
log = logging.getLogger("drkit.redis")


class RestoreInProgress(RedisSourceError):
    """A restore is writing the AOF directory, or one stopped before it finished (its marker is left)."""


def valid(text: str) -> bool:
    return _ID.fullmatch(text) is not None


_warned: set[Path] = set()  # said once per directory and process: the archiver asks every round


def _warn(path: Path, message: str, *args: object) -> None:
    if path not in _warned:
        _warned.add(path)
        log.warning(message, path, *args)


# Python 3.11 has no os.statx: the birth time through the C library's statx(2). None where the kernel,
# the C library, a seccomp filter or the file system gives none: then the inode alone decides.
_STATX_BTIME, _AT_EMPTY_PATH, _STATX_SIZE, _BTIME_AT = 0x800, 0x1000, 256, 80  # struct statx layout


def _load_statx() -> Callable[..., int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).statx
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn


_statx = _load_statx()


def _born(fd: int) -> int | None:
    """The birth time of the open file ``fd`` in nanoseconds: set when the file is made, never changed,
    and made anew by every copy (``cp``, ``rsync``, ``tar`` cannot set it), kept across reboots."""
    if _statx is None:
        return None
    buf = ctypes.create_string_buffer(_STATX_SIZE)
    if _statx(fd, b"", _AT_EMPTY_PATH, _STATX_BTIME, buf) != 0:
        return None
    (mask,) = struct.unpack_from("=I", buf, 0)
    sec, nsec = struct.unpack_from("=qI", buf, _BTIME_AT)
    return sec * 1_000_000_000 + nsec if mask & _STATX_BTIME and (sec or nsec) else None


def _place(fd: int) -> str:
    """Where the open file ``fd`` is: ``dev=D ino=I`` and, where the file system keeps it, ``born=NS``."""
    st, born = os.fstat(fd), _born(fd)
    return f"dev={st.st_dev} ino={st.st_ino}" + ("" if born is None else f" born={born}")


def _new_file(aof_dir: Path, history: str) -> Path:
    """A temp file holding ``history`` and its own place (its inode survives the link or rename into
    place), fsynced before it is linked: a crash never leaves an empty id."""
    tmp = aof_dir / f".{HISTORY_FILE}.{uuid.uuid4().hex}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, f"{history}\nwhere {_place(fd)}\n".encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def _put(aof_dir: Path, history: str, replace: bool) -> None:
    """``history`` into place: linked when no id is there (another drkit's, linked first, wins), renamed
    over the one there when ``replace`` (under the exclusive lock)."""
    tmp = _new_file(aof_dir, history)
    try:
        if replace:
            os.replace(tmp, aof_dir / HISTORY_FILE)
        else:
            with suppress(FileExistsError):
                os.link(tmp, aof_dir / HISTORY_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(aof_dir)


def _examine(path: Path) -> tuple[str | None, str]:
    """(the id in ``path``, what to do): ``ok``; ``missing`` (none, or empty: a crash before its bytes
    reached the disk); ``invalid``; ``unplaced`` (an older drkit's: no place recorded); ``moved``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None, "missing"
    try:
        text, now = os.read(fd, 256).decode("ascii", errors="replace"), _place(fd)
    finally:
        os.close(fd)
    lines = text.split("\n")
    if not text.strip():
        return None, "missing"
    if not valid(lines[0].strip()):
        return None, "invalid"
    where = _WHERE.fullmatch(lines[1].strip()) if len(lines) > 1 else None
    if where is None:
        return lines[0].strip(), "unplaced"
    if _moved(where, _WHERE.fullmatch(f"where {now}")):
        return lines[0].strip(), f"moved: written as {where.group(0).removeprefix('where ')}, now {now}"
    return lines[0].strip(), "ok"


def _moved(then: re.Match[str], now: re.Match[str] | None) -> bool:
    """Another file than the one written: another inode, or another birth time where both are known. The
    device only informs: its number is not stable for one file system (module doc)."""
    assert now is not None
    if then.group(2) != now.group(2):
        return True
    return then.group(3) is not None and now.group(3) is not None and then.group(3) != now.group(3)


def _settle(aof_dir: Path) -> str | None:
    """The id, after writing one where it is missing or was written in another copy of the directory."""
    path = aof_dir / HISTORY_FILE
    found, state = _examine(path)
    if state == "ok":
        _warned.discard(path)
        return found
    if state == "invalid":
        _warn(path, "%s does not hold a drkit history id: pieces archived now record none")
        return None
    if state.startswith("moved"):
        new = uuid.uuid4().hex[:12]
        _put(aof_dir, new, replace=True)  # said once written (not written: no id at all, said once)
        log.warning(
            "%s was written in another copy of its AOF directory (%s: copied or moved): history %s begins "
            "here, never stitched to history %s",
            path, state.removeprefix("moved: "), new, found,
        )  # fmt: skip
    elif state == "unplaced":  # an older drkit's: its place added, the id kept
        with suppress(OSError):  # a directory drkit cannot write to: the id, as an older drkit read it
            _put(aof_dir, found or "", replace=True)
        return found
    else:  # none, or an empty one replaced
        _put(aof_dir, uuid.uuid4().hex[:12], replace=path.exists())
    return _examine(path)[0]


class _Lock:
    """``flock`` on the AOF directory; a no-op where the file system has none."""

    def __init__(self, aof_dir: Path) -> None:
        self.fd: int | None = os.open(aof_dir, os.O_RDONLY | os.O_DIRECTORY)

    def take(self, how: int) -> bool:
        """False when ``how`` has LOCK_NB and another holds a conflicting lock."""
        if self.fd is None:
            return True
        try:
            fcntl.flock(self.fd, how)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF):
                raise
            self.close()  # no flock here: the marker alone guards
        return True

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock
            self.fd = None


def _refuse_if_restoring(aof_dir: Path) -> None:
    if (aof_dir / RESTORE_MARKER).exists():
        raise RestoreInProgress(
            f"{aof_dir}: a restore is writing this AOF directory, or stopped before it finished "
            f"({RESTORE_MARKER} is there): not read",
            hint=f"let the restore finish (or run it again); remove {RESTORE_MARKER} only if no restore wrote here",
        )


def _shared(aof_dir: Path, lock: _Lock) -> None:
    """The shared lock; RestoreInProgress when a restore holds the exclusive one (its marker is there)."""
    if not lock.take(fcntl.LOCK_SH | fcntl.LOCK_NB):
        _refuse_if_restoring(aof_dir)
        lock.take(fcntl.LOCK_SH)  # another drkit writing an id, or a restore about to mark: brief
    _refuse_if_restoring(aof_dir)


@contextmanager
def reading(aof_dir: Path) -> Iterator[str | None]:
    """The history id of ``aof_dir`` (written first when missing or written in another copy), held: no
    restore writes the directory until the block ends. None (with a warning: pieces then record no id,
    as an older drkit's) when it cannot be written, or ``aof_dir`` is not an AOF directory (the caller's
    reading it says so). RestoreInProgress while a restore writes it (module doc)."""
    if not aof_dir.is_dir() or not any(aof_dir.glob("*" + MANIFEST_SUFFIX)):
        yield None  # written into a Redis AOF directory only
        return
    lock = _Lock(aof_dir)
    try:
        try:
            found = _held(aof_dir, lock)
        except OSError as exc:  # the id file unreadable: as a directory drkit cannot write to
            _warn(aof_dir / HISTORY_FILE, "cannot read %s (%s): pieces archived now record no history id", exc)
            found = None
        yield found
    finally:
        lock.close()


def _held(aof_dir: Path, lock: _Lock) -> str | None:
    """The id, under the shared lock; written (under the exclusive one) where missing or moved."""
    _shared(aof_dir, lock)
    found, state = _examine(aof_dir / HISTORY_FILE)
    if state == "ok":
        return found
    lock.take(fcntl.LOCK_EX)  # one drkit writes the id; the others read it after
    _refuse_if_restoring(aof_dir)
    found = _written(aof_dir)
    left = _state(aof_dir / HISTORY_FILE)
    lock.take(fcntl.LOCK_UN)  # flock converts by unlocking first: a restore may run between, so
    _shared(aof_dir, lock)  # the file is looked at again under the shared lock
    if _state(aof_dir / HISTORY_FILE) != left:
        raise RestoreInProgress(f"{aof_dir}: its history id changed while it was read (a restore): read it again")
    return found


def _state(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _written(aof_dir: Path) -> str | None:
    try:
        return _settle(aof_dir)
    except OSError as exc:
        path = aof_dir / HISTORY_FILE
        _warn(path, "cannot read or write %s (%s): pieces archived now record no history id", exc.strerror or exc)
        return None


def history_id(aof_dir: Path) -> str | None:
    """``reading``'s id, not held (tests; a caller that reads nothing more)."""
    with reading(aof_dir) as found:
        return found


def _sync_files(aof_dir: Path) -> None:
    for path in aof_dir.iterdir():
        if path.name != RESTORE_MARKER and path.is_file() and not path.is_symlink():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())


@contextmanager
def restoring(aof_dir: Path, *, sync_files: bool = False) -> Iterator[None]:
    """The block writes a restore into ``aof_dir``: a new history, never the replaced server's (module
    doc). The marker stays when the block fails and leaves files behind: that directory is no server's.
    ``sync_files``: every file there is fsynced before the new id is written (files the block wrote in
    place, e.g. cut by ``redis-check-aof``): the marker never goes before the restored bytes are durable."""
    aof_dir.mkdir(parents=True, exist_ok=True)
    lock = _Lock(aof_dir)
    try:
        if not lock.take(fcntl.LOCK_EX | fcntl.LOCK_NB):  # said: a round stuck (storage hanging) is visible
            log.warning("%s: waiting for an AOF archiver round or backup reading it to end", aof_dir)
            lock.take(fcntl.LOCK_EX)
        marker = aof_dir / RESTORE_MARKER
        marker.write_text(f"restore started {clock.now():.0f} by pid {os.getpid()}\n", encoding="ascii")
        with open(marker, "rb") as fh:
            os.fsync(fh.fileno())
        (aof_dir / HISTORY_FILE).unlink(missing_ok=True)
        fsync_dir(aof_dir)
        try:
            yield
        except BaseException:
            if not [p for p in aof_dir.iterdir() if p.name != RESTORE_MARKER]:
                marker.unlink()  # nothing written is left: nothing to guard
                fsync_dir(aof_dir)
            raise
        if sync_files:
            _sync_files(aof_dir)
        _put(aof_dir, uuid.uuid4().hex[:12], replace=True)
        marker.unlink()  # the new id first: a crash between leaves the marker, never the directory id-less
        fsync_dir(aof_dir)
    finally:
        lock.close()


__all__ = ["HISTORY_FILE", "RESTORE_MARKER", "RestoreInProgress", "history_id", "reading", "restoring", "valid"]
