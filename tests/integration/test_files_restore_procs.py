"""The files restore's content phase in worker processes (``sources/files/procpool.py``), through the
CLI with ``--workers 2`` (so on any machine): the restored tree equals the source by rsync (many small
files, large direct-written files, a sparse file, hard links, xattrs, a symlink, an empty file); a
corrupt pack fails it with the same exit code and line as the thread path; a worker killed mid-restore
fails it with a clear line (never a success), leaving no partial file under a snapshot name; and
killing the restore kills its workers."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import DRKIT, drkit, one_line_error
from tmpfs import can_mount_tmpfs
from tmpfs import small_tmpfs as mounted
from treediff import data_bytes, rsync_diff

ENV = {"DRKIT_PASSWORD": "correct horse"}
USED = "file contents in 2 worker processes"
pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (scripts/install.sh)")


def _ok(*args: str) -> None:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()


def _restore_args(repo: Path, out: Path) -> list[str]:
    return ["--workers", "2", "--log-level", "info", "restore", "latest", "--target", str(out), "--repo", str(repo)]


def _restore(repo: Path, out: Path, processes: str = "1") -> subprocess.CompletedProcess[bytes]:
    return drkit(*_restore_args(repo, out), env={**ENV, "DRKIT_RESTORE_PROCESSES": processes})


def _source(tmp_path: Path, *, big: int = 3) -> tuple[Path, Path]:
    src = tmp_path / "src"
    for d in range(8):
        (src / f"d{d}").mkdir(parents=True)
        for i in range(150):
            (src / f"d{d}" / f"f{i}").write_bytes(os.urandom((d * 997 + i * 131) % 9000))
    for i in range(big):
        (src / f"big{i}.bin").write_bytes(os.urandom((2 << 20) + i * 4099))
    with open(src / "sparse.img", "wb") as f:  # holes around data, a trailing hole
        f.truncate(16 << 20)
        f.seek(5 << 20)
        f.write(os.urandom(300_000))
    os.link(src / "big0.bin", src / "d1" / "big-link")
    os.link(src / "d0" / "f7", src / "d2" / "small-link")
    os.setxattr(src / "d3" / "f1", "user.note", b"kept")
    os.setxattr(src / "big1.bin", "user.big", b"x" * 100)
    (src / "empty").write_bytes(b"")
    os.symlink("d0/f1", src / "link")
    repo = tmp_path / "repo"
    _ok("init", "--repo", str(repo))
    _ok("backup", "files", str(src), "--repo", str(repo), "--quiet")
    return src, repo


def _no_partial_file(src: Path, out: Path) -> None:
    """Every regular file the failed restore left under a snapshot name is complete."""
    for path in out.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert path.read_bytes() == (src / path.relative_to(out)).read_bytes(), path


def test_restore_in_worker_processes_equals_the_source(tmp_path: Path) -> None:
    src, repo = _source(tmp_path)
    out = tmp_path / "out"
    proc = _restore(repo, out)
    assert proc.returncode == 0, proc.stderr.decode()
    assert USED in proc.stderr.decode()  # the process path ran
    assert rsync_diff(src, out / "src") == []
    assert data_bytes(out / "src" / "sparse.img") <= data_bytes(src / "sparse.img")  # still sparse
    assert os.stat(out / "src" / "big0.bin").st_ino == os.stat(out / "src" / "d1" / "big-link").st_ino


def test_a_corrupt_pack_fails_alike_on_processes_and_threads(tmp_path: Path) -> None:
    src, repo = _source(tmp_path, big=6)
    pack = max((p for p in (repo / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    with open(pack, "r+b") as f:  # a third in: file data (trees are written after their files)
        f.seek(pack.stat().st_size // 3)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x40]))
    results = {}
    for processes in ("1", "0"):
        out = tmp_path / f"out-{processes}"
        proc = _restore(repo, out, processes)
        assert (USED in proc.stderr.decode()) == (processes == "1"), proc.stderr.decode()
        results[processes] = (proc.returncode, one_line_error(proc))
        _no_partial_file(src.parent, out)
    assert results["1"] == results["0"]
    assert results["1"][0] == 13  # IntegrityError, as before


def _children(pid: int) -> list[int]:
    """The restore's worker processes: its children forked from it (same command line; not a helper
    program it runs)."""
    try:
        pids = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        own = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [c for c in pids if _cmdline(c) == own]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


def _state(pid: int) -> str:
    """The process's state letter (R, S, D, Z …), or "gone"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return "gone"


