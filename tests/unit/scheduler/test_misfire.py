"""The scheduler's pure logic: which runs missed while the daemon was down run at start-up (once,
however many fire times were missed), the next run times of 5- and 6-field cron expressions with
crontab's weekday numbering (0 and 7 = Sunday), and the state file that survives restarts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from drkit.config.models import DrkitConfig
from drkit.scheduler.daemon import owed_runs
from drkit.scheduler.plan import missed_run, next_fire, next_runs, scheduled_runs
from drkit.scheduler.state import STATE_FILE, RunState

NOW = datetime(2026, 11, 25, 12, 0, 3, tzinfo=UTC)  # a Wednesday
DAY = 86400.0


def _config(**jobs: dict[str, object]) -> DrkitConfig:
    repos = {"default": {"url": "/srv/repo", "passphrase": {"env": "PW"}}}
    return DrkitConfig.model_validate({"repositories": repos, "jobs": jobs})


def _files(**extra: object) -> dict[str, object]:
    return {"source": {"kind": "files", "paths": ["/srv/data"]}, **extra}


# -- missed runs ------------------------------------------------------------------------------


def test_yearly_run_missed_long_ago_is_owed_once_within_grace() -> None:
    last = datetime(2024, 6, 1, tzinfo=UTC)
    assert missed_run("0 0 1 1 *", last, NOW, grace=400 * DAY) == datetime(2026, 1, 1, tzinfo=UTC)
    assert missed_run("0 0 1 1 *", last, NOW, grace=800 * DAY) == datetime(2025, 1, 1, tzinfo=UTC)


def test_missed_run_older_than_grace_is_not_owed() -> None:
    last = datetime(2024, 6, 1, tzinfo=UTC)
    assert missed_run("0 0 1 1 *", last, NOW, grace=DAY) is None


def test_no_fire_time_since_last_run_owes_nothing() -> None:
    assert missed_run("0 0 1 1 *", datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC), NOW, grace=400 * DAY) is None
    assert missed_run("0 2 * * *", NOW - timedelta(hours=1), NOW, grace=DAY) is None  # last 02:00 before that


def test_many_missed_fire_times_owe_one_run() -> None:
    """Every 2 s, down for an hour: 1,800 fire times missed, one run owed (a single answer, not a list)."""
    owed = missed_run("*/2 * * * * *", NOW - timedelta(hours=1), NOW, grace=DAY)
    assert owed == datetime(2026, 11, 25, 11, 0, 4, tzinfo=UTC)  # the first fire time after the last run


def test_fire_time_equal_to_last_run_is_not_owed_again() -> None:
    fired = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    assert missed_run("0 2 * * *", fired, NOW, grace=DAY) is None
    assert missed_run("0 2 * * *", fired - timedelta(seconds=1), NOW, grace=DAY) == fired


def test_owed_runs_uses_the_state_and_skips_jobs_never_seen(tmp_path: Path) -> None:
    config = _config(
        old=_files(schedule="0 0 1 1 *"), recent=_files(schedule="0 0 1 1 *"), new=_files(schedule="0 0 1 1 *")
    )
    state = RunState(tmp_path)
    state.record("old:backup", datetime(2024, 3, 1, tzinfo=UTC))
    state.record("recent:backup", datetime(2026, 1, 2, tzinfo=UTC))
    owed = owed_runs(scheduled_runs(config), state, NOW, grace=400 * DAY)
    assert owed == {"old:backup": datetime(2026, 1, 1, tzinfo=UTC)}


# -- next run times ---------------------------------------------------------------------------


def test_six_field_cron_has_seconds_first() -> None:
    assert next_fire("*/10 * * * * *", NOW) == datetime(2026, 11, 25, 12, 0, 10, tzinfo=UTC)
    assert next_fire("30 15 * * * *", NOW) == datetime(2026, 11, 25, 12, 15, 30, tzinfo=UTC)
    assert next_fire("*/5 * * * *", NOW) == datetime(2026, 11, 25, 12, 5, tzinfo=UTC)  # 5 fields: second 0


def test_weekday_numbers_follow_crontab_sunday_is_zero_and_seven() -> None:
    sunday = datetime(2026, 11, 29, tzinfo=UTC)
    assert sunday.strftime("%A") == "Sunday"
    assert next_fire("0 0 * * 0", NOW) == sunday
    assert next_fire("0 0 * * 7", NOW) == sunday
    assert next_fire("0 0 * * 1", NOW) == sunday + timedelta(days=1)  # Monday
    assert next_fire("0 0 * * 6", NOW) == sunday - timedelta(days=1)  # Saturday
    assert next_fire("0 0 * * 1-5", datetime(2026, 11, 27, 1, tzinfo=UTC)) == sunday + timedelta(days=1)


def test_next_runs_lists_backup_drill_and_heartbeat() -> None:
    config = _config(
        db=_files(
            schedule="0 2 * * *",
            drill={"schedule": "30 4 * * 0"},
            canary={"enabled": True, "heartbeat": "*/15 * * * *"},
        ),
        quiet=_files(canary={"enabled": False, "heartbeat": "* * * * *"}),
        default=_files(canary={"heartbeat": "* * * * *"}),  # files: no canary unless enabled
        hourly=_files(schedule="0 * * * *", jitter="2min"),
    )
    got = [(r.job, r.kind, r.at) for r in next_runs(config, NOW)]
    assert got == [
        ("db", "backup", datetime(2026, 11, 26, 2, 0, tzinfo=UTC)),
        ("db", "drill", datetime(2026, 11, 29, 4, 30, tzinfo=UTC)),
        ("db", "heartbeat", datetime(2026, 11, 25, 12, 15, tzinfo=UTC)),
        ("hourly", "backup", datetime(2026, 11, 25, 13, 0, tzinfo=UTC)),  # listed without jitter
    ]


# -- state file -------------------------------------------------------------------------------


def test_state_survives_a_restart_and_baseline_adds_only_new_keys(tmp_path: Path) -> None:
    first = RunState(tmp_path)
    first.record("a:backup", datetime(2026, 1, 1, tzinfo=UTC))
    second = RunState(tmp_path)
    second.baseline(["a:backup", "b:drill"], NOW)
    third = RunState(tmp_path)
    assert third.last("a:backup") == datetime(2026, 1, 1, tzinfo=UTC)
    assert third.last("b:drill") == NOW
    assert third.last("gone:backup") is None
    doc = json.loads((tmp_path / STATE_FILE).read_text())
    assert doc["version"] == 1 and set(doc["runs"]) == {"a:backup", "b:drill"}


def test_unreadable_state_is_ignored_not_fatal(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("{not json")
    state = RunState(tmp_path)
    assert state.last("a:backup") is None
    state.record("a:backup", NOW)
    assert RunState(tmp_path).last("a:backup") == NOW
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temp files left behind
