"""`restore files --point-in-time T` takes the newest snapshot *started* by T. When that snapshot was
still being taken at T, files it read after T may hold changes made after T (seen by hand: a file
rewritten one second after T, 11 s before the backup ended, came back with the later bytes): the
restore now says so on stderr, naming the snapshot's start and end, instead of restoring in silence.
A T at or after the end says nothing. The restored tree is checked by rsync -aHAXS --checksum."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from clirun import drkit
from treediff import rsync_diff

from drkit.core.timespec import format_time

ENV = {"DRKIT_PASSWORD": "taken-across"}
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (scripts/install.sh)"),
]


def test_a_point_inside_the_snapshots_backup_is_warned_about(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("content\n")
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    assert drkit("backup", "files", "--repo", repo, str(src), env=ENV).returncode == 0
    [snap] = json.loads(drkit("snapshots", "--json", "--repo", repo, env=ENV).stdout)
    start, end = datetime.fromisoformat(snap["time"]), datetime.fromisoformat(snap["end_time"])
    assert start < end
    cases = [(start, True), (start + (end - start) // 2, True), (end, False), (end + timedelta(hours=1), False)]
    for i, (when, warned) in enumerate(cases):
        target = tmp_path / f"out{i}"
        point = format_time(when)
        proc = drkit("restore", "files", "--repo", repo, "--target", str(target), "--point-in-time", point, env=ENV)
        assert proc.returncode == 0, proc.stderr.decode()
        err = proc.stderr.decode()
        assert ("was being taken at" in err) is warned, (point, err)
        if warned:
            assert format_time(start) in err and format_time(end) in err, err
        assert rsync_diff(src, target / "src") == []
