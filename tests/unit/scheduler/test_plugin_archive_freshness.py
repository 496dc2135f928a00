"""A plugin kind's archive (MySQL binary logs) feeds the daemon's archive freshness like WAL and AOF:
``drkit_archive_newest_timestamp_seconds{kind="binlog"}`` is the newest time the archive covers,
for jobs with ``pitr: true`` only; a log record drkit did not write is left out, never fatal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from clirun import drkit

from drkit.config import DrkitConfig
from drkit.core.metrics import new_registry
from drkit.ops.session import open_repository
from drkit.repository.streams import SourceRef, backup_stream
from drkit.scheduler.archives import archiving_repositories, refresh_archives

PW = "pw-binlog-freshness"
METRIC = "drkit_archive_newest_timestamp_seconds"


def _config(repo: Path, pitr: bool = True) -> DrkitConfig:
    return DrkitConfig.model_validate(
        {
            "repositories": {"default": {"url": str(repo), "passphrase": {"env": "BINLOG_PW"}}},
            "jobs": {
                "shop": {"source": {"kind": "mysql", "url": "mysql://b@db/shop", "pitr": pitr}},
                "plain": {"source": {"kind": "mysql", "url": "mysql://b@db/plain"}},
            },
        }
    )


def _binlog(repo_path: Path, name: str, file: str, covers_until: object) -> None:
    repo = open_repository(str(repo_path), PW)
    try:
        meta = {"mode": "binlog", "file": file, "covers_until": covers_until}
        backup_stream(repo, SourceRef("mysql-binlog", name, [], meta), io.BytesIO(b"\xfebin" + file.encode()))
    finally:
        repo.close()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BINLOG_PW", PW)
    path = tmp_path / "repo"
    assert drkit("init", "--repo", str(path), env={"DRKIT_PASSWORD": PW}).returncode == 0
    return path


def test_binlog_archive_freshness_for_pitr_jobs(repo: Path) -> None:
    assert archiving_repositories(_config(repo)) == ["default"]
    assert archiving_repositories(_config(repo, pitr=False)) == []
    _binlog(repo, "shop", "binlog.000001", "2026-12-07T10:00:00+00:00")
    _binlog(repo, "shop", "binlog.000002", "2026-12-07T10:05:00+00:00")
    _binlog(repo, "shop", "binlog.000003", "not a time")  # left out
    _binlog(repo, "plain", "binlog.000001", "2026-12-07T11:00:00+00:00")  # a job without pitr: no series
    registry, metrics = new_registry(version=None)
    refresh_archives(_config(repo), metrics)
    got = registry.get_sample_value(METRIC, {"drkit_job": "shop", "kind": "binlog"})
    assert got == 1_796_637_900.0  # 2026-12-07T10:05:00Z
    assert registry.get_sample_value(METRIC, {"drkit_job": "plain", "kind": "binlog"}) is None
