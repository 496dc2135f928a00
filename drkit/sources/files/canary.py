"""The files canary: ``.drkit-canary-<job>`` in the first backed-up directory, holding when it was
written (ISO 8601), so a drill can prove from restored data how recent the snapshot is."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

PREFIX = ".drkit-canary-"


def canary_path(directory: str | Path, job: str) -> Path:
    return Path(directory) / f"{PREFIX}{job}"


def write(directory: str | Path, job: str, now: datetime) -> Path | None:
    """Write the canary into ``directory`` (atomically); None when it is not a writable directory."""
    path = canary_path(directory, job)
    if not path.parent.is_dir():
        return None
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(now.isoformat() + "\n")
    os.replace(tmp, path)
    return path


def read(directory: str | Path, job: str) -> datetime | None:
    try:
        return datetime.fromisoformat(canary_path(directory, job).read_text().strip())
    except (OSError, ValueError):
        return None
