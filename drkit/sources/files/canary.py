"""The files canary: ``.drkit-canary-<job>`` in the first backed-up directory, holding when it was
written (ISO 8601), so a drill can prove from restored data how recent the snapshot is."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from ..system import heartbeat_name
from .view import top_dir

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


def read_heartbeat(restored: Path, paths: list[str], system: str, *, started: datetime) -> datetime | None:
    """In a files restore under ``restored``: the heartbeat written into the source's first path, counted as
    at most the snapshot's start (``started``): a files snapshot is not atomic, so a heartbeat written while
    it ran may be captured while files read earlier are older than it; claiming the heartbeat's instant
    for the whole tree would make the system's verified point later than what the files hold."""
    at = read(restored / top_dir(paths, paths[0]), heartbeat_name(system))
    return min(at.astimezone(UTC), started.astimezone(UTC)) if at is not None else None
