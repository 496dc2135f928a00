"""Backups through a backend that fails a fraction of its calls (issue 10): with 5 % injected errors
and cut uploads they complete and restore identically; with 100 % they fail cleanly, no snapshot."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from clirun import drkit, one_line_error

from storage_backends import Transient, open_backend

ENV = {"DRKIT_PASSWORD": "faulty-pw"}
pytestmark = pytest.mark.fault


def test_wrapper_injects_at_the_configured_rate(tmp_path: Path) -> None:
    from storage_backends.testing.faulty import FaultyBackend

    backend = open_backend(f"faulty+file://{tmp_path}/s?error_rate=0.3&seed=4")
    inner = backend.inner  # type: ignore[attr-defined]  # the retry wrapper
    assert isinstance(inner, FaultyBackend)
    failures = 0
    for i in range(400):
        try:
            inner.put(f"k{i}", b"x")
        except Transient as exc:
            failures += 1
            assert "injected fault" in str(exc) and "\n" not in str(exc)
    assert 80 < failures < 160


def test_backup_with_5_percent_errors_completes_and_restores(tmp_path: Path) -> None:
    plain = tmp_path / "repo"
    faulty = f"faulty+file://{plain}?error_rate=0.05&cut_rate=0.05&seed=7"
    assert drkit("init", "--repo", str(plain), "--pack-size-mib", "1", env=ENV).returncode == 0
    data = random.Random(9).randbytes(24 << 20)
    proc = drkit("backup", "stdin", "--name", "f", "--json", "--repo", faulty, stdin=data, env=ENV)
    assert proc.returncode == 0, proc.stderr
    snap = json.loads(proc.stdout)["snapshot"]
    restored = drkit("restore", snap[:8], "--to", "-", "--repo", faulty, env=ENV)
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout == data
    assert drkit("check", "--read-data", "--repo", str(plain), env=ENV).returncode == 0


def test_backup_with_100_percent_errors_fails_cleanly(tmp_path: Path) -> None:
    plain = tmp_path / "repo"
    assert drkit("init", "--repo", str(plain), env=ENV).returncode == 0
    before = drkit("backup", "stdin", "--name", "ok", "--json", "--repo", str(plain), stdin=b"kept", env=ENV)
    proc = drkit(
        "backup",
        "stdin",
        "--name",
        "f",
        "--repo",
        f"faulty+file://{plain}?error_rate=1",
        stdin=b"x" * 100_000,
        env={**ENV, "DRKIT_RETRY_ATTEMPTS": "2"},
    )
    assert proc.returncode == 14, proc.stderr
    assert "injected fault" in one_line_error(proc)
    listing = json.loads(drkit("snapshots", "--json", "--repo", str(plain), env=ENV).stdout)
    assert [s["source_name"] for s in listing] == ["ok"]
    assert drkit("check", "--read-data", "--repo", str(plain), env=ENV).returncode == 0
    ref = json.loads(before.stdout)["snapshot"][:8]
    assert drkit("restore", ref, "--to", "-", "--repo", str(plain), env=ENV).stdout == b"kept"
