"""Three simulated days of the daemon's schedule on a frozen clock: backups every 3 h, prune daily at 03:15,
check daily at 04:30 with a rotating read-data subset over a 3-day period, copy every 6 h -- the daemon's own
``Runner`` and ``Maintainer`` against a real local repository, a real offsite one and a real file tree. The fire
times come from the schedules' APScheduler triggers (``plan.fire_times``); each due run is run in order with
``drkit.core.clock`` set to its fire time (drkit reads time only there). Then a simulated restart (the daemon's
own start-up, ``daemon._prepare``, reading the state directory and the repositories) must export the same
maintained series as before it."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from clirun import drkit
from prometheus_client import generate_latest
from promtext import samples
from test_scheduler_daemon import ENV, by_job, files_job, snapshots, write_config

from drkit.config import DrkitConfig, load_config
from drkit.core import clock
from drkit.scheduler import daemon
from drkit.scheduler.plan import fire_times, scheduled_runs
from storage_backends.local import LocalBackend

pytestmark = pytest.mark.integration

START = datetime(2027, 3, 1, 0, 0, tzinfo=UTC)  # after any real time the repositories were created at
DAYS = 3
SCHEDULES = {"backup": "0 */3 * * *", "prune": "15 3 * * *", "check": "30 4 * * *", "copy": "45 */6 * * *"}
# the series a restart must not change (the repository's and the state directory's, not per-process counters)
MAINTAINED = (
    "drkit_backup_last_success_timestamp_seconds",
    "drkit_recovery_point_oldest_timestamp_seconds",
    "drkit_recovery_point_newest_timestamp_seconds",
    "drkit_repository_check_success",
    "drkit_repository_check_timestamp_seconds",
    "drkit_maintenance_last_success_timestamp_seconds",
    "drkit_maintenance_scheduled_since_timestamp_seconds",
    "drkit_repository_check_max_age_seconds",
    "drkit_copy_max_age_seconds",
    "drkit_repository_size_bytes",
)


@dataclass
class Simulated:
    registry: Any  # the first daemon's metrics
    times: dict[str, list[datetime]]  # per kind: when each run ran (simulated)
    checked: list[tuple[set[str], set[str]]]  # per check: the packs stored then, the packs it read whole


@pytest.fixture
def frozen() -> Iterator[list[float]]:
    """The wall clock drkit reads, set by the test (``now[0]``)."""
    now = [START.timestamp()]
    clock.set_clock(lambda: now[0])
    try:
        yield now
    finally:
        clock.set_clock(None)


def _config(tmp_path: Path, data: Path) -> Path:
    for name in ("repo", "off"):
        proc = drkit("init", "--pack-size-mib", "1", "--repo", str(tmp_path / name), env=ENV)
        assert proc.returncode == 0, proc.stderr.decode()
    path = write_config(
        tmp_path / "drkit.yaml",
        {"default": str(tmp_path / "repo"), "offsite": str(tmp_path / "off")},
        {"data": files_job(data, SCHEDULES["backup"], retention={"keep_last": 3})},
    )
    doc = yaml.safe_load(path.read_text())
    doc["repositories"]["default"].update(
        {
            "prune": {"schedule": SCHEDULES["prune"], "grace": 0},
            "check": {"schedule": SCHEDULES["check"], "read_data_period": "3d"},
            "copy": {"schedule": SCHEDULES["copy"], "to": "offsite"},
        }
    )
    path.write_text(yaml.safe_dump(doc))
    return path


def _maintained(registry: Any) -> dict[Any, float]:
    return {k: v for k, v in samples(generate_latest(registry).decode()).items() if k[0] in MAINTAINED}


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The packs (``data/..`` objects) read whole from any local repository, seen at the storage API (a check's
    read-data phase reads each pack of its subset whole; its structure phase reads blobs by range)."""
    seen: set[str] = set()
    real = LocalBackend.get

    def recorded(self: LocalBackend, key: str) -> Any:
        if key.startswith("data/"):
            seen.add(key.rsplit("/", 1)[-1])
        return real(self, key)

    monkeypatch.setattr(LocalBackend, "get", recorded)
    return seen


def _packs(repo: Path) -> set[str]:
    return {p.name for p in (repo / "data").rglob("*") if p.is_file()}


def _finished(caplog: pytest.LogCaptureFixture, kind: str) -> list[dict[str, Any]]:
    return [r.__dict__ for r in caplog.records if r.getMessage() == f"{kind} finished"]


def _tree_changes(data: Path, at: datetime) -> None:
    """A new file before each backup, the oldest changing ones gone: retention forgets trees, prune frees packs."""
    (data / f"{at:%d%H}.bin").write_bytes(at.isoformat().encode() * 4000)
    for old in sorted(p for p in data.iterdir() if not p.name.startswith("stable"))[:-2]:
        old.unlink()


