"""A job of a plugin source kind (mysql) listed in a system: the system code branches on the built-in
kinds, and a plugin kind must get a clear refusal, not be taken for a files job."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from drkit.config.models import JobConfig
from drkit.core.errors import UsageError
from drkit.jobs.system_heartbeat import _write
from drkit.jobs.system_plan import plan_component

MYSQL_JOB = JobConfig.model_validate({"source": {"kind": "mysql", "url": "mysql://backup@db/shop"}})


def test_system_restore_of_a_plugin_kind_is_refused() -> None:
    with pytest.raises(UsageError, match="a mysql job cannot be restored as part of a system yet"):
        plan_component(cast(Any, None), "shop", MYSQL_JOB, datetime(2026, 12, 7, tzinfo=UTC))


def test_system_heartbeat_of_a_plugin_kind_is_reported_not_written_as_files() -> None:
    failed = _write(MYSQL_JOB, "shop", "orders", datetime(2026, 12, 7, tzinfo=UTC))
    assert failed == "shop: a mysql source takes no system heartbeat yet"
