"""Cron expressions: the usual five fields (minute hour day month weekday), or six with seconds
first (``*/10 * * * * *``), as Kubernetes CronJobs and most schedulers write them. Weekday numbers
follow crontab (0 or 7 = Sunday), not APScheduler's (0 = Monday)."""

from __future__ import annotations

import re

from apscheduler.triggers.cron import CronTrigger

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekday_names(field: str) -> str:
    return re.sub(r"\d+", lambda m: _DAYS[int(m.group())] if int(m.group()) <= 7 else m.group(), field)


def _fields(text: str) -> dict[str, str]:
    parts = text.split()
    if len(parts) == 5:
        parts = ["0", *parts]
    if len(parts) != 6:
        raise ValueError(f"not a cron expression: {text!r} (5 fields, or 6 with seconds first)")
    second, minute, hour, day, month, weekday = parts
    return {
        "second": second,
        "minute": minute,
        "hour": hour,
        "day": day,
        "month": month,
        "day_of_week": _weekday_names(weekday),
    }


def cron_trigger(text: str, *, jitter: float = 0.0, timezone: str = "UTC") -> CronTrigger:
    """The APScheduler trigger for ``text``; raises ``ValueError`` naming what is wrong."""
    try:
        return CronTrigger(**_fields(text), jitter=int(jitter) or None, timezone=timezone)
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {text!r}: {exc}") from None


def validate_cron(text: str) -> str:
    cron_trigger(text)
    return text
