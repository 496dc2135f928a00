"""`drkit job maintain REPOSITORY TASK`: the daemon's prune, check or copy run once from cron or a
CronJob, with the config's settings, the check's rotating read-data group (kept in the state
directory) and the same metrics in a textfile; a check finding damage exits 13 and still writes
its metrics. The installed `drkit` against real local repositories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from clirun import drkit, one_line_error
from promtext import metric

pytestmark = pytest.mark.integration

PW = "maintain-Pass-8a2f"
ENV = {"MAINTAIN_PW": PW, "DRKIT_PASSWORD": PW}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    for name in ("repo", "off"):
        assert drkit("init", "--repo", str(tmp_path / name), env=ENV).returncode == 0
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.bin").write_bytes(b"a" * 200_000)
    doc = {
        "repositories": {
            "default": {
                "url": str(tmp_path / "repo"),
                "passphrase": {"env": "MAINTAIN_PW"},
                "check": {"schedule": "0 3 * * *", "read_data_period": "3d"},
                "copy": {"schedule": "0 4 * * *", "to": "offsite"},
            },
            "offsite": {"url": str(tmp_path / "off"), "passphrase": {"env": "MAINTAIN_PW"}},
        },
        "jobs": {"data": {"source": {"kind": "files", "paths": [str(data)]}}},
    }
    path = tmp_path / "drkit.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert drkit("--config", str(path), "job", "run", "data", env=ENV).returncode == 0
    return path


def _maintain(config: Path, *args: str) -> tuple[int, dict[str, object], str]:
    state, prom = config.parent / "state", config.parent / "maintain.prom"
    proc = drkit(
        "--config",
        str(config),
        "job",
        "maintain",
        *args,
        "--json",
        "--state-dir",
        str(state),
        "--prom-file",
        str(prom),
        env=ENV,
    )
    out = json.loads(proc.stdout) if proc.returncode == 0 else {}
    return proc.returncode, out, prom.read_text() if prom.exists() else ""


def test_checks_rotate_through_every_group_and_write_their_metrics(config: Path) -> None:
    seen = []
    for _ in range(4):
        code, out, prom = _maintain(config, "default", "check")
        assert code == 0
        seen.append(out["read_data_subset"])
        assert metric(prom, "drkit_repository_check_success", repository="default") == 1
    assert seen == ["1/3", "2/3", "3/3", "1/3"]  # three daily checks read every pack of a 3d period
    assert metric(prom, "drkit_maintenance_runs_total", repository="default", task="check", result="success") == 1
    code, out, prom = _maintain(config, "default", "copy")
    assert code == 0 and out["copied"] == 1 and out["to"] == "offsite"


def test_a_check_finding_damage_exits_13_and_writes_its_metrics(config: Path) -> None:
    packs = sorted(p for p in (config.parent / "repo" / "data").rglob("*") if p.is_file())
    packs[0].unlink()
    proc = drkit(
        "--config",
        str(config),
        "job",
        "maintain",
        "default",
        "check",
        "--state-dir",
        str(config.parent / "state"),
        "--prom-file",
        str(config.parent / "m.prom"),
        env=ENV,
    )
    assert proc.returncode == 13
    assert one_line_error(proc).startswith("drkit: error: check of default found ")
    prom = (config.parent / "m.prom").read_text()
    assert metric(prom, "drkit_repository_check_success", repository="default") == 0
    assert metric(prom, "drkit_maintenance_runs_total", repository="default", task="check", result="failure") == 1


def test_a_task_the_config_lacks_is_a_usage_error(config: Path) -> None:
    proc = drkit("--config", str(config), "job", "maintain", "default", "prune", env=ENV)
    assert proc.returncode == 2
    assert one_line_error(proc) == "drkit: error: repository 'default' has no prune in the config"
    assert "hint: add repositories.default.prune" in proc.stderr.decode()


def test_a_check_exports_what_the_check_not_run_alert_reads(config: Path) -> None:
    """DrkitRepositoryCheckNotRun compares the check's age with drkit_repository_check_max_age_seconds
    (counting from the schedule's first-known time before any check): a CronJob's checks exported neither,
    so the alert could never fire for them. Each task's textfile holds only its own task's series (one
    node-exporter directory refuses a series two .prom files hold)."""
    code, _, prom = _maintain(config, "default", "check")
    assert code == 0
    assert metric(prom, "drkit_repository_check_max_age_seconds", repository="default") == 2 * 86400  # daily
    since = metric(prom, "drkit_maintenance_scheduled_since_timestamp_seconds", repository="default", task="check")
    assert since is not None and since <= metric(prom, "drkit_repository_check_timestamp_seconds", repository="default")
    assert metric(prom, "drkit_copy_max_age_seconds") is None
    code, _, prom = _maintain(config, "default", "copy")
    assert code == 0
    assert metric(prom, "drkit_copy_max_age_seconds", repository="default", to="offsite") == 2 * 86400  # daily
    assert metric(prom, "drkit_repository_check_max_age_seconds") is None
    assert metric(prom, "drkit_maintenance_scheduled_since_timestamp_seconds", task="check") is None
    assert metric(prom, "drkit_maintenance_scheduled_since_timestamp_seconds", repository="default", task="copy")
    code, _, prom = _maintain(config, "default", "check")  # the first-known time is kept in the state directory
    assert (
        metric(prom, "drkit_maintenance_scheduled_since_timestamp_seconds", repository="default", task="check") == since
    )
