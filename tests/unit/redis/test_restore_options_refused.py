"""`restore redis SNAPSHOT --point-in-time T` used to drop SNAPSHOT without a word (the state at T was
restored, from whatever RDB and AOF the time chose), and `--accept-older` without a point in time was
ignored. Both are refused (exit 2, one line) before the repository is opened or the target touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from clirun import drkit, one_line_error

ENV = {"DRKIT_PASSWORD": "pw-redis-restore-options"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("abc123", "--point-in-time", "2026-12-08T00:00:00Z"), "give no SNAPSHOT"),
        (("abc123", "--accept-older"), "--accept-older goes with --point-in-time"),
    ],
)
def test_refused_before_anything_is_touched(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    target, repo = tmp_path / "target", tmp_path / "repo"
    proc = drkit("restore", "redis", *args, "--target-dir", str(target), "--repo", str(repo), env=ENV)
    assert proc.returncode == 2, proc.stderr.decode()
    assert says in one_line_error(proc)
    assert not target.exists() and not repo.exists()
