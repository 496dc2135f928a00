"""The files restore forks its worker processes (``procpool``, ``DRKIT_RESTORE_PROCESSES=1``) only where
a fork is safe: on the main thread with no other working thread. Run on a pool's thread (``system
restore`` restores its components in parallel) or beside a working thread (``pg restore --pitr``
prefetches WAL while it unpacks the base backup), a fork could give a worker a lock another thread held
(OpenSSL's, a pool's) and hang the restore: there the content runs on threads. Each restore equals its
source by rsync. A switch that is neither 0 nor 1 is said in a warning."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from files_fixtures import make_tree
from treediff import rsync_diff

from drkit.cli import signals
from drkit.core.concurrency import Tuning
from drkit.repository.repo import Repository
from drkit.sources.files import Selection, fetch, procpool
from drkit.sources.files.fetch import Writeout
from drkit.sources.files.ops import BackupRequest, backup_files, restore_files

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (scripts/install.sh)")


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the starts of a process pool (the process path taken)."""
    monkeypatch.setenv(procpool.ENV, "1")
    started: list[int] = []
    start = procpool._Pool.start

    def counted(self: procpool._Pool) -> None:
        started.append(1)
        start(self)

    monkeypatch.setattr(procpool._Pool, "start", counted)
    return started


def _restore(repo: Repository, tmp_path: Path, how: Callable[[Callable[[], None]], None]) -> None:
    src = make_tree(tmp_path, sparse_size=4 << 20)
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    repo.tuning = Tuning(workers=2)
    how(lambda: restore_files(repo, snap, str(tmp_path / "out"), Selection()))
    assert rsync_diff(src, tmp_path / "out" / "src") == []


def test_on_the_main_thread_the_content_runs_in_processes(repo: Repository, tmp_path: Path, forks: list[int]) -> None:
    _restore(repo, tmp_path, lambda restore: restore())
    assert forks == [1]


def test_on_a_pools_thread_the_content_runs_on_threads(repo: Repository, tmp_path: Path, forks: list[int]) -> None:
    def on_a_pool(restore: Callable[[], None]) -> None:
        with ThreadPoolExecutor(1, thread_name_prefix="drkit-system") as pool:
            pool.submit(restore).result()

    _restore(repo, tmp_path, on_a_pool)
    assert forks == []


def test_beside_a_working_thread_the_content_runs_on_threads(
    repo: Repository, tmp_path: Path, forks: list[int]
) -> None:
    done = threading.Event()

    def beside_a_worker(restore: Callable[[], None]) -> None:
        with ThreadPoolExecutor(1, thread_name_prefix="drkit-walprefetch") as pool:
            pool.submit(done.wait)  # works until the restore has ended
            try:
                restore()
            finally:
                done.set()

    _restore(repo, tmp_path, beside_a_worker)
    assert forks == []


def test_stopping_a_worker_reaped_already_does_not_fail() -> None:
    """``_Pool.stop`` after an interruption that landed in ``_reap`` between its ``waitpid`` and
    ``worker.pid = 0``: the pid is reaped; the stop goes on (the restore ends with its own line and code)."""
    child = subprocess.Popen(["true"])
    child.wait()  # reaped
    procpool._wait_or_kill(child.pid, 1.0)  # before: ChildProcessError


@pytest.mark.parametrize("value", ["", "0", "1", "yes", "true", "2"])
def test_the_switch_is_1_to_take_processes_and_anything_but_0_or_1_is_said(
    repo: Repository, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    monkeypatch.setenv(procpool.ENV, value)
    with caplog.at_level(logging.WARNING, logger=procpool.__name__):
        assert procpool.wanted(Writeout(repo, as_root=False, workers=2)) == (value == "1")
    said = [f"{procpool.ENV}={value} is not 0 or 1: file contents on threads"]
    assert caplog.messages == ([] if value in ("", "0", "1") else said)


def test_a_term_after_a_ctrl_c_does_not_cut_a_workers_clean_up_short(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C reaches every process of the group; the parent, stopping, then sends each worker SIGTERM.
    That TERM landing in the worker's clean-up (here: at its first removal) left its other unfinished
    files behind: at temporary names where the target has no O_TMPFILE (NFS)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(3 << 20))  # many blobs: unfinished while small files are written
    for i in range(40):
        (src / f"f{i}").write_bytes(os.urandom(200_000))  # ~4 blobs each
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    repo.tuning = Tuning(workers=2)
    monkeypatch.setenv(procpool.ENV, "1")
    monkeypatch.setattr(fetch, "_O_TMPFILE", 0)  # temporary names, as on a file system without O_TMPFILE
    work, discard = fetch.Writeout._work, fetch.FileOut.discard

    def interrupted(self: fetch.Writeout, run: fetch.Run) -> None:  # in a worker: Ctrl-C with a file open
        work(self, run)
        if self._unfinished:
            os.kill(os.getpid(), signal.SIGINT)

    def termed(self: fetch.FileOut) -> None:  # the parent's SIGTERM arrives during the clean-up
        os.kill(os.getpid(), signal.SIGTERM)
        discard(self)

    monkeypatch.setattr(fetch.Writeout, "_work", interrupted)
    monkeypatch.setattr(fetch.FileOut, "discard", termed)
    before = {sig: signal.getsignal(sig) for sig in signals.HANDLED}
    signals.install()  # TERM and HUP raise Stopped, as in the CLI
    try:
        with pytest.raises((KeyboardInterrupt, signals.Stopped)):
            restore_files(repo, snap, str(tmp_path / "out"), Selection())
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert [p.name for p in (tmp_path / "out").rglob(f"{fetch.TMP_PREFIX}*")] == []
