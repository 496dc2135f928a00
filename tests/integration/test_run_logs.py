"""`drkit backup files` and `drkit restore` log their runs as JSON lines on stderr (not a terminal) at
--log-level info: start, end, outcome, duration, snapshot id, bytes (drkit/core/runlog.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit

pytestmark = pytest.mark.integration
ENV = {"DRKIT_PASSWORD": "pw-run-logs"}


def _run_lines(stderr: bytes) -> list[dict[str, Any]]:
    lines = [json.loads(ln) for ln in stderr.decode().splitlines() if ln.startswith("{")]
    return [ln for ln in lines if ln.get("logger") == "drkit.run"]


def test_backup_and_restore_log_start_and_end(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha\n" * 1000)
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    backup = drkit("--log-level", "info", "backup", "files", "--repo", repo, str(src), env=ENV)
    assert backup.returncode == 0, backup.stderr.decode()
    start, end = _run_lines(backup.stderr)
    assert (start["msg"], end["msg"], end["outcome"]) == ("files backup started", "files backup finished", "success")
    assert end["bytes_added"] > 0 and end["duration_s"] >= 0 and len(end["snapshot_id"]) == 64
    target = str(tmp_path / "out")
    restore = drkit("--log-level", "info", "restore", "latest", "--repo", repo, "--target", target, env=ENV)
    assert restore.returncode == 0, restore.stderr.decode()
    start, end = _run_lines(restore.stderr)
    assert (start["msg"], end["msg"], end["snapshot_id"]) == (
        "files restore started",
        "files restore finished",
        _run_lines(backup.stderr)[1]["snapshot_id"],
    )
    again = drkit("--log-level", "info", "restore", "latest", "--repo", repo, "--target", target, env=ENV)
    assert again.returncode != 0
    quiet = drkit("restore", "latest", "--repo", repo, "--target", target, env=ENV)  # the default level: warning
    assert quiet.stderr.decode().startswith("drkit: error: "), quiet.stderr.decode()  # the error stays one line
    (failed,) = [ln for ln in _run_lines(again.stderr) if ln.get("outcome") == "failure"]
    assert failed["level"] == "info" and failed["msg"].startswith("files restore failed: ")
    assert (tmp_path / "out" / "src" / "a.txt").read_text() == (src / "a.txt").read_text()
