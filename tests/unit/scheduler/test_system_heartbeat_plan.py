"""A system's ``heartbeat`` cron is a scheduled run of its own kind (``system-heartbeat``), keyed by the system;
a system without one schedules nothing."""

from __future__ import annotations

from drkit.config.models import DrkitConfig
from drkit.scheduler.plan import scheduled_runs

DOC = {
    "repositories": {"default": {"url": "/srv/repo", "passphrase": {"env": "P"}}},
    "jobs": {
        "db": {"source": {"kind": "redis", "url": "redis://r:6379/0"}},
        "files": {"source": {"kind": "files", "paths": ["/srv/f"]}},
    },
    "systems": {"shop": {"jobs": ["db", "files"], "heartbeat": "*/30 * * * * *"}, "quiet": {"jobs": ["db"]}},
}


def test_a_system_heartbeat_is_scheduled_under_the_system_name() -> None:
    runs = [r for r in scheduled_runs(DrkitConfig.model_validate(DOC)) if r.kind == "system-heartbeat"]
    assert [(r.job, r.key, r.cron) for r in runs] == [("shop", "shop:system-heartbeat", "*/30 * * * * *")]
