"""A prune must not fail a backup of the same repository. The backup itself runs beside a prune
(shared lock vs maintenance lock), but its retention step is a forget, which takes a maintenance lock
too: it failed the backup with exit 11. The daemon queues the retention step behind its own prune (a
per-repository gate); a lock of another process (a CronJob's prune) skips the step with a warning.
Real local repositories, the daemon's own Runner, a real maintenance lock in the repository."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit

from drkit.config.models import DrkitConfig
from drkit.jobs import run_backup_job
from drkit.ops.session import open_repository
from drkit.scheduler.daemon import _prepare
from drkit.scheduler.runs import Runner

pytestmark = pytest.mark.integration

PW = "gates-Repo-Pass-71c2"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def config(config_data: dict[str, Any]) -> DrkitConfig:
    return DrkitConfig.model_validate(config_data)


@pytest.fixture
def config_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("GATES_PW", PW)
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env={"DRKIT_PASSWORD": PW}).returncode == 0
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("one")
    repos = {
        "default": {"url": str(repo), "passphrase": {"env": "GATES_PW"}, "prune": {"schedule": "0 4 * * 0", "grace": 0}}
    }
    jobs = {"data": {"source": {"kind": "files", "paths": [str(data)]}, "retention": {"keep_last": 1}}}
    return {"repositories": repos, "jobs": jobs}


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("drkit.scheduler")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def _prune_lock(config: DrkitConfig) -> Any:
    """A real maintenance lock, as a running prune holds (the lock object is in the repository)."""
    return open_repository(config.repositories["default"].url, PW, load_index=False).lock(
        maintenance=True, purpose="prune"
    )


def test_a_forget_meeting_another_process_prune_skips_retention_without_failing_the_backup(
    config: DrkitConfig,
) -> None:
    """Before: the forget's LockFailed (exit 11) failed the whole job run although its snapshot was written."""
    run_backup_job(config, "data")
    with _prune_lock(config):
        outcome = run_backup_job(config, "data")
    assert outcome.forgotten == 0
    assert len(outcome.warnings) == 1, outcome.warnings
    assert outcome.warnings[0].startswith("retention not applied in this run: repository is locked")
    repo = open_repository(config.repositories["default"].url, PW, load_index=False)
    assert outcome.snapshot_id in repo.manifests.ids("snapshot") and len(repo.manifests.ids("snapshot")) == 2
    assert run_backup_job(config, "data").forgotten == 2  # the next run catches up (keep_last 1)


def _backup_runs(registry: Any) -> dict[str | None, float]:
    return {
        (s.labels.get("result")): s.value
        for m in registry.collect()
        if m.name == "drkit_backup_runs"
        for s in m.samples
        if s.name.endswith("_total")
    }


def test_a_backup_never_waits_at_the_gate_its_retention_step_is_skipped(
    config: DrkitConfig, tmp_path: Path, records: Records
) -> None:
    """Before: the retention step waited at the gate as long as the prune ran, keeping the backup run
    open (the scheduler skipped the job's next fires). Now the run ends at once, the step skipped with
    a warning, and the next run applies it."""
    registry, runner = _prepare(config, tmp_path / "state")
    assert isinstance(runner, Runner)
    runner.run("data", "backup")  # a first snapshot, for retention to forget
    with runner.gates.held("prune of default", "default"), _prune_lock(config):
        thread = threading.Thread(target=runner.run, args=("data", "backup"))
        thread.start()
        thread.join(30)  # before: blocked at the gate until the prune ended
        assert not thread.is_alive(), "the backup run waited at the gate"
    assert _backup_runs(registry) == {"success": 2.0, "failure": 0.0, "partial": 0.0}
    assert any(
        "retention not applied in this run: repository default is busy with prune of default" in m
        for m in records.messages
    ), records.messages
    assert not any("retention of data waits" in m for m in records.messages)
    repo = open_repository(config.repositories["default"].url, PW, load_index=False)
    assert len(repo.manifests.ids("snapshot")) == 2  # the step was skipped, not run
    assert _sample(registry, "drkit_retention_skipped_total") == 1.0
    applied_first = _sample(registry, "drkit_retention_last_applied_timestamp_seconds")
    runner.run("data", "backup")  # the gate is free: the next run applies retention (keep_last 1)
    repo = open_repository(config.repositories["default"].url, PW, load_index=False)
    assert len(repo.manifests.ids("snapshot")) == 1
    assert _sample(registry, "drkit_retention_skipped_total") == 1.0
    assert _sample(registry, "drkit_retention_last_applied_timestamp_seconds") > applied_first


