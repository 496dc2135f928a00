"""The one-line reason a failed scheduled run logs: a missing extra is named as the CLI names it
(a PostgreSQL or Redis drill in a daemon installed without drkit[postgres] / drkit[redis])."""

from __future__ import annotations

from drkit.core.errors import UsageError
from drkit.scheduler.runs import _error_text


def test_a_missing_extra_is_named() -> None:
    exc = ModuleNotFoundError("No module named 'psycopg'", name="psycopg")
    assert _error_text(exc) == (
        "this needs the Python package 'psycopg', which is not installed (extra drkit[postgres])"
    )


def test_other_errors_keep_their_text() -> None:
    assert _error_text(UsageError("no such job")) == "no such job"
    assert _error_text(ModuleNotFoundError("No module named 'nope'", name="nope")) == (
        "ModuleNotFoundError: No module named 'nope'"
    )
    assert _error_text(ValueError("bad")) == "ValueError: bad"
