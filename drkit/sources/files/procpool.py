"""The content phase of a files restore in worker *processes*, each with its own interpreter.

The threads of ``fetch.Writeout`` spend most of their time in calls that release the GIL (``preadv``,
AES-GCM, zstd, BLAKE3, ``pwrite``), but the interpreter between those calls runs one thread at a time:
on 2 CPUs the workers' Python code was the restore's bottleneck. Here each worker is a process
(``os.fork``) running the code of the thread path on its own share of the files, on its main thread
(``Writeout.kept``), with its own ``DirectPool`` (two writing threads) for large files.

Who does what. The parent walked the snapshot and holds the list of files to write (path, tree node);
it forks the workers *after* the walk, so each inherits that list, the open repository (the index,
and the keys: they never cross a pipe, an argument or the environment) and the Writeout's settings.
Over a pipe each worker then asks for *batches*, contiguous slices of the list (``BATCH_BYTES`` or
``BATCH_FILES``, whichever comes first; a larger file is a batch of its own), and sends back only
small messages: byte counts for the progress, its warnings, and at the end its total or its error.
Each worker reads its pack ranges from the store itself, verifies every blob and creates, writes,
finishes and links its files (``O_TMPFILE`` + ``linkat``, as on the thread path): no file is shared
by two processes, and no file data crosses a process boundary. The metadata phase (hard links,
symlinks, directories) stays in the parent, after every worker has ended. A large file is restored
by one process (its blobs on its main thread, its direct writes on its two writing threads).

Why ``fork`` after the walk, and only for a local store: the plan is already in memory, so nothing is
pickled; ``forkserver`` or ``spawn`` would have to open the repository again in each worker (the key
derivation alone is ~0.2 s) and be sent the plan. Forking a process with threads is safe only for
what the child does not touch: at this point the walk's read-ahead pool has been shut down (and
``_quiet`` waits until its threads have left the kernel: their OpenSSL exit handler takes a global
lock), and the only other thread is the repository lock's refresh thread (sleeping on an event; if it is mid-refresh,
the child inherits its lock's mutex held, but never takes it; ``logging`` re-creates its locks at
fork). The child uses the local backend (``open``/``preadv``, no client object), the index in memory
and the cipher. A remote store's client (boto3, GCS) is not fork-safe: remote stores keep threads.

Memory: a worker shares the parent's pages until one is written; Python's reference counts write
to every object a worker touches (the index entries it looks up, its slice of the file list), so each
worker's private memory grows with what it uses of them, up to a copy of the index in the worst case.

Failures: a worker's exception is sent back pickled (a ``DrkitError`` keeps its message, hint and
exit code; an ``OSError`` its errno and path, which ``target_errors`` turns into the same line as
before) after the worker removed its unfinished files; the parent then stops the other workers
(SIGTERM: ``Stopped`` in each, which removes its unfinished files) and raises it. A worker that ends
without a result (SIGKILL, the OOM killer) fails the restore with a line that says so. A worker whose
parent dies gets SIGKILL (``PR_SET_PDEATHSIG``), as if the whole restore had been killed.
Ctrl-C reaches every process of the foreground group: each stops and cleans up. A worker always
leaves through ``os._exit`` (never through the parent's ``finally`` blocks: the lock, the CLI).

A worker that hangs (a hung mount or device, a FIFO put where a pack was, a lock inherited held
over the fork) would hang the restore for ever, where its death is seen at once (its pipe's EOF).
So a writing worker says how far it got at least every ``STALL / HEARTBEATS`` seconds (whether or
not a progress bar is shown), and one silent for ``STALL`` seconds (10 minutes: 4 MiB, or one
blob, not written in that time is no slow disk any more) fails the restore with one line (exit 1)
and is stopped: SIGTERM, SIGKILL after ``STOP_WAIT``, and after ``KILL_WAIT`` more the restore ends
without it (a process in uninterruptible sleep outlives any signal; it dies when the kernel lets
it). ``cp`` and the thread path wait for ever on such a file system, and so does the process path
with ``STALL = 0``; a bound is kept here because a fork can add a hang the threads never have.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection, Pipe, wait
from types import FrameType
from typing import TYPE_CHECKING

from ...core import tracing
from ...core.errors import DrkitError
from .procwait import _alone, _pickled, _quiet, _unpickled, _wait_or_kill
from .tree import Node

if TYPE_CHECKING:
    from .fetch import Writeout

log = logging.getLogger(__name__)
ENV = "DRKIT_RESTORE_PROCESSES"  # "1": processes on a local store; else (the default) threads: see below
BATCH_BYTES = 8 << 20  # a batch: contiguous files up to this many bytes ...
BATCH_FILES = 256  # ... or this many files
PROGRESS_EVERY = 4 << 20  # a worker reports its bytes written at least this often
STOP_WAIT = 60.0  # seconds a stopped worker gets to remove its unfinished files before SIGKILL
STALL = 600.0  # seconds a worker may say nothing before the restore fails (0: no bound); see ``_Pool.serve``
HEARTBEATS = 10  # a writing worker says how far it got at least every STALL / HEARTBEATS seconds
SUSPENDED = 5.0  # a wait this much longer than asked: this process was stopped (Ctrl-Z), not the workers
_PR_SET_PDEATHSIG = 1
_STOPPING = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
File = tuple[str, Node]
Mask = set[int | signal.Signals]  # a thread's signal mask, as pthread_sigmask gives it


def wanted(writeout: Writeout) -> bool:
    """Whether this restore's content phase runs in processes: asked for (``DRKIT_RESTORE_PROCESSES=1``;
    off by default: on the shared 2-CPU bench machine, at load 15-18, it was not measurably faster than
    threads, docs/performance.md), more than one worker, a local store (see the module's docstring), no
    tracing (its exporter is a thread of the parent), fork available."""
    asked = os.environ.get(ENV, "")
    if asked not in ("", "0", "1"):  # "yes", "true": said, not silently taken as off
        log.warning("%s=%s is not 0 or 1: file contents on threads", ENV, asked[:20])
    if asked != "1" or writeout.workers < 2 or not hasattr(os, "fork"):
        return False
    return not writeout.repo.concurrency().remote and not tracing.enabled()


def batches(files: Sequence[File]) -> Iterator[tuple[int, int]]:
    """Slices ``[start, end)`` of ``files`` in order, each up to ``BATCH_BYTES`` or ``BATCH_FILES``."""
    start, held = 0, 0
    for i, (_, node) in enumerate(files):
        if i > start and (held + node.size > BATCH_BYTES or i - start >= BATCH_FILES):
            yield start, i
            start, held = i, 0
        held += node.size
    if start < len(files):
        yield start, len(files)


def run(writeout: Writeout, files: list[File]) -> int:
    """Write ``files`` with ``writeout.workers`` processes; the bytes written. Raises the first
    worker's error (or a worker's death) once every worker has ended."""
    if not _alone():
        log.info("restore: other threads are working; file contents on threads")
        return writeout.run_threads(files)
    if not _quiet():
        log.info("restore: ended threads still running; file contents on threads")
        return writeout.run_threads(files)
    pool = _Pool(writeout, files)
    try:
        pool.start()
        log.info("restore: file contents in %d worker processes", len(pool.workers))
        pool.serve()
    except BaseException:
        pool.stop()
        raise
    return pool.total


class _Worker:
    __slots__ = ("pid", "conn", "result")

    def __init__(self, pid: int, conn: Connection) -> None:
        self.pid, self.conn = pid, conn
        self.result: int | None = None


class _Pool:
    def __init__(self, writeout: Writeout, files: list[File]) -> None:
        self.writeout, self.files = writeout, files
        self.slices = batches(files)
        self.workers: list[_Worker] = []
        self.total = 0

    def start(self) -> None:
        parent = os.getpid()
        for _ in range(min(self.writeout.workers, max(1, len(self.files)))):
            ours, theirs = Pipe()
            # Signals held over the fork: a Ctrl-C raised in the new worker before it is inside
            # ``_child`` would unwind the parent's stack there (its lock, its cleanup) in the worker.
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
            try:
                pid = os.fork()
                if pid == 0:  # never returns
                    for conn in [ours, *(w.conn for w in self.workers)]:
                        conn.close()
                    _child(self.writeout, self.files, theirs, (parent, mask))
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            theirs.close()
            self.workers.append(_Worker(pid, ours))
        for worker in self.workers:  # its "ready": from now on it dies with this process (or it failed)
            self._message(worker)
        for worker in self.workers:  # two batches each: one to work on, one waiting in the pipe
            self._give(worker)
            self._give(worker)

    def _give(self, worker: _Worker) -> None:
        try:
            worker.conn.send(next(self.slices, None))  # None: no more (and from then on, never a batch)
        except OSError:  # it ended: its EOF (or its last message) tells why
            pass

    def serve(self) -> None:
        """Answer the workers until each has said its last; a worker silent for ``STALL`` seconds is
        stuck: the restore fails (the caller stops the workers)."""
        live = {w.conn: w for w in self.workers}
        heard = dict.fromkeys(live, time.monotonic())
        while live:
            timeout = max(0.0, min(heard.values()) + STALL - time.monotonic()) if STALL else None
            began = time.monotonic()
            ready = wait(list(live), timeout)
            now = time.monotonic()
            if timeout is not None and not ready and now - began > timeout + SUSPENDED:
                heard = dict.fromkeys(live, now)  # this process was stopped: the silence was its own
            for conn in ready:
                heard[conn] = now  # type: ignore[index]
                worker = live[conn]  # type: ignore[index]
                if not self._message(worker):
                    del live[worker.conn], heard[worker.conn]
            stuck = [live[c] for c, at in heard.items() if timeout is not None and now - at >= STALL]
            if stuck:
                raise DrkitError(
                    f"restore worker process {stuck[0].pid} has written nothing for {STALL:g} s "
                    "(a hung mount or device?): the restore is incomplete",
                    hint="files not finished were removed; run the restore again once the target and the "
                    "repository answer",
                )
        for worker in self.workers:
            self._reap(worker)

    def _message(self, worker: _Worker) -> bool:
        """Handle one message of ``worker``; False once it said its last (or died)."""
        try:
            kind, *body = worker.conn.recv()
        except (EOFError, OSError):
            self._reap(worker)  # raises: it ended without a result
            return False
        if kind == "more":
            self._give(worker)
        elif kind == "ready":
            pass
        elif kind == "progress":
            if self.writeout.progress is not None:
                self.writeout.progress(body[0])
        elif kind == "warnings":
            self.writeout.warnings.extend(body[0])
        elif kind == "done":
            worker.result = body[0]
            self.total += body[0]
            return False
        else:  # "error"
            raise _unpickled(*body)
        return True

    def _reap(self, worker: _Worker) -> None:
        if not worker.pid:
            return
        _, status = os.waitpid(worker.pid, 0)
        worker.pid = 0
        worker.conn.close()
        if os.WIFSIGNALED(status):
            name = signal.Signals(os.WTERMSIG(status)).name
            raise DrkitError(
                f"restore worker process was killed ({name}): the restore is incomplete",
                hint="files not finished were removed; run the restore again",
            )
        if worker.result is None or os.waitstatus_to_exitcode(status) != 0:
            raise DrkitError(
                f"restore worker process ended without finishing (exit status {os.waitstatus_to_exitcode(status)}): "
                "the restore is incomplete",
                hint="files not finished were removed; run the restore again",
            )

    def stop(self) -> None:
        """After a failure or an interruption: stop every worker still running and wait for it (each
        removes its unfinished files)."""
        for worker in self.workers:
            worker.conn.close()  # first: a worker blocked sending to us gets EPIPE, not a wait forever
            if worker.pid:
                try:
                    os.kill(worker.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for worker in self.workers:
            if worker.pid:
                _wait_or_kill(worker.pid, STOP_WAIT)
                worker.pid = 0


# -- the worker process ---------------------------------------------------------------------------
def _child(writeout: Writeout, files: list[File], conn: Connection, parent: tuple[int, Mask]) -> None:
    """The worker: write the batches the parent hands out, then report; never returns. ``parent``: its
    pid and the signal mask to restore (signals are held over the fork)."""
    code = 1
    try:
        _stop_once()
        signal.pthread_sigmask(signal.SIG_SETMASK, parent[1])
        _die_with_parent(parent[0])
        conn.send(("ready",))
        _Work(writeout, files, conn).serve()
        code = 0
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        try:
            conn.send(("error", _pickled(exc), f"restore worker: {exc}"))
        except BaseException:  # noqa: BLE001 - the parent is gone: nobody to tell
            pass
    finally:
        os._exit(code)


def _stop_once() -> None:
    """In a worker, the first SIGINT, SIGTERM or SIGHUP stops it as in the parent (KeyboardInterrupt,
    drkit's ``Stopped``) and every later one is ignored, so the clean-up (removing its unfinished files)
    is not cut short: a Ctrl-C reaches every process of the group and the parent, stopping, then sends
    each worker SIGTERM. (The CLI's own handler ignores a second TERM or HUP, not a TERM after an INT.)"""
    handlers = {int(sig): signal.getsignal(sig) for sig in _STOPPING}
    caught = [sig for sig, handler in handlers.items() if callable(handler)]

    def stop(signum: int, frame: FrameType | None) -> None:
        for sig in caught:
            signal.signal(sig, signal.SIG_IGN)
        handler = handlers[signum]
        assert callable(handler)
        handler(signum, frame)

    for sig in caught:
        signal.signal(sig, stop)


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the parent dies (Linux ``prctl``; elsewhere the pipe's EOF stops the worker): a
    restore whose main process was killed is killed whole, as on the thread path (its unnamed files
    go with their descriptors). Not SIGTERM: a worker stuck in a lock would outlive it."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before the prctl
        raise SystemExit(1)


class _Work:
    """One worker's loop: each batch through ``Writeout.run_threads`` on this thread (``Writeout.kept``)."""

    def __init__(self, writeout: Writeout, files: list[File], conn: Connection) -> None:
        self.writeout, self.files, self.conn = writeout, files, conn
        self.lock = threading.Lock()  # the worker thread reports progress while the main thread asks for work
        self.unsent = 0
        self.every = STALL / HEARTBEATS if STALL else float("inf")
        self.said = time.monotonic()
        writeout.progress = self._progress  # a progress bar or not: the parent's sign of life (``_Pool.serve``)

    def send(self, message: tuple[object, ...]) -> None:
        with self.lock:
            self.conn.send(message)
            self.said = time.monotonic()

    def _progress(self, n: int) -> None:
        self.unsent += n  # worker thread only
        if self.unsent >= PROGRESS_EVERY or time.monotonic() - self.said >= self.every:
            self.send(("progress", self.unsent))
            self.unsent = 0

    def serve(self) -> None:
        with self.writeout.kept():  # on this thread: the other CPUs run the other workers
            self._batches()

    def _batches(self) -> None:
        total = 0
        while (piece := self.conn.recv()) is not None:
            self.send(("more",))
            start, end = piece
            seen = len(self.writeout.warnings)
            total += self.writeout.run_threads(self.files[start:end])
            if self.unsent:
                self.send(("progress", self.unsent))
                self.unsent = 0
            if len(self.writeout.warnings) > seen:
                self.send(("warnings", self.writeout.warnings[seen:]))
        self.send(("done", total))
