"""Click types for the one time grammar (``drkit.core.timespec``) and the one duration grammar
(``drkit.core.durations``). A bad value is a ``UsageError``: one line, a hint, exit 2."""

from __future__ import annotations

import click

from ..core.durations import Duration, DurationError, parse_calendar_duration, parse_duration
from ..core.errors import UsageError
from ..core.timespec import TIME_HELP as TIME_HELP  # re-exported: the commands' help text
from ..core.timespec import parse_time

DURATION_HELP = "e.g. 90s, 15min, 1h30min, 1d12h, or seconds; `m` is refused (min or mo?)"
SPAN_HELP = "e.g. 7d, 36h, 2w, 6mo, 1y6mo (mo/y: calendar months/years); `m` is refused (min or mo?)"


def _option_name(param: click.Parameter | None) -> str:
    return param.opts[0] if param is not None and param.opts else "value"


class TimeParam(click.ParamType):  # type: ignore[type-arg]
    """A point in time, checked here (exit 2 before any work) and passed on as given: each use case
    reads it with the same ``parse_time``, and reports show the user's own spelling."""

    name = "TIME"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        parse_time(text, what=_option_name(param))
        return text


class DurationParam(click.ParamType):  # type: ignore[type-arg]
    """A fixed length, in seconds."""

    name = "DURATION"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_duration(str(value))
        except DurationError as exc:
            raise DurationError(f"{_option_name(param)} {exc.message}", hint=exc.hint) from None


class SpanParam(click.ParamType):  # type: ignore[type-arg]
    """A span back from a date (retention): calendar months and years allowed."""

    name = "DURATION"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Duration:
        if isinstance(value, Duration):
            return value
        try:
            return parse_calendar_duration(str(value))
        except DurationError as exc:
            raise DurationError(f"{_option_name(param)} {exc.message}", hint=exc.hint) from None


TIME = TimeParam()
DURATION = DurationParam()
SPAN = SpanParam()


class SizeParam(click.ParamType):  # type: ignore[type-arg]
    """A size in bytes: a whole number with an optional k, m, g or t (powers of 1024, either case), as restic's
    ``--exclude-larger-than``."""

    name = "SIZE"
    _UNITS = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}  # bit shifts

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        number, unit = (text[:-1], text[-1]) if text and text[-1] in "kmgt" else (text, "")
        if not number.isdigit():
            raise UsageError(
                f"{_option_name(param)} {str(value)[:20]!r} is not a size",
                hint="a whole number of bytes, or with k, m, g or t (1024-based): 500k, 2G",
            )
        return int(number) << self._UNITS[unit]


SIZE = SizeParam()


class RateParam(click.ParamType):  # type: ignore[type-arg]
    """A bandwidth limit in KiB/s, as restic's ``--limit-upload``: a whole number, 0 for unlimited."""

    name = "KiB/s"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if not text.isdigit():
            raise UsageError(
                f"{_option_name(param)} {str(value)[:20]!r} is not a rate in KiB/s",
                hint="a whole number of KiB per second, e.g. 1024 for 1 MiB/s; 0 for no limit",
            )
        return int(text)


RATE = RateParam()
