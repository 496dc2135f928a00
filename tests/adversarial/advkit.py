"""Helpers for the adversarial tests: a local repository driven through the real CLI (subprocesses),
byte-exact restores checked against the source bytes, and polling instead of sleeping."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from clirun import DRKIT, drkit

ENV = {"DRKIT_PASSWORD": "pw-adversarial"}


def run(repo: str | Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return drkit(*args, "--repo", str(repo), stdin=stdin, env=ENV)


def init(repo: Path) -> Path:
    proc = run(repo, "init")
    assert proc.returncode == 0, proc.stderr
    return repo


def backup(repo: str | Path, data: bytes, name: str = "s", *tags: str) -> str:
    """Back up ``data`` from standard input; the new snapshot's id."""
    tag_args = [a for t in tags for a in ("--tag", t)]
    proc = run(repo, "backup", "stdin", "--name", name, *tag_args, "--json", stdin=data)
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["snapshot"])


def restored(repo: str | Path, snap_id: str) -> subprocess.CompletedProcess[bytes]:
    return run(repo, "restore", snap_id, "--to", "-")


def assert_restores(repo: str | Path, snap_id: str, source: bytes) -> None:
    """The oracle is the source bytes themselves, never drkit's metadata."""
    proc = restored(repo, snap_id)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == source, f"snapshot {snap_id[:8]}: restored bytes differ from the source"


def lock_files(repo: Path) -> list[Path]:
    locks = repo / "locks"
    return sorted(p for p in locks.iterdir() if not p.name.startswith(".")) if locks.is_dir() else []


def pack_files(repo: Path) -> list[Path]:
    return sorted(p for p in (repo / "data").rglob("*") if p.is_file() and not p.name.startswith("."))


def wait_for(cond: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``cond`` every 10 ms; the bound only guards against a hang."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def start_backup(repo: Path, name: str) -> subprocess.Popen[bytes]:
    """A backup reading its standard input from the test (a slow generator: the test writes when it
    wants); returns once its lock exists."""
    before = set(lock_files(repo))
    proc = subprocess.Popen(
        [*DRKIT, "backup", "stdin", "--name", name, "--json", "--repo", str(repo)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **ENV},
    )
    wait_for(lambda: bool(set(lock_files(repo)) - before) or proc.poll() is not None, what="the backup's lock")
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
    return proc


def in_new_pid_namespace(*args: str) -> list[str]:
    """argv running drkit in a new PID namespace with its own /proc (root only)."""
    return ["unshare", "--pid", "--fork", "--mount-proc", *DRKIT, *args]
