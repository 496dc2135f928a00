"""The one time grammar (drkit.core.timespec): every spelling of one instant reads the same, a time
without a zone is refused with a hint, and PostgreSQL is handed a value it reads at start-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from drkit.core.errors import UsageError
from drkit.core.timespec import TimeSpecError, format_time, parse_time, postgres_time

INSTANT = datetime(2026, 12, 6, 23, 59, 3, 867949, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-06T23:59:03.867949Z",
        "2026-12-06t23:59:03.867949z",
        "2026-12-06 23:59:03.867949Z",
        "2026-12-06T23:59:03.867949+00",
        "2026-12-06T23:59:03.867949+00:00",
        "2026-12-06T23:59:03.867949+0000",
        "2026-12-06 23:59:03.867949-00:00",
        "2026-12-07T01:59:03.867949+02",
        "2026-12-07 01:59:03.867949+0200",
        "2026-12-06T18:29:03.867949-05:30",
        "2026-12-06T23:59:03,867949Z",
        "  2026-12-06T23:59:03.867949Z  ",
        "2026-12-06T23:59:03.867949123Z",  # nanoseconds: cut to microseconds (exact for <= comparisons)
    ],
)
def test_every_spelling_names_the_same_instant(text: str) -> None:
    assert parse_time(text) == INSTANT


def test_short_forms() -> None:
    assert parse_time("2026-12-06T23:59Z") == datetime(2026, 12, 6, 23, 59, tzinfo=UTC)
    assert parse_time("2026-12-06 23:59:03.5+01:00") == datetime(2026, 12, 6, 22, 59, 3, 500000, tzinfo=UTC)
    assert parse_time("2026-12-06T23:59:03+01").utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize("text", ["2026-12-06T23:59:03", "2026-12-06 23:59:03.867949", "2026-12-06T23:59"])
def test_a_time_without_a_zone_is_refused_with_a_hint(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_time(text)
    assert caught.value.exit_code == 2
    assert "no time zone" in caught.value.message
    hint = caught.value.hint or ""
    suggested = hint.split()[2]  # "add one: <same time>Z for UTC, ..."
    assert suggested.endswith("Z") and parse_time(suggested) == parse_time(text + "Z")
    assert "+01:00" in hint


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2026-12-06",
        "1733529543",
        "2026-12-06T23:59:03 UTC",
        "2026-12-06T23:59:03+1",
        "2026-13-06T23:59:03Z",
        "2026-02-30T10:00:00Z",
        "2026-12-06T24:00:00Z",
        "2026-12-06T23:59:03+24:00",
        "2026-12-06T23:59:03+01:60",
        "2026-12-06T23:59:03.1234567890Z",
        "2026-12-06T23:59:03.Z",
        "",
    ],
)
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(TimeSpecError) as caught:
        parse_time(text, what="--point-in-time")
    assert caught.value.message.startswith("--point-in-time ")
    assert caught.value.hint and "Z" in caught.value.hint
    assert isinstance(caught.value, ValueError)  # pydantic reports it with the field's path


def test_canonical_spellings() -> None:
    assert format_time(INSTANT) == "2026-12-06T23:59:03.867949Z"
    assert format_time(datetime(2026, 12, 7, 1, 0, tzinfo=timezone(timedelta(hours=1)))) == "2026-12-07T00:00:00Z"
    assert parse_time(format_time(INSTANT)) == INSTANT


def test_postgres_gets_a_numeric_utc_offset() -> None:
    """recovery_target_time is checked before PostgreSQL loads zone abbreviations: `Z` is refused."""
    assert postgres_time(parse_time("2026-12-06T23:59:03.867949Z")) == "2026-12-06 23:59:03.867949+00"
    assert postgres_time(parse_time("2026-12-07 00:59:03+01:00")) == "2026-12-06 23:59:03+00"
