"""Locks across PID namespaces (issue 20): containers that share a host name (host networking, one
``--hostname``) but not a PID namespace must not take each other's live locks for stale. Each test
runs a drkit command under ``unshare --pid --fork --mount-proc`` while a backup in this namespace
holds its lock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from advkit import ENV, assert_restores, backup, in_new_pid_namespace, init, lock_files, run, start_backup


def _can_unshare() -> bool:
    """Root with unshare(1) and the right to make PID and mount namespaces (not in every container)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _can_unshare(), reason="needs root, unshare(1) and the right to make PID namespaces (CAP_SYS_ADMIN)"
)


def _in_namespace(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        in_new_pid_namespace(*args, "--repo", str(repo)), capture_output=True, env={**os.environ, **ENV}, timeout=300
    )


def _finish(proc: subprocess.Popen[bytes], data: bytes) -> str:
    out, err = proc.communicate(data, timeout=300)
    assert proc.returncode == 0, err
    return str(json.loads(out)["snapshot"])


def test_unlock_in_another_pid_namespace_keeps_a_live_lock(tmp_path: Path) -> None:
    repo = init(tmp_path / "repo")
    proc = start_backup(repo, "live")
    try:
        [lock] = lock_files(repo)
        unlock = _in_namespace(repo, "unlock")
        assert unlock.returncode == 0, unlock.stderr
        assert lock.exists(), "unlock in another PID namespace removed a live backup's lock"
        assert b"0 locks removed" in unlock.stdout
        assert b"held on another host, container or PID namespace" in unlock.stdout
        here = run(repo, "unlock")  # in the backup's own namespace: its process is seen running
        assert here.returncode == 0 and lock.exists() and b"its process is running" in here.stdout
    finally:
        snap = _finish(proc, b"still here\n" * 1000)
    assert_restores(repo, snap, b"still here\n" * 1000)
    assert lock_files(repo) == []


def test_prune_in_another_pid_namespace_keeps_the_packs_a_running_backup_uses(tmp_path: Path) -> None:
    """The issue's data loss: the backup loaded an index naming pack P; S1, the only snapshot using P,
    is forgotten; a prune elsewhere must not delete P while the backup may still deduplicate into it."""
    repo = init(tmp_path / "repo")
    data = os.urandom(3 << 20)
    backup(repo, data, "s", "old")
    proc = start_backup(repo, "s")  # its index names P; its lock is held from here on
    try:
        forget = run(repo, "forget", "--keep-tag", "new")
        assert forget.returncode == 0, forget.stderr
        prune = _in_namespace(repo, "prune", "--grace", "0")
        assert prune.returncode == 0, prune.stderr
    finally:
        snap = _finish(proc, data)  # all of it deduplicated against P
    assert_restores(repo, snap, data)
    check = run(repo, "check", "--read-data")
    assert check.returncode == 0, check.stdout + check.stderr
