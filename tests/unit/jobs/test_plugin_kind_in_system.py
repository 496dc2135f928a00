"""A job of a source kind that declares none of the system protocols, listed in a system: a clear refusal
naming its kind, not being taken for another kind's job."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from drkit.config.models import JobConfig
from drkit.core.errors import UsageError
from drkit.jobs import system_heartbeat, system_plan

MYSQL_JOB = JobConfig.model_validate({"source": {"kind": "mysql", "url": "mysql://backup@db/shop"}})


@pytest.fixture
def bare_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """The job's kind as a plugin without HasSystemPlan/HasHeartbeat would be."""
    for module in (system_plan, system_heartbeat):
        monkeypatch.setattr(module, "source_kind", lambda name: object())


def test_system_restore_of_a_kind_without_plans_is_refused(bare_kind: None) -> None:
    with pytest.raises(UsageError, match="a mysql job cannot be restored as part of a system yet"):
        system_plan.plan_component(cast(Any, None), "shop", MYSQL_JOB, datetime(2026, 12, 7, tzinfo=UTC))


def test_system_heartbeat_of_a_kind_without_heartbeats_is_reported(bare_kind: None) -> None:
    failed = system_heartbeat._write(MYSQL_JOB, "shop", "orders", datetime(2026, 12, 7, tzinfo=UTC))
    assert failed == "shop: a mysql source takes no system heartbeat yet"
