"""Temp objects of killed writes (issue 20): the local backend writes through ``.tmp-*`` files, and a
writer killed mid-write left them forever. `check` now reports those over an hour old and `prune`
removes them; a fresh one (a write in progress) is kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from advkit import assert_restores, backup, init, run, wait_for

_WRITER = (
    "import sys; from storage_backends.local import LocalBackend; "
    "LocalBackend(sys.argv[1]).put(sys.argv[2], sys.stdin.buffer)"
)


def _killed_write(repo: Path, key: str) -> Path:
    """A put killed (SIGKILL) while its data still streams in: returns the temp file it left."""
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(repo), key], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b"x" * 100_000)
    proc.stdin.flush()
    folder = repo / key.rpartition("/")[0]
    wait_for(
        lambda: folder.is_dir() and any(p.name.startswith(".tmp-") for p in folder.iterdir()), what="the temp file"
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdin.close()
    [temp] = [p for p in folder.iterdir() if p.name.startswith(".tmp-")]
    return temp


def test_check_reports_and_prune_removes_stale_temp_objects(tmp_path: Path) -> None:
    repo = init(tmp_path / "repo")
    data = os.urandom(1 << 20)
    snap = backup(repo, data, "db")
    old = [_killed_write(repo, "data/ab/" + "ab" * 32), _killed_write(repo, "index/" + "cd" * 32)]
    two_hours_ago = time.time() - 7200
    for temp in old:
        os.utime(temp, (two_hours_ago, two_hours_ago))
    fresh = _killed_write(repo, "data/ef/" + "ef" * 32)  # as young as a write still in progress

    check = run(repo, "check", "--json")
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["stale_temp_objects"] == 2

    dry = run(repo, "prune", "--dry-run", "--json")
    assert dry.returncode == 0 and json.loads(dry.stdout)["temp_objects"] == 2
    assert all(t.exists() for t in old)

    prune = run(repo, "prune", "--orphan-age", "0")  # the temp grace is a fixed hour: a running write keeps its file
    assert prune.returncode == 0, prune.stderr
    assert b"remove 2 temp objects" in prune.stdout
    assert not any(t.exists() for t in old) and fresh.exists()
    assert json.loads(run(repo, "check", "--json").stdout)["stale_temp_objects"] == 0
    assert_restores(repo, snap, data)
