"""Every backup and restore logs its start and end (drkit/core/runlog.py), traced or not: outcome, duration,
snapshot id and bytes as fields; a failure with its redacted reason (at info level: the error line reports it).
Before, a backup or a restore outside the daemon logged nothing of its own, even at debug level. The CLI's
lines are checked in tests/integration/test_run_logs.py."""

from __future__ import annotations

import logging

import pytest

from drkit.core import tracing
from drkit.core.errors import DrkitError
from drkit.core.log import register_secret

SECRET = "s3cr3t-Passphrase-runlog"


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "drkit.run"]


def test_a_backup_logs_start_and_end_with_its_figures(caplog: pytest.LogCaptureFixture) -> None:
    assert not tracing.enabled()
    with caplog.at_level(logging.INFO, logger="drkit.run"):
        with tracing.span("drkit.backup", **{"drkit.source_kind": "files"}) as span:
            span.set(**{"drkit.snapshot_id": "abc123", "drkit.bytes_added": 4096})
    start, end = _records(caplog)
    assert (start.getMessage(), end.getMessage()) == ("files backup started", "files backup finished")
    assert end.outcome == "success" and end.snapshot_id == "abc123" and end.bytes_added == 4096  # type: ignore[attr-defined]
    assert end.duration_s >= 0 and end.source_kind == "files"  # type: ignore[attr-defined]


def test_a_failed_restore_is_logged_without_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    register_secret(SECRET)
    with caplog.at_level(logging.INFO, logger="drkit.run"), pytest.raises(DrkitError):
        with tracing.span("drkit.restore", **{"drkit.source_kind": "redis"}):
            raise DrkitError(f"cannot connect with password {SECRET}")
    _, end = _records(caplog)
    assert end.levelno == logging.INFO and end.outcome == "failure"  # type: ignore[attr-defined]
    assert end.getMessage().startswith("redis restore failed: cannot connect") and SECRET not in caplog.text


def test_other_spans_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="drkit.run"), tracing.span("drkit.index.write"):
        pass
    assert _records(caplog) == []


def test_a_backup_that_skipped_entries_is_logged_as_partial(caplog: pytest.LogCaptureFixture) -> None:
    """A files backup with warnings exits 3 and counts as result="partial"; before, its log line said success."""
    with caplog.at_level(logging.INFO, logger="drkit.run"):
        with tracing.span("drkit.backup", **{"drkit.source_kind": "files"}) as span:
            span.set(**{"drkit.snapshot_id": "abc123", "drkit.warnings": 2})
        with tracing.span("drkit.backup", **{"drkit.source_kind": "files"}) as span:
            span.set(**{"drkit.snapshot_id": "def456", "drkit.warnings": 0})
    ends = [r for r in _records(caplog) if r.getMessage().endswith("finished")]
    assert [(r.snapshot_id, r.outcome) for r in ends] == [("abc123", "partial"), ("def456", "success")]  # type: ignore[attr-defined]
