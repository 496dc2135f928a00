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
    assert files_canary.read_heartbeat(tmp_path, ["/srv/data"], "shop", started=started) == started
    assert files_canary.read_heartbeat(tmp_path, ["/srv/data"], "shop", started=beat + timedelta(seconds=1)) == beat
    assert files_canary.read_heartbeat(tmp_path, ["/srv/other"], "shop", started=started) is None


def test_the_heartbeat_of_a_component_of_root_is_read_where_its_restore_puts_it(tmp_path: Path) -> None:
    """A files component of ``/`` alone restores as TARGET/etc (``view_tree``): its heartbeat, written into
    ``/``, is TARGET's own; backed up with other paths, ``/`` is still the entry ``root``."""
    beat = datetime(2026, 12, 7, 10, 0, 5, tzinfo=UTC)
    files_canary.write(tmp_path, heartbeat_name("shop"), beat)
    (tmp_path / "root").mkdir()
    assert files_canary.read_heartbeat(tmp_path, ["/"], "shop", started=beat) == beat
    assert files_canary.read_heartbeat(tmp_path, ["/", "/srv"], "shop", started=beat) is None
    files_canary.write(tmp_path / "root", heartbeat_name("shop"), beat)
    assert files_canary.read_heartbeat(tmp_path, ["/", "/srv"], "shop", started=beat) == beat
