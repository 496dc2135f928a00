"""SIGTERM and SIGHUP (issue 20): Kubernetes stops pods with SIGTERM. A backup stopped by either exits
128 + N, leaves no lock and no temp object behind, and every earlier snapshot still restores."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from advkit import assert_restores, backup, init, lock_files, run, start_backup


def _temp_objects(repo: Path) -> list[Path]:
    return [p for p in repo.rglob(".tmp-*")]


@pytest.fixture(autouse=True)
def _hangup_not_ignored() -> Iterator[None]:
    """A run under `nohup` ignores SIGHUP, the backups it starts inherit that, and drkit keeps an ignored
    SIGHUP ignored (what nohup asks for): the SIGHUP case would test nohup. The backups get the default."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGHUP, previous)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_releases_the_lock(tmp_path: Path, signum: int, code: int) -> None:
    repo = init(tmp_path / "repo")
    earlier = os.urandom(1 << 20)
    first = backup(repo, earlier, "db")
    proc = start_backup(repo, "db")  # standard input stays open: the backup waits for more data
    assert proc.stdin is not None
    proc.stdin.write(os.urandom(2 << 20))  # new data, being chunked and sealed
    proc.stdin.flush()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert f"stopped by {signal.Signals(signum).name}".encode() in err and b"Traceback" not in err
    assert lock_files(repo) == [], "the stopped backup left its lock"
    assert _temp_objects(repo) == []
    assert_restores(repo, first, earlier)
    check = run(repo, "check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_exit_codes_documented_in_help(tmp_path: Path) -> None:
    out = run(tmp_path / "none", "backup", "stdin", "--help").stdout.decode()
    assert "143" in out and "SIGTERM" in out and "129" in out and "SIGHUP" in out
