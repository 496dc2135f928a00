"""A small tmpfs for tests that fill a disk (as root; the caller skips or fails when it cannot mount)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def can_mount_tmpfs() -> str | None:
    """None if this process can mount a tmpfs (root), else why not."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    return None


@contextmanager
def small_tmpfs(path: Path, mib: int, mode: str = "0700") -> Iterator[Path]:
    """A tmpfs of ``mib`` MiB mounted on ``path`` (made if missing) for the block; unmounted after it."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={mib}m,mode={mode}", "tmpfs", str(path)], check=True, capture_output=True
    )
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
