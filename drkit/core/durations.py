"""The one duration grammar of drkit, for the command line and ``drkit.yaml`` alike.

A duration is one or more ``<number><unit>`` parts (``90s``, ``1h30min``, ``1d12h``, ``1y6mo``;
blanks between parts are allowed), or a bare number of seconds (``300``) where a fixed length is
wanted. Units, case-insensitive:

    ms                                   milliseconds
    s  sec  secs  second  seconds        seconds
    min  mins  minute  minutes           minutes
    h  hr  hrs  hour  hours              hours
    d  day  days                         days (24 h)
    w  wk  wks  week  weeks              weeks (7 d)
    mo  month  months                    calendar months   (retention only)
    y  yr  yrs  year  years              calendar years    (retention only)

``m`` alone is refused: in restic's retention grammar it is a month, in most others a minute.
Calendar units count back on the calendar (``1mo`` before 31 March is 29 February in a leap year,
the last day of the shorter month), so they only fit a span back from a date: ``keep_within`` /
``--keep-within``. A length (``rpo``, ``rto``, ``jitter``, ``--grace``, timeouts) refuses them. A
retention span needs a unit: ``--keep-within 7`` is refused rather than read as 7 seconds.

Parse errors are ``DurationError``: a ``UsageError`` (exit 2, with a hint) for the command line and a
``ValueError`` for pydantic, which names the config field."""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import UsageError

__all__ = ["Duration", "DurationError", "format_duration", "parse_calendar_duration", "parse_duration"]

_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_MONTHS = {"mo": 1, "y": 12}
_ALIASES = {
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "mins": "min",
    "minute": "min",
    "minutes": "min",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "day": "d",
    "days": "d",
    "wk": "w",
    "wks": "w",
    "week": "w",
    "weeks": "w",
    "month": "mo",
    "months": "mo",
    "yr": "y",
    "yrs": "y",
    "year": "y",
    "years": "y",
}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]+)")
_PARTS = re.compile(r"(?:\s*\d+(?:\.\d+)?\s*[a-zA-Z]+)+\s*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_FORMS = "e.g. 90s, 15min, 1h30min, 2d, 1w"


class DurationError(UsageError, ValueError):
    """Not a duration of the grammar above."""

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


@dataclass(frozen=True)
class Duration:
    """A span back from a date: whole calendar ``months`` plus fixed ``seconds``."""

    months: int = 0
    seconds: float = 0.0

    def before(self, when: datetime) -> datetime:
        """``when`` minus this span: months on the calendar (day clamped to the month's end), then seconds."""
        year, month = divmod(when.year * 12 + when.month - 1 - self.months, 12)
        try:
            day = min(when.day, calendar.monthrange(year, month + 1)[1])
            return when.replace(year=year, month=month + 1, day=day) - timedelta(seconds=self.seconds)
        except (ValueError, OverflowError):  # before year 1: the span reaches back past every date
            return datetime.min.replace(tzinfo=when.tzinfo)

    def __str__(self) -> str:
        years, months = divmod(self.months, 12)
        head = (f"{years}y" if years else "") + (f"{months}mo" if months else "")
        return head + (format_duration(self.seconds) if self.seconds or not head else "")


def _parts(value: str) -> list[tuple[float, str]]:
    """``(number, canonical unit)`` per part of ``value``; raises on anything else."""
    if not _PARTS.fullmatch(value):
        raise DurationError(f"{value!r} is not a duration", hint=f"use {_FORMS} (units: ms s min h d w mo y)")
    out = []
    for number, unit in _PART.findall(value):
        key = unit.lower()
        if key == "m":
            raise DurationError(
                f"{value!r}: the unit {unit!r} is ambiguous", hint="use `min` for minutes or `mo` for months"
            )
        key = _ALIASES.get(key, key)
        if key not in _SECONDS and key not in _MONTHS:
            raise DurationError(f"{value!r}: unknown unit {unit!r}", hint=f"units: ms s min h d w mo y ({_FORMS})")
        out.append((float(number), key))
    return out


def parse_duration(value: str | float) -> float:
    """Seconds in ``value``: a fixed length (no calendar units); a bare number is seconds."""
    if isinstance(value, bool):
        raise DurationError(f"{value!r} is not a duration", hint=f"use {_FORMS}")
    if isinstance(value, int | float):
        if not 0 <= value < math.inf:
            raise DurationError(f"{value!r} is not a duration", hint="give a finite number of seconds, 0 or more")
        return float(value)
    text = str(value).strip()
    if _NUMBER.fullmatch(text):
        return _finite(float(text), value)
    total = 0.0
    for number, unit in _parts(text):
        if unit in _MONTHS:
            raise DurationError(
                f"{value!r}: a calendar {'month' if unit == 'mo' else 'year'} has no fixed length",
                hint="give days instead, e.g. 30d or 365d",
            )
        total += number * _SECONDS[unit]
    return _finite(total, value)


def _finite(seconds: float, value: object) -> float:
    """``seconds``, unless its digits overflowed a float (``float("9" * 400)`` is infinite)."""
    if seconds == math.inf:
        raise DurationError(f"{str(value)[:40]!r}… is too long a duration", hint=f"use {_FORMS}")
    return seconds


def parse_calendar_duration(value: str | float) -> Duration:
    """A span back from a date (retention): calendar months / years allowed, a unit required."""
    if isinstance(value, bool) or isinstance(value, int | float) or _NUMBER.fullmatch(str(value).strip()):
        raise DurationError(f"{value!r} has no unit", hint="give one, e.g. 7d, 36h, 6mo or 1y6mo")
    months, seconds = 0, 0.0
    for number, unit in _parts(str(value)):
        if unit in _MONTHS:
            if number != int(number):
                raise DurationError(
                    f"{value!r}: calendar months and years must be whole", hint="e.g. 1y6mo instead of 1.5y"
                )
            months += int(number) * _MONTHS[unit]
        else:
            seconds += number * _SECONDS[unit]
    return Duration(months, _finite(seconds, value))


def format_duration(seconds: float) -> str:
    """The short form of ``seconds`` in the grammar (``1h2min3s``; sub-minute values keep two decimals)."""
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds % 1 else f"{int(seconds)}s"
    total = int(round(seconds))
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
