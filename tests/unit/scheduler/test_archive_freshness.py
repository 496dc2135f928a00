"""Archive freshness of point-in-time jobs (issue #22): the daemon reads when the newest WAL segment
and AOF segment reached the repository, at start-up (restore_metrics) and on its refresh, and a
later archive moves the series forward. A local repository; WAL pushed as wal-push stores it, the AOF
record written as `drkit redis archive` writes it."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import drkit

from drkit.config import DrkitConfig
from drkit.core.metrics import Metrics, new_registry
from drkit.ops.session import open_repository
from drkit.scheduler.archives import archiving_repositories, refresh_archives
from drkit.scheduler.maintenance import Maintainer, MaintenanceState
from drkit.scheduler.startup import restore_metrics
from drkit.sources.postgres import wal
from drkit.sources.redis.kinds import ARCHIVE_KIND

PW = "pw-archive-freshness"
METRIC = "drkit_archive_newest_timestamp_seconds"


def _config(repo: Path) -> DrkitConfig:
    return DrkitConfig.model_validate(
        {
            "repositories": {"default": {"url": str(repo), "passphrase": {"env": "ARCH_PW"}}},
            "jobs": {
                "pg": {"source": {"kind": "postgres", "dsn": "postgresql://db/x", "mode": "physical"}},
                "pg-dump": {"source": {"kind": "postgres", "dsn": "postgresql://db/x"}},  # logical: no archive
                "cache": {"source": {"kind": "redis", "url": "redis://r", "name": "cache"}},
                "files": {"source": {"kind": "files", "paths": ["/srv"]}},
            },
        }
    )


def _push(repo_path: Path, tmp: Path, name: str, mtime: float) -> None:
    segment = tmp / name
    segment.write_bytes(os.urandom(1024))
    repo = open_repository(str(repo_path), PW)
    try:
        assert wal.push(repo, segment)
    finally:
        repo.close()
    for obj in (repo_path / "wal").rglob(name):  # the object's time is when it was archived
        os.utime(obj, (mtime, mtime))


def _aof(repo_path: Path, source: str, archived_at: float) -> None:
    repo = open_repository(str(repo_path), PW)
    try:
        repo.manifests.put(ARCHIVE_KIND, {"source_name": source, "archived_at": archived_at, "file": "a.aof"})
    finally:
        repo.close()


def _value(registry: object, job: str, kind: str) -> float | None:
    return registry.get_sample_value(METRIC, {"drkit_job": job, "kind": kind})  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ARCH_PW", PW)
    path = tmp_path / "repo"
    assert drkit("init", "--repo", str(path), env={"DRKIT_PASSWORD": PW}).returncode == 0
    return path


def test_start_up_reads_the_newest_wal_and_aof_and_refresh_moves_them(repo: Path, tmp_path: Path) -> None:
    config = _config(repo)
    assert archiving_repositories(config) == ["default"]
    _push(repo, tmp_path, "000000010000000000000001", 1_000_000.0)
    _push(repo, tmp_path, "000000010000000000000002", 1_000_060.0)
    _push(repo, tmp_path, "00000002.history", 1_000_900.0)  # not a segment
    _aof(repo, "cache", 1_000_030.0)
    _aof(repo, "other", 1_000_999.0)  # another Redis source's archive

    registry, metrics = new_registry(version=None)
    restore_metrics(
        config, metrics, Maintainer(config, metrics, MaintenanceState(tmp_path / "state")), datetime.now(UTC)
    )
    assert _value(registry, "pg", "wal") == 1_000_060.0
    assert _value(registry, "cache", "aof") == 1_000_030.0
    assert _value(registry, "pg-dump", "wal") is None and _value(registry, "files", "wal") is None

    _push(repo, tmp_path, "000000010000000000000003", 1_000_120.0)
    _aof(repo, "cache", 1_000_090.0)
    refresh_archives(config, metrics)
    assert _value(registry, "pg", "wal") == 1_000_120.0
    assert _value(registry, "cache", "aof") == 1_000_090.0


def test_no_archive_yet_means_no_series(repo: Path) -> None:
    registry, metrics = new_registry(version=None)
    refresh_archives(_config(repo), metrics)
    assert isinstance(metrics, Metrics)
    assert _value(registry, "pg", "wal") is None and _value(registry, "cache", "aof") is None


def _put(repo_path: Path, doc: dict[str, object]) -> None:
    repo = open_repository(str(repo_path), PW)
    try:
        repo.manifests.put(ARCHIVE_KIND, doc)
    finally:
        repo.close()


def test_a_malformed_aof_record_is_logged_and_skipped_not_fatal(
    repo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: float(d["archived_at"]) raised KeyError / ValueError / TypeError out of restore_metrics
    and stopped the daemon at start-up (and every refresh). Now the record is logged and left out."""
    config = _config(repo)
    _push(repo, tmp_path, "000000010000000000000001", 1_000_000.0)
    _aof(repo, "cache", 1_000_030.0)
    for bad in ({}, {"archived_at": "soon"}, {"archived_at": None}, {"archived_at": [1]}, {"archived_at": True}):
        _put(repo, {"source_name": "cache", "file": "a.aof", **bad})
    registry, metrics = new_registry(version=None)
    with caplog.at_level(logging.WARNING, logger="drkit.scheduler"):
        restore_metrics(
            config, metrics, Maintainer(config, metrics, MaintenanceState(tmp_path / "state")), datetime.now(UTC)
        )
        assert _value(registry, "cache", "aof") == 1_000_030.0
        assert _value(registry, "pg", "wal") == 1_000_000.0  # the other jobs' series are read as well
        refresh_archives(config, metrics)
    assert _value(registry, "cache", "aof") == 1_000_030.0
    assert caplog.text.count("has no valid archived_at") >= 5
