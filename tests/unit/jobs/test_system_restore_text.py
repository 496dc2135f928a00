"""The text form of a system restore's result: the system line (skew, allowance), the heartbeat line when the
restored data proved a point, then one line per component with its point, how far before T, and its target or error."""

from __future__ import annotations

import pytest

from drkit.cli.cmd_restore_system import _print
from drkit.jobs.system_restore import ComponentResult, SystemRestore


def test_each_component_is_one_line_after_the_system_and_heartbeat_lines(capsys: pytest.CaptureFixture[str]) -> None:
    result = SystemRestore(
        system="shop",
        point_in_time="2026-12-07T08:00:00.5Z",
        allowed_skew_seconds=300.0,
        skew_seconds=30.5,
        components=[
            ComponentResult(
                job="app-db",
                kind="postgres",
                point="2026-12-07T08:00:00.5Z",
                skew_seconds=0.0,
                how="base backup 1234abcd + WAL",
                target="/r/app-db",
                port=5433,
                heartbeat="2026-12-07T08:00:00Z",
            ),
            ComponentResult(
                job="uploads",
                kind="files",
                point="2026-12-07T07:59:30Z",
                skew_seconds=30.5,
                how="files snapshot 99aa",
                target="/r/uploads",
                error="disk full",
            ),
        ],
        verified_point="2026-12-07T07:59:29Z",
        measured_skew_seconds=31.0,
    )
    _print(result)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "system shop at 2026-12-07T08:00:00.5Z: components 30.5 s apart (allowed 300 s before the target)"
    )
    assert "every component holds 2026-12-07T07:59:29Z; their newest heartbeats are 31 s apart" in lines[1]
    assert lines[2].strip().startswith("app-db (postgres): state at 2026-12-07T08:00:00.5Z, 0 s before;")
    assert lines[2].endswith("-> /r/app-db, port 5433")
    assert lines[3].strip().endswith("files snapshot 99aa error: disk full")
