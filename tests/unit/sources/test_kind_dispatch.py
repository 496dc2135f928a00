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
        config_model = registry.source_kind("redis").config_model  # the config asks the kind for its model too

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


def test_archive_freshness_is_the_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    from drkit.config import DrkitConfig
    from drkit.core.metrics import new_registry
    from drkit.scheduler import archives

    read: list[str] = []

    class Archived:
        archive_label = "stand-in"
        archive_per_repository = True  # one archive for all the repository's jobs of the kind: read once

        def archives(self, config: Any) -> bool:
            return config.kind == "redis"

        def newest_archived(self, repo: Any, config: Any, job: str) -> float | None:
            read.append(job)
            return 1_000_000.0

    monkeypatch.setattr(archives, "source_kind", lambda name: Archived())
    repos = {name: {"url": f"/nowhere/{name}", "passphrase": {"env": "PW"}} for name in ("a", "b")}
    jobs = {
        "cache": {**REDIS_JOB, "repository": "a"},
        "cache2": {**REDIS_JOB, "repository": "a"},
        "files": {**FILES_JOB, "repository": "b"},
    }
    config = DrkitConfig.model_validate({"repositories": repos, "jobs": jobs})
    assert archives.archiving_repositories(config) == ["a"]  # the files job's stand-in keeps no archive
    registry, metrics = new_registry(version=None)
    archives.read_archives(config, "a", None, metrics)  # type: ignore[arg-type]
    for job in ("cache", "cache2"):
        labels = {"drkit_job": job, "kind": "stand-in"}
        assert registry.get_sample_value("drkit_archive_newest_timestamp_seconds", labels) == 1_000_000.0
    assert read == ["cache"]


def test_catalog_points_keep_the_archived_time_out_of_the_drills_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in kinds' archives (WAL, AOF) feed the daemon's freshness; a drill measures them through
    catalog_points, never the time a segment was archived (not a point it can restore)."""
    catalog = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)

    class Archived:
        archive_label = "stand-in"

        def archives(self, config: Any) -> bool:
            return True

        def newest_archived(self, repo: Any, config: Any, job: str) -> float | None:
            return catalog.timestamp() + 3600

    class Both(Archived):
        def catalog_points(self, repo: Any, config: Any, job: str, snaps: list[Snapshot]) -> list[datetime]:
            return []

    source = JobConfig.model_validate(REDIS_JOB).source
    monkeypatch.setattr(runner, "source_kind", lambda name: Both())
    assert runner._with_archive(None, "cache", source, catalog) == catalog  # type: ignore[arg-type]
    monkeypatch.setattr(runner, "source_kind", lambda name: Archived())  # a plugin's archive: as before
    later = datetime.fromtimestamp(catalog.timestamp() + 3600, UTC)
    assert runner._with_archive(None, "cache", source, catalog) == later  # type: ignore[arg-type]


def test_system_heartbeat_is_read_by_the_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path
    from types import SimpleNamespace

    from drkit.config import DrkitConfig
    from drkit.jobs import system_verify

    at = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    seen: list[tuple[str, str, registry.RestoredComponent]] = []

    class Reads:
        def read_heartbeat(self, config: Any, system: str, restored: registry.RestoredComponent) -> datetime | None:
            seen.append((config.kind, system, restored))
            return at

    monkeypatch.setattr(system_verify, "source_kind", lambda name: Reads())
    repos = {"default": {"url": "/nowhere", "passphrase": {"env": "PW"}}}
    config = DrkitConfig.model_validate({"repositories": repos, "jobs": {"cache": REDIS_JOB}})
    plan = SimpleNamespace(job="cache", point=at)
    out = SimpleNamespace(target="/restored/cache", port=None)  # not started: the old chain read nothing
    assert system_verify.read_heartbeat(config, "shop", plan, out) == at  # type: ignore[arg-type]
    assert seen == [("redis", "shop", registry.RestoredComponent(Path("/restored/cache"), None, None, at))]
    server = object()  # a running server it was loaded into: no directory
    assert system_verify.read_heartbeat(config, "shop", plan, out, server) == at  # type: ignore[arg-type]
    assert seen[-1][2] == registry.RestoredComponent(None, None, server, at)


def test_system_drill_spec_is_the_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    from drkit.drills import system as system_drill
    from drkit.jobs.system_plan import ComponentPlan

    at = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    plan = ComponentPlan(job="db", kind="postgres", point=at, how="base backup + WAL", snapshot="abc123")
    assert system_drill._spec(plan, at) == ("abc123", "2031-05-06T07:08:09Z")  # the built-in, as before

    class Drills:
        def system_drill(self, plan: Any, target: datetime) -> tuple[str | None, str | None]:
            return None, f"{plan.job} at {target.year}"

    monkeypatch.setattr(system_drill, "source_kind", lambda name: Drills())
    assert system_drill._spec(plan, at) == (None, "db at 2031")
    monkeypatch.setattr(system_drill, "source_kind", lambda name: object())  # no system_drill: the snapshot
    assert system_drill._spec(plan, at) == ("abc123", None)


def test_system_component_is_restored_by_the_kind(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from types import SimpleNamespace

    from drkit.config import DrkitConfig
    from drkit.jobs import system_restore
    from drkit.jobs.system_plan import ComponentPlan

    at = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    restored: list[Any] = []
    server = SimpleNamespace(display="stand-in://server")

    class Restores:
        def restore_system_component(self, component: Any) -> None:
            restored.append(component.target)
            component.out.last_commit = f"{component.plan.job} at {component.when.year}"

        def load_target(self, url: str) -> Any:
            return server

    monkeypatch.setattr(system_restore, "source_kind", lambda name: Restores())
    repos = {"default": {"url": "/nowhere", "passphrase": {"env": "PW"}}}
    jobs = {"db": {"source": {"kind": "postgres", "dsn": "postgresql://db/x", "mode": "physical"}}}
    config = DrkitConfig.model_validate({"repositories": repos, "jobs": jobs})
    plan = ComponentPlan(job="db", kind="postgres", point=at, how="base backup + WAL", snapshot="abc123")
    req = system_restore.SystemRequest(
        point_in_time="2031-05-06T07:08:09Z", target_dir=tmp_path, system="shop", into=(("db", "pg://x"),)
    )
    assert system_restore._targets("shop", [plan], req) == {"db": server}  # the old chain: only Redis loads
    out = system_restore._restore_one(config, plan, tmp_path / "db", at, req)
    assert (out.error, out.last_commit, restored) == (None, "db at 2031", [tmp_path / "db"])
    out = system_restore._restore_one(config, plan, server, at, req)
    assert (out.error, out.target, restored[-1]) == (None, "stand-in://server", server)

    monkeypatch.setattr(system_restore, "source_kind", lambda name: object())  # neither protocol: refused
    out = system_restore._restore_one(config, plan, tmp_path / "db", at, req)
    assert out.error == "db: a postgres component cannot be restored as part of a system" and out.exit_code == 2
