"""The tree oracle outside drkit: what rsync would change to make one tree equal another."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# -a (modes, times, links, owners), -H hard links, -A ACLs, -X xattrs, -S sparse; --checksum reads
# every byte instead of trusting size and mtime.
FULL = ("-aHAXS",)


def rsync_diff(src: Path, dst: Path, *extra: str, flags: tuple[str, ...] = FULL, delete: bool = True) -> list[str]:
    """The itemised differences between ``src`` and ``dst`` (empty: identical). With ``delete`` (the default) an
    entry only in ``dst`` is a difference too (``*deleting``): without it a restore that brought back files the
    source does not hold (an exclude that did not apply, another snapshot's tree) would compare equal."""
    proc = subprocess.run(
        [
            "rsync",
            *flags,
            "--dry-run",
            "--checksum",
            "--itemize-changes",
            "--numeric-ids",
            *(("--delete",) if delete else ()),
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


def data_bytes(path: Path) -> int:
    """Bytes in the file's data extents (SEEK_DATA / SEEK_HOLE): a sparse copy has no more than its source."""
    fd, off, total = os.open(path, os.O_RDONLY), 0, 0
    try:
        while True:
            try:
                start = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:  # ENXIO: no data past off
                return total
            off = os.lseek(fd, start, os.SEEK_HOLE)
            total += off - start
    finally:
        os.close(fd)
