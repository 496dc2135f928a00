"""The one grammar for a point in time a user gives drkit (``--point-in-time`` of every restore,
drill and runbook): ISO 8601 with a zone.

    2026-12-06T23:59:03Z            2026-12-06 23:59:03+00         2026-12-06T23:59:03.867949+01:00
    2026-12-06T23:59Z               2026-12-06T23:59:03-0530       2026-12-06T23:59:03,5Z

- date ``YYYY-MM-DD``, then ``T`` (or ``t``) or one space, then ``HH:MM`` or ``HH:MM:SS``;
- a fraction of a second after ``.`` or ``,``: up to 9 digits. drkit keeps microseconds and drops
  the digits after the sixth, which is exact: every time it compares with (PostgreSQL commit times,
  snapshot times, AOF annotations) has at most microseconds, and ``x <= T`` holds for such an ``x``
  exactly when it holds for ``T`` cut to microseconds;
- a zone: ``Z`` (UTC), ``+HH``, ``+HH:MM`` or ``+HHMM`` (or ``-``).

A time without a zone is refused: the same digits name different instants on hosts in different
zones, and PostgreSQL would read them in its server's zone. Parsed by hand (a regular expression)
because ``datetime.fromisoformat`` of Python 3.11 takes neither ``+HH`` nor ``+HHMM`` nor ``,``
and reads a zone-less time without complaint.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from .errors import UsageError

__all__ = ["TIME_HELP", "TimeSpecError", "format_time", "parse_time", "postgres_time"]

TIME_HELP = (  # every --point-in-time's --help ends with it (the CLI's and a plugin's, which cannot import the CLI)
    "ISO 8601 with a zone: Z, +HH, +HH:MM or +HHMM; T or a space; fractions of a second allowed "
    "(2026-12-06T23:59:03Z, '2026-12-06 23:59:03.5+01:00'). A time without a zone is refused."
)

_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})(?P<sep>[Tt ])(?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)
_EXAMPLE = "2026-12-06T23:59:03Z"


class TimeSpecError(UsageError, ValueError):
    """Not a time of the grammar above (a ``UsageError``, exit 2; a ``ValueError`` for pydantic)."""

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


def parse_time(text: str, *, what: str = "--point-in-time") -> datetime:
    """The instant ``text`` names, as an aware ``datetime``; ``what`` names the input in errors."""
    value = text.strip()
    match = _TIME.fullmatch(value)
    if match is None:
        raise TimeSpecError(
            f"{what} {text!r} is not a time drkit reads",
            hint=f"use ISO 8601 with a zone, e.g. {_EXAMPLE} or 2026-12-06 23:59:03+01:00",
        )
    if match["zone"] is None:
        raise TimeSpecError(
            f"{what} {text!r} has no time zone",
            hint=f"add one: {value.replace(' ', 'T')}Z for UTC, or an offset such as {value}+01:00",
        )
    try:
        when = datetime.fromisoformat(f"{match['date']}T{match['h']}:{match['mi']}:{match['s'] or '00'}")
        micro = int((match["frac"] or "").ljust(6, "0")[:6])
        when = when.replace(microsecond=micro, tzinfo=_zone(match["zone"]))
        when.astimezone(UTC)  # every use converts to UTC: 0001-01-01T00:00+01:00 has no such datetime
        return when
    except (ValueError, OverflowError) as exc:  # month 13, 25:00, an offset of 24 h or more, out of range
        raise TimeSpecError(
            f"{what} {text!r} is not a valid time ({exc})", hint=f"use ISO 8601 with a zone, e.g. {_EXAMPLE}"
        ) from None


def _zone(text: str) -> timezone:
    if text in "Zz":
        return UTC
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or "0")
    if hours >= 24 or minutes >= 60:
        raise ValueError("an offset is less than 24 hours, its minutes less than 60")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def format_time(when: datetime) -> str:
    """``when`` in UTC, in the grammar's canonical spelling: ``2026-12-06T23:59:03.867949Z``."""
    utc = when.astimezone(UTC)
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds").replace("+00:00", "Z")


def postgres_time(when: datetime) -> str:
    """``when`` as PostgreSQL reads it in ``recovery_target_time`` whatever its server's settings:
    UTC with a numeric offset (``2026-12-06 23:59:03.867949+00``). PostgreSQL checks that setting
    before it loads zone abbreviations, so it refuses ``Z`` (and ``UTC``)."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S") + (f".{utc.microsecond:06d}" if utc.microsecond else "") + "+00"
