"""Maintenance schedules in drkit.yaml (prune, check, copy per repository), as the daemon plans them:
the runs it schedules, how old a check or drill may grow (twice the longest gap of its cron), the
rotating read-data subset that reads every pack within the configured period, and the state file
that keeps the last results across restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from drkit.config.models import CheckSchedule, DrkitConfig
from drkit.repository.check import _select, parse_subset
from drkit.scheduler.maintenance import MaintenanceState, read_data_groups, subset_for
from drkit.scheduler.plan import longest_gap, scheduled_runs

NOW = datetime(2026, 11, 25, 12, 0, 3, tzinfo=UTC)  # a Wednesday


def _config(**repo_extra: object) -> DrkitConfig:
    repos = {
        "default": {"url": "/srv/repo", "passphrase": {"env": "PW"}, **repo_extra},
        "offsite": {"url": "/srv/offsite", "passphrase": {"env": "PW2"}},
    }
    job = {"source": {"kind": "files", "paths": ["/srv/data"]}, "schedule": "0 * * * *"}
    return DrkitConfig.model_validate({"repositories": repos, "jobs": {"data": job}})


def test_maintenance_schedules_become_runs_keyed_by_repository() -> None:
    cfg = _config(
        prune={"schedule": "0 4 * * 0", "grace": "2h"},
        check={"schedule": "0 3 * * *", "read_data_period": "30d"},
        copy={"schedule": "30 3 * * *", "to": "offsite"},
    )
    runs = {r.key: r.cron for r in scheduled_runs(cfg)}
    assert runs == {
        "data:backup": "0 * * * *",
        "default:prune": "0 4 * * 0",
        "default:check": "0 3 * * *",
        "default:copy": "30 3 * * *",
    }
    repo = cfg.repositories["default"]
    assert repo.prune is not None and repo.prune.grace == 7200
    assert repo.check is not None and repo.check.read_data_period == 30 * 86400
    assert repo.copy_to is not None and repo.copy_to.to == "offsite"


@pytest.mark.parametrize(
    ("copy", "why"),
    [
        ({"schedule": "0 3 * * *", "to": "nowhere"}, "'nowhere' is not another"),
        ({"schedule": "0 3 * * *", "to": "default"}, "'default' is not another"),
        ({"schedule": "every day", "to": "offsite"}, "cron"),
        ({"schedule": "0 3 * * *", "to": "offsite", "when": "x"}, "when"),
    ],
)
def test_bad_maintenance_settings_are_errors_naming_the_field(copy: dict[str, str], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        _config(copy=copy)


def test_longest_gap_of_a_cron() -> None:
    assert longest_gap("0 3 * * *", NOW) == 86400
    assert longest_gap("0 3 * * 1-5", NOW) == 3 * 86400  # Friday to Monday
    assert longest_gap("*/10 * * * * *", NOW) == 10


def test_rotating_subset_reads_every_pack_within_the_period() -> None:
    check = CheckSchedule(schedule="0 3 * * *", read_data_period="7d")
    assert read_data_groups(check, NOW) == 7
    subsets = [subset_for(check, counter, NOW + timedelta(days=counter)) for counter in range(7)]
    assert subsets == [f"{n}/7" for n in range(1, 8)]
    packs = [f"{i:08x}{'0' * 56}" for i in range(0, 2**32, 2**32 // 500)]
    read = [p for s in subsets for p in _select(packs, parse_subset(s))]
    assert sorted(read) == sorted(packs)  # each pack exactly once in seven checks
    assert subset_for(check, 7, NOW) == "1/7"  # and round again


def test_subset_edge_cases() -> None:
    assert subset_for(CheckSchedule(schedule="0 3 * * *"), 5, NOW) is None  # structure only
    assert subset_for(CheckSchedule(schedule="0 3 * * 0", read_data_period="3d"), 0, NOW) is None  # all at once
    assert read_data_groups(CheckSchedule(schedule="0 3 * * 0", read_data_period="3d"), NOW) == 1


def test_maintenance_state_survives_a_restart_and_keeps_first_known_times(tmp_path: Path) -> None:
    state = MaintenanceState(tmp_path)
    assert state.baseline({"default": ["prune", "check"]}, 1000.0) == {"default": {"prune": 1000.0, "check": 1000.0}}
    state.update("default", check={"last_success": 2000.0}, check_counter=3)
    again = MaintenanceState(tmp_path)
    assert again.baseline({"default": ["prune", "check", "copy"]}, 5000.0) == {
        "default": {"prune": 1000.0, "check": 1000.0, "copy": 5000.0}
    }
    assert again.get("default")["check"] == {"last_success": 2000.0}
    assert again.get("default")["check_counter"] == 3


def test_unreadable_state_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "maintenance.json").write_text("{not json")
    assert MaintenanceState(tmp_path).get("default") == {}


def test_config_show_names_the_copy_schedule_as_the_file_does() -> None:
    from drkit.config.redact import redacted

    shown = redacted(_config(copy={"schedule": "30 3 * * *", "to": "offsite"}))["repositories"]["default"]
    assert shown["copy"] == {"schedule": "30 3 * * *", "to": "offsite", "max_age": None} and "copy_to" not in shown
