"""Shared by the test_hostile_* modules (the hostile objects themselves are crafted by tests/crafting.py,
which the fault bench uses too): a repository on the local disk driven through the CLI as a
subprocess (real exit codes), objects planted the way someone with bucket write access would, and an
independent tree comparison (rsync, not drkit's own metadata)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import crafting
from crafting import plant  # noqa: F401 - re-exported for the test_hostile_* modules

PASSWORD = "hostile-test-passphrase"
ENV = {"DRKIT_PASSWORD": PASSWORD}
DRKIT = [sys.executable, "-m", "drkit.cli.main"]
RSS_CHILD = (
    "import resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
    "sys.stdout.buffer.write(p.stdout); sys.stderr.buffer.write(p.stderr)\n"
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(p.returncode)\n"
)


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DRKIT, *args], capture_output=True, text=True, env={**os.environ, **ENV, **(env or {})}, timeout=timeout
    )


def run_measured(*args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run drkit and return its peak resident memory in KiB (measured by a parent of its own)."""
    proc = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, *DRKIT, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        timeout=300,
    )
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("MAXRSS_KB ")][-1]
    return proc, int(line.split()[1])


def ok(*args: str) -> str:
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def repaired_restore(*args: str) -> str:
    """A restore of a repaired snapshot: exit 3 (partial), the warning naming what the repair dropped."""
    proc = run(*args)
    assert proc.returncode == 3, (proc.returncode, proc.stderr)
    assert "warning: snapshot is a repair of " in proc.stderr and "dropped by `drkit repair snapshots`" in proc.stderr
    return proc.stdout


def one_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The single ``drkit: error:`` line of a run that exited ``code``, with no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("drkit: error: ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def backup(repo: Path, src: Path) -> str:
    out = json.loads(ok("backup", "files", str(src), "--repo", str(repo), "--json"))
    return str(out["snapshot"])


def same_tree(a: Path, b: Path) -> None:
    """rsync, an independent tool, finds no difference in content, modes, times, links, xattrs or ACLs."""
    proc = subprocess.run(
        ["rsync", "-aHAXS", "--dry-run", "--checksum", "--itemize-changes", "--delete", f"{a}/", f"{b}/"],
        capture_output=True,
        text=True,
        check=True,
    )
    changes = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert changes == [], proc.stdout[:2000]


def open_repo(path: Path):  # type: ignore[no-untyped-def]
    """The repository at ``path``, opened in this process with the key (crafting needs it)."""
    return crafting.open_repo(path, PASSWORD)


def plant_snapshot(path: Path, trees: list[bytes], blobs: Any = ()) -> str:
    """``crafting.plant_snapshot`` with this module's passphrase."""
    return crafting.plant_snapshot(path, trees, PASSWORD, blobs)


def blob_hex(path: Path, data: bytes) -> str:
    """The id a blob of ``data`` gets in the repository at ``path``."""
    return crafting.blob_hex(path, data, PASSWORD)
