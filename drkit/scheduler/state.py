"""The daemon's memory across restarts: ``<state dir>/last_run.json`` holds, for each scheduled run
(``<job>:<kind>``), when it last started. APScheduler's in-memory job store forgets everything when
the process stops; this file is what lets a run missed while the daemon was down run at start-up.

A run is recorded when it ends (success or failure), with the time it started: a run cut short by
a hard stop is not recorded, so the next start owes it again. A scheduled run seen for the first
time is recorded as of that start-up: nothing before the daemon knew of it is owed.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

STATE_FILE = "last_run.json"
_VERSION = 1


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/drkit``, else ``~/.local/state/drkit``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "drkit"


def _parse(doc: object) -> dict[str, datetime]:
    if not isinstance(doc, dict) or doc.get("version") != _VERSION or not isinstance(doc.get("runs"), dict):
        raise ValueError("not a drkit scheduler state file")
    out = {}
    for key, value in doc["runs"].items():
        when = datetime.fromisoformat(str(value))
        if when.tzinfo is None:
            raise ValueError(f"{key}: time without a timezone")
        out[str(key)] = when
    return out


class RunState:
    """Thread-safe view of ``last_run.json``; every change is written at once (temp file + rename)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / STATE_FILE
        self._lock = threading.Lock()
        self._runs = self._load()

    def _load(self) -> dict[str, datetime]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        try:
            return _parse(json.loads(text))
        except (ValueError, TypeError) as exc:
            log.warning(
                "ignoring unreadable scheduler state %s (%s); no missed runs will be made up",
                self.path,
                exc,
                extra={"path": str(self.path)},
            )
            return {}

    def last(self, key: str) -> datetime | None:
        with self._lock:
            return self._runs.get(key)

    def baseline(self, keys: list[str], now: datetime) -> None:
        """Record ``now`` for every key not seen before, and forget keys no longer configured."""
        with self._lock:
            self._runs = {key: self._runs.get(key, now) for key in keys}
            self._save()

    def record(self, key: str, started: datetime) -> None:
        with self._lock:
            self._runs[key] = started
            self._save()

    def _save(self) -> None:
        doc = {"version": _VERSION, "runs": {k: v.isoformat() for k, v in sorted(self._runs.items())}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".last_run.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(doc, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


__all__ = ["STATE_FILE", "RunState", "default_state_dir"]
