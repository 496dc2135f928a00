"""The system drill's own judgement, from its components' results: one check per component (the failed checks
named), and the heartbeat check (verified point = the oldest newest heartbeat; a component without one fails it;
none anywhere without a configured heartbeat is not verified, not failed)."""

from __future__ import annotations

from datetime import UTC, datetime

from drkit.config import SystemConfig
from drkit.drills.result import CheckResult, DrillResult
from drkit.drills.system import _component_check, _heartbeat_check

STARTED = datetime(2026, 12, 7, 8, 0, 10, tzinfo=UTC)


def _part(job: str, beat: str | None, *checks: CheckResult) -> DrillResult:
    return DrillResult(
        job=job,
        source_kind="redis",
        sandbox="local",
        started_at=STARTED.isoformat(),
        snapshot_id="abcdef0123",
        checks=list(checks),
        system_heartbeats={"shop": beat},
    )


def test_a_component_check_names_the_component_and_its_failed_checks() -> None:
    good = _component_check(_part("cache", None, CheckResult("redis.start", True)))
    assert (good.name, good.ok) == ("component:cache", True) and "1 checks passed (snapshot abcdef01)" in good.detail
    bad = _component_check(
        _part("cache", None, CheckResult("redis.start", True), CheckResult("user.redis[0]", False, "GET k: 'x' != 'y'"))
    )
    assert not bad.ok and bad.detail == "user.redis[0]: GET k: 'x' != 'y'"


def test_the_heartbeat_check_gives_the_verified_point_and_the_rpo() -> None:
    result = DrillResult(job="shop", source_kind="system", sandbox="local", started_at=STARTED.isoformat())
    parts = [_part("db", "2026-12-07T08:00:05+00:00"), _part("files", "2026-12-07T08:00:02.500000+00:00")]
    _heartbeat_check("shop", SystemConfig(jobs=["db", "files"]), parts, STARTED, result)
    (check,) = result.checks
    assert check.ok and "heartbeat of 2026-12-07T08:00:02.500000Z; their newest are 2.5 s apart" in check.detail
    assert result.rpo_verified_seconds == 7.5 and result.rpo_basis.startswith("system heartbeat")


def test_a_component_without_a_heartbeat_fails_the_check_unless_none_was_ever_configured() -> None:
    parts = [_part("db", "2026-12-07T08:00:05+00:00"), _part("files", None)]
    result = DrillResult(job="shop", source_kind="system", sandbox="local", started_at=STARTED.isoformat())
    _heartbeat_check("shop", SystemConfig(jobs=["db", "files"]), parts, STARTED, result)
    assert [(c.name, c.ok) for c in result.checks] == [("system.heartbeat", False)]
    assert result.checks[0].detail.endswith("of files") and result.rpo_verified_seconds is None

    none = [_part("db", None), _part("files", None)]
    quiet = DrillResult(job="shop", source_kind="system", sandbox="local", started_at=STARTED.isoformat())
    _heartbeat_check("shop", SystemConfig(jobs=["db", "files"]), none, STARTED, quiet)
    assert quiet.checks == [] and quiet.not_verified[0].startswith("heartbeat: no system heartbeat")
    scheduled = DrillResult(job="shop", source_kind="system", sandbox="local", started_at=STARTED.isoformat())
    _heartbeat_check("shop", SystemConfig(jobs=["db", "files"], heartbeat="* * * * *"), none, STARTED, scheduled)
    assert [(c.name, c.ok) for c in scheduled.checks] == [("system.heartbeat", False)]
