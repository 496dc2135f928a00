"""A system's ``drill.schedule`` is a scheduled run of its own kind (``system-drill``): the daemon's scheduler
fires it, it runs `drkit drill --system` and records the system's result under the system's name like a job's
drill (success, RTO, RPO, last success, run counters, the drill deadline); a system heartbeat sets the
system's last heartbeat time. The drill itself is replaced here (``drills.system.run_system_drill``, proven
by the `drill --system` integration tests): these tests are about the scheduling and the recording."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED

from drkit.config import ConfigError, load_config
from drkit.config.models import DrkitConfig
from drkit.core.metrics import new_registry
from drkit.drills import system as system_drills
from drkit.drills.result import CheckResult, DrillResult
from drkit.scheduler import daemon
from drkit.scheduler.maintenance import Maintainer, MaintenanceState
from drkit.scheduler.plan import next_runs, scheduled_runs
from drkit.scheduler.runs import Runner
from drkit.scheduler.startup import restore_local
from drkit.scheduler.state import RunState

NOW = datetime(2026, 11, 25, 12, 0, 3, tzinfo=UTC)


def doc(drill: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "repositories": {"default": {"url": "/srv/repo", "passphrase": {"env": "P"}}},
        "jobs": {
            "db": {"source": {"kind": "redis", "url": "redis://r:6379/0"}},
            "files": {"source": {"kind": "files", "paths": ["/srv/f"]}},
        },
        "systems": {"shop": {"jobs": ["db", "files"], "drill": drill}, "quiet": {"jobs": ["db"]}},
        **more,
    }


def test_a_system_drill_is_scheduled_under_the_system_name() -> None:
    config = DrkitConfig.model_validate(doc({"schedule": "30 3 * * *"}))
    runs = [r for r in scheduled_runs(config) if r.kind == "system-drill"]
    assert [(r.job, r.key, r.cron) for r in runs] == [("shop", "shop:system-drill", "30 3 * * *")]
    (due,) = [n for n in next_runs(config, NOW) if n.kind == "system-drill"]
    assert due.at == datetime(2026, 11, 26, 3, 30, tzinfo=UTC)  # frozen now: the next 03:30 is tomorrow's


def test_a_system_named_like_a_job_cannot_schedule_drills(tmp_path: Path) -> None:
    bad = doc({"schedule": "30 3 * * *"})
    bad["systems"]["db"] = bad["systems"].pop("shop")
    (tmp_path / "drkit.yaml").write_text(__import__("yaml").safe_dump(bad))
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "drkit.yaml")
    assert "a job is named 'db' too" in " ".join(err.value.problems)


def result(name: str, *, ok: bool, kind: str = "system") -> DrillResult:
    r = DrillResult(
        job=name,
        source_kind=kind,
        sandbox="local",
        started_at="2026-11-25T12:00:00+00:00",
        rto_seconds=42.0,
        rpo_catalog_seconds=7.0,
        rpo_verified_seconds=9.0,
    )
    r.checks.append(CheckResult("component db", ok, ""))
    return r


def sample(registry: Any, metric: str, **labels: str) -> float | None:
    value = registry.get_sample_value(metric, labels)
    return None if value is None else float(value)


def runner(config: DrkitConfig, tmp_path: Path) -> tuple[Any, Runner]:
    registry, metrics = new_registry()
    state = MaintenanceState(tmp_path)
    restore_local(config, metrics, Maintainer(config, metrics, state), NOW)
    return registry, Runner(config, metrics, RunState(tmp_path), Maintainer(config, metrics, state))


def test_a_scheduled_system_drill_is_recorded_like_a_job_drill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = DrkitConfig.model_validate(doc({"schedule": "0 4 * * *", "sandbox": "local"}))
    registry, run = runner(config, tmp_path)
    # the deadline: twice the longest gap of the schedule (a day), from the frozen start-up time
    assert sample(registry, "drkit_drill_max_age_seconds", drkit_job="shop") == 2 * 86400
    assert sample(registry, "drkit_drill_scheduled_since_timestamp_seconds", drkit_job="shop") == NOW.timestamp()
    outcomes = iter([True, False])
    calls: list[tuple[str, str]] = []

    def fake(cfg: DrkitConfig, name: str, *, sandbox: str = "auto", **kw: Any) -> list[DrillResult]:
        calls.append((name, sandbox))
        ok = next(outcomes)
        return [result(name, ok=ok), result("db", ok=ok, kind="redis"), result("files", ok=True, kind="files")]

    monkeypatch.setattr(system_drills, "run_system_drill", fake)
    run.run("shop", "system-drill")
    assert calls == [("shop", "local")]
    assert sample(registry, "drkit_drill_success", drkit_job="shop") == 1
    assert sample(registry, "drkit_rto_seconds", drkit_job="shop") == 42.0
    assert sample(registry, "drkit_rpo_seconds", drkit_job="shop", kind="verified") == 9.0
    passed_at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp() + 42.0
    assert sample(registry, "drkit_drill_last_success_timestamp_seconds", drkit_job="shop") == passed_at
    assert sample(registry, "drkit_drill_success", drkit_job="db") is None  # components: in their own history
    run.run("shop", "system-drill")
    assert sample(registry, "drkit_drill_success", drkit_job="shop") == 0
    assert sample(registry, "drkit_drill_runs_total", drkit_job="shop", result="failure") == 1
    assert sample(registry, "drkit_drill_runs_total", drkit_job="shop", result="success") == 1
    assert sample(registry, "drkit_drill_last_success_timestamp_seconds", drkit_job="shop") == passed_at
    assert run.state.last("shop:system-drill") is not None


def test_a_system_heartbeat_sets_the_systems_last_heartbeat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from drkit.jobs import system_heartbeat

    config = DrkitConfig.model_validate(doc({}))
    registry, run = runner(config, tmp_path)
    at = datetime(2026, 11, 25, 12, 0, 1, 250000, tzinfo=UTC)
    monkeypatch.setattr(system_heartbeat, "write_system_heartbeat", lambda cfg, name: at)
    assert sample(registry, "drkit_system_heartbeat_last_success_timestamp_seconds", system="shop") is None
    run.run("shop", "system-heartbeat")
    assert sample(registry, "drkit_system_heartbeat_last_success_timestamp_seconds", system="shop") == at.timestamp()


def test_the_daemons_scheduler_fires_the_system_drill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon's own APScheduler set-up, on a cron firing every second: the run reaches the drill."""
    config = DrkitConfig.model_validate(doc({"schedule": "* * * * * *"}))
    registry, run = runner(config, tmp_path)
    drilled = threading.Event()

    def fake(cfg: DrkitConfig, name: str, **kw: Any) -> list[DrillResult]:
        drilled.set()
        return [result(name, ok=True)]

    monkeypatch.setattr(system_drills, "run_system_drill", fake)
    executed = threading.Event()
    scheduler = daemon._scheduler(config)
    scheduler.add_listener(
        lambda event: executed.set() if event.job_id == "shop:system-drill" else None, EVENT_JOB_EXECUTED
    )
    daemon._add_runs(scheduler, run, scheduled_runs(config), {})
    scheduler.start()
    try:
        assert drilled.wait(60) and executed.wait(60)
    finally:
        scheduler.shutdown(wait=True)
    assert sample(registry, "drkit_drill_success", drkit_job="shop") == 1
