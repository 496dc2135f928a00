"""What DrkitRetentionNotAppliedOneShot reads from a one-shot `drkit job run --prom-file`: a run whose
retention step is skipped (another process holds the repository's maintenance lock) exports
drkit_retention_skipped_total 1 and no applied-time gauge; a run that applies it exports the gauge
and the counter at 0. The installed drkit against a real local repository."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from clirun import drkit
from promtext import metric

from drkit.ops.session import open_repository

pytestmark = pytest.mark.integration

PW = "oneshot-Retention-Pass-2b9e"
ENV = {"ONESHOT_PW": PW, "DRKIT_PASSWORD": PW}


def test_a_skipped_one_shot_run_exports_the_counter_and_no_gauge(tmp_path: Path) -> None:
    repo, data = tmp_path / "repo", tmp_path / "data"
    assert drkit("init", "--repo", str(repo), env=ENV).returncode == 0
    data.mkdir()
    (data / "a.txt").write_text("one")
    config = tmp_path / "drkit.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "repositories": {"default": {"url": str(repo), "passphrase": {"env": "ONESHOT_PW"}}},
                "jobs": {"data": {"source": {"kind": "files", "paths": [str(data)]}, "retention": {"keep_last": 1}}},
            }
        )
    )
    prom = tmp_path / "data.prom"

    def run() -> str:
        proc = drkit("--config", str(config), "job", "run", "data", "--prom-file", str(prom), env=ENV)
        assert proc.returncode == 0, proc.stderr.decode()
        return prom.read_text()

    with open_repository(str(repo), PW, load_index=False).lock(maintenance=True, purpose="prune"):
        skipped = run()
    assert metric(skipped, "drkit_retention_skipped_total", drkit_job="data") == 1
    assert metric(skipped, "drkit_retention_last_applied_timestamp_seconds") is None
    assert metric(skipped, "drkit_backup_last_success_timestamp_seconds", drkit_job="data") is not None
    applied = run()
    assert metric(applied, "drkit_retention_skipped_total", drkit_job="data") == 0
    assert metric(applied, "drkit_retention_last_applied_timestamp_seconds", drkit_job="data") is not None
