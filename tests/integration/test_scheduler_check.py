"""What a restarted daemon reads back. A scheduled check that finds damage: the run fails (one
error line), drkit_repository_check_success turns 0 with its time, `drkit report` says FAILED, and a
restarted daemon shows the same 0 before any run -- so DrkitRepositoryCheckFailed keeps firing across
restarts. Drill results from the drill documents. Real local repositories; the daemon's own Runner."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from clirun import drkit
from prometheus_client import CollectorRegistry

from drkit.config.models import DrkitConfig
from drkit.scheduler.daemon import _prepare
from drkit.scheduler.maintenance import maintenance_summary

pytestmark = pytest.mark.integration

PW = "check-sched-Pass-03b7"


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_a_failed_check_is_recorded_and_survives_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECK_PW", PW)
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env={"DRKIT_PASSWORD": PW}).returncode == 0
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.bin").write_bytes(b"a" * 100_000)
    repos = {"default": {"url": str(repo), "passphrase": {"env": "CHECK_PW"}, "check": {"schedule": "0 3 * * *"}}}
    jobs = {"data": {"source": {"kind": "files", "paths": [str(data)]}}}
    config = DrkitConfig.model_validate({"repositories": repos, "jobs": jobs})
    state = tmp_path / "state"
    registry, runner = _prepare(config, state)
    runner.run("data", "backup")
    runner.run("default", "check")
    assert _value(registry, "drkit_repository_check_success", repository="default") == 1
    packs = sorted(p for p in (repo / "data").rglob("*") if p.is_file())
    assert packs
    packs[0].unlink()  # damage: a pack the snapshot needs is gone from the storage
    runner.run("default", "check")  # a failed run is logged, never raised
    assert _value(registry, "drkit_repository_check_success", repository="default") == 0
    checked_at = _value(registry, "drkit_repository_check_timestamp_seconds", repository="default")
    failed = _value(registry, "drkit_maintenance_runs_total", repository="default", task="check", result="failure")
    assert checked_at and failed == 1
    line = next(ln for ln in maintenance_summary(config, state) if "check (0 3 * * *)" in ln)
    assert "last check FAILED (" in line and "last failure never" not in line
    again, _ = _prepare(config, state)  # a restart: nothing has run yet
    assert _value(again, "drkit_repository_check_success", repository="default") == 0
    assert _value(again, "drkit_repository_check_timestamp_seconds", repository="default") == checked_at
    assert _value(again, "drkit_maintenance_runs_total", repository="default", task="check", result="failure") == 0


def test_drill_results_in_the_repository_are_read_back_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drill that passed, then one that failed: after a restart drkit_drill_success is 0 (the newest)
    and the last success is the passed drill's end (start + RTO), as the daemon reported it live."""
    from drkit.drills.history import save_result
    from drkit.drills.result import CheckResult, DrillResult
    from drkit.ops.session import open_repository

    monkeypatch.setenv("CHECK_PW", PW)
    repo_path = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo_path), env={"DRKIT_PASSWORD": PW}).returncode == 0
    repos = {"default": {"url": str(repo_path), "passphrase": {"env": "CHECK_PW"}}}
    jobs = {"db": {"source": {"kind": "files", "paths": [str(tmp_path)]}, "drill": {"schedule": "0 4 * * *"}}}
    config = DrkitConfig.model_validate({"repositories": repos, "jobs": jobs})
    repo = open_repository(str(repo_path), PW, load_index=False)
    passed = DrillResult(
        job="db",
        source_kind="files",
        sandbox="local",
        started_at="2026-12-01T04:00:00+00:00",
        rto_seconds=42.5,
        checks=[CheckResult("files.content", True)],
    )
    broken = DrillResult(
        job="db",
        source_kind="files",
        sandbox="local",
        started_at="2026-12-02T04:00:00+00:00",
        rto_seconds=3.0,
        checks=[CheckResult("files.content", False, "a.bin differs")],
    )
    save_result(repo.manifests, passed)
    save_result(repo.manifests, broken)
    registry, _ = _prepare(config, tmp_path / "state")
    assert _value(registry, "drkit_drill_success", drkit_job="db") == 0
    expected = passed.started_timestamp
    assert expected is not None
    assert _value(registry, "drkit_drill_last_success_timestamp_seconds", drkit_job="db") == expected + 42.5
    assert _value(registry, "drkit_drill_max_age_seconds", drkit_job="db") == 2 * 86400


def test_a_drill_schedule_is_known_from_the_first_start_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: no drill passed, no drkit_drill_last_success series, so DrkitDrillStale could never fire for
    a drill that never ran or never passed. Now the daemon exports when it first knew of the drill
    deadline, kept in the state directory: a restart does not move it (nor reset the alert's clock)."""
    monkeypatch.setenv("CHECK_PW", PW)
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env={"DRKIT_PASSWORD": PW}).returncode == 0
    repos = {"default": {"url": str(repo), "passphrase": {"env": "CHECK_PW"}}}
    jobs = {
        "db": {"source": {"kind": "files", "paths": [str(tmp_path)]}, "drill": {"schedule": "0 4 * * *"}},
        "nodrill": {"source": {"kind": "files", "paths": [str(tmp_path)]}},
    }
    config = DrkitConfig.model_validate({"repositories": repos, "jobs": jobs})
    before = time.time()
    registry, _ = _prepare(config, tmp_path / "state")
    since = _value(registry, "drkit_drill_scheduled_since_timestamp_seconds", drkit_job="db")
    assert since is not None and before <= since <= time.time()
    assert _value(registry, "drkit_drill_last_success_timestamp_seconds", drkit_job="db") is None
    assert _value(registry, "drkit_drill_scheduled_since_timestamp_seconds", drkit_job="nodrill") is None
    again, _ = _prepare(config, tmp_path / "state")
    assert _value(again, "drkit_drill_scheduled_since_timestamp_seconds", drkit_job="db") == since