def _sample(registry: Any, name: str) -> float:
    (value,) = [s.value for m in registry.collect() for s in m.samples if s.name == name]
    return float(value)


def test_the_daemon_watches_retention_from_its_start(config: DrkitConfig, tmp_path: Path) -> None:
    """No record of the last applied retention survives a restart: the gauge starts at the daemon's
    start (an alert on it comes at most late, never absent), and the skip counter at 0."""
    before = time.time()
    registry, _ = _prepare(config, tmp_path / "state", read=False)
    assert before <= _sample(registry, "drkit_retention_last_applied_timestamp_seconds") <= time.time()
    assert _sample(registry, "drkit_retention_skipped_total") == 0.0


def test_job_run_json_says_whether_retention_was_applied(config_data: dict[str, Any], tmp_path: Path) -> None:
    """Before: a skipped retention step was only a warning on stderr; --json had no field for it."""
    path = tmp_path / "drkit.yaml"
    path.write_text(json.dumps(config_data))
    env = {"GATES_PW": PW}
    config = DrkitConfig.model_validate(config_data)
    first = drkit("--config", str(path), "job", "run", "data", "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["retention_applied"] is True
    with _prune_lock(config):
        skipped = drkit("--config", str(path), "job", "run", "data", "--json", env=env)
    assert skipped.returncode == 0, skipped.stderr
    out = json.loads(skipped.stdout)
    assert out["retention_applied"] is False and out["forgotten"] == 0
    assert out["warnings"][0].startswith("retention not applied in this run: repository is locked")


def test_a_prune_waits_for_a_check_of_the_same_repository(
    config: DrkitConfig, tmp_path: Path, records: Records
) -> None:
    _, runner = _prepare(config, tmp_path / "state")
    runner.run("data", "backup")
    with runner.gates.held("check of default", "default"):
        thread = threading.Thread(target=runner.run, args=("default", "prune"))
        thread.start()
        wait_for(
            lambda: any("prune of default waits for check of default" in m for m in records.messages),
            120,
            "the prune to wait at the gate",
        )
        assert thread.is_alive()
    thread.join(60)
    assert any(m == "prune finished" for m in records.messages), records.messages


def _skipped(registry: Any, schedule: str) -> float:
    return sum(
        s.value
        for m in registry.collect()
        if m.name == "drkit_scheduled_runs_skipped"
        for s in m.samples
        if s.name.endswith("_total") and s.labels.get("schedule") == schedule
    )


def test_a_fire_skipped_while_its_last_run_waits_at_the_gate_is_counted_and_logged(
    config: DrkitConfig, tmp_path: Path, records: Records
) -> None:
    """A run still running when its schedule fires again (here a check waiting behind a prune of its
    repository): the scheduler (max_instances 1) skips that fire. Before, only APScheduler's own
    logger said so: a run silently not taken. Now a warning and a counter."""
    from drkit.scheduler.daemon import _add_runs, _scheduler
    from drkit.scheduler.plan import ScheduledRun

    registry, runner = _prepare(config, tmp_path / "state")
    runner.run("data", "backup")
    scheduler = _scheduler(config)
    _add_runs(scheduler, runner, [ScheduledRun("default", "check", "*/2 * * * * *")], {})
    with runner.gates.held("prune of default", "default"):
        scheduler.start()
        try:
            wait_for(lambda: _skipped(registry, "default:check") >= 1, 120, "a skipped fire to be counted")
        finally:
            scheduler.shutdown(wait=False)
    assert any("check of default not started: its previous run is still running" in m for m in records.messages)
    wait_for(lambda: not runner.running(), 120, "the waiting run to finish")
