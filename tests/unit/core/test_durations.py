"""The one duration grammar (drkit.core.durations), shared by the command line and drkit.yaml."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from drkit.core.durations import (
    Duration,
    DurationError,
    format_duration,
    parse_calendar_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90s", 90),
        ("90 sec", 90),
        ("15min", 900),
        ("15 minutes", 900),
        ("1h30min", 5400),
        ("1h 30min", 5400),
        ("1d12h", 129600),
        ("2w", 1209600),
        ("1.5h", 5400),
        ("250ms", 0.25),
        ("300", 300),
        (300, 300),
        (0.5, 0.5),
        ("2H", 7200),
        ("1 day", 86400),
    ],
)
def test_lengths(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5m", "2M", "1h5m", "1m30s"])
def test_m_alone_is_ambiguous(text: str) -> None:
    for parse in (parse_duration, parse_calendar_duration):
        with pytest.raises(DurationError) as caught:
            parse(text)
        assert caught.value.exit_code == 2
        assert "ambiguous" in caught.value.message
        assert caught.value.hint == "use `min` for minutes or `mo` for months"


@pytest.mark.parametrize("text", ["soon", "5 parsecs", "-5s", "1h30", "h", "", "1..5h", True])
def test_garbage(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_a_length_refuses_calendar_units() -> None:
    for text in ("1mo", "1y", "1y2d"):
        with pytest.raises(DurationError, match="no fixed length"):
            parse_duration(text)


def test_calendar_spans() -> None:
    assert parse_calendar_duration("1y6mo") == Duration(months=18)
    assert parse_calendar_duration("2 months 1d") == Duration(months=2, seconds=86400)
    assert parse_calendar_duration("36h") == Duration(seconds=129600)
    end = datetime(2024, 3, 31, 12, tzinfo=UTC)
    assert Duration(months=1).before(end) == datetime(2024, 2, 29, 12, tzinfo=UTC)  # clamped to the month's end
    assert Duration(months=14, seconds=3600).before(end) == datetime(2023, 1, 31, 11, tzinfo=UTC)
    assert str(parse_calendar_duration("1y6mo36h")) == "1y6mo1d12h"
    for text in ("7", 7, "1.5y"):
        with pytest.raises(DurationError):
            parse_calendar_duration(text)


def test_format_is_in_the_grammar() -> None:
    for seconds in (0, 59, 60, 3600, 5400, 93784, 1.5):
        assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=0.01)
    assert format_duration(5400) == "1h30min"


def test_extremes_do_not_crash() -> None:
    end = datetime(2026, 3, 31, tzinfo=UTC)
    assert parse_calendar_duration("100000y").before(end) == datetime.min.replace(tzinfo=UTC)
    assert parse_calendar_duration("99999999999d").before(end) == datetime.min.replace(tzinfo=UTC)
    for value in (float("inf"), float("nan"), -1):
        with pytest.raises(DurationError):
            parse_duration(value)
