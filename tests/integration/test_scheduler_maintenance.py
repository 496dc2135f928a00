"""`drkit schedule run` (the installed `drkit`, a real process) maintaining real local repositories:
prune, check (with a rotating read-data subset) and copy on their cron schedules while a job's
backups go on, and the series alerts read surviving a restart (read back from the repository and
the state directory)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from clirun import drkit
from promtext import samples
from test_scheduler_daemon import ENV, by_job, daemon, data_dir, files_job, snapshots, wait_for, write_config

pytestmark = pytest.mark.integration

EVERY_2S = "*/2 * * * * *"
YEARLY = "0 0 1 1 *"


def _init(path: Path) -> Path:
    proc = drkit("init", "--repo", str(path), env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return path


def _maintenance(schedules: dict[str, str], period: str = "6s") -> dict[str, Any]:
    return {
        "prune": {"schedule": schedules["prune"], "grace": 0},
        "check": {"schedule": schedules["check"], "read_data_period": period},
        "copy": {"schedule": schedules["copy"], "to": "offsite"},
    }


def _config(tmp_path: Path, data: Path, schedules: dict[str, str], **scheduler: Any) -> Path:
    path = write_config(
        tmp_path / "drkit.yaml",
        {"default": str(tmp_path / "repo"), "offsite": str(tmp_path / "off")},
        {"data": files_job(data, schedules["backup"], retention={"keep_last": 2}, canary={"enabled": True})},
        **scheduler,
    )
    doc = yaml.safe_load(path.read_text())
    doc["repositories"]["default"].update(_maintenance(schedules))
    path.write_text(yaml.safe_dump(doc))
    return path


def _runs(metrics: str, task: str, result: str = "success") -> float:
    found = samples(metrics)
    key = ("drkit_maintenance_runs_total", frozenset({("repository", "default"), ("task", task), ("result", result)}))
    return found.get(key, 0.0)


def test_prune_check_and_copy_run_on_their_schedules_while_backups_go_on(tmp_path: Path) -> None:
    _init(tmp_path / "repo")
    _init(tmp_path / "off")
    data = data_dir(tmp_path)
    every = {"backup": EVERY_2S, "prune": "*/3 * * * * *", "check": EVERY_2S, "copy": "*/3 * * * * *"}
    config = _config(tmp_path, data, every, max_concurrent=4)
    with daemon(config, tmp_path / "state") as d:

        def enough() -> bool:
            text = d.get("/metrics")[1]
            freed = any(r["msg"] == "prune finished" and r["deleted_packs"] for r in d.logs())
            return freed and _runs(text, "check") >= 3 and _runs(text, "copy") >= 2

        try:
            wait_for(enough, 180, "three checks, two copies and a prune deleting packs")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {d.stderr()[-4000:]}") from None
        backups_then = d.metric("drkit_backup_runs_total", drkit_job="data", result="success")
        wait_for(
            lambda: d.metric("drkit_backup_runs_total", drkit_job="data", result="success") > backups_then,
            120,
            "a backup after the maintenance runs",
        )
        assert d.metric("drkit_backup_failures_total", drkit_job="data") == 0
        assert d.metric("drkit_repository_check_success", repository="default") == 1
        failures = [_runs(d.get("/metrics")[1], task, "failure") for task in ("prune", "check", "copy")]
        assert d.stop() == 0
    logs = d.logs()
    assert failures == [0, 0, 0], [r for r in logs if r["level"] == "error"]
    checks = [r for r in logs if r["msg"] == "check finished"]
    subsets = Counter(r["read_data_subset"] for r in checks)
    assert set(subsets) == {"1/3", "2/3", "3/3"}, subsets  # the rotation read every group: every pack
    prunes = [r for r in logs if r["msg"] == "prune finished"]  # the canary changes the tree at each backup:
    assert sum(r["deleted_packs"] for r in prunes) > 0  # retention forgot trees; prune removed their packs
    assert not [r for r in logs if r["level"] == "error"], [r for r in logs if r["level"] == "error"]
    source = by_job(snapshots(tmp_path / "repo"), "data")
    # keep_last 2 as of the last backup that applied it, plus the backups after it whose retention step met a
    # busy gate (a prune, check or copy running: skipped with a warning, applied by the next run); under load
    # the gate is busy more often, and one or more of the last backups legitimately leave a snapshot more
    finished = [r for r in logs if r["msg"] == "backup finished" and r["job"] == "data"]
    skipped = {r["snapshot_id"] for r in logs if r["msg"].startswith("backup warning: retention not applied")}
    applied = [i for i, r in enumerate(finished) if r["snapshot_id"] not in skipped]
    assert applied, f"no backup applied its retention: {len(finished)} backups, {len(skipped)} skipped"
    assert len(source) == 2 + len(finished) - 1 - applied[-1], (len(finished), applied, len(skipped))
    copied = json.loads(drkit("snapshots", "--json", "--repo", str(tmp_path / "off"), env=ENV).stdout)
    assert len(copied) > len(source)  # the copies outlive the source's retention (offsite has none)
    assert all(s["meta"]["copy_of"]["snapshot"] for s in copied)
    for repo in ("repo", "off"):
        check = drkit("check", "--read-data", "--repo", str(tmp_path / repo), env=ENV)
        assert check.returncode == 0, check.stderr.decode()


PERSISTENT = (
    "drkit_backup_last_success_timestamp_seconds",
    "drkit_recovery_point_oldest_timestamp_seconds",
    "drkit_recovery_point_newest_timestamp_seconds",
    "drkit_repository_check_success",
    "drkit_repository_check_timestamp_seconds",
    "drkit_maintenance_last_success_timestamp_seconds",
    "drkit_maintenance_scheduled_since_timestamp_seconds",
    "drkit_repository_check_max_age_seconds",
    "drkit_copy_max_age_seconds",
    "drkit_rpo_target_seconds",
    "drkit_build_info",
    "drkit_repository_size_bytes",
)


def _persistent(text: str) -> dict[Any, float]:
    return {key: value for key, value in samples(text).items() if key[0] in PERSISTENT}


def test_metrics_after_a_restart_equal_those_before_it(tmp_path: Path) -> None:
    """Each run is owed once at start-up (missed while down: the yearly schedules last fired on
    1 January), so after them nothing runs: the page before the stop is final."""
    _init(tmp_path / "repo")
    _init(tmp_path / "off")
    yearly = dict.fromkeys(("backup", "prune", "check", "copy"), YEARLY)
    config = _config(tmp_path, data_dir(tmp_path), yearly, misfire_grace="800d")
    state = tmp_path / "state"
    state.mkdir()
    long_ago = "2024-06-01T00:00:00+00:00"
    keys = ["data:backup", "default:prune", "default:check", "default:copy"]
    (state / "last_run.json").write_text(json.dumps({"version": 1, "runs": dict.fromkeys(keys, long_ago)}))
    with daemon(config, state) as d:

        def all_ran() -> bool:  # a run's log line comes after its metrics, the size measured last
            done = {r["kind"] for r in d.logs() if r["msg"].endswith(" finished") and "kind" in r}
            return done == {"backup", "prune", "check", "copy"}

        try:
            wait_for(all_ran, 180, "the owed backup, prune, check and copy")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {d.stderr()[-4000:]}") from None
        text = d.get("/metrics")[1]
        assert [_runs(text, task) for task in ("prune", "check", "copy")] == [1, 1, 1]
        assert d.metric("drkit_backup_runs_total", drkit_job="data", result="success") == 1
        before = _persistent(text)
        assert d.stop() == 0
    names = {key[0] for key in before}
    assert names == set(PERSISTENT), set(PERSISTENT) - names
    with daemon(config, state) as again:
        wait_for(lambda: again.get("/readyz")[0] == 200, 120, "/readyz 200")
        after = _persistent(again.get("/metrics")[1])
        assert again.metric("drkit_backup_runs_total", drkit_job="data", result="success") == 0  # nothing ran
        assert again.stop() == 0
    assert after == before
    report = drkit("--config", str(config), "report", "--state-dir", str(state), env=ENV)
    assert report.returncode == 0, report.stderr.decode()
    lines = report.stdout.decode().splitlines()
    for task in ("prune", "check", "copy"):
        assert any(
            ln.startswith(f"repository default: {task} ({YEARLY}): last success 20")
            and ln.count("last failure never") == 1
            for ln in lines
        ), lines
    assert any("last check passed (0 errors, data read: all)" in ln for ln in lines), lines
    newest = max(datetime.fromisoformat(s["end_time"]) for s in by_job(snapshots(tmp_path / "repo"), "data"))
    assert (
        after[("drkit_backup_last_success_timestamp_seconds", frozenset({("drkit_job", "data")}))]
        == newest.astimezone(UTC).timestamp()
    )
