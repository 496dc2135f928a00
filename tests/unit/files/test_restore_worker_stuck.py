"""A restore worker process (``procpool``) that hangs must not hang the restore forever: one that has
said nothing (no progress, no request for work) for ``procpool.STALL`` seconds fails the restore with
one clear line and exit code 1; it is stopped (SIGTERM, then SIGKILL after ``STOP_WAIT``) and the
restore returns even if it cannot be reaped (``KILL_WAIT``). A live worker slower than that between
two blobs, or writing without a progress bar, is not taken for a stuck one (it says so every
``STALL / 10`` seconds). Real forked workers, really blocked (opening a FIFO nobody writes to, as
on a hung mount); every file the failed restore left under a snapshot name equals its source
(sha256), and none is left at a temporary name."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from treediff import rsync_diff

from drkit.cli import signals
from drkit.core.concurrency import Tuning
from drkit.core.errors import DrkitError
from drkit.repository.repo import Repository
from drkit.sources.files import Selection, fetch, procpool, procwait
from drkit.sources.files.ops import BackupRequest, backup_files, restore_files


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    for d in range(4):
        (src / f"d{d}").mkdir(parents=True)
        for i in range(60):
            (src / f"d{d}" / f"f{i}").write_bytes(os.urandom(1000 + (d * 60 + i) * 397))
    (src / "big").write_bytes(os.urandom(3 << 20))
    return src


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _only_whole_files(src: Path, out: Path) -> None:
    """Every regular file under a snapshot name is its source's bytes; nothing at a temporary name."""
    for path in out.rglob("*"):
        assert not path.name.startswith(fetch.TMP_PREFIX), path
        if path.is_file() and not path.is_symlink():
            assert _sha(path) == _sha(src / path.relative_to(out)), path


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The process path with 2 workers, the CLI's signal handlers, and the pids of the workers started;
    any still alive at the end (a failed test) is killed."""
    monkeypatch.setenv(procpool.ENV, "1")
    pids: list[int] = []
    start = procpool._Pool.start

    def recorded(self: procpool._Pool) -> None:
        start(self)
        pids.extend(w.pid for w in self.workers)

    monkeypatch.setattr(procpool._Pool, "start", recorded)
    before = {sig: signal.getsignal(sig) for sig in signals.HANDLED}
    kill = os.kill  # the real one: a test may hold a worker's SIGKILL back
    signals.install()  # TERM and HUP raise Stopped, as in the CLI
    try:
        yield pids
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        for pid in pids:
            try:
                kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def _one_worker_hangs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, before_hang: Callable[[], None]) -> None:
    """The first worker to finish a run then opens a FIFO nobody ever writes to (blocked in ``open``,
    as on a hung mount); ``before_hang`` runs in it first."""
    fifo, claim = tmp_path / "fifo", tmp_path / "claimed"
    os.mkfifo(fifo)
    work = fetch.Writeout._work

    def hangs(self: fetch.Writeout, run: fetch.Run) -> None:
        work(self, run)
        try:
            os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        before_hang()
        with open(fifo, "rb"):
            pass

    monkeypatch.setattr(fetch.Writeout, "_work", hangs)


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return not os.path.exists(f"/proc/{pid}")


def _restore(repo: Repository, tmp_path: Path) -> tuple[Path, Callable[[], object]]:
    src = _source(tmp_path)
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    repo.tuning = Tuning(workers=2)
    return src, lambda: restore_files(repo, snap, str(tmp_path / "out"), Selection())


def test_a_worker_blocked_on_a_fifo_fails_the_restore(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    src, restore = _restore(repo, tmp_path)
    monkeypatch.setattr(procpool, "STALL", 2.0)
    _one_worker_hangs(monkeypatch, tmp_path, lambda: None)
    began = time.monotonic()
    with pytest.raises(DrkitError) as info:
        restore()
    assert time.monotonic() - began < 30
    assert info.value.exit_code == 1
    assert "has written nothing for 2 s" in str(info.value) and "the restore is incomplete" in str(info.value)
    assert len(workers) == 2 and all(_gone(pid) for pid in workers)  # stopped and reaped
    _only_whole_files(src.parent, tmp_path / "out")


def test_a_stuck_worker_that_ignores_sigterm_is_killed(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    src, restore = _restore(repo, tmp_path)
    monkeypatch.setattr(procpool, "STALL", 2.0)
    monkeypatch.setattr(procpool, "STOP_WAIT", 1.0)
    _one_worker_hangs(monkeypatch, tmp_path, lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    with pytest.raises(DrkitError, match="has written nothing for 2 s"):
        restore()
    assert all(_gone(pid) for pid in workers)
    _only_whole_files(src.parent, tmp_path / "out")


def test_a_worker_sigkill_cannot_end_at_once_does_not_hang_the_restore(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    """As a worker in uninterruptible sleep (a disk that does not answer): the SIGKILL the restore sends
    is held back here, so the worker is still alive when the restore gives up waiting for it."""
    src, restore = _restore(repo, tmp_path)
    monkeypatch.setattr(procpool, "STALL", 2.0)
    monkeypatch.setattr(procpool, "STOP_WAIT", 1.0)
    monkeypatch.setattr(procwait, "KILL_WAIT", 1.0)
    _one_worker_hangs(monkeypatch, tmp_path, lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    kill = os.kill
    held: list[int] = []

    def held_back(pid: int, sig: int) -> None:
        if sig == signal.SIGKILL and pid in workers:
            held.append(pid)
            return
        kill(pid, sig)

    monkeypatch.setattr(procpool.os, "kill", held_back)
    began = time.monotonic()
    with pytest.raises(DrkitError, match="has written nothing for 2 s"):
        restore()
    assert time.monotonic() - began < 30
    assert len(held) == 1 and not _gone(held[0])  # the restore returned with it still there
    _only_whole_files(src.parent, tmp_path / "out")


def test_slow_workers_without_a_progress_bar_are_not_stuck(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[int]
) -> None:
    """Each run takes half a second more (a slow device) and no progress bar is shown (``--quiet``): the
    workers still say they are alive (every STALL / 10 s, at each blob), so a STALL of 2.5 s does not
    fail the restore, though a batch takes longer than that (without the heartbeats it failed)."""
    src, restore = _restore(repo, tmp_path)
    monkeypatch.setattr(procpool, "STALL", 2.5)
    work = fetch.Writeout._work

    def slow(self: fetch.Writeout, run: fetch.Run) -> None:
        work(self, run)
        time.sleep(0.5)  # the slowness under test, not a synchronisation

    monkeypatch.setattr(fetch.Writeout, "_work", slow)
    monkeypatch.setattr(procpool, "BATCH_FILES", 1000)  # one batch (8 MiB) takes seconds: heartbeats, not requests
    restore()
    assert len(workers) == 2
    assert rsync_diff(src, tmp_path / "out" / "src") == []
