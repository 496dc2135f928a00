"""The layers above the sources ask a job's kind (through the registry), never its name: whether its
canary is on by default, where its drill runs, and what its archive adds to the catalog RPO. Each test
hands in a stand-in kind under a built-in name, so a chain on the name would answer differently."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from typing import Any

import pytest

from drkit.config import JobConfig
from drkit.drills import rpo, runner
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.sources import registry
from storage_backends.testing.memory import MemoryBackend

REDIS_JOB = {"source": {"kind": "redis", "url": "redis://cache:6379"}}
FILES_JOB = {"source": {"kind": "files", "paths": ["/srv"]}}


def test_canary_default_is_the_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    files, redis = JobConfig.model_validate(FILES_JOB), JobConfig.model_validate(REDIS_JOB)
    assert not files.canary_enabled and redis.canary_enabled  # the built-ins as before

    class Quiet:
        canary_by_default = False

    monkeypatch.setattr(registry, "source_kind", lambda name: Quiet())
    assert not redis.canary_enabled
    assert JobConfig.model_validate({**REDIS_JOB, "canary": {"enabled": True}}).canary_enabled  # as set wins


def test_drill_sandbox_is_the_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    files = JobConfig.model_validate(FILES_JOB).source
    assert runner._sandbox_for(files, "auto")[0] == "local"  # the built-in files kind, as before

    class Local:
        def local_drill(self, config: Any) -> str | None:
            return "this kind restores next to the drill"

    monkeypatch.setattr(runner, "source_kind", lambda name: Local())
    redis = JobConfig.model_validate(REDIS_JOB).source
    assert runner._sandbox_for(redis, "auto") == ("local", "this kind restores next to the drill")
    assert runner._sandbox_for(redis, "local") == ("local", "this kind restores next to the drill")


def test_catalog_point_includes_what_the_kinds_archive_adds(monkeypatch: pytest.MonkeyPatch) -> None:
    repo = Repository.init(MemoryBackend(), "pw", RepoConfig())
    later = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    seen: list[tuple[str, list[Snapshot]]] = []

    class Archived:
        def catalog_points(self, repo: Repository, config: Any, job: str, snaps: list[Snapshot]) -> list[datetime]:
            seen.append((job, snaps))
            return [later]

    monkeypatch.setattr(rpo, "source_kind", lambda name: Archived())
    source = JobConfig.model_validate(REDIS_JOB).source
    assert rpo.newest_point(repo, "cache", source) == later
    assert seen == [("cache", [])]


def drill_stand_in(ctx: Any) -> Any:
    return "drilled"


def test_drill_is_the_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner._drill_of("files").__name__ == "drill_files"  # the built-in, as before

    class Drilled:
        context_drill = f"{__name__}:drill_stand_in"

    monkeypatch.setattr(runner, "source_kind", lambda name: Drilled())
    assert runner._drill_of("redis") is drill_stand_in
    # every built-in names a drill that exists
    for kind in ("files", "postgres", "redis"):
        module, _, attr = registry.source_kind(kind).context_drill.partition(":")  # type: ignore[attr-defined]
        assert callable(getattr(importlib.import_module(module), attr))


def test_system_heartbeat_is_written_by_the_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    from drkit.jobs import system_heartbeat

    written: list[tuple[str, datetime]] = []

    class Beats:
        def write_heartbeat(self, config: Any, key: str, at: datetime) -> None:
            written.append((key, at))

    monkeypatch.setattr(system_heartbeat, "source_kind", lambda name: Beats())
    at = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert system_heartbeat._write(JobConfig.model_validate(REDIS_JOB), "cache", "shop", at) is None
    assert written == [(system_heartbeat.heartbeat_name("shop"), at)]


def test_system_component_is_planned_by_the_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    from drkit.jobs import system_plan

    at = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)

    class Planned:
        def plan_system_component(self, repo: Any, job: str, config: Any, target: datetime) -> Any:
            return ("planned", job, config.kind, target)

    monkeypatch.setattr(system_plan, "source_kind", lambda name: Planned())
    job = JobConfig.model_validate(REDIS_JOB)
    assert system_plan.plan_component(None, "cache", job, at) == ("planned", "cache", "redis", at)  # type: ignore[arg-type,comparison-overlap]
