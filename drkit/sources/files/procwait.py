"""The restore worker processes' helpers (procpool.py): waiting for a stopped worker, whether a fork is safe
here, and exceptions carried across the pipe."""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import threading
import time

from ...core.errors import DrkitError

log = logging.getLogger("drkit.sources.files.procpool")

KILL_WAIT = 10.0  # seconds to wait for a worker after its SIGKILL (one in uninterruptible sleep): then left


QUIET_WAIT = 2.0  # seconds to wait for ended threads to be gone before forking (else: threads)


def _wait_or_kill(pid: int, timeout: float) -> None:
    """Wait for the stopped worker ``pid``; SIGKILL it if it has not ended in ``timeout`` seconds (one
    stuck in a lock must not hang the restore's exit)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3+, or reaped already (see below)
        _waited(pid)
        return
    try:
        if not select.select([fd], [], [], timeout)[0]:
            os.kill(pid, signal.SIGKILL)
            if not select.select([fd], [], [], KILL_WAIT)[0]:  # in uninterruptible sleep: not waited for
                log.warning("restore worker process %d has not ended %.0f s after SIGKILL: left behind", pid, KILL_WAIT)
                return
    finally:
        os.close(fd)
    _waited(pid)


def _waited(pid: int) -> None:
    """``waitpid``; nothing if ``pid`` was reaped already: a Ctrl-C (or SIGTERM) that lands in ``_reap``
    between its ``waitpid`` and ``worker.pid = 0`` must still stop the other workers and exit with
    its own code, not with ``ChildProcessError``."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _alone() -> bool:
    """Whether a fork is safe here: on the main thread, and every other thread a daemon helper that
    sleeps between short steps (the repository lock's refresh, a progress line's redraw). A restore
    run on a pool's thread (``system restore``, a scheduled drill) or beside one that works (the WAL
    prefetch of ``pg restore --pitr`` while its base backup is unpacked) would fork while another
    thread holds a lock the worker then waits on forever (OpenSSL's, a pool's): those keep to threads."""
    me = threading.current_thread()
    return me is threading.main_thread() and all(t.daemon for t in threading.enumerate() if t is not me)


def _quiet(timeout: float = QUIET_WAIT) -> bool:
    """Wait until every thread that has ended has left the kernel's list of this process's threads;
    False if that takes longer than ``timeout`` (then the restore keeps to threads). A thread that
    Python has joined still runs its exit handlers: OpenSSL's per-thread cleanup takes a global lock,
    and a fork in that moment gave the worker that lock held (seen: a worker hung in its first
    AES-GCM call). ``/proc/self/task`` lists a thread until it has fully exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            kernel = len(os.listdir("/proc/self/task"))
        except OSError:  # no /proc: nothing to compare with
            return True
        if kernel <= threading.active_count():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)  # polling the kernel's list: no event says a thread has gone


def _unpickled(data: bytes, text: str) -> BaseException:
    try:
        exc = pickle.loads(data)
    except Exception:  # noqa: BLE001 - an exception whose class cannot be rebuilt: its text still
        return DrkitError(text)
    return exc if isinstance(exc, BaseException) else DrkitError(text)


def _pickled(exc: BaseException) -> bytes:
    try:
        data = pickle.dumps(exc)
        pickle.loads(data)  # it must come back in the parent, too
        return data
    except Exception:  # noqa: BLE001
        return b""