def _simulate(config: DrkitConfig, state: Path, data: Path, frozen: list[float], reads: set[str]) -> Simulated:
    """Every run due in the simulated days, in fire-time order, each with the clock at its fire time."""
    registry, runner = daemon._prepare(config, state)
    end = START + timedelta(days=DAYS)
    due = sorted((at, run.job, run.kind) for run in scheduled_runs(config) for at in fire_times(run.cron, START, end))
    sim = Simulated(registry, {k: [] for k in SCHEDULES}, [])
    for at, job, kind in due:
        frozen[0] = at.timestamp()
        if kind == "backup":
            _tree_changes(data, at)
        reads.clear()
        runner.run(job, kind)
        if kind == "check":
            sim.checked.append((_packs(Path(config.repositories["default"].url)), set(reads)))
        sim.times[kind].append(at)
        assert runner.state.last(f"{job}:{kind}") == at
        failed = {"repository": "default", "task": kind, "result": "failure"}
        assert registry.get_sample_value("drkit_maintenance_runs_total", failed) in (None, 0)
        if kind != "backup":  # each maintenance run finished at its simulated time
            done = registry.get_sample_value(
                "drkit_maintenance_last_success_timestamp_seconds", {"repository": "default", "task": kind}
            )
            assert done == at.timestamp(), (kind, at)
    return sim


def _assert_rotation(checked: list[tuple[set[str], set[str]]]) -> None:
    """Seen at the storage: the n-th check read whole exactly the packs of group n of 3 stored then (a pack's
    group: its id's first 32 bits mod 3, drkit/repository/check.py), so the three read every pack stored
    throughout the period, each once."""
    for n, (stored, read) in enumerate(checked):
        assert read == {p for p in stored if int(p[:8], 16) % 3 == n}, (n, len(stored), len(read))
    throughout = set.intersection(*(stored for stored, _ in checked))
    assert len(throughout) >= 3, len(throughout)
    read_throughout = [read & throughout for _, read in checked]
    assert set.union(*read_throughout) == throughout
    assert sum(map(len, read_throughout)) == len(throughout)


def _assert_copied(tmp_path: Path, last_copy: datetime) -> list[dict[str, Any]]:
    """The offsite repository holds a copy of every snapshot the source held at a copy (it has no retention)."""
    source = by_job(snapshots(tmp_path / "repo"), "data")
    assert len(source) == 3  # keep_last 3
    copied = json.loads(drkit("snapshots", "--json", "--repo", str(tmp_path / "off"), env=ENV).stdout)
    originals = {s["meta"]["copy_of"]["snapshot"] for s in copied}
    assert len(copied) == len(originals) > len(source)
    at_last_copy = {s["id"] for s in source if datetime.fromisoformat(s["end_time"]) <= last_copy}
    assert at_last_copy and at_last_copy <= originals
    for name in ("repo", "off"):
        check = drkit("check", "--read-data", "--repo", str(tmp_path / name), env=ENV)
        assert check.returncode == 0, check.stderr.decode()
    return source


def test_three_simulated_days_of_backups_and_maintenance_survive_a_restart(
    tmp_path: Path,
    frozen: list[float],
    reads: set[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger="drkit.scheduler")
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):  # a part of the tree that never changes: its packs (of 1 MiB) live through every check
        (data / f"stable{i}.bin").write_bytes(random.Random(i).randbytes(1_200_000))
    config = load_config(_config(tmp_path, data))
    sim = _simulate(config, tmp_path / "state", data, frozen, reads)
    registry, times = sim.registry, sim.times

    # the schedules, in simulated time: 24 backups, 3 prunes at 03:15, 3 checks at 04:30, 12 copies
    assert [len(times[k]) for k in ("backup", "prune", "check", "copy")] == [24, 3, 3, 12]
    assert times["prune"] == [START + timedelta(days=d, hours=3, minutes=15) for d in range(DAYS)]
    assert times["check"] == [START + timedelta(days=d, hours=4, minutes=30) for d in range(DAYS)]
    assert all(at.minute == 45 and at.hour % 6 == 0 for at in times["copy"])
    # backups went on between the maintenance runs: every one succeeded, one within 3 h before each prune
    assert registry.get_sample_value("drkit_backup_runs_total", {"drkit_job": "data", "result": "success"}) == 24
    assert registry.get_sample_value("drkit_backup_failures_total", {"drkit_job": "data"}) in (None, 0)
    assert all(any(timedelta(0) < p - b < timedelta(hours=3) for b in times["backup"]) for p in times["prune"])
    # prune ran after the backups whose retention forgot trees: with grace 0 the second and later prunes delete
    prunes = _finished(caplog, "prune")
    assert len(prunes) == 3 and all(p["deleted_packs"] > 0 for p in prunes[1:]), prunes
    # the check's rotation: a 3-day period of a daily check is 3 groups; the 3 checks read each group once
    assert [c["read_data_subset"] for c in _finished(caplog, "check")] == ["1/3", "2/3", "3/3"]
    _assert_rotation(sim.checked)
    assert registry.get_sample_value("drkit_repository_check_success", {"repository": "default"}) == 1
    source = _assert_copied(tmp_path, times["copy"][-1])

    # a daemon restart an hour later (nothing runs in between): start-up reads the state directory and the
    # repositories and exports the same maintained series
    before = _maintained(registry)
    assert {k[0] for k in before} == set(MAINTAINED), set(MAINTAINED) - {k[0] for k in before}
    frozen[0] = (START + timedelta(days=DAYS, hours=1)).timestamp()
    again, _ = daemon._prepare(config, tmp_path / "state")
    assert _maintained(again) == before
    newest = max(datetime.fromisoformat(s["end_time"]) for s in source)
    last_success = before[("drkit_backup_last_success_timestamp_seconds", frozenset({("drkit_job", "data")}))]
    assert last_success == newest.timestamp()
