"""The daemon runs a system's scheduled drill (``systems.NAME.drill.schedule``): `drkit drill --system` on its
cron, the system's result in ``/metrics`` under ``drkit_job="NAME"`` like a job's drill, with its deadline."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from clirun import drkit
from test_scheduler_daemon import ENV, daemon, wait_for

pytestmark = pytest.mark.integration


def test_the_daemon_runs_a_scheduled_system_drill(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "order-1.json").write_text('{"order": 1}')
    assert drkit("init", "--repo", str(tmp_path / "repo"), env=ENV).returncode == 0
    doc = {
        "repositories": {"main": {"url": str(tmp_path / "repo"), "passphrase": {"env": "SCHED_REPO_PW"}}},
        "jobs": {"tree": {"repository": "main", "source": {"kind": "files", "paths": [str(tree)]}}},
        "systems": {"site": {"jobs": ["tree"], "drill": {"schedule": "*/3 * * * * *", "sandbox": "local"}}},
        "log_level": "info",
    }
    config = tmp_path / "drkit.yaml"
    config.write_text(yaml.safe_dump(doc))
    backup = drkit("--config", str(config), "job", "run", "tree", env=ENV)
    assert backup.returncode == 0, backup.stderr.decode()
    with daemon(config, tmp_path / "state") as d:
        assert d.metric("drkit_drill_max_age_seconds", drkit_job="site") == 6.0  # twice the 3 s gap
        wait_for(
            lambda: d.metric("drkit_drill_runs_total", drkit_job="site", result="success") >= 1,
            180,
            "a scheduled system drill to pass",
        )
        assert d.metric("drkit_drill_success", drkit_job="site") == 1
        assert d.metric("drkit_drill_last_success_timestamp_seconds", drkit_job="site") > 0
        assert d.metric("drkit_drill_runs_total", drkit_job="site", result="failure") == 0
        assert d.stop() == 0, d.stderr()[-3000:]
    finished = [r for r in d.logs() if r.get("kind") == "system-drill" and r.get("job") == "site"]
    assert any(r.get("components") == {"tree": True} for r in finished), d.stderr()[-3000:]