def _start(repo: Path, out: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    """A restore on the process path, and its workers once it has logged that it forked them (each has
    said it is ready: it dies with the restore from then on; a helper it runs earlier has its command
    line too until it execs)."""
    proc = subprocess.Popen(
        [*DRKIT, *_restore_args(repo, out)],
        env={**os.environ, **ENV, "DRKIT_RESTORE_PROCESSES": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # the event: its log line
        if USED.encode() in line:
            return proc, _children(proc.pid)
    raise AssertionError(f"no worker processes: exit {proc.wait()}")


def _kill_a_worker(repo: Path, out: Path, *, parent: int = 0) -> subprocess.Popen[bytes] | None:
    """Stop the restore, SIGKILL one of its workers still running (or send the restore ``parent``, a
    signal), let it go on; None if every worker had already ended (it was faster than this test: the
    caller tries again). While a worker runs, the restore is in its content phase."""
    proc, workers = _start(repo, out)
    os.kill(proc.pid, signal.SIGSTOP)  # stopped, it cannot reap a worker as a success meanwhile
    try:
        alive = [w for w in workers if _state(w) not in ("Z", "gone")]
        if alive:
            os.kill(*((proc.pid, parent) if parent else (alive[0], signal.SIGKILL)))
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    if alive:
        return proc
    proc.communicate(timeout=300)
    return None


def _during_content(repo: Path, tmp_path: Path, *, parent: int = 0) -> tuple[subprocess.Popen[bytes], Path]:
    for attempt in range(5):
        out = tmp_path / f"out{attempt}"
        proc = _kill_a_worker(repo, out, parent=parent)
        if proc is not None:
            return proc, out
    raise AssertionError("five restores ended before a worker could be killed")


def test_a_worker_killed_mid_restore_fails_the_restore(tmp_path: Path) -> None:
    src, repo = _source(tmp_path, big=16)
    proc, out = _during_content(repo, tmp_path)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err.decode()
    line = one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, b"", err))
    assert "restore worker process was killed (SIGKILL): the restore is incomplete" in line
    _no_partial_file(src.parent, out)


def _stopped_workers(repo: Path, tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    """A restore stopped (SIGSTOP) in its content phase with its live workers stopped too: left alone, a
    stopped worker would never end (nor see its pipe's EOF)."""
    for attempt in range(5):
        proc, workers = _start(repo, tmp_path / f"out{attempt}")
        os.kill(proc.pid, signal.SIGSTOP)  # it cannot reap a worker meanwhile
        alive = [w for w in workers if _state(w) not in ("Z", "gone")]
        for worker in alive:
            os.kill(worker, signal.SIGSTOP)
        if alive:
            return proc, alive
        os.kill(proc.pid, signal.SIGCONT)
        proc.communicate(timeout=300)
    raise AssertionError("five restores ended before their workers could be stopped")


def test_killing_the_restore_kills_its_workers(tmp_path: Path) -> None:
    _, repo = _source(tmp_path, big=16)
    proc, workers = _stopped_workers(repo, tmp_path)
    own = {w: _cmdline(w) for w in workers}  # a pid reused meanwhile is not killed below
    try:
        proc.kill()
        proc.wait(timeout=60)  # not its stderr's EOF: a worker still alive holds that pipe open
        deadline = time.monotonic() + 60
        while any(_state(w) not in ("Z", "gone") for w in workers):  # a zombie is dead (its reaper is init)
            assert time.monotonic() < deadline, "a worker outlived the killed restore by 60 s"
            time.sleep(0.01)
    finally:
        assert proc.stderr is not None
        proc.stderr.close()
        for worker in workers:  # only if the test failed: a stopped worker left behind
            if _state(worker) not in ("Z", "gone") and _cmdline(worker) == own[worker]:
                os.kill(worker, signal.SIGKILL)


def test_sigterm_stops_the_workers_and_removes_unfinished_files(tmp_path: Path) -> None:
    src, repo = _source(tmp_path, big=16)
    proc, out = _during_content(repo, tmp_path, parent=signal.SIGTERM)
    workers = _children(proc.pid)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()
    assert "stopped by SIGTERM" in one_line_error(subprocess.CompletedProcess(proc.args, 1, b"", err))
    assert all(_state(w) == "gone" for w in workers)  # reaped by the restore before it exited
    _no_partial_file(src.parent, out)
    assert not [p for p in out.rglob(".drkit-restore-*")]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    if (why := can_mount_tmpfs()) is not None:
        pytest.skip(why)
    with mounted(tmp_path / "small", 4, mode="1777") as mount:
        yield mount


def test_a_full_target_fails_alike_on_processes_and_threads(tmp_path: Path, small_tmpfs: Path) -> None:
    src, repo = _source(tmp_path, big=4)
    results = {}
    for processes in ("1", "0"):
        out = small_tmpfs / f"out-{processes}"
        proc = _restore(repo, out, processes)
        assert (USED in proc.stderr.decode()) == (processes == "1"), proc.stderr.decode()
        line = one_line_error(proc)  # "...restore target full: PATH: No space left on device"
        results[processes] = proc.returncode, re.sub(r"full: .*: ", "full: PATH: ", line)
        _no_partial_file(src.parent, out)
        shutil.rmtree(out)
    assert results["1"] == results["0"] == (14, "drkit: error: restore target full: PATH: No space left on device")
