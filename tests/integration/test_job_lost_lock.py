"""A scheduled backup's retention step (a forget) whose lock is lost midway must fail the run. The
job treated every ``LockFailed`` as "repository busy": a lost lock (the forget's lock expired while it
deleted snapshots, so another process may have taken over) was logged as "retention not applied in
this run" and the run reported success. Real local repository, a real maintenance lock; the clock
jumps past the lock's lifetime once the retention step has started (no refresh can keep up)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from clirun import drkit

from drkit.config.models import DrkitConfig
from drkit.core import clock
from drkit.core.errors import LockFailed
from drkit.jobs import run_backup_job
from drkit.ops.session import open_repository

pytestmark = pytest.mark.integration

PW = "lostlock-Repo-Pass-5d1e"
_HOUR = 3600.0


@contextmanager
def _hours_pass_on_every_clock_read() -> Iterator[None]:
    """Every wall-clock read from here on is an hour after the previous one: a lock taken inside
    expires (30 min) before the next time it is looked at."""
    now = [clock.now()]

    def stepping() -> float:
        now[0] += _HOUR
        return now[0]

    clock.set_clock(stepping)
    try:
        yield
    finally:
        clock.set_clock(None)


def test_a_lock_lost_during_retention_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOSTLOCK_PW", PW)
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env={"DRKIT_PASSWORD": PW}).returncode == 0
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("one")
    config = DrkitConfig.model_validate(
        {
            "repositories": {"default": {"url": str(repo), "passphrase": {"env": "LOSTLOCK_PW"}}},
            "jobs": {"data": {"source": {"kind": "files", "paths": [str(data)]}, "retention": {"keep_last": 1}}},
        }
    )
    run_backup_job(config, "data")
    with pytest.raises(LockFailed, match="lock was lost") as raised:  # before: a warning, and the run succeeded
        run_backup_job(config, "data", retention_gate=_hours_pass_on_every_clock_read())
    assert type(raised.value).__name__ == "LockLost"
    # the forget wrote nothing once its lock was lost: both snapshots are still there
    assert len(open_repository(str(repo), PW, load_index=False).manifests.ids("snapshot")) == 2
