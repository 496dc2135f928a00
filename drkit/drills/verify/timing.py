"""Run one check, time it, and turn an exception into a failed result."""

from __future__ import annotations

import time
from collections.abc import Callable

from ...core.errors import DrkitError
from ..result import CheckResult


def timed_check(name: str, fn: Callable[[], tuple[bool, str]]) -> CheckResult:
    t0 = time.monotonic()
    try:
        ok, detail = fn()
    except DrkitError as exc:
        ok, detail = False, exc.message
    except Exception as exc:  # noqa: BLE001 - a check that crashes failed; say how in one line
        ok, detail = False, f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    return CheckResult(name, ok, detail, round(time.monotonic() - t0, 3))


def summarize(problems: list[str], what: str, limit: int = 5) -> tuple[bool, str]:
    if not problems:
        return True, what
    more = f" (+{len(problems) - limit} more)" if len(problems) > limit else ""
    return False, "; ".join(problems[:limit]) + more
