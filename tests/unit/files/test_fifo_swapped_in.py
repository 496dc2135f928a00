"""A regular file replaced by a FIFO between its ``lstat`` and its open (filereads.open_for_reading):
the open must not wait for a writer that never comes. The file is skipped with the "changed type"
warning, whichever thread opens it (the walk, or a reader the walk handed it to)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from drkit.repository.repo import Repository
from drkit.repository.writer import BlobWriter
from drkit.sources.files import Archiver, backup, filereads, readahead, walkahead
from drkit.sources.files.walker import Where


def _swap_for_fifo(path: str) -> None:
    if path.endswith("/victim"):
        os.unlink(path)
        os.mkfifo(path)


@pytest.mark.parametrize("readers", [0, 2])
def test_a_file_swapped_for_a_fifo_after_its_lstat_is_skipped_not_waited_for(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers: int
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(b"kept")
    (src / "victim").write_bytes(b"a regular file when lstat saw it")
    real_scan = readahead.scan

    def scan_then_swap(where: Where, name: str, old: object, *rest: Any) -> readahead.Scanned:
        s = real_scan(where, name, old, *rest)  # type: ignore[arg-type]
        _swap_for_fifo(where.path)
        return s

    monkeypatch.setattr(backup, "scan", scan_then_swap)
    monkeypatch.setattr(walkahead, "scan", scan_then_swap)  # the entries after the top path
    result: list[str] = []
    with BlobWriter(repo=repo) as writer:
        archiver = Archiver(repo=repo, writer=writer, readers=readers)

        def run() -> None:
            try:
                result.append(archiver.root([str(src)], None))
            finally:
                archiver.close()

        walk = threading.Thread(target=run, daemon=True)
        walk.start()
        walk.join(60)
        hung = walk.is_alive()
        if hung:  # unblock the open waiting for a writer, so no thread is left behind
            os.close(os.open(src / "victim", os.O_WRONLY | os.O_NONBLOCK))
            walk.join(60)
        assert not hung, "the open of a FIFO swapped in for a file waited for a writer"
        writer.flush()
    assert result
    assert archiver.warnings == [f"{src}/victim: changed type while being backed up; skipped"]
    assert archiver.stats.files_new == 1


# The lease break (SIGIO) is blocked before "ready" and taken with sigwait: it stays pending if it comes
# before the wait (a handler + pause() lost it when the break came before the pause: the holder then
# waited forever and the test timed out)
_LEASE_HOLDER = """
import fcntl, os, signal, sys
fd = os.open(sys.argv[1], os.O_RDWR)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGIO})
try:
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
except OSError:
    print("no lease", flush=True)
    sys.exit()
print("ready", flush=True)
signal.sigwait({signal.SIGIO})
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
"""


def test_a_file_under_a_write_lease_is_read_once_the_lease_is_given_up(tmp_path: Path) -> None:
    """The non-blocking open fails (EAGAIN) on a file another process holds a write lease on (Samba's
    oplocks); the file is then opened blocking, as before, which waits for the holder to give it up."""
    path = tmp_path / "leased"
    path.write_bytes(b"shared")
    with subprocess.Popen(
        [sys.executable, "-c", _LEASE_HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            if holder.stdout.readline().strip() != "ready":
                pytest.skip("this file system grants no leases")
            fd = filereads.open_for_reading(Where(str(path), str(path)))
            try:
                assert os.read(fd, 100) == b"shared"
            finally:
                os.close(fd)
            assert holder.wait(60) == 0
        finally:
            holder.kill()
