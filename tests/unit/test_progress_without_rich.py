"""Progress bars are drkit[rich]'s (issue #22, a lean core install): without rich a run on a terminal goes
on without one instead of failing to import it."""

from __future__ import annotations

import sys

import pytest

from drkit.cli.output import byte_meter, byte_progress


def test_no_progress_bar_without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setitem(sys.modules, "rich", None)  # as if not installed: find_spec("rich") is None
    with byte_progress("backup", enabled=True) as advance:
        assert advance is None
    with byte_meter("restore", enabled=True) as meter:
        assert meter is None
