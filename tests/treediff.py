"""The tree oracle outside drkit: what rsync would change to make one tree equal another."""

from __future__ import annotations

import subprocess
from pathlib import Path

# -a (modes, times, links, owners), -H hard links, -A ACLs, -X xattrs, -S sparse; --checksum reads
# every byte instead of trusting size and mtime.
FULL = ("-aHAXS",)


def rsync_diff(src: Path, dst: Path, *extra: str, flags: tuple[str, ...] = FULL) -> list[str]:
    """The itemised differences between ``src`` and ``dst`` (empty: identical)."""
    proc = subprocess.run(
        [
            "rsync",
            *flags,
            "--dry-run",
            "--checksum",
            "--itemize-changes",
            "--numeric-ids",
            *extra,
            f"{src}/",
            f"{dst}/",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()
