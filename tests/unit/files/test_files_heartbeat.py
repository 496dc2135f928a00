"""The system heartbeat a files component proves, read from its restored tree (``files.canary``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from drkit.sources.files import canary as files_canary
from drkit.sources.system import heartbeat_name


def test_a_files_heartbeat_counts_as_at_most_the_snapshot_start(tmp_path: Path) -> None:
    """A heartbeat written while a files snapshot ran may be captured although files read before it are
    older: the component proves the snapshot's start, never a later instant (review finding)."""
    (tmp_path / "data").mkdir()
    beat = datetime(2026, 12, 7, 10, 0, 5, tzinfo=UTC)
    files_canary.write(tmp_path / "data", heartbeat_name("shop"), beat)
    started = beat - timedelta(seconds=2)
    assert files_canary.read_heartbeat(tmp_path, "/srv/data", "shop", started=started) == started
    assert files_canary.read_heartbeat(tmp_path, "/srv/data", "shop", started=beat + timedelta(seconds=1)) == beat
    assert files_canary.read_heartbeat(tmp_path, "/srv/other", "shop", started=started) is None
