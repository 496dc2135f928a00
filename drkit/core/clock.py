"""The only module that reads the clock; tests substitute ``set_clock``."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

_wall: Callable[[], float] = time.time


def now() -> float:
    """Seconds since the epoch (wall clock)."""
    return _wall()


def utcnow() -> datetime:
    return datetime.fromtimestamp(_wall(), UTC)


def monotonic() -> float:
    return time.monotonic()


def set_clock(fn: Callable[[], float] | None) -> None:
    """Replace the wall clock (tests); ``None`` restores the real one."""
    global _wall
    _wall = fn or time.time
