"""A malformed `restore --system --into` never echoes the password of a Redis URL given in it: the error line
shows it masked (on the old code both errors printed the URL whole, password included)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from drkit.cli.cmd_restore_system import _into
from drkit.core.errors import UsageError
from drkit.jobs.system_plan import ComponentPlan
from drkit.jobs.system_restore import SystemRequest, _targets

SECRET = "s3cret-redis-pw"


def test_an_into_without_a_job_hides_the_password() -> None:
    with pytest.raises(UsageError) as err:
        _into((f"redis://:{SECRET}@127.0.0.1:6380",))
    assert SECRET not in err.value.message and "give JOB=TARGET" in err.value.message


def test_an_into_naming_no_job_of_the_system_hides_the_password(tmp_path: Path) -> None:
    plan = ComponentPlan(job="cache", kind="redis", point=datetime(2026, 12, 7, tzinfo=UTC), how="AOF")
    # '=' inside the URL's query: what precedes it is taken for a job name
    into = _into((f"redis://u:{SECRET}@127.0.0.1:6380/0?db=1",))
    with pytest.raises(UsageError) as err:
        _targets("shop", [plan], SystemRequest(point_in_time="2026-12-07T00:00:00Z", target_dir=tmp_path, into=into))
    assert SECRET not in err.value.message and "is not a job of system shop" in err.value.message
